"""The hash chain: appends verify; edits, deletions and reorders are each detected and
the first broken record is named."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from state import decision_log as dl
from state.db import engine_for, session_scope
from tests.conftest import BACKENDS, PG_URL
from tests.stored_bodies import edit_body, stored_text


@pytest.fixture(params=BACKENDS)
def chain(request: pytest.FixtureRequest, tmp_path):  # noqa: ANN001, ANN201
    url = PG_URL if request.param == "postgres" else f"sqlite:///{tmp_path}/log.db"
    engine = engine_for(url)
    ws = f"w{uuid.uuid4().hex[:8]}"
    for batch in range(3):
        with session_scope(engine) as s:
            dl.append(
                s,
                ws,
                [
                    {
                        "at": datetime(2026, 11, 23, 15, batch, i, tzinfo=UTC),
                        "run_id": "r1",
                        "prospect_id": f"p{i}",
                        "node": "act",
                        "action": "send",
                        "observation": {"n": i},
                    }
                    for i in range(3)
                ],
            )
    return engine, ws


def _exec(engine, sql: str, **params) -> None:  # noqa: ANN001, ANN003
    with engine.begin() as conn:
        conn.execute(text(sql), params)


def test_intact_chain_verifies(chain) -> None:  # noqa: ANN001
    """Nine appended records in three transactions form one unbroken chain."""
    engine, ws = chain
    result = dl.verify(engine, ws)
    assert result.ok and result.records == 9 and result.head_seq == 9


def test_edited_body_is_detected(chain) -> None:  # noqa: ANN001
    """Changing a record's content breaks its hash, and that record is named."""
    engine, ws = chain
    with engine.begin() as conn:
        edit_body(conn, ws, 4, '"send"', '"stop"')
    result = dl.verify(engine, ws)
    assert not result.ok and result.first_broken_seq == 4 and "edited" in result.problem


def test_edited_column_is_detected(chain) -> None:  # noqa: ANN001
    """Changing a query column without the body is detected too."""
    engine, ws = chain
    _exec(engine, "UPDATE decisions SET action = 'stop' WHERE workspace = :w AND seq = 2", w=ws)
    result = dl.verify(engine, ws)
    assert not result.ok and result.first_broken_seq == 2


def test_deleted_record_is_detected(chain) -> None:  # noqa: ANN001
    """Removing a record in the middle leaves a gap at the next one."""
    engine, ws = chain
    _exec(engine, "DELETE FROM decisions WHERE workspace = :w AND seq = 5", w=ws)
    result = dl.verify(engine, ws)
    assert not result.ok and result.first_broken_seq == 6


def test_deleted_tail_is_detected(chain) -> None:  # noqa: ANN001
    """Removing the newest record disagrees with the chain head."""
    engine, ws = chain
    _exec(engine, "DELETE FROM decisions WHERE workspace = :w AND seq = 9", w=ws)
    result = dl.verify(engine, ws)
    assert not result.ok and "removed" in result.problem


def test_reordered_records_are_detected(chain) -> None:  # noqa: ANN001
    """Swapping two records' positions breaks the prev_hash links."""
    engine, ws = chain
    _exec(engine, "UPDATE decisions SET seq = -1 WHERE workspace = :w AND seq = 3", w=ws)
    _exec(engine, "UPDATE decisions SET seq = 3 WHERE workspace = :w AND seq = 4", w=ws)
    _exec(engine, "UPDATE decisions SET seq = 4 WHERE workspace = :w AND seq = -1", w=ws)
    result = dl.verify(engine, ws)
    assert not result.ok and result.first_broken_seq == 3


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_canonical_json_refuses_nan_and_infinities(bad: float) -> None:
    """NaN and the infinities have no JSON form, so canonical JSON refuses them."""
    from core.canonical import NotCanonical, canonical_json

    with pytest.raises(NotCanonical, match="NaN and infinities"):
        canonical_json({"cost": {"usd": bad}})


