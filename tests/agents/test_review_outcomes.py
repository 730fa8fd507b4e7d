"""Reviews tell the truth: a decision returns what it led to (sent; deferred until when
and by which rule; denied by which rule and what comes next), and an edit that breaks
content rules goes back to the reviewer with the problems instead of skipping its step."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from agents.checkpoint import open_checkpointer, thread_id
from agents.context import build_context
from agents.graph import build_graph
from agents.review_queue import decide
from agents.state import initial_state
from core.errors import EditRejected
from state.db import engine_for
from state.models import DecisionRecord, Draft, OutboxMessage, Prospect, Review
from tests.conftest import at

NOW = "2026-11-23T15:00:00Z"


@pytest.fixture
def carlos_review(ready_ws):  # noqa: ANN001, ANN201
    """Carlos Mendez (tier 1, New York) waits for review of his first email."""
    ws = ready_ws
    engine = engine_for(ws.database_url)
    with Session(engine) as s:
        p = s.exec(
            select(Prospect).where(
                Prospect.workspace == ws.id, Prospect.email_norm == "carlos.mendez@acmerobotics.example"
            )
        ).one()
    tid = thread_id(ws.id, p.id)
    with open_checkpointer(ws) as saver:
        result = build_graph(saver).invoke(
            initial_state(prospect_id=p.id, thread_id=tid, run_id="run_t", now=NOW),
            {"configurable": {"thread_id": tid}},
            context=build_context(ws, engine),
        )
    return ws, p.id, result["__interrupt__"][0].value["review_id"]


def _sent(ws, pid: str) -> list[OutboxMessage]:  # noqa: ANN001
    with Session(engine_for(ws.database_url)) as s:
        return list(s.exec(select(OutboxMessage).where(OutboxMessage.prospect_id == pid)).all())


def test_approval_at_night_reports_the_deferral_and_waits_for_the_window(carlos_review) -> None:  # noqa: ANN001
    """Approved at 02:10 New York time: nothing is sent, and the result says deferred
    until 08:00 local by send_window; the prospect waits until then."""
    ws, pid, review_id = carlos_review
    out = decide(ws, review_id, "approve", actor="U1", now=at("2026-11-24T07:10:00Z"))
    assert out["outcome"]["status"] == "deferred"
    assert out["outcome"]["rules"] == ["send_window"]
    assert out["outcome"]["until"] == "2026-11-24T13:00:00Z"
    assert "deferred until 2026-11-24T13:00:00Z by send_window" in out["outcome"]["message"]
    assert _sent(ws, pid) == []
    with Session(engine_for(ws.database_url)) as s:
        p = s.get(Prospect, pid)
        assert p.status == "waiting" and p.next_action_at is not None


def test_approval_in_the_window_reports_the_send(carlos_review) -> None:  # noqa: ANN001
    """Approved at 11:30 New York time: the result says sent, and the outbox has it once."""
    ws, pid, review_id = carlos_review
    out = decide(ws, review_id, "approve", actor="U1", now=at("2026-11-23T16:30:00Z"))
    assert out["outcome"]["status"] == "sent" and out["outcome"]["message"] == "sent: email (email_intro)"
    assert [r.status for r in _sent(ws, pid)] == ["sent"]


def test_reject_says_what_the_agent_does_next(carlos_review) -> None:  # noqa: ANN001
    """A rejection reports the agent's next move for the prospect."""
    ws, _pid, review_id = carlos_review
    out = decide(ws, review_id, "reject", actor="U1", now=at("2026-11-23T16:30:00Z"), note="off tone")
    assert out["outcome"]["status"] == "rejected"
    assert out["outcome"]["after"]["status"] in ("review_requested", "sent", "waiting", "stopped", "denied")
    assert out["outcome"]["next"] and "rejected" in out["outcome"]["message"]


def test_edit_that_breaks_content_rules_goes_back_to_the_reviewer(carlos_review) -> None:  # noqa: ANN001
    """An edit with a merge tag, a banned phrase and no opt-out is refused with each problem;
    the review stays pending, the draft unchanged, no step is skipped and nothing sent."""
    ws, pid, review_id = carlos_review
    engine = engine_for(ws.database_url)
    with Session(engine) as s:
        before = s.get(Draft, s.get(Review, review_id).draft_id).body
    with pytest.raises(EditRejected) as err:
        decide(
            ws,
            review_id,
            "edit",
            actor="U1",
            now=at("2026-11-23T16:30:00Z"),
            body="Hi {{first_name}}, results are guaranteed. Call me.",
        )
    problems = " ".join(err.value.problems)
    assert "content_placeholders" in problems and "content_banned_phrases" in problems
    assert "content_opt_out" in problems
    with Session(engine) as s:
        r = s.get(Review, review_id)
        assert r.status == "pending" and s.get(Draft, r.draft_id).body == before
        actions = [d.action for d in s.exec(select(DecisionRecord).where(DecisionRecord.prospect_id == pid))]
    assert "review_edit" not in actions and _sent(ws, pid) == []

    fixed = before.replace("Would a 20-minute walkthrough", "Would a short walkthrough")
    out = decide(ws, review_id, "edit", actor="U1", now=at("2026-11-23T16:30:00Z"), body=fixed)
    assert out["outcome"]["status"] == "sent"


def test_snooze_reports_when_the_request_comes_back(carlos_review) -> None:  # noqa: ANN001
    """A snooze says until when the request is put aside; nothing is sent."""
    ws, pid, review_id = carlos_review
    out = decide(
        ws, review_id, "snooze", actor="U1", now=at("2026-11-23T16:30:00Z"), until=at("2026-11-24T16:30:00Z")
    )
    assert out["outcome"] == {
        "status": "snoozed",
        "until": "2026-11-24T16:30:00Z",
        "message": "snoozed: the request comes back 2026-11-24T16:30:00Z",
    }
    assert _sent(ws, pid) == []


def test_changed_recipient_after_approval_goes_back_to_review(carlos_review) -> None:  # noqa: ANN001
    """Approved at night (so held for the window), then the address on record changes:
    at the window the approval no longer matches the content, so the review is asked
    again and nothing goes to the new address."""
    ws, pid, review_id = carlos_review
    out = decide(ws, review_id, "approve", actor="U1", now=at("2026-11-24T07:10:00Z"))
    assert out["outcome"]["status"] == "deferred"
    engine = engine_for(ws.database_url)
    from state.db import session_scope

    with session_scope(engine) as s:
        p = s.get(Prospect, pid)
        p.email = p.email_norm = "carlos@acme-new.example"
    tid = thread_id(ws.id, pid)
    with open_checkpointer(ws) as saver:
        result = build_graph(saver).invoke(
            initial_state(prospect_id=pid, thread_id=tid, run_id="run_u", now="2026-11-24T15:00:00Z"),
            {"configurable": {"thread_id": tid}},
            context=build_context(ws, engine),
        )
    again = result["__interrupt__"][0].value
    assert again["review_id"] == review_id and again["kind"] == "message"  # one review per draft
    with Session(engine) as s:
        assert s.get(Review, review_id).status == "pending"  # asked again for the new content
    assert _sent(ws, pid) == []
