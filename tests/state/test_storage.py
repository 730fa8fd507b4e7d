"""Storage: observations stored once by digest and referenced from decisions, the chain still
covering them; retention of observation bodies that never breaks the chain; checkpoints of
finished prospect-runs pruned to the latest one per thread."""

from __future__ import annotations

import json
import zlib
from datetime import timedelta

import pytest
from sqlalchemy import func, text
from sqlmodel import Session, select

from agents.replay import replay
from agents.runner import run_daily
from core.canonical import digest
from state.db import engine_for, session_scope
from state.decision_log import (
    ObservationMismatch,
    append,
    load_bodies,
    load_body,
    prune_observations,
    verify,
)
from state.models import DecisionRecord
from state.models_storage import ObservationBody
from tests.conftest import at
from tests.stored_bodies import stored_text

DAY0 = at("2026-11-23T15:00:00Z")


def _body(obs: dict, n: int) -> dict:
    return {"at": "2026-11-23T15:00:00Z", "run_id": "r", "prospect_id": "p", "node": "guard",
            "action": f"a{n}", "observation_digest": "", "observation": obs}  # fmt: skip


def test_observation_is_stored_once_and_loaded_by_digest(ready_ws) -> None:  # noqa: ANN001
    """Three decisions with the same observation store it once; the bodies keep only its
    digest (the chain covers it), load_bodies restores it and verify still passes."""
    engine = engine_for(ready_ws.database_url)
    obs = {"prospect": {"id": "p", "email": "a@b.example"}, "counters": {"mailbox_sent_today": 3}}
    with session_scope(engine) as s:
        append(s, ready_ws.id, [_body(obs, 1), _body(obs, 2)])
        append(s, ready_ws.id, [_body(obs, 3)])
    with Session(engine) as s:
        rows = s.exec(select(DecisionRecord).where(DecisionRecord.workspace == ready_ws.id)).all()
        stored = s.exec(
            select(func.count()).select_from(ObservationBody).where(ObservationBody.workspace == ready_ws.id)
        ).one()
        assert stored == 1 and len(rows) == 3
        texts = [stored_text(s.connection(), ready_ws.id, r.seq) for r in rows]
        assert all("observation" not in json.loads(t) and digest(obs) in t for t in texts)
        bodies = load_bodies(s, rows)
    assert [b["observation"] for b in bodies] == [obs] * 3
    assert verify(engine, ready_ws.id).ok


def _deflate(text: str) -> bytes:
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    return co.compress(text.encode()) + co.flush()


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        # the compressed bytes replaced by another observation's
        ("UPDATE observations SET packed = :p, codec = 'z' WHERE workspace = :w", {"p": _deflate('{"x":2}')}),
        # the plain-text form put back with other content
        (
            "UPDATE observations SET body = :b, codec = '', packed = NULL WHERE workspace = :w",
            {"b": '{"x":2}'},
        ),
        # bytes that are not DEFLATE at all
        ("UPDATE observations SET packed = :p WHERE workspace = :w", {"p": b"not deflate"}),
        # a codec naming a dictionary that does not exist
        ("UPDATE observations SET codec = 'zd:0000000000000000' WHERE workspace = :w", {}),
    ],
)
def test_edited_observation_is_detected(ready_ws, sql: str, params: dict) -> None:  # noqa: ANN001
    """An observation edited in its table (compressed bytes, plain text or codec) no longer
    matches the digest the chain covers: loading it raises instead of replaying a different
    observation."""
    engine = engine_for(ready_ws.database_url)
    with session_scope(engine) as s:
        append(s, ready_ws.id, [_body({"x": 1}, 1)])
    with session_scope(engine) as s:
        s.connection().execute(text(sql), {**params, "w": ready_ws.id})
    with Session(engine) as s, pytest.raises(ObservationMismatch):
        load_bodies(s, s.exec(select(DecisionRecord).where(DecisionRecord.workspace == ready_ws.id)).all())