def test_a_record_holding_nan_is_not_appended(chain) -> None:  # noqa: ANN001
    """Appending a record with a NaN fails before anything is written; the chain stays whole."""
    from core.canonical import NotCanonical

    engine, ws = chain
    with pytest.raises(NotCanonical), session_scope(engine) as s:
        dl.append(
            s, ws, [{"at": datetime(2026, 11, 24, tzinfo=UTC), "action": "x", "cost": {"usd": float("nan")}}]
        )
    result = dl.verify(engine, ws)
    assert result.ok and result.records == 9


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="needs TEST_DATABASE_URL")
def test_two_transactions_starting_a_workspace_chain_share_one_head() -> None:
    """The first records of a workspace appended by two concurrent transactions (threads of
    one run) both land on one chain. Before the fix the second found no head, inserted one
    too and failed with a unique violation on chain_heads once the first committed."""
    import threading
    import time

    engine = engine_for(PG_URL)
    ws = f"w{uuid.uuid4().hex[:8]}"
    first_appended, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def record(i: int) -> dict:
        at = datetime(2026, 11, 23, 15, 0, i, tzinfo=UTC)
        return {"at": at, "run_id": "r1", "prospect_id": f"p{i}", "node": "act", "action": "wait"}

    def first() -> None:
        try:
            with session_scope(engine) as s:
                dl.append(s, ws, [record(1)])
                first_appended.set()
                release.wait(10)  # holds its uncommitted head while the second starts
        except BaseException as exc:  # noqa: BLE001  (reported by the test)
            errors.append(exc)

    def second() -> None:
        try:
            with session_scope(engine) as s:
                dl.append(s, ws, [record(2)])
        except BaseException as exc:  # noqa: BLE001  (reported by the test)
            errors.append(exc)

    a = threading.Thread(target=first)
    a.start()
    assert first_appended.wait(10)
    b = threading.Thread(target=second)
    b.start()
    time.sleep(0.5)  # the second transaction is now waiting on the first's head
    release.set()
    a.join(10)
    b.join(10)
    assert not errors, errors
    result = dl.verify(engine, ws)
    assert result.ok and result.records == 2 and result.head_seq == 2


# ----------------------------------------------------------------- bodies stored compressed


@pytest.fixture(params=BACKENDS)
def long_chain(request: pytest.FixtureRequest, tmp_path):  # noqa: ANN001, ANN201
    """50 records in batches of 5: the first 40 packed with plain DEFLATE, the rest with the
    body dictionary the workspace gets when its chain reaches 40 records."""
    url = PG_URL if request.param == "postgres" else f"sqlite:///{tmp_path}/log.db"
    engine = engine_for(url)
    ws = f"w{uuid.uuid4().hex[:8]}"
    for batch in range(10):
        with session_scope(engine) as s:
            dl.append(
                s,
                ws,
                [
                    {
                        "at": datetime(2026, 11, 23, 15, batch, i, tzinfo=UTC),
                        "run_id": "r1",
                        "prospect_id": f"p{batch * 5 + i}",
                        "node": "guard",
                        "action": "send",
                        "outcome": "defer" if i % 2 else "allow",
                        "rationale": "outside the send window",
                        "verdicts": [{"rule": "send_window", "outcome": "defer", "reason": f"until {i}"}],
                    }
                    for i in range(5)
                ],
            )
    return engine, ws


def _codecs(engine, ws: str) -> dict[int, str]:  # noqa: ANN001
    with engine.connect() as conn:
        return dict(
            conn.execute(text("SELECT seq, codec FROM decisions WHERE workspace = :w"), {"w": ws}).all()
        )


def test_bodies_are_stored_packed_and_verify(long_chain) -> None:  # noqa: ANN001
    """New bodies are stored as DEFLATE (no plain text); once the chain has 40 records a body
    dictionary is made and used; every record loads back and the chain verifies."""
    engine, ws = long_chain
    codecs = _codecs(engine, ws)
    assert {codecs[n] for n in range(1, 41)} == {"z"}
    assert len({codecs[n] for n in range(41, 51)}) == 1 and codecs[41].startswith("zd:")
    with engine.connect() as conn:
        plain = "SELECT COUNT(*) FROM decisions WHERE workspace = :w AND body IS NOT NULL"
        assert conn.execute(text(plain), {"w": ws}).scalar() == 0
        outcomes = dict(
            conn.execute(text("SELECT seq, outcome FROM decisions WHERE workspace = :w"), {"w": ws}).all()
        )
    assert outcomes[2] == "defer" and outcomes[1] == "allow"
    bodies = [dl.load_body(r) for r in dl.iter_records(engine, ws)]
    assert [b["prospect_id"] for b in bodies] == [f"p{n}" for n in range(50)]
    assert bodies[45]["verdicts"][0]["reason"] == "until 0" and bodies[45]["outcome"] == "allow"
    result = dl.verify(engine, ws)
    assert result.ok and result.records == 50


def test_a_detached_record_loads_with_a_cold_dictionary_cache(long_chain) -> None:  # noqa: ANN001
    """A record read in a session that is closed since (a fresh process: no dictionary
    cached) still loads: its body dictionary is read with the engine it came from."""
    from sqlmodel import Session, select

    from state.models import DecisionRecord

    engine, ws = long_chain
    with Session(engine) as s:
        rec = s.exec(
            select(DecisionRecord).where(DecisionRecord.workspace == ws, DecisionRecord.seq == 45)
        ).one()
    dl._BODY_DICTS.clear()
    assert dl.load_body(rec)["prospect_id"] == "p44"


