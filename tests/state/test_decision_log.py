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
    _exec(
        engine,
        "UPDATE decisions SET body = replace(body, '\"send\"', '\"stop\"') WHERE workspace = :w AND seq = 4",
        w=ws,
    )
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
