"""Slack review interactions against the running app, with the real slack_sdk client
talking to a local fake Slack Web API and real pending reviews from a daily run."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from service.reviews import post_pending, remind_and_expire
from state.db import engine_for
from state.decision_log import load_body
from state.models import DecisionRecord, EngagementEventRow, OutboxMessage, Review, ReviewMessage
from tests.fakes.slack_api import block_actions_payload, view_submission_payload

from .conftest import SECRET, make_app, sign


def post_cards(app: Any, clock: Any) -> dict[str, tuple[str, str]]:
    site = app.state.sites["demo"]
    assert post_pending(site, app.state.metrics, now=clock.now()) == 7
    with Session(site.engine) as s:
        return {m.review_id: (m.slack_channel, m.slack_ts) for m in s.exec(select(ReviewMessage))}


def email_review(ws: Any, owner: str | None = None) -> Review:
    from state.models import Prospect

    with Session(engine_for(ws.database_url)) as s:
        rows = s.exec(
            select(Review, Prospect)
            .join(Prospect, Prospect.id == Review.prospect_id)
            .where(Review.status == "pending", Review.channel == "email")
            .order_by(Review.id)
        ).all()
    # A prospect in the Americas: at the test clock (16:30 UTC on a Monday) it is inside the
    # sending window there, so an approval sends at once (approval never overrides the window).
    in_window = [(r, p) for r, p in rows if (p.timezone or "").startswith("America/")]
    return next(r for r, p in in_window if owner is None or p.owner == owner)


def review_row(ws: Any, rid: str) -> Review:
    with Session(engine_for(ws.database_url)) as s:
        return s.get(Review, rid)


def decisions(ws: Any, action: str) -> list[dict]:
    with Session(engine_for(ws.database_url)) as s:
        rows = s.exec(select(DecisionRecord).where(DecisionRecord.action == action)).all()
        return [load_body(r) for r in rows]


def sent_for(ws: Any, prospect_id: str) -> list[OutboxMessage]:
    with Session(engine_for(ws.database_url)) as s:
        return list(
            s.exec(
                select(OutboxMessage).where(
                    OutboxMessage.prospect_id == prospect_id, OutboxMessage.status == "sent"
                )
            )
        )


def click(
    client: TestClient,
    clock: Any,
    action: str,
    rid: str,
    where: tuple[str, str],
    *,
    user: str = "U0ALICE",
    trigger: str = "1234.5678.abcdef",
    extra_headers: dict[str, str] | None = None,
) -> Any:
    payload = block_actions_payload(
        action, rid, user_id=user, channel_id=where[0], message_ts=where[1], trigger_id=trigger
    )
    body, headers = sign(payload, clock)
    return client.post("/slack/interactions", content=body, headers={**headers, **(extra_headers or {})})


def card_text(fake: Any, where: tuple[str, str]) -> str:
    return json.dumps(fake.messages[where])


def test_cards_are_posted_once_with_evidence_and_buttons(app: Any, clock: Any, fake_slack: Any) -> None:
    """Every pending review is posted once to the review channel with its draft, cited evidence and four buttons."""
    cards = post_cards(app, clock)
    assert post_pending(app.state.sites["demo"], app.state.metrics, now=clock.now()) == 0
    assert len(fake_slack.calls_to("chat.postMessage")) == 7
    rid, where = next(iter(cards.items()))
    text = card_text(fake_slack, where)
    assert where[0] == "C0REVIEWS" and "review_approve" in text and "review_snooze" in text
    assert "Evidence" in text and "http" in text and "tier-1" in text


def test_approve_sends_once_and_updates_card(
    app: Any, ws: Any, clock: Any, client: TestClient, fake_slack: Any
) -> None:
    """Approve resumes the graph, sends the draft, logs the Slack user and redraws the card."""
    cards = post_cards(app, clock)
    r = email_review(ws)
    resp = click(client, clock, "review_approve", r.id, cards[r.id])
    assert resp.status_code == 200
    row = review_row(ws, r.id)
    assert row.status == "approved" and row.decided_by == "slack:U0ALICE"
    assert [m.step_id for m in sent_for(ws, r.prospect_id)] == [r.step_id]
    logged = [d for d in decisions(ws, "review_approve") if d["review_id"] == r.id]
    assert logged and logged[0]["actor"] == "slack:U0ALICE"
    assert "Approved by <@U0ALICE>" in card_text(fake_slack, cards[r.id])


def test_edit_then_approve_sends_edited_text(
    app: Any, ws: Any, clock: Any, client: TestClient, fake_slack: Any
) -> None:
    """Edit opens the modal; submitting it approves and sends the edited text after the guard."""
    cards = post_cards(app, clock)
    r = email_review(ws)
    assert click(client, clock, "review_edit", r.id, cards[r.id]).status_code == 200
    opened = fake_slack.calls_to("views.open")
    assert len(opened) == 1
    view = opened[0].body["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert review_row(ws, r.id).status == "pending"
    initial = next(b["element"]["initial_value"] for b in view["blocks"] if b.get("block_id") == "body")
    new_body = initial + "\n\nP.S. Happy to send a two-minute video instead."
    payload = view_submission_payload(
        view["callback_id"], view["private_metadata"], {"subject": "Edited subject", "body": new_body}
    )
    body, headers = sign(payload, clock)
    assert client.post("/slack/interactions", content=body, headers=headers).status_code == 200
    row = review_row(ws, r.id)
    assert row.status == "edited" and row.decided_by == "slack:U0ALICE"
    sent = sent_for(ws, r.prospect_id)
    assert len(sent) == 1
    eml = Path(sent[0].payload["path"]).read_text(encoding="utf-8")
    assert "Subject: Edited subject" in eml and "two-minute video" in eml


def test_reject_with_reason(app: Any, ws: Any, clock: Any, client: TestClient, fake_slack: Any) -> None:
    """Reject opens a reason modal; the reason is stored, nothing is sent, the card says rejected."""
    cards = post_cards(app, clock)
    r = email_review(ws)
    assert click(client, clock, "review_reject", r.id, cards[r.id]).status_code == 200
    view = fake_slack.calls_to("views.open")[0].body["view"]
    view = json.loads(view) if isinstance(view, str) else view
    payload = view_submission_payload(
        view["callback_id"], view["private_metadata"], {"reason": "wrong angle for this account"}
    )
    body, headers = sign(payload, clock)
    assert client.post("/slack/interactions", content=body, headers=headers).status_code == 200
    row = review_row(ws, r.id)
    assert row.status == "rejected" and row.note == "wrong angle for this account"
    assert sent_for(ws, r.prospect_id) == []
    assert "Rejected by <@U0ALICE>" in card_text(fake_slack, cards[r.id])


def test_snooze_puts_review_aside(app: Any, ws: Any, clock: Any, client: TestClient) -> None:
    """Snooze marks the review snoozed and sets the prospect to wake up after snooze_hours."""
    from state.models import Prospect

    cards = post_cards(app, clock)
    r = email_review(ws)
    assert click(client, clock, "review_snooze", r.id, cards[r.id]).status_code == 200
    assert review_row(ws, r.id).status == "snoozed"
    with Session(engine_for(ws.database_url)) as s:
        p = s.get(Prospect, r.prospect_id)
    assert p.status == "waiting"
    assert p.next_action_at.replace(tzinfo=None) == (clock.now() + timedelta(hours=24)).replace(tzinfo=None)
    assert sent_for(ws, r.prospect_id) == []


def test_forged_signature_is_refused(app: Any, ws: Any, clock: Any, client: TestClient) -> None:
    """A body signed with another secret gets 401 and decides nothing."""
    cards = post_cards(app, clock)
    r = email_review(ws)
    payload = block_actions_payload(
        "review_approve", r.id, channel_id=cards[r.id][0], message_ts=cards[r.id][1]
    )
    body, headers = sign(payload, clock, secret="not-the-secret")
    resp = client.post("/slack/interactions", content=body, headers=headers)
    assert resp.status_code == 401 and SECRET not in resp.text
    assert review_row(ws, r.id).status == "pending"


def test_stale_timestamp_is_refused(app: Any, ws: Any, clock: Any, client: TestClient) -> None:
    """A correctly signed request older than 300 s gets 401 and decides nothing."""
    cards = post_cards(app, clock)
    r = email_review(ws)
    payload = block_actions_payload(
        "review_approve", r.id, channel_id=cards[r.id][0], message_ts=cards[r.id][1]
    )
    body, headers = sign(payload, clock, skew=-301)
    assert client.post("/slack/interactions", content=body, headers=headers).status_code == 401
    assert review_row(ws, r.id).status == "pending"


def test_non_approver_gets_ephemeral_refusal(
    app: Any, ws: Any, clock: Any, client: TestClient, fake_slack: Any
) -> None:
    """A user who is neither approver nor owner is refused privately and nothing changes."""
    from structlog.testing import capture_logs

    cards = post_cards(app, clock)
    r = email_review(ws)
    with capture_logs() as logs:
        resp = click(client, clock, "review_approve", r.id, cards[r.id], user="U0MALLORY")
    assert resp.status_code == 200
    assert review_row(ws, r.id).status == "pending"
    eph = fake_slack.calls_to("chat.postEphemeral")
    assert len(eph) == 1 and eph[0].body["user"] == "U0MALLORY"
    assert any(e["event"] == "slack_unauthorized" and e["user_id"] == "U0MALLORY" for e in logs)


def test_prospect_owner_may_approve(app: Any, ws: Any, clock: Any, client: TestClient) -> None:
    """The prospect's owner (mapped to a Slack id) may approve even when not an approver."""
    cards = post_cards(app, clock)
    r = email_review(ws, owner="tom@agency.example")
    assert click(client, clock, "review_approve", r.id, cards[r.id], user="U0TOM").status_code == 200
    assert review_row(ws, r.id).decided_by == "slack:U0TOM"