@pytest.mark.parametrize("seq", [7, 45])
def test_edited_compressed_body_is_detected(long_chain, seq: int) -> None:  # noqa: ANN001
    """A packed body re-packed with changed content (same codec and dictionary) is named."""
    engine, ws = long_chain
    with engine.begin() as conn:
        edit_body(conn, ws, seq, '"outside the send window"', '"inside the send window"')
    result = dl.verify(engine, ws)
    assert not result.ok and result.first_broken_seq == seq and "edited" in result.problem


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        ("UPDATE decisions SET packed = :p WHERE workspace = :w AND seq = :s", {"p": b"not deflate"}),
        # valid DEFLATE stream with bytes after its end: the content is unchanged, still refused
        ("UPDATE decisions SET packed = :p WHERE workspace = :w AND seq = :s", {"p": "+\x00"}),
        ("UPDATE decisions SET codec = 'z' WHERE workspace = :w AND seq = :s", {}),
        ("UPDATE decisions SET codec = 'zd:0000000000000000' WHERE workspace = :w AND seq = :s", {}),
        ("UPDATE decisions SET codec = 'gzip' WHERE workspace = :w AND seq = :s", {}),
        ("UPDATE decisions SET codec = '' WHERE workspace = :w AND seq = :s", {}),
        ("UPDATE decisions SET packed = NULL WHERE workspace = :w AND seq = :s", {}),
    ],
)
def test_edited_packed_bytes_or_codec_is_detected(long_chain, sql: str, params: dict) -> None:  # noqa: ANN001
    """Compressed bytes that are not DEFLATE (or carry extra bytes), a codec changed or
    naming no dictionary, a record left with no body: verify names the record."""
    engine, ws = long_chain
    if isinstance(params.get("p"), str):  # the stored bytes with this appended
        with engine.connect() as conn:
            packed = conn.execute(
                text("SELECT packed FROM decisions WHERE workspace = :w AND seq = 44"), {"w": ws}
            )
            params = {"p": bytes(packed.scalar_one()) + params["p"][1:].encode()}
    _exec(engine, sql, w=ws, s=44, **params)
    result = dl.verify(engine, ws)
    assert not result.ok and result.first_broken_seq == 44, result
    assert "edited" in result.problem
    with pytest.raises(dl.BodyUnreadable, match="seq 44"):
        list(dl.stream_bodies(engine, ws))


def test_edited_body_dictionary_is_detected(long_chain) -> None:  # noqa: ANN001
    """A body dictionary whose bytes were changed no longer matches its id: verify names the
    first record packed with it, and loading it fails instead of reading other content."""
    engine, ws = long_chain
    did = _codecs(engine, ws)[41][3:]
    dl._BODY_DICTS.clear()
    _exec(
        engine,
        "UPDATE decision_dicts SET data = :d WHERE workspace = :w AND id = :i",
        d=b'{"node":"guard","rationale":"other"}',
        w=ws,
        i=did,
    )
    result = dl.verify(engine, ws)
    assert not result.ok and result.first_broken_seq == 41 and "dictionary" in result.problem
    with pytest.raises(dl.BodyUnreadable, match="seq 41"):
        list(dl.stream_bodies(engine, ws))


def test_deleted_body_dictionary_is_detected(long_chain) -> None:  # noqa: ANN001
    engine, ws = long_chain
    dl._BODY_DICTS.clear()
    _exec(engine, "DELETE FROM decision_dicts WHERE workspace = :w", w=ws)
    result = dl.verify(engine, ws)
    assert not result.ok and result.first_broken_seq == 41 and "missing" in result.problem


def test_edited_outcome_column_is_detected(long_chain) -> None:  # noqa: ANN001
    """`outcome` is a query column (the report filters on it): changing it without the body
    is detected like the others."""
    engine, ws = long_chain
    _exec(engine, "UPDATE decisions SET outcome = 'allow' WHERE workspace = :w AND seq = 42", w=ws)
    result = dl.verify(engine, ws)
    assert not result.ok and result.first_broken_seq == 42 and "outcome" in result.problem


def test_plain_text_rows_load_and_verify_next_to_packed_ones(long_chain) -> None:  # noqa: ANN001
    """Rows stored before format 3 (plain canonical text in `body`, empty codec) verify and
    load unchanged among packed ones; editing one is still named."""
    engine, ws = long_chain
    with engine.begin() as conn:
        for seq in (3, 43):
            plain = stored_text(conn, ws, seq)
            conn.execute(
                text(
                    "UPDATE decisions SET body = :b, packed = NULL, codec = '' WHERE workspace = :w AND seq = :s"
                ),
                {"b": plain, "w": ws, "s": seq},
            )
    assert dl.verify(engine, ws).ok
    loaded = {b["seq"]: b for b in dl.stream_bodies(engine, ws)}
    assert loaded[43]["prospect_id"] == "p42" and loaded[3]["outcome"] == "allow"
    with engine.begin() as conn:
        edit_body(conn, ws, 43, '"p42"', '"p99"')
    result = dl.verify(engine, ws)
    assert not result.ok and result.first_broken_seq == 43
