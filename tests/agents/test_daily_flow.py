"""The demo workspace end to end: runs at a start date and +3 and +7 business days, a
review approved through the queue, exactly-once re-runs, an intact chain, 0 divergences."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from agents.replay import replay
from agents.review_queue import decide, list_reviews
from agents.runner import run_daily
from core.errors import ReviewError
from state.db import engine_for
from state.decision_log import verify
from state.models import DecisionRecord, OutboxMessage, Prospect
from tests.conftest import at

DAY0, DAY3, DAY7 = at("2026-11-23T15:00:00Z"), at("2026-11-26T15:00:00Z"), at("2026-12-02T15:00:00Z")


def _sent(ws) -> int:  # noqa: ANN001
    with Session(engine_for(ws.database_url)) as s:
        return len(
            s.exec(
                select(OutboxMessage).where(OutboxMessage.workspace == ws.id, OutboxMessage.status == "sent")
            ).all()
        )


@pytest.mark.slow
def test_demo_days_exercise_every_path(ready_ws) -> None:  # noqa: ANN001
    """Day 0 researches, drafts and sends on email and LinkedIn, asks for review, defers
    and stops suppressed prospects; an approval resumes the graph; later days follow up
    and escalate; re-running a day sends nothing new; the chain verifies; replay agrees."""
    ws = ready_ws
    day0 = run_daily(ws, now=DAY0)
    assert day0.sent["email"] > 0 and day0.sent["linkedin"] > 0
    assert day0.review_requested > 0 and day0.deferred > 0 and day0.stopped > 0
    assert day0.errors == 0
    engine = engine_for(ws.database_url)
    with Session(engine) as s:
        stops = {
            p.email_norm: p.stop_reason
            for p in s.exec(select(Prospect).where(Prospect.workspace == ws.id, Prospect.status == "stopped"))
        }
        actions = {d.action for d in s.exec(select(DecisionRecord).where(DecisionRecord.workspace == ws.id))}
    assert "suppression" in stops["greg.holloway@southerncrossfreight.example"]
    assert {"research", "enrich", "draft", "send", "request_review", "wait", "stop"} <= actions

    pending = list_reviews(ws)
    target = next(
        v for v in pending if v.review["channel"] == "email" and v.prospect["email"].endswith(".example")
    )
    result = decide(ws, target.review["id"], "approve", actor="U123", now=at("2026-11-23T16:30:00Z"))
    assert result["decision"] == "approve"
    with pytest.raises(ReviewError):
        decide(ws, target.review["id"], "approve", actor="U123", now=at("2026-11-23T16:31:00Z"))

    before = _sent(ws)
    again = run_daily(ws, now=DAY0)
    assert sum(again.sent.values()) == 0 and _sent(ws) == before

    day3 = run_daily(ws, now=DAY3)
    assert day3.sent["email"] > 0  # follow-ups
    day7 = run_daily(ws, now=DAY7)
    assert day7.sent["linkedin"] > 0  # escalation after silence
    after = _sent(ws)
    rerun = run_daily(ws, now=DAY7)
    assert sum(rerun.sent.values()) == 0 and _sent(ws) == after

    assert verify(engine, ws.id).ok
    for summary in (day0, day3, day7):
        result = replay(ws, run_id=summary.run_id)
        assert result["replayed"] > 0
        assert result["divergences"] == []


def test_replay_what_if_reports_differences(ready_ws) -> None:  # noqa: ANN001
    """Replaying with a stricter policy (no LinkedIn at all) reports the changed decisions."""
    from policies.config import PolicyConfig

    ws = ready_ws
    summary = run_daily(ws, now=DAY0, limit=15)
    strict = PolicyConfig.model_validate({"window": {"days": ["sat"]}})
    result = replay(ws, run_id=summary.run_id, policy=strict)
    assert result["divergences"], "a weekend-only window must change some send decisions"
    assert replay(ws, run_id=summary.run_id)["divergences"] == []


def test_dry_run_changes_nothing(ready_ws) -> None:  # noqa: ANN001
    """A dry run reports next actions but writes no decision and sends nothing."""
    ws = ready_ws
    summary = run_daily(ws, now=DAY0, dry_run=True)
    assert summary.processed > 0
    with Session(engine_for(ws.database_url)) as s:
        assert s.exec(select(DecisionRecord).where(DecisionRecord.workspace == ws.id)).first() is None
    assert _sent(ws) == 0
