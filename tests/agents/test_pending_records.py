"""One append per step batch: the guard's deny/defer records are kept pending in the graph
state and written with the run's next record (one insert, same order and bodies); a crash
before that loses only records the rerun recomputes identically; an append takes four
statements once the workspace's observation dictionary is known; the guard re-plans within
its node call, so a deny costs no extra supersteps."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from langgraph.runtime import Runtime
from sqlalchemy import event
from sqlmodel import Session, col, select

from agents import actions
from agents.checkpoint import open_checkpointer, thread_id
from agents.context import build_context
from agents.graph import build_graph
from agents.nodes.observe import observe
from agents.nodes.plan import plan
from agents.records import append, flushing, record
from agents.runner import process_prospect
from agents.services import init_workspace
from agents.state import initial_state
from core.workspace import load_workspace
from state import decision_log
from state import storage_codec as codec
from state.db import engine_for, session_scope
from state.decision_log import load_body
from state.models import DecisionRecord, Prospect
from state.models_storage import ObservationDict
from tests.conftest import at, copy_demo

NOW = "2026-11-23T15:00:00Z"
SUPPRESSED = "greg.holloway@southerncrossfreight.example"  # denied (suppression), then stopped
RUN = "run_pending"


@contextmanager
def statements(engine: Any) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, stmt: str, *_a: Any) -> None:
        seen.append(" ".join(stmt.split())[:60].upper())

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _pid(ws: Any, email: str) -> str:
    with Session(engine_for(ws.database_url)) as s:
        return s.exec(
            select(Prospect.id).where(Prospect.workspace == ws.id, Prospect.email_norm == email)
        ).one()


def _bodies(ws: Any, pid: str) -> list[dict[str, Any]]:
    """The prospect's records in seq order, without what differs between two equal runs."""
    with Session(engine_for(ws.database_url)) as s:
        recs = s.exec(
            select(DecisionRecord)
            .where(DecisionRecord.workspace == ws.id, DecisionRecord.prospect_id == pid)
            .order_by(DecisionRecord.seq)
        ).all()
    out = []
    for r in recs:
        body = load_body(r)  # the stored body, whatever its storage format
        for k in ("id", "seq", "prev_hash", "hash"):
            body.pop(k, None)
        out.append(body)
    return out


def _run(ws: Any, pid: str) -> dict[str, Any]:
    engine = engine_for(ws.database_url)
    ctx = build_context(ws, engine)
    with open_checkpointer(ws) as saver:
        return process_prospect(build_graph(saver), ctx, pid, run_id=RUN, now=at(NOW))


def test_denial_is_written_with_the_next_record_in_one_insert(ready_ws) -> None:  # noqa: ANN001
    """The suppressed prospect: the guard denies the first proposal, the planner stops. Both
    records land in one insert, the denial first, and the chain verifies."""
    pid = _pid(ready_ws, SUPPRESSED)
    engine = engine_for(ready_ws.database_url)
    with statements(engine) as seen:
        out = _run(ready_ws, pid)
    assert out["kind"] == "stop"
    bodies = _bodies(ready_ws, pid)
    assert [(b["node"], b["final_action"]) for b in bodies] == [("guard", "replan"), ("act", "stop")]
    assert any(v["rule"] == "suppression" for v in bodies[0]["verdicts"])
    assert bodies[1]["planner_input"]["denials"][0]["proposal"]["action"] == bodies[0]["action"]
    assert len([s for s in seen if s.startswith("INSERT INTO DECISIONS")]) == 1
    assert decision_log.verify(engine, ready_ws.id).ok


def test_the_guard_replans_in_its_node_call(ready_ws) -> None:  # noqa: ANN001
    """observe, plan, guard, act: the deny costs no guard -> plan -> guard superstep pair."""
    pid = _pid(ready_ws, SUPPRESSED)
    ctx = build_context(ready_ws, engine_for(ready_ws.database_url))
    tid = thread_id(ready_ws.id, pid)
    state = initial_state(prospect_id=pid, thread_id=tid, run_id=RUN, now=NOW)
    with open_checkpointer(ready_ws) as saver:
        graph = build_graph(saver)
        steps = [
            next(iter(update))
            for update in graph.stream(
                state,
                {"configurable": {"thread_id": tid}},
                context=ctx,
                stream_mode="updates",
                durability="exit",
            )
        ]
    assert steps == ["observe", "plan", "guard", "act"]


class Crash(BaseException):
    """Like a kill: nothing catches it, nothing is cleaned up."""


def test_crash_before_the_flush_reruns_to_the_same_records(
    ready_ws, tmp_path: Path, backend: str, monkeypatch
) -> None:  # noqa: ANN001, E501
    """Killed between the guard's denial and the act: nothing of that step batch is in the
    log; the rerun writes exactly what an uninterrupted run writes, and the chain verifies."""
    pid = _pid(ready_ws, SUPPRESSED)
    assert _run(ready_ws, pid)["kind"] == "stop"
    expected = _bodies(ready_ws, pid)

    other = load_workspace(copy_demo(tmp_path / "again", backend=backend))
    init_workspace(other, now=at("2026-11-23T14:00:00Z"))
    engine = engine_for(other.database_url)

    def killed(*_a: Any, **_k: Any) -> None:
        raise Crash

    monkeypatch.setattr(actions, "finish", killed)
    with pytest.raises(Crash):
        _run(other, pid)
    assert _bodies(other, pid) == []  # the denial was pending, not written
    monkeypatch.undo()
    assert _run(other, pid)["kind"] == "stop"
    assert _bodies(other, pid) == expected
    assert decision_log.verify(engine, other.id).ok