def test_double_click_resumes_once(
    app: Any, ws: Any, clock: Any, client: TestClient, fake_slack: Any
) -> None:
    """A second Approve click on the same card sends nothing more and tells the user."""
    cards = post_cards(app, clock)
    r = email_review(ws)
    assert click(client, clock, "review_approve", r.id, cards[r.id]).status_code == 200
    assert click(client, clock, "review_approve", r.id, cards[r.id]).status_code == 200
    assert len(sent_for(ws, r.prospect_id)) == 1
    assert len([d for d in decisions(ws, "review_approve") if d["review_id"] == r.id]) == 1
    assert "already approved" in fake_slack.calls_to("chat.postEphemeral")[-1].body["text"]


def test_slack_retry_resumes_once(app: Any, ws: Any, clock: Any, client: TestClient) -> None:
    """A retried delivery (X-Slack-Retry-Num) of the same click is acknowledged and applies nothing new."""
    cards = post_cards(app, clock)
    r = email_review(ws)
    assert click(client, clock, "review_approve", r.id, cards[r.id]).status_code == 200
    retry = click(
        client,
        clock,
        "review_approve",
        r.id,
        cards[r.id],
        extra_headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
    )
    assert retry.status_code == 200
    assert len(sent_for(ws, r.prospect_id)) == 1
    assert len([d for d in decisions(ws, "review_approve") if d["review_id"] == r.id]) == 1


