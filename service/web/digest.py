"""The daily digest posted to the workspace's Slack channel: yesterday's figures (the same
``compute_figures`` as the dashboard and the report) in a few lines.

Due once per day in the workspace's run time zone, an hour after ``[run] daily_at`` (so
the daily run has finished). The day is claimed by a decision record
(``run_id = digest_<date>``) before posting, so a restart or a second tick never posts
twice; a Slack failure is logged and that day's digest is not retried.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from slack_sdk.errors import SlackClientError
from sqlmodel import Session, select

from agents.report import compute_figures
from core.timeutil import to_utc
from service.metrics import Metrics
from service.sites import Site
from service.web.queries import log_web_action
from state.models import DecisionRecord

log = structlog.get_logger(__name__)


def digest_text(fig: dict[str, Any]) -> str:
    sent = fig["sends_by_channel"]
    lines = [
        f"*{fig['client']}: outbound, {fig['from'][:10]}*",
        "Sent: " + (", ".join(f"{n} {c}" for c, n in sent.items()) or "nothing"),
        f"Replies: {fig['replies_total']} ({fig['positive_total']} positive), hand-offs: {fig['handoffs']}, "
        f"bounces: {fig['bounces']}, unsubscribes: {fig['unsubscribes']}",
        f"Spend: ${fig['spend']['total_usd']:,.2f} ({fig['spend']['total_credits']:g} credits); "
        f"month to date ${fig['spend']['month_to_date']['usd']:,.2f}",
        f"Reviews waiting: {fig['reviews_waiting']}",
    ]
    if fig["deferred"]:
        top = ", ".join(f"{r} {n}" for r, n in list(fig["deferred"].items())[:3])
        lines.append(f"Deferred by: {top}")
    return "\n".join(lines)


def post_digest(site: Site, metrics: Metrics, *, now: datetime) -> bool:
    """Post yesterday's digest when it is due and not yet posted; True when posted."""
    if site.slack is None or not site.ws.config.slack.channel:
        return False
    run = site.ws.config.run
    tz = ZoneInfo(run.timezone)
    local = to_utc(now).astimezone(tz)
    hh, mm = (int(x) for x in run.daily_at.split(":"))
    due = datetime.combine(local.date(), time(hh, mm), tz) + timedelta(hours=1)
    if local < due:
        return False
    day = local.date()
    claim = f"digest_{day.isoformat()}"
    with Session(site.engine) as session:
        done = session.exec(
            select(DecisionRecord.id).where(
                DecisionRecord.workspace == site.id, DecisionRecord.run_id == claim
            )
        ).first()
    if done is not None:
        return False
    start = datetime.combine(day - timedelta(days=1), time(0), tz)
    end = datetime.combine(day, time(0), tz)
    fig = compute_figures(site.ws, start=start, end=end, engine=site.engine)
    text = digest_text(fig)
    log_web_action(
        site.engine, site.id, actor="system:digest", action="digest", at=now, rationale=text, run_id=claim
    )
    try:
        site.slack.chat_postMessage(channel=site.ws.config.slack.channel, text=text)
    except (SlackClientError, OSError) as exc:
        metrics.provider_errors.labels(site.id, "slack", "transient").inc()
        log.warning("digest_failed", workspace=site.id, error=type(exc).__name__)
        return False
    log.info("digest_posted", workspace=site.id, day=day.isoformat())
    return True
