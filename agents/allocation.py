"""Capped slots decided once per run, before the work is split.

Usage the cap rules compare with (emails today, LinkedIn invitations and messages this
week, direct mail this month, the run's and the month's spend) is shared by every prospect
of a run. Read live from the database, it depends on which prospects another worker has
already finished, so the outcome of a prospect (sent, reviewed near the cap, deferred by
the cap) would depend on the number of workers and on chunk order.

Instead, the run takes one snapshot of that usage before it starts and walks the preview
(highest priority first: score, then id) once: each prospect is allotted the usage of
everyone ranked above it, plus what it uses itself during its own run. Its observation
shows exactly that, whichever worker runs it and whenever. Usage that belongs to one
account (contacts touched this week, the company's research) is kept deterministic by
putting all prospects of a company in the same chunk, in priority order.

The allotment is a plan, not a permit: the send and spend transactions still check the
real totals (`state.ledger.reserve` for budgets, `recheck_send` for capacities), so a
wrong prediction can cost a slot but can never exceed a cap.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_
from sqlalchemy import select as core_select
from sqlmodel import Session, select

from agents.forecast import SEND_COUNTERS, ProspectPreview
from core.timeutil import iso
from core.workspace import Workspace
from state.ledger import lock_counter
from state.ledger import spend as ledger_spend
from state.models import OutboxMessage, Prospect

GLOBAL_COUNTERS = tuple(sorted(set(SEND_COUNTERS.values())))


@dataclass(frozen=True)
class Allotment:
    """What one prospect sees of the run's shared usage before its own actions."""

    counters: Mapping[str, int]
    run_credits: float
    run_usd: float
    month_credits: float
    month_usd: float
    email_before: bool  # someone ranked above it is planned to send an email
    run_llm_usd: float = 0.0  # LLM dollars (part of the usd above): planned drafts
    month_llm_usd: float = 0.0  # someone ranked above it is planned to send an email


@dataclass
class Allocation:
    """The per-run allocation table passed to every worker."""

    start: dict[str, Any]  # shared usage at the start of the run
    by_prospect: dict[str, Allotment] = field(default_factory=dict)
    # This process's in-memory usage of the run (observe's `RunUsage`), read once per
    # process (per job); never serialised with the allocation.
    usage: Any = field(default=None, compare=False, repr=False)

    def __contains__(self, prospect_id: object) -> bool:
        return prospect_id in self.by_prospect


def snapshot(counters: Mapping[str, Any]) -> dict[str, Any]:
    """The shared (not per-prospect) part of a prospect's usage counters."""
    return {
        **{c: int(counters.get(c) or 0) for c in GLOBAL_COUNTERS},
        "mailbox_first_send_date": counters.get("mailbox_first_send_date"),
        "spend_run": dict(counters["spend"]["run"]),
        "spend_month": dict(counters["spend"]["month"]),
    }


def allocate(ws: Workspace, rows: Iterable[ProspectPreview], start: dict[str, Any]) -> Allocation:
    """Walk the preview in its order (priority) and allot each acting prospect the shared
    usage planned by everyone ranked above it."""
    table = Allocation(start=start)
    sends: Counter[str] = Counter()
    credits = usd = llm = 0.0
    per_draft = ws.config.llm.est_draft_usd if ws.config.providers.drafting == "claude" else 0.0
    for r in rows:
        if r.carry_over:
            continue
        table.by_prospect[r.prospect_id] = Allotment(
            counters={c: start[c] + sends[c] for c in GLOBAL_COUNTERS},
            run_credits=start["spend_run"]["credits"] + credits,
            run_usd=start["spend_run"]["usd"] + usd + llm,
            month_credits=start["spend_month"]["credits"] + credits,
            month_usd=start["spend_month"]["usd"] + usd + llm,
            email_before=sends["mailbox_sent_today"] > 0,
            run_llm_usd=start["spend_run"].get("llm_usd", 0.0) + llm,
            month_llm_usd=start["spend_month"].get("llm_usd", 0.0) + llm,
        )
        credits += r.credits
        usd += r.usd
        llm += per_draft * sum(
            1 for st in r.steps if st.get("action") == "draft" and st.get("outcome") == "allow"
        )
        if r.action in ("send", "draft") and r.outcome == "allow" and r.step_id:
            counter = SEND_COUNTERS.get(ws.step(r.step_id).kind, "")
            if counter:
                sends[counter] += 1
    return table


