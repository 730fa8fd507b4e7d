"""Review decisions taken in the browser: the same rules and the same function as Slack
and the CLI (``service.reviews.apply_decision`` -> ``agents.review_queue.decide``), so a
decision is claimed once in the database and the graph resumes exactly once, whichever
place (or how many duplicate POSTs) asked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlmodel import Session

from agents.review_queue import Decision
from service.metrics import Metrics
from service.reviews import apply_decision, close_stale, redraw, stale_reason
from service.sites import Site
from state import repo

DECISIONS = ("approve", "edit", "reject")


@dataclass(frozen=True)
class WebDecision:
    applied: bool
    message: str
    sent: dict[str, int]


def web_decide(
    site: Site,
    metrics: Metrics,
    review_id: str,
    decision: str,
    *,
    actor: str,
    now: datetime,
    subject: str | None = None,
    body: str | None = None,
    note: str = "",
) -> WebDecision:
    """Apply one decision from the web; refuses (applied=False, with why) when the review
    is unknown, already decided, stale, or the edit is empty."""
    if decision not in DECISIONS:
        return WebDecision(False, f"unknown decision {decision!r}", {})
    if decision == "edit" and not (subject or body):
        return WebDecision(False, "an edit needs a new subject or body", {})
    with Session(site.engine) as session:
        r = repo.get_review(session, workspace=site.id, review_id=review_id)
        if r is None:
            return WebDecision(False, f"no review {review_id!r} in workspace {site.id}", {})
        if r.status != "pending":
            by = f" by {r.decided_by}" if r.decided_by else ""
            return WebDecision(False, f"this review is already {r.status}{by}; nothing was changed", {})
        reason = stale_reason(session, site.ws, r)
    if reason:
        close_stale(site, metrics, review_id, reason, now=now)
        return WebDecision(False, f"this request is stale ({reason}); it was closed, not approved", {})
    kwargs: dict[str, Any] = {"note": note}
    if decision == "edit":
        kwargs.update(subject=subject or None, body=body or None)
    choice = cast(Decision, decision)  # checked against DECISIONS above
    result = apply_decision(site, metrics, review_id, choice, actor=actor, now=now, **kwargs)
    if result is None:
        return WebDecision(False, "someone else decided this review first; nothing was changed", {})
    redraw(site, metrics, review_id)
    sent = {k: int(v) for k, v in (result["run"].get("sent") or {}).items() if v}
    what = ", ".join(f"{n} {c}" for c, n in sent.items()) or "nothing sent yet (see the prospect's timeline)"
    return WebDecision(True, f"{decision} recorded; sent: {what}", sent)
