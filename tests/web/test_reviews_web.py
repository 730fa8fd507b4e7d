"""Review decisions from the browser: the same function as Slack and the CLI, exactly once."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from core.workspace import Workspace
from state.db import engine_for
from state.models import Draft, OutboxMessage
from tests.web.conftest import APPROVER, csrf_of, pending_review, review_status, sign_in, web_records


def _sent(ws: Workspace, prospect_id: str) -> list[OutboxMessage]:
    with Session(engine_for(ws.database_url)) as s:
        return list(
            s.exec(
                select(OutboxMessage).where(
                    OutboxMessage.prospect_id == prospect_id, OutboxMessage.status == "sent"
                )
            ).all()
        )


def test_approve_sends_once_even_when_posted_twice(client: TestClient, ws: Workspace) -> None:
    """An approver's approval resumes the graph and sends; the same POST again changes and sends nothing."""
    sign_in(client, APPROVER)
    review = pending_review(ws)
    page = client.get(f"/web/demo/reviews/{review.id}")
    token = csrf_of(page.text)
    before = len(_sent(ws, review.prospect_id))
    r = client.post(f"/web/demo/reviews/{review.id}", data={"csrf": token, "decision": "approve"})
    assert r.status_code == 200
    assert "approve recorded" in r.text
    assert review_status(ws, review.id) == "approved"
    after = _sent(ws, review.prospect_id)
    assert len(after) == before + 1 and after[-1].step_id == review.step_id
    again = client.post(f"/web/demo/reviews/{review.id}", data={"csrf": token, "decision": "approve"})
    assert "already approved by web:demo" in again.text
    assert len(_sent(ws, review.prospect_id)) == before + 1
    bodies = web_records(ws)
    resumed = [b for b in bodies if b["node"] == "await_review" and b.get("review_id") == review.id]
    assert [b["actor"] for b in resumed] == ["web:demo"]
    web = [
        (b["action"], b["outcome"])
        for b in bodies
        if b["node"] == "web" and b["action"].startswith("web_review")
    ]
    assert web == [("web_review_approve", "applied"), ("web_review_approve", "refused")]


def test_edit_changes_the_draft_before_approval(client: TestClient, ws: Workspace) -> None:
    """An edit from the web stores the new body, marks the editor and approves."""
    sign_in(client, APPROVER)
    review = pending_review(ws)
    with Session(engine_for(ws.database_url)) as s:
        original = s.get(Draft, review.draft_id).body
    token = csrf_of(client.get(f"/web/demo/reviews/{review.id}").text)
    r = client.post(
        f"/web/demo/reviews/{review.id}",
        data={
            "csrf": token,
            "decision": "edit",
            "subject": "Quick question",
            "body": "Hello there.\n\n" + original,
        },
    )
    assert r.status_code == 200, r.text
    assert review_status(ws, review.id) == "edited"
    with Session(engine_for(ws.database_url)) as s:
        d = s.get(Draft, review.draft_id)
        assert d.body.startswith("Hello there.") and d.edited_by == "web:demo"


def test_edit_that_breaks_content_rules_goes_back_to_the_reviewer(client: TestClient, ws: Workspace) -> None:
    """An edit without the opt-out line and postal address is refused with the problems; the review stays pending."""
    sign_in(client, APPROVER)
    review = pending_review(ws)
    token = csrf_of(client.get(f"/web/demo/reviews/{review.id}").text)
    r = client.post(
        f"/web/demo/reviews/{review.id}",
        data={
            "csrf": token,
            "decision": "edit",
            "subject": "Quick question",
            "body": "Hello there.\n\nThanks.",
        },
    )
    assert r.status_code == 422
    assert review_status(ws, review.id) == "pending"


def test_reject_sends_nothing_and_keeps_the_note(client: TestClient, ws: Workspace) -> None:
    """A rejection from the web sends nothing and records the reviewer's note."""
    sign_in(client, APPROVER)
    review = pending_review(ws)
    before = len(_sent(ws, review.prospect_id))
    token = csrf_of(client.get(f"/web/demo/reviews/{review.id}").text)
    client.post(f"/web/demo/reviews/{review.id}", data={"csrf": token, "decision": "reject", "note": "tone"})
    assert review_status(ws, review.id) == "rejected"
    assert len(_sent(ws, review.prospect_id)) == before
    resumed = [b for b in web_records(ws) if b["node"] == "await_review" and b.get("review_id") == review.id]
    assert resumed[-1]["rationale"] == "tone"


def test_empty_edit_is_refused(client: TestClient, ws: Workspace) -> None:
    """An edit with neither subject nor body is refused and the review stays pending."""
    sign_in(client, APPROVER)
    review = pending_review(ws)
    token = csrf_of(client.get(f"/web/demo/reviews/{review.id}").text)
    r = client.post(f"/web/demo/reviews/{review.id}", data={"csrf": token, "decision": "edit"})
    assert "an edit needs a new subject or body" in r.text
    assert review_status(ws, review.id) == "pending"