def test_retention_prunes_old_observations_without_breaking_the_chain(ready_ws) -> None:  # noqa: ANN001
    """After a daily run, pruning observations older than a cut-off deletes them, audit verify
    still passes, and replay reports those decisions without re-deciding them."""
    summary = run_daily(ready_ws, now=DAY0)
    engine = engine_for(ready_ws.database_url)
    before = replay(ready_ws, run_id=summary.run_id)
    assert before["replayed"] > 0 and before["divergences"] == []
    with session_scope(engine) as s:
        n = prune_observations(s, ready_ws.id, before=DAY0 + timedelta(days=1))
    assert n > 0
    assert verify(engine, ready_ws.id).ok
    after = replay(ready_ws, run_id=summary.run_id)
    assert after["decisions"] == before["decisions"] and after["replayed"] == 0


def _checkpoints_per_thread(ws) -> dict[str, int]:  # noqa: ANN001
    import sqlite3

    with sqlite3.connect(str(ws.checkpoint_path)) as conn:
        return dict(conn.execute("SELECT thread_id, COUNT(*) FROM checkpoints GROUP BY thread_id").fetchall())


@pytest.mark.slow
def test_finished_runs_keep_one_checkpoint_per_thread(tmp_path) -> None:  # noqa: ANN001
    """Over three daily runs on SQLite every finished prospect thread keeps exactly its latest
    checkpoint, and a prospect waiting for review still has the checkpoint it resumes from."""
    from agents.checkpoint import open_checkpointer, thread_id
    from agents.graph import build_graph
    from agents.services import init_workspace
    from core.workspace import load_workspace
    from state.models import Review
    from tests.conftest import copy_demo

    ws = load_workspace(copy_demo(tmp_path / "demo", relaxed=True))
    init_workspace(ws, now=at("2026-11-23T14:00:00Z"))
    for day in ("2026-11-23T15:00:00Z", "2026-11-24T15:00:00Z", "2026-11-25T15:00:00Z"):
        run_daily(ws, now=at(day))
    counts = _checkpoints_per_thread(ws)
    assert counts and max(counts.values()) == 1
    with Session(engine_for(ws.database_url)) as s:
        pending = s.exec(select(Review).where(Review.workspace == ws.id, Review.status == "pending")).all()
    assert pending
    with open_checkpointer(ws) as saver:
        graph = build_graph(saver)
        for r in pending:
            snap = graph.get_state({"configurable": {"thread_id": thread_id(ws.id, r.prospect_id)}})
            assert snap.interrupts, r.prospect_id


def _verdicts() -> list[dict]:
    return [
        {"rule": "kill_switch", "outcome": "allow", "reason": "kill switch off"},
        {
            "rule": "send_window",
            "outcome": "defer",
            "reason": "outside the window",
            "until": "2026-11-24T09:00:00Z",
        },
        {"rule": "suppression", "outcome": "allow", "reason": "not on the suppression list"},
    ]


def test_bodies_are_stored_compact_and_read_back_long(ready_ws) -> None:  # noqa: ANN001
    """A body is appended with its allowing verdicts as rule ids (also inside the denials the
    planner saw); load_body gives every verdict back, the chain verifies, and what the hash
    covers is the stored compact text."""
    engine = engine_for(ready_ws.database_url)
    body = {
        **_body({"x": 1}, 1),
        "outcome": "defer",
        "verdicts": _verdicts(),
        "planner_input": {"denials": [{"proposal": {"action": "send"}, "decision": {"outcome": "defer", "verdicts": _verdicts()}}]},
    }  # fmt: skip
    with session_scope(engine) as s:
        append(s, ready_ws.id, [body])
    with Session(engine) as s:
        rec = s.exec(select(DecisionRecord).where(DecisionRecord.workspace == ready_ws.id)).one()
        plain = stored_text(s.connection(), ready_ws.id, rec.seq)
        stored = json.loads(plain)
        assert stored["allowed"] == ["kill_switch", "suppression"]
        assert [v["rule"] for v in stored["verdicts"]] == ["send_window"]
        assert "not on the suppression list" not in plain
        long = load_body(rec)
    rules = {(v["rule"], v["outcome"]) for v in long["verdicts"]}
    assert rules == {("kill_switch", "allow"), ("send_window", "defer"), ("suppression", "allow")}
    denied = long["planner_input"]["denials"][0]["decision"]["verdicts"]
    assert {(v["rule"], v["outcome"]) for v in denied} == rules
    assert verify(engine, ready_ws.id).ok