def apply(
    obs: dict[str, Any],
    allocation: Allocation | None,
    *,
    ws: Workspace,
    session: Session,
    state: Mapping[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """The observation with the shared usage replaced by the prospect's allotment plus what
    it has used itself in this run (its sends so far and its cost-ledger rows since the
    run's instant). Without an allocation (a single prospect, a review resume) it is
    returned unchanged."""
    pid = state["prospect_id"]
    if allocation is None or pid not in allocation:
        return obs
    a = allocation.by_prospect[pid]
    own: Counter[str] = Counter()
    for s in state.get("sent") or []:
        try:
            kind = ws.step(s["step_id"]).kind
        except Exception:  # a step removed from the playbook since: counts on its channel
            kind = s.get("channel", "")
        own[SEND_COUNTERS.get(kind, "")] += 1
    mine = ledger_spend(session, workspace=ws.id, since=now, prospect_id=pid)
    counters = dict(obs["counters"])
    for c in GLOBAL_COUNTERS:
        counters[c] = a.counters[c] + own[c]
    first = allocation.start.get("mailbox_first_send_date")
    if not first and (a.email_before or own["mailbox_sent_today"]):
        first = (iso(now) or "")[:10]
    counters["mailbox_first_send_date"] = first
    run, month = dict(counters["spend"]["run"]), dict(counters["spend"]["month"])
    run.update(
        credits=a.run_credits + mine.credits, usd=a.run_usd + mine.usd, llm_usd=a.run_llm_usd + mine.llm_usd
    )
    month.update(
        credits=a.month_credits + mine.credits,
        usd=a.month_usd + mine.usd,
        llm_usd=a.month_llm_usd + mine.llm_usd,
    )
    counters["spend"] = {**counters["spend"], "run": run, "month": month}
    return {**obs, "counters": counters}


def company_chunks(session: Session, ids: list[str], chunk_size: int) -> list[list[str]]:
    """Chunks of about `chunk_size` prospects that never split a company, each in priority
    order; companies are packed in the order of their highest-ranked prospect."""
    rank = {pid: i for i, pid in enumerate(ids)}
    company: dict[str, str] = {}
    for i in range(0, len(ids), 900):
        part = ids[i : i + 900]
        rows = session.exec(select(Prospect.id, Prospect.company_id).where(Prospect.id.in_(part))).all()  # type: ignore[attr-defined]
        company.update({pid: cid or f"prospect:{pid}" for pid, cid in rows})
    groups: dict[str, list[str]] = {}
    for pid in ids:
        groups.setdefault(company.get(pid, f"prospect:{pid}"), []).append(pid)
    chunks: list[list[str]] = [[]]
    for members in groups.values():  # dict order = order of each company's first prospect
        if len(chunks[-1]) >= chunk_size:
            chunks.append([])
        chunks[-1].extend(members)
    return [sorted(c, key=rank.__getitem__) for c in chunks if c]


CAPACITY_RULES = (
    "mailbox_daily_cap",
    "linkedin_weekly_invites",
    "linkedin_weekly_messages",
    "direct_mail_monthly",
)


def recheck_send(
    session: Session, ctx: Any, state: Mapping[str, Any], now: datetime
) -> dict[str, Any] | None:
    """Inside the send transaction: the capacity verdict that the real usage in the database
    (not the allotment, not the usage seen at observe) denies or defers, or None.

    The counter the send consumes is locked first (a transaction-scoped advisory lock on
    PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers), then read: sends
    already made plus sends of this run committed but not yet delivered (an outbox row
    "pending" with no attempt yet, or "sending") - so two workers cannot both take the
    last slot: the second one waits for the first's commit and then sees its row."""
    from agents.nodes.guard import evaluate

    step_id = state["plan"]["proposal"].get("step_id") or ""
    step = next((s for s in ctx.workspace.config.playbook.steps if s.id == step_id), None)
    counter = counter_of(step.channel, step.kind) if step is not None else ""
    if counter:
        lock_counter(session, ctx.ws_id, counter)
    real = real_usage(session, ctx.workspace, now, run_id=str(state.get("run_id") or ""))
    obs = state["observation"]
    shared = (*GLOBAL_COUNTERS, "mailbox_first_send_date")
    counters = {**obs["counters"], **{k: real[k] for k in shared}}
    out = evaluate(
        ctx.policy, {**obs, "counters": counters}, state["plan"]["proposal"], state.get("steps", 0)
    )
    for v in out["verdicts"]:
        if v["rule"] in CAPACITY_RULES and v["outcome"] in ("deny", "defer"):
            return dict(v)
    return None


def counter_of(channel: str, kind: str) -> str:
    """The shared usage counter a send on `channel` of `kind` consumes ("" for none): every
    email counts against the mailbox, LinkedIn and direct mail by kind."""
    return SEND_COUNTERS["email"] if channel == "email" else SEND_COUNTERS.get(kind, "")


def real_usage(session: Session, ws: Workspace, now: datetime, *, run_id: str) -> dict[str, Any]:
    """The shared usage counters from the database, with this run's committed but not yet
    delivered sends counted as used (they are on their way)."""
    from agents.observation import Periods, shared_usage

    periods = Periods.of(ws, now)
    usage = dict(shared_usage(session, ws, now, periods))
    if not run_id:
        return usage
    ob: Any = getattr(OutboxMessage, "__table__")  # noqa: B009
    rows = session.execute(
        core_select(ob.c.channel, ob.c.kind, func.count())
        .where(
            ob.c.workspace == ws.id,
            ob.c.run_id == run_id,
            or_(ob.c.status == "sending", and_(ob.c.status == "pending", ob.c.attempts == 0)),
        )
        .group_by(ob.c.channel, ob.c.kind)
    ).all()
    for channel, kind, n in rows:
        counter = counter_of(channel, kind)
        if counter:
            usage[counter] = int(usage.get(counter) or 0) + int(n)
    return usage
