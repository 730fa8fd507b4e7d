"""Review requests in Slack: cards built from the database, posting, reminders, expiry,
staleness, and who may decide. Decisions themselves go through
``agents.review_queue.decide`` - the same function the CLI uses - so a decision taken in
either place is seen by the other and resumes the graph exactly once.

Staleness: a pending request whose prospect replied, was suppressed or stopped, or whose
draft was superseded cannot be approved. It is closed by a ``reject`` decision from
``system:stale`` (so the graph moves on and the decision log says why) and then marked
``stale``; its card says so.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog
from slack_sdk.errors import SlackClientError
from sqlalchemy import update
from sqlmodel import Session, col

from agents.review_queue import Decision, decide, is_decision_review, may_decide, owner_slack_id  # noqa: F401 (re-exported)
from core.errors import EditRejected, ProviderError, ReviewError
from core.timeutil import iso, to_utc
from core.workspace import Workspace
from service.metrics import Metrics
from service.sites import Site
from state import decision_log, repo
from state.db import session_scope
from state.models import Company, DecisionRecord, Draft, Prospect, Review, ReviewMessage
from tools.slack_review import ReviewCard, SlackReviewNotifier, slack_error

log = structlog.get_logger(__name__)
STALE_ACTOR = "system:stale"
EXPIRY_ACTOR = "system:expiry"


# ----------------------------------------------------------------- cards and rules


def _cost_so_far(session: Session, workspace: str, prospect_id: str) -> dict[str, float]:
    credits = usd = 0.0
    dec = DecisionRecord.__table__  # type: ignore[attr-defined]
    for body in decision_log.select_bodies(session.connection(), workspace, dec.c.prospect_id == prospect_id):
        cost = body.get("cost") or {}
        credits += float(cost.get("credits") or 0)
        usd += float(cost.get("usd") or 0)
    return {"credits": round(credits, 4), "usd": round(usd, 4)}


def _display_actor(actor: str) -> str:
    return actor.split(":", 1)[1] if actor.startswith("slack:") else actor


def review_card(
    session: Session, ws: Workspace, review: Review, *, status: str | None = None, note: str | None = None
) -> ReviewCard:
    """The card for one review: prospect, account, reasons, cited evidence, draft, cost."""
    p = session.get(Prospect, review.prospect_id)
    c = session.get(Company, p.company_id) if p is not None and p.company_id else None
    d = session.get(Draft, review.draft_id) if review.draft_id else None
    cited = [i for s in (d.sentences if d else []) for i in s.get("evidence_ids", [])]
    rows = {e.id: e for e in repo.evidence_by_ids(session, workspace=ws.id, ids=list(dict.fromkeys(cited)))}
    # One line per (sentence, cited item): the claim, the quote that backs it and its URL.
    evidence = [
        {"id": i, "sentence": s.get("text", ""), "quote": rows[i].quote, "url": rows[i].source_url}
        for s in (d.sentences if d else [])
        for i in s.get("evidence_ids", [])
        if i in rows
    ]
    return ReviewCard(
        review_id=review.id,
        workspace=ws.id,
        prospect_id=review.prospect_id,
        prospect_name=(p.full_name if p else "") or (p.email if p else "") or review.prospect_id,
        prospect_email=p.email if p else "",
        title=p.title if p else "",
        company=c.name if c else "",
        company_domain=c.domain if c else "",
        owner=owner_slack_id(ws, p.owner if p else "") or (p.owner if p else ""),
        channel=review.channel,
        step_id=review.step_id,
        subject=d.subject if d else "",
        body=d.body
        if d
        else "(no draft yet: approving lets the agent take this decision; the message itself is reviewed once it exists)",
        reasons=tuple(review.reasons or ()),
        evidence=tuple(evidence),
        cost_so_far=_cost_so_far(session, ws.id, review.prospect_id),
        requested_at=iso(review.requested_at) or "",
        status=status or review.status,  # type: ignore[arg-type]
        decided_by=_display_actor(review.decided_by),
        decided_at=iso(review.decided_at) or "",
        decision_note=review.note if note is None else note,
    )


def stale_reason(session: Session, ws: Workspace, review: Review) -> str:
    """Why a pending request can no longer be approved, or "" when it still can."""
    p = session.get(Prospect, review.prospect_id)
    if p is None:
        return "the prospect no longer exists"
    if any(
        e.type in ("replied", "linkedin_replied")
        for e in repo.events_for(session, workspace=ws.id, prospect_id=p.id)
    ):
        return "the prospect replied"
    company = session.get(Company, p.company_id) if p.company_id else None
    hits = repo.suppression_hits(
        session, workspace=ws.id, email=p.email_norm, domain=company.domain if company else ""
    )
    if hits:
        return f"the prospect is suppressed ({hits[0]['reason']})"
    if p.status in ("stopped", "done"):
        return f"the prospect was stopped ({p.stop_reason or p.status})"
    if is_decision_review(review):  # a review of a decision (no draft yet) has no draft to supersede
        return ""
    d = session.get(Draft, review.draft_id)
    if d is None or d.status == "superseded":
        return "the draft was superseded"
    return ""


def slack_target(ws: Workspace, prospect_owner: str) -> str:
    """Where a review is posted: the owner's DM when configured and known, else the channel."""
    owner = owner_slack_id(ws, prospect_owner)
    if ws.config.slack.owner_dm and owner:
        return owner
    return ws.config.slack.channel