def test_observations_are_compressed_with_a_workspace_dictionary(ready_ws) -> None:  # noqa: ANN001
    """Once the workspace has enough observations a preset dictionary is made from them;
    later observations are packed with it and load back identical. The dictionary holds
    values shared by several prospects, never one prospect's own address."""
    engine = engine_for(ready_ws.database_url)

    def obs(i: int) -> dict:
        return {"prospect": {"id": f"p{i}", "email": f"person{i}@unique{i}.example", "timezone": "Europe/London"},
                "counters": {"mailbox_sent_today": i}}  # fmt: skip

    bodies = [{**_body(obs(i), i), "prospect_id": f"p{i}"} for i in range(70)]
    for i in range(0, 70, 5):
        with session_scope(engine) as s:
            append(s, ready_ws.id, bodies[i : i + 5])
    with Session(engine) as s:
        codecs = (
            s.connection()
            .execute(
                text("SELECT codec, COUNT(*) FROM observations WHERE workspace = :w GROUP BY codec"),
                {"w": ready_ws.id},
            )
            .all()
        )
        dicts = (
            s.connection()
            .execute(text("SELECT data FROM observation_dicts WHERE workspace = :w"), {"w": ready_ws.id})
            .all()
        )
        rows = s.exec(
            select(DecisionRecord).where(DecisionRecord.workspace == ready_ws.id).order_by(DecisionRecord.seq)
        ).all()
        loaded = load_bodies(s, rows)
    assert [b["observation"] for b in loaded] == [obs(i) for i in range(70)]
    by_codec = dict(codecs)
    assert by_codec.get("z", 0) >= 40 and sum(n for c, n in by_codec.items() if c.startswith("zd:")) > 0
    assert len(dicts) == 1
    data = bytes(dicts[0][0])
    assert b"Europe/London" in data and b"unique" not in data
    assert verify(engine, ready_ws.id).ok


def test_migration_0011r_compresses_stored_observations(tmp_path) -> None:  # noqa: ANN001
    """Observations stored as plain text before 0011r are converted to DEFLATE and still load
    by their digest."""
    from alembic import command
    from alembic.config import Config

    from core.canonical import canonical_json
    from state.db import MIGRATIONS_DIR, make_engine
    from state.decision_log import observations_by_digest

    engine = make_engine(f"sqlite:///{tmp_path}/old.db")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    obs = {"prospect": {"id": "p1"}, "now": "2026-11-23T15:00:00Z"}
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0006")
        conn.execute(
            text("INSERT INTO observations (workspace, digest, body, first_at) VALUES ('w', :d, :b, :t)"),
            {"d": digest(obs), "b": canonical_json(obs), "t": "2026-11-23 15:00:00"},
        )
        command.upgrade(cfg, "head")
        row = conn.execute(text("SELECT body, codec, packed FROM observations")).one()
        assert row[0] is None and row[1] == "z" and row[2]
        assert observations_by_digest(conn, "w", [digest(obs)]) == {digest(obs): obs}