def test_stale_request_cannot_be_approved(
    app: Any, ws: Any, clock: Any, client: TestClient, fake_slack: Any
) -> None:
    """After the prospect replied, Approve marks the review stale, sends nothing and says so on the card."""
    from state.db import session_scope

    cards = post_cards(app, clock)
    r = email_review(ws)
    with session_scope(engine_for(ws.database_url)) as s:
        s.add(
            EngagementEventRow(
                workspace=ws.id,
                dedupe_key="reply-1",
                prospect_id=r.prospect_id,
                type="replied",
                channel="email",
                occurred_at=clock.now(),
                text="Not now, thanks",
            )
        )
    assert click(client, clock, "review_approve", r.id, cards[r.id]).status_code == 200
    assert review_row(ws, r.id).status == "stale"
    assert sent_for(ws, r.prospect_id) == []
    assert "Stale" in card_text(fake_slack, cards[r.id]) and "replied" in card_text(fake_slack, cards[r.id])


def test_restart_between_request_and_decision(ws: Any, clock: Any, fake_slack: Any) -> None:
    """A card posted by one app instance is approved through a new instance over the same database."""
    first = make_app(ws, fake_slack, clock)
    cards = post_cards(first, clock)
    r = email_review(ws)
    del first
    from core.workspace import load_workspace

    second = make_app(load_workspace(ws.root), fake_slack, clock)
    resp = click(TestClient(second), clock, "review_approve", r.id, cards[r.id])
    assert resp.status_code == 200
    assert review_row(ws, r.id).status == "approved"
    assert len(sent_for(ws, r.prospect_id)) == 1