# ----------------------------------------------------------------- Slack calls


def _slack_failed(site: Site, metrics: Metrics, exc: Exception, method: str) -> ProviderError:
    err = (
        exc
        if isinstance(exc, ProviderError)
        else slack_error(exc, method=method, token=getattr(site.slack, "token", "") or "")
    )
    metrics.provider_errors.labels(site.id, "slack", err.error_class).inc()
    log.warning(
        "slack_call_failed", workspace=site.id, method=method, error_class=err.error_class, error=err.message
    )
    return err


def redraw(
    site: Site,
    metrics: Metrics,
    review_id: str,
    *,
    status: str | None = None,
    note: str | None = None,
    channel: str = "",
    ts: str = "",
) -> bool:
    """Update the posted card of a review to show its current state. False when the card
    is unknown or Slack failed (the decision itself stands)."""
    if site.slack is None:
        return False
    with Session(site.engine) as session:
        r = repo.get_review(session, workspace=site.id, review_id=review_id)
        msg = session.get(ReviewMessage, review_id)
        if r is None:
            return False
        if msg is not None and msg.workspace == site.id:
            channel, ts = msg.slack_channel, msg.slack_ts
        if not (channel and ts):
            return False
        card = review_card(session, site.ws, r, status=status, note=note)
    try:
        SlackReviewNotifier(site.slack, channel=channel).update(card, channel, ts)
    except (ProviderError, SlackClientError, OSError) as exc:
        _slack_failed(site, metrics, exc, "chat.update")
        return False
    return True


def tell(site: Site, metrics: Metrics, channel: str, user_id: str, text: str) -> None:
    """An ephemeral message to one user (refusals, "already decided")."""
    if site.slack is None or not (channel and user_id):
        return
    try:
        SlackReviewNotifier(site.slack, channel=channel).refuse(channel, user_id, text)
    except (ProviderError, SlackClientError, OSError) as exc:
        _slack_failed(site, metrics, exc, "chat.postEphemeral")


# ----------------------------------------------------------------- decisions


def apply_decision(
    site: Site,
    metrics: Metrics,
    review_id: str,
    decision: Decision,
    *,
    actor: str,
    now: datetime,
    **kwargs: Any,
) -> dict[str, Any] | None:
    """decide() and count the outcome; None when the review was already decided."""
    try:
        result = decide(
            site.ws,
            review_id,
            decision,
            actor=actor,
            now=now,
            **kwargs,
        )
    except EditRejected:
        raise  # the reviewer gets the problems back; the review stays pending
    except ReviewError as exc:
        log.info(
            "review_not_applied",
            workspace=site.id,
            review_id=review_id,
            decision=decision,
            actor=actor,
            reason=exc.message,
        )
        return None
    metrics.decisions.labels(site.id, f"review_{decision}").inc()
    for channel, n in result["run"]["sent"].items():
        if n:
            metrics.sends.labels(site.id, channel).inc(n)
    log.info(
        "review_decided",
        workspace=site.id,
        review_id=review_id,
        decision=decision,
        actor=actor,
        outcome=result["outcome"]["status"],
        resumed_from=result["resumed_from"],
    )
    return result


