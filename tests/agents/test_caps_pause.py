"""A spent run budget pauses a prospect, it never ends its sequence: a draft denied by
budget_run (the run's credits were spent by other work) leaves the prospect waiting for
the next run, and the next run drafts and sends."""

from __future__ import annotations

from sqlmodel import Session, select

from agents.checkpoint import open_checkpointer, thread_id
from agents.context import build_context
from agents.graph import build_graph
from agents.state import initial_state
from core.timeutil import iso
from state.db import engine_for, session_scope
from state.ledger import record_cost
from state.models import Company, DecisionRecord, OutboxMessage, Prospect
from tests.conftest import at

NOW = "2026-11-23T15:00:00Z"


def _run(ws, pid: str, now: str) -> dict:  # noqa: ANN001
    engine = engine_for(ws.database_url)
    tid = thread_id(ws.id, pid)
    with open_checkpointer(ws) as saver:
        return build_graph(saver).invoke(
            initial_state(prospect_id=pid, thread_id=tid, run_id=f"run_{now}", now=now),
            {"configurable": {"thread_id": tid}},
            context=build_context(ws, engine),
        )


def test_budget_run_deny_on_a_draft_pauses_until_the_next_run(ready_ws) -> None:  # noqa: ANN001
    """With this run's 40 credits already spent elsewhere, Lena Park's draft is denied by
    budget_run: she waits (not stopped) until the next business day, and then is drafted."""
    ws = ready_ws
    engine = engine_for(ws.database_url)
    with session_scope(engine) as s:
        p = s.exec(
            select(Prospect).where(
                Prospect.workspace == ws.id, Prospect.email_norm == "lena.park@acmerobotics.example"
            )
        ).one()
        s.get(Company, p.company_id).research_status = "done"  # researched earlier
        # Another worker of the same run spent the run's whole credit budget.
        record_cost(
            s,
            workspace=ws.id,
            key="enrichment:file:other",
            at=at(NOW),
            kind="enrichment",
            provider="enrichment:file",
            credits=45.0,
            run_id=f"run_{NOW}",
            prospect_id="someone-else",
        )
        pid = p.id
    result = _run(ws, pid, NOW)
    assert result["outcome"]["kind"] == "wait", result["outcome"]
    assert "budget_run" in result["outcome"]["reason"]
    with Session(engine) as s:
        p = s.get(Prospect, pid)
        assert p.status == "waiting" and p.stop_reason == ""
        assert iso(p.next_action_at) == "2026-11-24T13:00:00Z"  # next business day, 08:00 New York
        denied = [
            r.action
            for r in s.exec(
                select(DecisionRecord).where(
                    DecisionRecord.prospect_id == pid, DecisionRecord.node == "guard"
                )
            )
        ]
    assert denied == ["draft"]

    later = _run(ws, pid, "2026-11-24T15:00:00Z")
    assert later["outcome"] is None or later["outcome"]["kind"] != "stop"
    with Session(engine) as s:
        assert s.exec(select(OutboxMessage).where(OutboxMessage.prospect_id == pid)).first() is not None