def test_reminder_then_expiry_rejects(app: Any, ws: Any, clock: Any, fake_slack: Any) -> None:
    """A pending card gets one threaded reminder after 4 h and is expired (rejected) after 48 h."""
    cards = post_cards(app, clock)
    site, metrics = app.state.sites["demo"], app.state.metrics
    clock.at = clock.at + timedelta(hours=5)
    assert remind_and_expire(site, metrics, now=clock.now())["reminded"] == 7
    assert remind_and_expire(site, metrics, now=clock.now())["reminded"] == 0
    threaded = [c for c in fake_slack.calls_to("chat.postMessage") if c.body.get("thread_ts")]
    assert len(threaded) == 7
    clock.at = clock.at + timedelta(hours=48)
    assert remind_and_expire(site, metrics, now=clock.now())["expired"] == 7
    rid = next(iter(cards))
    assert review_row(ws, rid).status == "expired"
    assert "Expired" in card_text(fake_slack, cards[rid])


def test_edit_breaking_content_rules_goes_back_to_the_modal(
    app: Any, ws: Any, clock: Any, client: TestClient, fake_slack: Any
) -> None:
    """An edit with a merge tag and no opt-out keeps the modal open with the problems;
    the review stays pending and nothing is sent."""
    cards = post_cards(app, clock)
    r = email_review(ws)
    assert click(client, clock, "review_edit", r.id, cards[r.id]).status_code == 200
    view = fake_slack.calls_to("views.open")[0].body["view"]
    view = json.loads(view) if isinstance(view, str) else view
    payload = view_submission_payload(
        view["callback_id"],
        view["private_metadata"],
        {"subject": "Hi", "body": "Hi {{first_name}}, quick one?"},
    )
    body, headers = sign(payload, clock)
    resp = client.post("/slack/interactions", content=body, headers=headers)
    assert resp.status_code == 200
    errors = resp.json()["errors"]["body"]
    assert "content_placeholders" in errors and "content_opt_out" in errors
    assert review_row(ws, r.id).status == "pending"
    assert sent_for(ws, r.prospect_id) == []


def test_card_shows_each_claim_with_quote_and_url(app: Any, ws: Any, clock: Any, fake_slack: Any) -> None:
    """The card lists each cited sentence with its evidence quote and linked source URL,
    not the evidence ids."""
    from state.models import Draft, Evidence

    cards = post_cards(app, clock)
    r = email_review(ws)
    with Session(engine_for(ws.database_url)) as s:
        d = s.get(Draft, r.draft_id)
        sentence = next(x for x in d.sentences if x["evidence_ids"])
        ev = s.exec(select(Evidence).where(Evidence.id == sentence["evidence_ids"][0])).first()
    text = card_text(fake_slack, cards[r.id])
    assert sentence["text"].split()[0] in text and ev.quote.split()[0] in text
    assert f"<{ev.source_url}|" in text and f"|{ev.id}>" not in text


def test_approve_after_a_lost_checkpoint_sends_once(
    app: Any, ws: Any, clock: Any, client: TestClient, fake_slack: Any
) -> None:
    """When the review's checkpoint is gone (a crash right after the request), a Slack
    approval rebuilds the run from the database: it sends once, logs the approval and
    tells the reviewer what happened."""
    from agents.checkpoint import open_checkpointer

    cards = post_cards(app, clock)
    r = email_review(ws)
    with open_checkpointer(ws) as saver:
        saver.delete_thread(r.thread_id)
    assert click(client, clock, "review_approve", r.id, cards[r.id]).status_code == 200
    assert [m.step_id for m in sent_for(ws, r.prospect_id)] == [r.step_id]
    assert len([d for d in decisions(ws, "review_approve") if d["review_id"] == r.id]) == 1
    told = [c.body.get("text", "") for c in fake_slack.calls_to("chat.postEphemeral")]
    assert any("Done: sent" in t for t in told), told