def close_stale(site: Site, metrics: Metrics, review_id: str, reason: str, *, now: datetime) -> bool:
    """Close a pending request that went stale: the graph moves on, the card says why."""
    done = apply_decision(
        site, metrics, review_id, "reject", actor=STALE_ACTOR, now=now, note=f"stale: {reason}"
    )
    if done is None:
        return False
    with session_scope(site.engine) as session:
        session.execute(
            update(Review)
            .where(col(Review.id) == review_id, col(Review.decided_by) == STALE_ACTOR)
            .values(status="stale", note=reason)
        )
    log.info("review_stale", workspace=site.id, review_id=review_id, reason=reason)
    redraw(site, metrics, review_id)
    return True


# ----------------------------------------------------------------- periodic jobs


def post_pending(site: Site, metrics: Metrics, *, now: datetime) -> int:
    """Post every pending review that has no Slack message yet (or came back from a
    snooze); returns how many were posted. Stale requests are closed instead."""
    if site.slack is None:
        return 0
    with Session(site.engine) as session:
        pending = list(repo.pending_reviews(session, workspace=site.id))
        todo = []
        for r in pending:
            msg = session.get(ReviewMessage, r.id)
            again = (
                msg is not None and r.decided_at is not None and to_utc(msg.posted_at) < to_utc(r.decided_at)
            )
            if msg is None or again:
                todo.append(r.id)
    posted = 0
    for review_id in todo:
        with Session(site.engine) as session:
            review = repo.get_review(session, workspace=site.id, review_id=review_id)
            if review is None or review.status != "pending":
                continue
            reason = stale_reason(session, site.ws, review)
            p = session.get(Prospect, review.prospect_id)
            card = None if reason else review_card(session, site.ws, review)
            target = slack_target(site.ws, p.owner if p else "")
        if card is None:  # stale (reason is set): close it instead of posting
            close_stale(site, metrics, review_id, reason, now=now)
            continue
        try:
            channel, ts = SlackReviewNotifier(site.slack, channel=target).post(card)
        except (ProviderError, SlackClientError, OSError) as exc:
            _slack_failed(site, metrics, exc, "chat.postMessage")
            break  # Slack is down or misconfigured: try again on the next round
        with session_scope(site.engine) as session:
            msg = session.get(ReviewMessage, review_id)
            if msg is None:
                session.add(
                    ReviewMessage(
                        review_id=review_id,
                        workspace=site.id,
                        slack_channel=channel,
                        slack_ts=ts,
                        posted_at=now,
                    )
                )
            else:
                msg.slack_channel, msg.slack_ts, msg.posted_at = channel, ts, now
                msg.reminded_at = None
                session.add(msg)
        posted += 1
        log.info("review_posted", workspace=site.id, review_id=review_id, channel=channel)
    return posted


