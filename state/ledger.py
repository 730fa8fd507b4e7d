"""Data functions for the cost ledger (`state.models_ledger.CostEntry`).

`record_cost` is idempotent by key: the same paid thing recorded twice (a retry, a crash
and resume, a second worker) keeps the first row; recording over a `reserved` row commits
the reservation with the actual amounts.

Reservations (`reserve`, `release`) make caps hold under concurrency: `reserve` takes a
workspace-wide lock (an advisory transaction lock on PostgreSQL; SQLite transactions already
begin IMMEDIATE, so writers are serialized), sums committed and reserved spend in every
capped slice, and adds a `reserved` row only when the estimate fits under every cap. Its
transaction commits before the paid call, so other workers count the money as promised. `spend` sums committed and reserved rows
for any slice (workspace, time range, run, prospect), so a budget read counts money that is
promised as well as spent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, text
from sqlmodel import Session, select

from core.errors import BudgetExceeded
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
        if existing.status == "reserved":
            existing.status, existing.credits, existing.usd, existing.llm_usd = status, credits, usd, llm_usd
            existing.detail = {**(existing.detail or {}), **(detail or {})}
            session.add(existing)
            session.flush()
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
    """Credits, dollars and LLM dollars of committed and reserved rows in one slice.

    One Core statement per combination of filters, built once and reused with bound
    values (it is read several times per prospect); pending rows are flushed first, as
    an ORM query would."""
    params: dict[str, Any] = {"workspace": workspace}
    if since is not None:
        params["since"] = to_utc(since)
    if until is not None:
        params["until"] = to_utc(until)
    if run_id is not None:
        params["run_id"] = run_id
    if prospect_id is not None:
        params["prospect_id"] = prospect_id
    if session.autoflush:
        session.flush()
    row = session.execute(_spend_statement(frozenset(params)), params).one()
    return Spend(credits=float(row[0]), usd=float(row[1]), llm_usd=float(row[2]))


_SPEND_STATEMENTS: dict[frozenset[str], Any] = {}


def _spend_statement(filters: frozenset[str]) -> Any:
    stmt = _SPEND_STATEMENTS.get(filters)
    if stmt is None:
        t = CostEntry.__table__.c  # type: ignore[attr-defined]
        stmt = select(
            func.coalesce(func.sum(t.credits), 0.0),
            func.coalesce(func.sum(t.usd), 0.0),
            func.coalesce(func.sum(t.llm_usd), 0.0),
        ).where(t.workspace == bindparam("workspace"), t.status.in_(COUNTED))
        if "since" in filters:
            stmt = stmt.where(t.at >= bindparam("since"))
        if "until" in filters:
            stmt = stmt.where(t.at < bindparam("until"))
        if "run_id" in filters:
            stmt = stmt.where(t.run_id == bindparam("run_id"))
        if "prospect_id" in filters:
            stmt = stmt.where(t.prospect_id == bindparam("prospect_id"))
        _SPEND_STATEMENTS[filters] = stmt
    return stmt


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


@dataclass(frozen=True)
class Cap:
    """One budget cap for `reserve`: a slice (run, month or prospect), a meter and a limit."""

    scope: str  # run | month | prospect
    meter: str  # credits | usd | llm_usd
    limit: float
    since: datetime | None = None
    run_id: str | None = None
    prospect_id: str | None = None


def lock_budget(session: Session, workspace: str) -> None:
    """Serialize budget checks of one workspace across processes (PostgreSQL advisory lock,
    released at commit; SQLite's IMMEDIATE transactions already serialize writers)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"budget:{workspace}"})


def lock_counter(session: Session, workspace: str, counter: str) -> None:
    """Serialize the check-and-consume of one usage counter (a capped send slot) of one
    workspace across processes: a PostgreSQL advisory lock held until the transaction ends.
    SQLite's IMMEDIATE write transactions already serialize writers."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"usage:{workspace}:{counter}"}
        )


def reserve(
    session: Session,
    *,
    workspace: str,
    key: str,
    at: datetime,
    kind: str,
    provider: str,
    credits: float = 0.0,
    usd: float = 0.0,
    caps: list[Cap] | tuple[Cap, ...] = (),
    run_id: str = "",
    prospect_id: str = "",
    detail: dict[str, Any] | None = None,
) -> CostEntry:
    """Reserve an estimate under every cap, or raise BudgetExceeded naming the cap; a key
    already recorded (reserved or committed) is returned as is."""
    lock_budget(session, workspace)
    existing = session.exec(
        select(CostEntry).where(CostEntry.workspace == workspace, CostEntry.key == key)
    ).first()
    if existing is not None and existing.status != "released":
        return existing
    for cap in caps:
        spent = spend(
            session, workspace=workspace, since=cap.since, run_id=cap.run_id, prospect_id=cap.prospect_id
        )
        est = {"credits": credits, "usd": usd, "llm_usd": 0.0}[cap.meter]
        have = getattr(spent, cap.meter)
        if est > 0 and have + est > cap.limit + 1e-9:
            raise BudgetExceeded(
                f"{cap.scope} budget: {cap.meter} {have:g} spent or reserved + {est:g} needed > cap {cap.limit:g}"
            )
    if existing is not None:  # a released reservation is taken again
        existing.status, existing.credits, existing.usd, existing.at = "reserved", credits, usd, to_utc(at)
        session.add(existing)
        session.flush()
        return existing
    return record_cost(
        session,
        workspace=workspace,
        key=key,
        at=at,
        kind=kind,
        provider=provider,
        credits=credits,
        usd=usd,
        run_id=run_id,
        prospect_id=prospect_id,
        status="reserved",
        detail=detail,
    )


def release(session: Session, *, workspace: str, key: str) -> None:
    """Give a reservation back (the call failed and cost nothing)."""
    row = session.exec(
        select(CostEntry).where(CostEntry.workspace == workspace, CostEntry.key == key)
    ).first()
    if row is not None and row.status == "reserved":
        row.status = "released"
        session.add(row)


def caps_from(
    budget: Any, *, now: datetime, run_id: str, prospect_id: str, meters: tuple[str, ...] = ("credits", "usd")
) -> list[Cap]:
    """The caps of a `[policy.budget]` config (run, month in UTC, prospect) for `reserve`."""
    month = to_utc(now).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    scopes = (
        ("run", budget.run, {"run_id": run_id or None}),
        ("month", budget.month, {"since": month}),
        ("prospect", budget.prospect, {"prospect_id": prospect_id or None}),
    )
    caps = []
    for scope, caps_cfg, where in scopes:
        if scope == "run" and not run_id or scope == "prospect" and not prospect_id:
            continue
        for meter in meters:
            limit = getattr(caps_cfg, meter, None)
            if limit is not None:
                caps.append(Cap(scope, meter, float(limit), **where))
    return caps


GROUPS = ("provider", "day", "prospect", "step", "month", "run", "kind")


def report(
    session: Session, *, workspace: str, by: str, since: datetime | None = None, until: datetime | None = None
) -> list[dict[str, Any]]:
    """Spend grouped by provider, day, prospect, step (what was paid for), month, run or kind:
    committed rows only, with the count of paid calls, largest first."""
    if by not in GROUPS:
        raise ValueError(f"unknown grouping {by!r}; one of {', '.join(GROUPS)}")
    groups: dict[str, dict[str, Any]] = {}
    for e in entries(session, workspace=workspace, since=since, until=until):
        if e.status != "committed":
            continue
        key = {
            "provider": e.provider,
            "day": to_utc(e.at).strftime("%Y-%m-%d"),
            "prospect": e.prospect_id or "(none)",
            "step": e.step or e.kind,
            "month": e.month,
            "run": e.run_id or "(none)",
            "kind": e.kind,
        }[by]
        g = groups.setdefault(
            key, {by: key, "calls": 0, "credits": 0.0, "usd": 0.0, "llm_usd": 0.0, "tokens": 0}
        )
        g["calls"] += 1
        g["credits"] += e.credits
        g["usd"] += e.usd
        g["llm_usd"] += e.llm_usd
        g["tokens"] += e.tokens_in + e.tokens_out
    rows = sorted(groups.values(), key=lambda g: (-g["usd"], -g["credits"], str(g[by])))
    for g in rows:
        for k in ("credits", "usd", "llm_usd"):
            g[k] = round(g[k], 4)
    return rows
