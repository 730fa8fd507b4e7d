"""Reviews survive any crash: a process killed right after a review request (before any
checkpoint is written) still lets `queue approve` send exactly once and log the approval;
a stale finished checkpoint is never resumed silently; the killed run is marked killed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import Session, select

from agents.checkpoint import open_checkpointer, thread_id
from agents.context import build_context
from agents.graph import build_graph
from agents.review_queue import decide
from agents.state import initial_state
from state.db import engine_for, session_scope
from state.decision_log import load_body, verify
from state.models import DecisionRecord, OutboxMessage, Prospect, Review, Run
from tests.conftest import ROOT, at

NOW = "2026-11-23T15:00:00Z"


def _cli(ws_root: Path, *args: str, crash_at: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("OUTBOUND_CRASH_AT", None)
    if crash_at:
        env["OUTBOUND_CRASH_AT"] = crash_at
    return subprocess.run(
        [sys.executable, str(ROOT / "run.py"), *args, "-w", str(ws_root), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_kill_at_review_interrupt_then_approve_sends_once(ready_ws) -> None:  # noqa: ANN001
    """kill -9 right after the review request is committed (no checkpoint yet): `queue
    approve` rebuilds the run from the database, sends the reviewed message exactly once,
    logs the approval once, and marks the killed run as killed; a second approve changes
    nothing and a re-run of the day sends nothing twice."""
    killed = _cli(ready_ws.root, "daily", "--now", NOW, crash_at="after_review_request")
    assert killed.returncode == 137, killed.stderr[-2000:]
    engine = engine_for(ready_ws.database_url)
    with Session(engine) as s:
        review = s.exec(select(Review).where(Review.workspace == ready_ws.id)).one()
        assert review.status == "pending"
        assert s.exec(select(Run).where(Run.workspace == ready_ws.id)).one().status == "running"
    with open_checkpointer(ready_ws) as saver:
        assert build_graph(saver).get_state({"configurable": {"thread_id": review.thread_id}}).next == ()

    approved = _cli(ready_ws.root, "queue", "approve", review.id, "--now", "2026-11-23T16:30:00Z")
    assert approved.returncode == 0, approved.stderr[-2000:]
    result = json.loads(approved.stdout)
    assert result["resumed_from"] == "database"
    assert result["outcome"]["status"] == "sent", result["outcome"]
    assert result["actor_verified"] is False and result["actor"].startswith("local:")

    with Session(engine) as s:
        rows = s.exec(
            select(OutboxMessage).where(
                OutboxMessage.workspace == ready_ws.id, OutboxMessage.prospect_id == review.prospect_id
            )
        ).all()
        bodies = [
            load_body(r)
            for r in s.exec(
                select(DecisionRecord).where(
                    DecisionRecord.workspace == ready_ws.id, DecisionRecord.action == "review_approve"
                )
            )
        ]
        runs = {r.kind: r.status for r in s.exec(select(Run).where(Run.workspace == ready_ws.id))}
    assert [(r.step_id, r.status) for r in rows] == [(review.step_id, "sent")]
    assert (
        len(list((ready_ws.outbox_dir / rows[0].channel).glob(f"*__{rows[0].idempotency_key[:16]}.*"))) == 1
    )
    assert len(bodies) == 1 and bodies[0]["review_id"] == review.id and bodies[0]["actor_verified"] is False
    assert runs == {"daily": "killed", "review": "finished"}

    again = _cli(ready_ws.root, "queue", "approve", review.id, "--now", "2026-11-23T16:31:00Z")
    assert again.returncode == 2 and "already approved" in again.stdout
    rerun = _cli(ready_ws.root, "daily", "--now", NOW)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    with Session(engine) as s:
        assert (
            len(
                s.exec(
                    select(OutboxMessage).where(
                        OutboxMessage.workspace == ready_ws.id,
                        OutboxMessage.prospect_id == review.prospect_id,
                        OutboxMessage.step_id == review.step_id,
                    )
                ).all()
            )
            == 1
        )
    assert verify(engine, ready_ws.id).ok


def test_approve_with_a_stale_finished_checkpoint_resumes_from_the_database(ready_ws) -> None:  # noqa: ANN001
    """When the thread's checkpoint is an older finished run (not waiting on this review),
    the approval rebuilds the run from the database and sends, instead of doing nothing."""
    ws = ready_ws
    engine = engine_for(ws.database_url)
    ctx = build_context(ws, engine)
    with Session(engine) as s:
        p = s.exec(
            select(Prospect).where(
                Prospect.workspace == ws.id, Prospect.email_norm == "carlos.mendez@acmerobotics.example"
            )
        ).one()
    tid = thread_id(ws.id, p.id)
    cfg = {"configurable": {"thread_id": tid}}
    with open_checkpointer(ws) as saver:
        graph = build_graph(saver)
        first = graph.invoke(
            initial_state(prospect_id=p.id, thread_id=tid, run_id="run_a", now=NOW), cfg, context=ctx
        )
        review_id = first["__interrupt__"][0].value["review_id"]
        # A later run of the same thread finishes (the prospect was parked meanwhile), so
        # the newest checkpoint no longer waits on the review.
        with session_scope(engine) as s:
            s.get(Prospect, p.id).status = "stopped"
        graph.invoke(
            initial_state(prospect_id=p.id, thread_id=tid, run_id="run_b", now=NOW), cfg, context=ctx
        )
        assert graph.get_state(cfg).next == ()
        with session_scope(engine) as s:
            row = s.get(Prospect, p.id)
            row.status, row.stop_reason = "awaiting_review", ""
    out = decide(ws, review_id, "approve", actor="U1", now=at("2026-11-23T16:30:00Z"))
    assert out["resumed_from"] == "database"
    assert out["outcome"]["status"] == "sent" and out["run"]["sent"]["email"] == 1