def remind_and_expire(site: Site, metrics: Metrics, *, now: datetime) -> dict[str, int]:
    """Remind once after [review] remind_after_hours; after expire_after_hours reject
    (status ``expired``) or escalate to [review] escalate_to, as configured."""
    cfg = site.ws.config.review
    remind_after = timedelta(hours=cfg.remind_after_hours)
    expire_after = timedelta(hours=cfg.expire_after_hours)
    counts = {"reminded": 0, "expired": 0, "escalated": 0, "stale": 0}
    with Session(site.engine) as session:
        rows = []
        for r in repo.pending_reviews(session, workspace=site.id):
            message = session.get(ReviewMessage, r.id)
            rows.append(
                (
                    r.id,
                    to_utc(r.requested_at),
                    stale_reason(session, site.ws, r),
                    None
                    if message is None
                    else (
                        message.slack_channel,
                        message.slack_ts,
                        to_utc(message.posted_at),
                        message.reminded_at,
                    ),
                )
            )
    for review_id, requested_at, reason, msg in rows:
        if reason:
            counts["stale"] += close_stale(site, metrics, review_id, reason, now=now)
            continue
        deadline = requested_at + expire_after
        if now >= deadline:
            if cfg.expire_outcome == "reject":
                counts["expired"] += _expire(site, metrics, review_id, now=now)
            elif msg is None or msg[2] < deadline:  # not escalated yet
                counts["escalated"] += _escalate(site, metrics, review_id, msg, now=now)
            continue
        if msg is not None and msg[3] is None and now - msg[2] >= remind_after:
            counts["reminded"] += _remind(site, metrics, review_id, msg, now=now)
    return counts


def _expire(site: Site, metrics: Metrics, review_id: str, *, now: datetime) -> int:
    hours = site.ws.config.review.expire_after_hours
    note = f"no decision within {hours:g} hours"
    if (
        apply_decision(
            site, metrics, review_id, "reject", actor=EXPIRY_ACTOR, now=now, note=f"expired: {note}"
        )
        is None
    ):
        return 0
    with session_scope(site.engine) as session:
        session.execute(
            update(Review)
            .where(col(Review.id) == review_id, col(Review.decided_by) == EXPIRY_ACTOR)
            .values(status="expired", note=note)
        )
    redraw(site, metrics, review_id)
    return 1


def _escalate(site: Site, metrics: Metrics, review_id: str, msg: tuple | None, *, now: datetime) -> int:
    target = site.ws.config.review.escalate_to
    if site.slack is None or not target:
        log.warning("review_escalation_unset", workspace=site.id, review_id=review_id)
        return 0
    with Session(site.engine) as session:
        r = repo.get_review(session, workspace=site.id, review_id=review_id)
        if r is None:
            log.warning("review_escalation_missing", workspace=site.id, review_id=review_id)
            return 0
        card = review_card(session, site.ws, r)
    try:
        channel, ts = SlackReviewNotifier(site.slack, channel=target).post(card)
    except (ProviderError, SlackClientError, OSError) as exc:
        _slack_failed(site, metrics, exc, "chat.postMessage")
        return 0
    if msg is not None:  # the old card says where the request went
        redraw(
            site,
            metrics,
            review_id,
            status="expired",
            note=f"escalated to {target} after {site.ws.config.review.expire_after_hours:g} hours",
            channel=msg[0],
            ts=msg[1],
        )
    with session_scope(site.engine) as session:
        row = session.get(ReviewMessage, review_id)
        if row is None:
            session.add(
                ReviewMessage(
                    review_id=review_id, workspace=site.id, slack_channel=channel, slack_ts=ts, posted_at=now
                )
            )
        else:
            row.slack_channel, row.slack_ts, row.posted_at, row.reminded_at = channel, ts, now, None
            session.add(row)
    log.info("review_escalated", workspace=site.id, review_id=review_id, to=target)
    return 1


def _remind(site: Site, metrics: Metrics, review_id: str, msg: tuple, *, now: datetime) -> int:
    channel, ts, posted_at, _ = msg
    hours = (now - posted_at).total_seconds() / 3600
    approvers = " ".join(f"<@{u}>" for u in site.ws.config.slack.approvers)
    text = f"Reminder: this review has been waiting {hours:.0f} hours. {approvers}".strip()
    try:
        site.slack.chat_postMessage(channel=channel, thread_ts=ts, text=text)
    except (SlackClientError, OSError) as exc:
        _slack_failed(site, metrics, exc, "chat.postMessage")
        return 0
    with session_scope(site.engine) as session:
        row = session.get(ReviewMessage, review_id)
        if row is not None:  # the card may have been replaced or removed since it was read
            row.reminded_at = now
            session.add(row)
    return 1


def pending_count(site: Site) -> int:
    with Session(site.engine) as session:
        return len(repo.pending_reviews(session, workspace=site.id))
