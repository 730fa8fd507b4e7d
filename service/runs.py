"""The scheduled runs of one workspace: the daily run and the wake-up for deferred
prospects. On shutdown a run stops between prospects (the one in hand finishes, so
nothing is half-sent); the prospects not reached stay due and the next run takes them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from sqlmodel import Session, col, select

from agents.runner import run_daily
from agents.scheduler import ServiceScheduler
from service.metrics import Metrics
from service.reviews import post_pending
from service.sites import Site
from state.models import Prospect

log = structlog.get_logger(__name__)


class ShutdownRequested(Exception):
    """Raised between two prospects when the service is stopping."""


def _run(
    site: Site, scheduler: ServiceScheduler, metrics: Metrics, now: datetime, kind: str
) -> dict[str, Any] | None:
    def progress(done: int, total: int) -> None:
        if scheduler.stopping.is_set() and done < total:
            raise ShutdownRequested()

    try:
        summary = run_daily(site.ws, now=now, progress=progress).to_dict()
    except ShutdownRequested:
        log.info("run_interrupted_by_shutdown", workspace=site.id, kind=kind)
        return None
    metrics.count_summary(site.id, kind, summary)
    log.info(
        "run_finished", workspace=site.id, kind=kind, run_id=summary["run_id"], processed=summary["processed"]
    )
    if summary["review_requested"]:
        post_pending(site, metrics, now=now)
    return summary


def daily_job(
    site: Site, scheduler: ServiceScheduler, metrics: Metrics, now: datetime
) -> dict[str, Any] | None:
    return _run(site, scheduler, metrics, now, "daily")


def wakeup_job(
    site: Site, scheduler: ServiceScheduler, metrics: Metrics, now: datetime
) -> dict[str, Any] | None:
    """A run only when some deferred prospect's time has come."""
    with Session(site.engine) as session:
        due = session.exec(
            select(Prospect.id)
            .where(
                Prospect.workspace == site.id,
                Prospect.status == "waiting",
                col(Prospect.next_action_at) <= now,
            )
            .limit(1)
        ).first()
    if due is None:
        return None
    return _run(site, scheduler, metrics, now, "wakeup")
