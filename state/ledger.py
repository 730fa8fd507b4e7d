"""Data functions for the cost ledger (`state.models_ledger.CostEntry`).

`record_cost` is idempotent by key: the same paid thing recorded twice (a retry, a crash
and resume, a second worker) keeps the first row. `spend` sums committed and reserved rows
for any slice (workspace, time range, run, prospect), so a budget read counts money that is
promised as well as spent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from core.timeutil import to_utc
from state.models_ledger import CostEntry

COUNTED = ("committed", "reserved")


@dataclass(frozen=True)
class Spend:
    credits: float = 0.0
    usd: float = 0.0
    llm_usd: float = 0.0

    def to_dict(self) -> dict[str, float]:
        return {"credits": self.credits, "usd": self.usd, "llm_usd": self.llm_usd}


def record_cost(
    session: Session,
    *,
    workspace: str,
    key: str,
    at: datetime,
    kind: str,
    provider: str,
    credits: float = 0.0,
    usd: float = 0.0,
    llm_usd: float = 0.0,
    run_id: str = "",
    prospect_id: str = "",
    channel: str = "",
    step: str = "",
    tokens_in: int = 0,
    tokens_out: int = 0,
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
    status: str = "committed",
    detail: dict[str, Any] | None = None,
) -> CostEntry:
    """Add one cost row, or return the row already recorded under this key."""
    existing = session.exec(
        select(CostEntry).where(CostEntry.workspace == workspace, CostEntry.key == key)
    ).first()
    if existing is not None:
        return existing
    when = to_utc(at)
    entry = CostEntry(
        workspace=workspace,
        key=key,
        at=when,
        month=when.strftime("%Y-%m"),
        kind=kind,
        provider=provider,
        status=status,
        run_id=run_id,
        prospect_id=prospect_id,
        channel=channel,
        step=step,
        credits=credits,
        usd=usd,
        llm_usd=llm_usd,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cache_read_tokens=cache_read_tokens,
        cache_write_tokens=cache_write_tokens,
        detail=detail or {},
    )
    session.add(entry)
    session.flush()
    return entry


def spend(
    session: Session,
    *,
    workspace: str,
    since: datetime | None = None,
    until: datetime | None = None,
    run_id: str | None = None,
    prospect_id: str | None = None,
) -> Spend:
    """Credits, dollars and LLM dollars of committed and reserved rows in one slice."""
    q = select(
        func.coalesce(func.sum(CostEntry.credits), 0.0),
        func.coalesce(func.sum(CostEntry.usd), 0.0),
        func.coalesce(func.sum(CostEntry.llm_usd), 0.0),
    ).where(CostEntry.workspace == workspace, CostEntry.status.in_(COUNTED))  # type: ignore[attr-defined]
    if since is not None:
        q = q.where(CostEntry.at >= to_utc(since))
    if until is not None:
        q = q.where(CostEntry.at < to_utc(until))
    if run_id is not None:
        q = q.where(CostEntry.run_id == run_id)
    if prospect_id is not None:
        q = q.where(CostEntry.prospect_id == prospect_id)
    row = session.exec(q).one()
    return Spend(credits=float(row[0]), usd=float(row[1]), llm_usd=float(row[2]))


def entries(
    session: Session, *, workspace: str, since: datetime | None = None, until: datetime | None = None
) -> list[CostEntry]:
    """Ledger rows of a workspace in a time range, oldest first (for reports)."""
    q = select(CostEntry).where(CostEntry.workspace == workspace)
    if since is not None:
        q = q.where(CostEntry.at >= to_utc(since))
    if until is not None:
        q = q.where(CostEntry.at < to_utc(until))
    return list(session.exec(q.order_by(CostEntry.at, CostEntry.id)).all())  # type: ignore[arg-type]
