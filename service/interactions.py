"""Slack interactions (button clicks and modal submissions) on review cards.

The order matters:
1. the raw body is checked against the signing secret of each served workspace (300 s
   window, injected clock) before anything in it is read; only workspaces whose secret
   signed it are candidates;
2. the review is looked up inside those workspaces only, so one workspace's Slack app
   can never act on another workspace's prospects;
3. the clicking user must be an approver of that workspace or the prospect's owner
   (else an ephemeral refusal, logged);
4. a request gone stale is closed and cannot be approved;
5. Approve/Snooze and the modal submissions are handed back as a background job that
   calls ``decide`` (the database claim makes a double click or a Slack retry resume
   once); Edit and Reject open their modal at once (the trigger id lives 3 s).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from slack_sdk.errors import SlackClientError
from sqlmodel import Session

from agents.review_queue import edit_problems
from core.errors import EditRejected, InputError, ProviderError
from core.timeutil import Clock
from service.metrics import Metrics
from service.reviews import apply_decision, close_stale, may_decide, redraw, review_card, stale_reason, tell
from service.sites import Site
from state import repo
from state.models import Prospect, ReviewMessage
from tools.slack_review import Interaction, SlackReviewNotifier, parse_interaction, verify_signature

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Reply:
    """What the route answers now, and the work to do after answering."""

    status: int
    body: dict[str, Any] | None = None
    background: Callable[[], None] | None = None


class Interactions:
    def __init__(self, sites: Mapping[str, Site], *, clock: Clock, metrics: Metrics) -> None:
        self.sites = sites
        self.clock = clock
        self.metrics = metrics
        self._inflight: set[str] = set()
        self._lock = threading.Lock()

    def _signed_by(self, raw: bytes, headers: Mapping[str, str]) -> list[Site]:
        now = self.clock.now().timestamp()
        return [
            s
            for s in self.sites.values()
            if s.signing_secret and verify_signature(s.signing_secret, raw, headers, now)
        ]

    def _find(self, candidates: list[Site], review_id: str) -> tuple[Site, Any, str, str] | None:
        for site in candidates:
            with Session(site.engine) as session:
                r = repo.get_review(session, workspace=site.id, review_id=review_id)
                if r is None:
                    continue
                p = session.get(Prospect, r.prospect_id)
                msg = session.get(ReviewMessage, review_id)
                session.expunge(r)
                return site, r, (p.owner if p else ""), msg.slack_channel if msg else ""
        return None

    def handle(self, raw: bytes, headers: Mapping[str, str]) -> Reply:
        candidates = self._signed_by(raw, headers)
        if not candidates:
            self.metrics.slack_requests.labels("bad_signature").inc()
            log.warning("slack_signature_rejected")
            return Reply(401, {"error": "invalid or expired Slack signature"})
        try:
            it = parse_interaction(raw)
        except InputError as exc:
            self.metrics.slack_requests.labels("bad_request").inc()
            return Reply(400, {"error": exc.message})
        found = self._find(candidates, it.review_id)
        if found is None or (it.workspace and it.workspace != found[0].id):
            self.metrics.slack_requests.labels("unknown_review").inc()
            log.warning("slack_unknown_review", review_id=it.review_id)
            return Reply(404, {"error": f"no review {it.review_id!r} in this Slack app's workspaces"})
        site, review, owner, msg_channel = found
        channel = it.channel_id or msg_channel
        retry = headers.get("x-slack-retry-num") or headers.get("X-Slack-Retry-Num")
        if not may_decide(site.ws, it.user_id, owner):
            self.metrics.slack_requests.labels("refused").inc()
            log.warning(
                "slack_unauthorized",
                workspace=site.id,
                review_id=it.review_id,
                user_id=it.user_id,
                action=it.action,
            )
            tell(
                site,
                self.metrics,
                channel,
                it.user_id,
                "You are not an approver for this workspace or the owner of this prospect; "
                "nothing was changed.",
            )
            return Reply(200, _modal_error(it, "You are not allowed to decide this review."))
        if review.status != "pending":
            self.metrics.slack_requests.labels("already_decided").inc()
            if not retry:
                tell(
                    site,
                    self.metrics,
                    channel,
                    it.user_id,
                    f"This review is already {review.status}"
                    f"{' by ' + review.decided_by if review.decided_by else ''}.",
                )
            review_id = review.id

            def redraw_message() -> None:
                redraw(site, self.metrics, review_id, channel=it.channel_id, ts=it.message_ts)

            return Reply(200, None, redraw_message)
        with Session(site.engine) as session:
            reason = stale_reason(session, site.ws, review)
        if reason:
            self.metrics.slack_requests.labels("stale").inc()
            tell(
                site,
                self.metrics,
                channel,
                it.user_id,
                f"This request is stale ({reason}); it cannot be approved.",
            )
            return Reply(
                200,
                _modal_error(it, f"Stale: {reason}"),
                self._once(
                    review.id,
                    lambda: close_stale(site, self.metrics, review.id, reason, now=self.clock.now()),
                ),
            )
        if it.action == "edit_submit":
            problems = edit_problems(
                site.ws,
                site.engine,
                review,
                subject=it.edited_subject or None,
                body=it.edited_body,
                now=self.clock.now(),
            )
            if problems:  # back to the reviewer, in the open modal, with the problems
                self.metrics.slack_requests.labels("edit_refused").inc()
                log.info("slack_edit_refused", workspace=site.id, review_id=review.id, problems=problems)
                return Reply(200, _modal_error(it, "Not sent - fix: " + "; ".join(problems)[:1900]))
        if it.action in ("edit", "reject"):
            return self._open_modal(site, review, it)
        self.metrics.slack_requests.labels(it.action).inc()
        return Reply(200, None, self._once(review.id, lambda: self._decide(site, it)))

    def _once(self, review_id: str, job: Callable[[], Any]) -> Callable[[], None] | None:
        """The job, unless one for this review is already running in this process (a
        double click); the database claim in decide() covers other processes."""
        with self._lock:
            if review_id in self._inflight:
                log.info("slack_duplicate_ignored", review_id=review_id)
                return None
            self._inflight.add(review_id)

        def run() -> None:
            try:
                job()
            finally:
                with self._lock:
                    self._inflight.discard(review_id)

        return run

    def _open_modal(self, site: Site, review: Any, it: Interaction) -> Reply:
        if site.slack is None:
            return Reply(200, None)
        with Session(site.engine) as session:
            card = review_card(session, site.ws, review)
        notifier = SlackReviewNotifier(site.slack, channel=site.ws.config.slack.channel or "-")
        try:
            if it.action == "edit":
                notifier.open_edit(it.trigger_id, card)
            else:
                notifier.open_reject(it.trigger_id, card)
        except (ProviderError, InputError, SlackClientError, OSError) as exc:
            message = exc.message if isinstance(exc, (ProviderError, InputError)) else str(exc)
            log.warning("slack_modal_failed", workspace=site.id, review_id=review.id, error=message)
            if isinstance(exc, ProviderError):
                self.metrics.provider_errors.labels(site.id, "slack", exc.error_class).inc()
            tell(site, self.metrics, it.channel_id, it.user_id, f"Could not open the form: {message}")
        self.metrics.slack_requests.labels(it.action).inc()
        return Reply(200, None)

    def _decide(self, site: Site, it: Interaction) -> None:
        now = self.clock.now()
        actor = f"slack:{it.user_id}"
        if it.action == "approve":
            result = apply_decision(site, self.metrics, it.review_id, "approve", actor=actor, now=now)
        elif it.action == "snooze":
            until = now + timedelta(hours=site.ws.config.review.snooze_hours)
            result = apply_decision(
                site, self.metrics, it.review_id, "snooze", actor=actor, now=now, until=until
            )
        elif it.action == "edit_submit":
            try:
                result = apply_decision(
                    site,
                    self.metrics,
                    it.review_id,
                    "edit",
                    actor=actor,
                    now=now,
                    subject=it.edited_subject or None,
                    body=it.edited_body,
                )
            except EditRejected as exc:
                tell(site, self.metrics, it.channel_id, it.user_id, f"Edit not applied: {exc.message}")
                return
        else:
            result = apply_decision(
                site, self.metrics, it.review_id, "reject", actor=actor, now=now, note=it.reason
            )
        if result is not None:
            tell(site, self.metrics, it.channel_id, it.user_id, f"Done: {result['outcome']['message']}")
        if result is None:
            tell(
                site,
                self.metrics,
                it.channel_id,
                it.user_id,
                "Someone else decided this review first; nothing was changed.",
            )
        redraw(site, self.metrics, it.review_id, channel=it.channel_id, ts=it.message_ts)


def _modal_error(it: Interaction, text: str) -> dict[str, Any] | None:
    """For a modal submission, an inline error keeps the modal open with the reason."""
    if it.kind != "view_submission":
        return None
    block = "body" if it.action == "edit_submit" else "reason"
    return {"response_action": "errors", "errors": {block: text}}