def test_an_error_after_a_denial_is_logged_with_it(ready_ws, monkeypatch) -> None:  # noqa: ANN001
    """An error the runner classifies: the pending denial and the error record, in that
    order, in one insert."""
    pid = _pid(ready_ws, SUPPRESSED)

    def broken(*_a: Any, **_k: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(actions, "finish", broken)
    engine = engine_for(ready_ws.database_url)
    with statements(engine) as seen:
        out = _run(ready_ws, pid)
    assert out["kind"] == "error"
    bodies = _bodies(ready_ws, pid)
    assert [(b["node"], b["final_action"]) for b in bodies] == [("guard", "replan"), ("runner", "error")]
    assert len([s for s in seen if s.startswith("INSERT INTO DECISIONS")]) == 1
    assert decision_log.verify(engine, ready_ws.id).ok


def test_step_cap_writes_the_pending_records_first(ready_ws) -> None:  # noqa: ANN001
    """The plan node at the step cap (as routed from the guard): the pending denial and the
    step cap in one insert; the update clears what was pending."""
    engine = engine_for(ready_ws.database_url)
    rt = Runtime(context=build_context(ready_ws, engine))
    pid = _pid(ready_ws, SUPPRESSED)
    st: dict[str, Any] = dict(
        initial_state(prospect_id=pid, thread_id=thread_id(ready_ws.id, pid), run_id=RUN, now=NOW)
    )
    st.update(observe(st, rt))  # type: ignore[arg-type]
    st["steps"] = ready_ws.config.limits.max_steps_per_run
    st["plan"] = {"proposal": {"action": "research", "reason": "t"}, "rationale": "t"}
    decision = {"outcome": "defer", "verdicts": [{"rule": "window", "outcome": "defer", "reason": "t"}]}
    st["pending"] = [record(st, node="guard", action="research", final_action="replan", decision=decision)]  # type: ignore[arg-type]
    with statements(engine) as seen:
        out = flushing(plan)(st, rt)
    assert out["outcome"]["kind"] == "step_cap" and out["pending"] is None
    assert [b["action"] for b in _bodies(ready_ws, pid)] == ["research", "step_cap"]
    assert len([s for s in seen if s.startswith("INSERT INTO DECISIONS")]) == 1


def test_append_takes_four_statements_once_the_dictionary_is_known(ready_ws) -> None:  # noqa: ANN001
    """Locked head read, observations, records, head update: the workspace's dictionary is
    read once per process, not once per append."""
    engine = engine_for(ready_ws.database_url)
    data = codec.build_dictionary([{"mode": "send", "n": i} for i in range(40)])
    with session_scope(engine) as s:
        s.add(
            ObservationDict(
                workspace=ready_ws.id,
                id=decision_log._dict_id(data),
                data=data,
                created_at=datetime.fromisoformat("2026-11-23T14:00:00+00:00"),
            )
        )

    def body(n: int) -> dict[str, Any]:
        return {"at": NOW, "run_id": RUN, "prospect_id": "p", "node": "guard", "action": f"a{n}",
                "observation_digest": "", "observation": {"mode": "send", "n": n}}  # fmt: skip

    with session_scope(engine) as s:
        decision_log.append(s, ready_ws.id, [body(0)])  # reads the dictionary's id once
    for n in (1, 2):
        with session_scope(engine) as s:
            s.connection()  # the transaction is begun before counting
            with statements(engine) as seen:
                decision_log.append(s, ready_ws.id, [body(n), body(n), body(n)])
        assert len(seen) == 4, seen
    with Session(engine) as s:
        recs = s.exec(
            select(DecisionRecord)
            .where(DecisionRecord.workspace == ready_ws.id)
            .order_by(col(DecisionRecord.seq))
        ).all()
        assert decision_log.load_bodies(s, recs)[-1]["observation"] == {"mode": "send", "n": 2}
    assert decision_log.verify(engine, ready_ws.id).ok


def test_pending_records_follow_the_transaction_that_carries_them(ready_ws) -> None:  # noqa: ANN001
    """Within one node call: a rolled-back append leaves them pending (the retry carries
    them), a second append in the same transaction does not repeat them, and an append
    after the one that committed them (send, then delivery) does not either."""
    engine = engine_for(ready_ws.database_url)
    rt = Runtime(context=build_context(ready_ws, engine))
    st: dict[str, Any] = dict(initial_state(prospect_id="p_x", thread_id="t", run_id=RUN, now=NOW))
    denied = record(st, node="guard", action="draft", final_action="replan")  # type: ignore[arg-type]
    st["pending"] = [denied]

    def node(state: Any, runtime: Any) -> dict[str, Any]:
        def rec(action: str) -> dict[str, Any]:
            return record(state, node="act", action=action, final_action=action)

        with pytest.raises(RuntimeError), session_scope(engine) as s:
            append(s, ready_ws.id, rec("rolled_back"))
            raise RuntimeError("another worker got there first")
        with session_scope(engine) as s:
            append(s, ready_ws.id, rec("first"))
            append(s, ready_ws.id, rec("same_transaction"))
        with session_scope(engine) as s:
            append(s, ready_ws.id, rec("later"))
        return {}

    out = flushing(node)(st, rt)
    assert out == {"pending": None}
    assert [(b["node"], b["action"]) for b in _bodies(ready_ws, "p_x")] == [
        ("guard", "draft"),
        ("act", "first"),
        ("act", "same_transaction"),
        ("act", "later"),
    ]
    assert decision_log.verify(engine, ready_ws.id).ok