def test_migration_0012store_keeps_plain_bodies_and_fills_outcome(tmp_path) -> None:  # noqa: ANN001
    """Records appended before 0012store stay plain text and verify unchanged; `outcome` is
    filled from each body (only string outcomes); records appended after are packed, and the
    downgrade turns them back into the plain text the chain hashed."""
    from alembic import command
    from alembic.config import Config

    from core.canonical import canonical_json
    from state.db import MIGRATIONS_DIR, make_engine
    from state.decision_log import GENESIS, chain_hash, stream_bodies

    engine = make_engine(f"sqlite:///{tmp_path}/old.db")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    prev = GENESIS
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0011r")
        for seq, outcome in ((1, "defer"), (2, {"kind": "wait"})):
            body = {"at": "2026-11-23T15:00:00Z", "run_id": "r", "prospect_id": "p", "node": "guard",
                    "action": "send", "outcome": outcome, "fmt": 2, "id": f"d{seq}", "seq": seq,
                    "workspace": "w", "prev_hash": prev}  # fmt: skip
            plain = canonical_json(body)
            digest_ = chain_hash(prev, plain)
            conn.execute(
                text(
                    "INSERT INTO decisions (id, workspace, seq, at, run_id, prospect_id, node, action, body,"
                    " prev_hash, hash) VALUES (:i, 'w', :s, '2026-11-23 15:00:00.000000', 'r', 'p', 'guard',"
                    " 'send', :b, :p, :h)"
                ),
                {"i": f"d{seq}", "s": seq, "b": plain, "p": prev, "h": digest_},
            )
            prev = digest_
        conn.execute(text("INSERT INTO chain_heads (workspace, seq, hash) VALUES ('w', 2, :h)"), {"h": prev})
        command.upgrade(cfg, "head")
        rows = conn.execute(text("SELECT seq, outcome, codec, packed FROM decisions ORDER BY seq")).all()
    assert [tuple(r) for r in rows] == [(1, "defer", "", None), (2, "", "", None)]
    assert verify(engine, "w").ok
    with session_scope(engine) as s:
        append(s, "w", [{**_body({"x": 1}, 3), "outcome": "deny"}])
    assert verify(engine, "w").ok
    assert [(b["seq"], b["outcome"]) for b in stream_bodies(engine, "w")] == [
        (1, "defer"),
        (2, {"kind": "wait"}),
        (3, "deny"),
    ]
    with engine.begin() as conn:
        packed = conn.execute(text("SELECT codec, body FROM decisions WHERE seq = 3")).one()
        assert packed[0] == "z" and packed[1] is None
        plain3 = stored_text(conn, "w", 3)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0011r")
        assert conn.execute(text("SELECT body FROM decisions WHERE seq = 3")).scalar_one() == plain3


def test_readers_filter_and_read_packed_bodies(ready_ws) -> None:  # noqa: ANN001
    """The report's deferred/denied/stopped records and a review card's cost so far come from
    packed bodies: the report selects on the verified `outcome` column (a guard record that
    allowed is left out even though a verdict inside it deferred, as the LIKE filter's parsed
    check did) and the cost sums every decision of the prospect."""
    from agents.report import _bodies
    from service.reviews import _cost_so_far

    engine = engine_for(ready_ws.database_url)
    deferring = [{"rule": "send_window", "outcome": "defer", "reason": "later"}]
    records = [
        {**_body({"x": 1}, 1), "node": "guard", "action": "send", "outcome": "defer", "verdicts": deferring,
         "cost": {"credits": 1.5, "usd": 0.01}},
        {**_body({"x": 1}, 2), "node": "guard", "action": "send", "outcome": "allow", "verdicts": deferring,
         "cost": {"credits": 2.0}},
        {**_body({"x": 1}, 3), "node": "act", "action": "stop", "final_action": "stop", "rationale": "Stop: bounced.",
         "cost": {"usd": 0.02}},
        {**_body({"x": 1}, 4), "prospect_id": "q", "node": "guard", "action": "send", "outcome": "deny",
         "cost": {"credits": 9.0}},
    ]  # fmt: skip
    with session_scope(engine) as s:
        append(s, ready_ws.id, records)
    with Session(engine) as s:
        assert (
            s.connection()
            .execute(
                text("SELECT COUNT(*) FROM decisions WHERE workspace = :w AND body IS NULL"),
                {"w": ready_ws.id},
            )
            .scalar()
            == 4
        )
        found = _bodies(s, ready_ws.id, DAY0, DAY0 + timedelta(days=1))
        cost = _cost_so_far(s, ready_ws.id, "p")
    assert [(b["action"], b["outcome"] if b["node"] == "guard" else "") for b in found] == [
        ("send", "defer"),
        ("stop", ""),
        ("send", "deny"),
    ]
    assert found[0]["verdicts"] == deferring
    assert cost == {"credits": 3.5, "usd": 0.03}
