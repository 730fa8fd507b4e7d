"""The figures of a client report and of the web dashboard, computed once by
:func:`compute_figures` for a workspace and a period [start, end).

- funnel by playbook step and channel: drafted, review requested, sent, replied, positive;
- reply and positive-reply rates over the prospects contacted in the period;
- hand-offs (interested or meeting replies), bounces and unsubscribes;
- spend by provider and per hand-off, month-to-date spend against the month budget;
- why prospects were deferred, denied or stopped (rule ids and reasons);
- the openings (template versions) with the best positive and overall reply rates;
- experiment variants with credible intervals (agents/experiments.py).

Spend is read through :func:`spend_rows` only: today it sums the lookup cache (credits and
dollars of paid research/enrichment) and the dollar cost recorded on sent messages
(direct mail); when a cost ledger exists, only that function changes.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, and_, col, func, or_, select

from agents.experiments import POSITIVE_KINDS, REPLY_TYPES, arm_stats, variant_of, variant_results
from core.timeutil import iso, to_utc
from core.workspace import Workspace
from state import decision_log, repo
from state.db import engine_for
from state.models import (
    DecisionRecord,
    Draft,
    EngagementEventRow,
    LookupCache,
    OutboxMessage,
    Review,
    Run,
    Task,
)

UNSUBSCRIBE_TYPES = ("unsubscribed", "complained")


def _rate(n: int, d: int) -> float:
    return round(n / d, 4) if d else 0.0


def spend_rows(session: Session, *, workspace: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Credits and dollars per provider in [start, end): the one place spend is read."""
    rows = session.exec(
        select(LookupCache.provider, func.count(), func.sum(LookupCache.credits), func.sum(LookupCache.usd))
        .where(
            LookupCache.workspace == workspace,
            LookupCache.created_at >= start,
            LookupCache.created_at < end,
        )
        .group_by(LookupCache.provider)
    ).all()
    out = [
        {"provider": p, "calls": int(n), "credits": round(float(c or 0), 4), "usd": round(float(u or 0), 4)}
        for p, n, c, u in rows
    ]
    postage: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for provider, channel, payload in session.exec(
        select(OutboxMessage.provider, OutboxMessage.channel, OutboxMessage.payload).where(
            OutboxMessage.workspace == workspace,
            OutboxMessage.status == "sent",
            col(OutboxMessage.sent_at) >= start,
            col(OutboxMessage.sent_at) < end,
        )
    ):
        usd = float((payload or {}).get("cost_usd") or 0)
        if usd:
            key = f"{channel}:{provider}"
            postage[key][0] += 1
            postage[key][1] += usd
    out += [
        {"provider": k, "calls": int(n), "credits": 0.0, "usd": round(u, 4)} for k, (n, u) in postage.items()
    ]
    return sorted(out, key=lambda r: (-r["usd"], r["provider"]))


def _month_start(at: datetime) -> datetime:
    return at.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _bodies(session: Session, workspace: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Guard records that deferred or denied, and stop actions, in the period, filtered on
    the query columns (`outcome` is the body's outcome, checked by `audit verify`)."""
    dec = DecisionRecord.__table__  # type: ignore[attr-defined]
    return decision_log.select_bodies(
        session.connection(),
        workspace,
        dec.c.at >= start,
        dec.c.at < end,
        or_(
            and_(dec.c.node == "guard", dec.c.outcome.in_(("defer", "deny"))),
            and_(dec.c.node == "act", dec.c.action == "stop"),
        ),
    )


def compute_figures(
    ws: Workspace, *, start: datetime, end: datetime, engine: Engine | None = None
) -> dict[str, Any]:
    """Every figure of the report and the dashboard for [start, end)."""
    engine = engine or engine_for(ws.database_url)
    start, end = to_utc(start), to_utc(end)
    steps = {s.id: s for s in ws.config.playbook.steps}
    with Session(engine) as session:
        sent = session.exec(
            select(OutboxMessage).where(
                OutboxMessage.workspace == ws.id,
                OutboxMessage.status == "sent",
                col(OutboxMessage.sent_at) >= start,
                col(OutboxMessage.sent_at) < end,
            )
        ).all()
        all_sent = session.exec(
            select(
                OutboxMessage.prospect_id, OutboxMessage.step_id, OutboxMessage.sent_at, OutboxMessage.payload
            )
            .where(
                OutboxMessage.workspace == ws.id,
                OutboxMessage.status == "sent",
                col(OutboxMessage.sent_at) < end,
            )
            .order_by(col(OutboxMessage.sent_at))
        ).all()
        events = session.exec(
            select(EngagementEventRow).where(
                EngagementEventRow.workspace == ws.id,
                EngagementEventRow.occurred_at >= start,
                EngagementEventRow.occurred_at < end,
            )
        ).all()
        drafts = session.exec(
            select(Draft.step_id, func.count())
            .where(Draft.workspace == ws.id, Draft.created_at >= start, Draft.created_at < end)
            .group_by(Draft.step_id)
        ).all()
        reviews = session.exec(
            select(Review.step_id, func.count())
            .where(Review.workspace == ws.id, Review.requested_at >= start, Review.requested_at < end)
            .group_by(Review.step_id)
        ).all()
        handoffs = session.exec(
            select(func.count()).where(
                Task.workspace == ws.id,
                Task.kind == "handoff",
                Task.created_at >= start,
                Task.created_at < end,
            )
        ).one()
        runs = session.exec(
            select(Run)
            .where(Run.workspace == ws.id, Run.now >= start, Run.now < end)
            .order_by(Run.now.desc())  # type: ignore[attr-defined]
            .limit(20)
        ).all()
        waiting = len(repo.pending_reviews(session, workspace=ws.id))
        spend = spend_rows(session, workspace=ws.id, start=start, end=end)
        month = spend_rows(
            session, workspace=ws.id, start=_month_start(end - timedelta(microseconds=1)), end=end
        )
        bodies = _bodies(session, ws.id, start, end)
        experiments = {
            s.id: variant_results(
                arm_stats(session, workspace=ws.id, step_id=s.id, variants=list(s.variants), before=end),
                min_sample=ws.config.experiments.min_sample,
                key=f"{ws.id}|{s.id}",
            )
            for s in ws.config.playbook.steps
            if s.variants
        }

    # Replies are credited to the prospect's last send before the reply.
    history: dict[str, list[tuple[datetime, str, str]]] = defaultdict(list)
    for pid, step_id, at, payload in all_sent:
        history[pid].append(
            (
                to_utc(at) if at else datetime.min.replace(tzinfo=UTC),
                step_id,
                str((payload or {}).get("template_version", "")),
            )
        )

    def credited(pid: str, at: datetime) -> tuple[str, str] | None:
        before = [h for h in history.get(pid, []) if h[0] <= at]
        return (before[-1][1], before[-1][2]) if before else None

    replied: dict[str, tuple[str, str, bool]] = {}
    any_reply: dict[str, bool] = {}
    bounces = unsubscribes = 0
    for e in sorted(events, key=lambda e: e.occurred_at):
        kind = (e.raw or {}).get("reply_kind")
        if e.type == "bounced":
            bounces += 1
        if e.type in UNSUBSCRIBE_TYPES or kind == "unsubscribe":
            unsubscribes += 1
        if e.type in REPLY_TYPES and e.prospect_id and kind not in ("out_of_office", "auto_reply"):
            any_reply[e.prospect_id] = any_reply.get(e.prospect_id, False) or kind in POSITIVE_KINDS
            where = credited(e.prospect_id, to_utc(e.occurred_at))
            if where is not None:
                prev = replied.get(e.prospect_id)
                positive = kind in POSITIVE_KINDS or bool(prev and prev[2])
                replied[e.prospect_id] = (where[0], where[1], positive)

    sent_by: Counter[str] = Counter(m.step_id for m in sent)
    by_channel: Counter[str] = Counter(m.channel for m in sent)
    by_day: dict[str, Counter[str]] = defaultdict(Counter)
    for m in sent:
        if m.sent_at is not None:
            by_day[m.channel][to_utc(m.sent_at).date().isoformat()] += 1
    rep_by: Counter[str] = Counter(s for s, _, _ in replied.values())
    pos_by: Counter[str] = Counter(s for s, _, p in replied.values() if p)
    drafted, requested = dict(drafts), dict(reviews)
    funnel = []
    for sid in list(steps) + sorted(set(sent_by) - set(steps)):
        row = {
            "step": sid,
            "channel": steps[sid].channel if sid in steps else "",
            "drafted": int(drafted.get(sid, 0)),
            "review_requested": int(requested.get(sid, 0)),
            "sent": sent_by.get(sid, 0),
            "replied": rep_by.get(sid, 0),
            "positive": pos_by.get(sid, 0),
        }
        if any(row[k] for k in ("drafted", "review_requested", "sent", "replied")):
            funnel.append(row)

    contacted = {m.prospect_id for m in sent}
    n_replied = sum(1 for p in replied if p in contacted)
    n_positive = sum(1 for p, r in replied.items() if p in contacted and r[2])

    sends_by_version: Counter[str] = Counter()
    version_step: dict[str, str] = {}
    for m in sent:
        v = str((m.payload or {}).get("template_version", ""))
        if v:
            sends_by_version[v] += 1
            version_step.setdefault(v, m.step_id)
    openings: list[dict[str, Any]] = []
    for v, n in sends_by_version.items():
        r = sum(1 for _, tv, _ in replied.values() if tv == v)
        pos = sum(1 for _, tv, p in replied.values() if tv == v and p)
        openings.append(
            {
                "template_version": v,
                "template": variant_of(v),
                "step": version_step[v],
                "sends": n,
                "replies": r,
                "positive": pos,
                "reply_rate": _rate(r, n),
                "positive_rate": _rate(pos, n),
            }
        )
    openings.sort(key=lambda o: (-o["positive_rate"], -o["reply_rate"], -o["sends"], o["template_version"]))

    deferred: Counter[str] = Counter()
    denied: Counter[str] = Counter()
    stopped: Counter[str] = Counter()
    for b in bodies:
        if b["node"] == "guard" and b.get("outcome") in ("defer", "deny"):
            target = deferred if b["outcome"] == "defer" else denied
            for v in b.get("verdicts", []):
                if v["outcome"] == b["outcome"]:
                    target[v["rule"]] += 1
        elif b["node"] == "act" and b.get("final_action") == "stop":
            why = b.get("rationale") or (b.get("proposal") or {}).get("reason") or "stopped"
            stopped[why.removeprefix("Stop: ").rstrip(".")[:120]] += 1

    total_usd = round(sum(r["usd"] for r in spend), 4)
    caps = ws.config.policy.budget.month
    month_usd = round(sum(r["usd"] for r in month), 4)
    month_credits = round(sum(r["credits"] for r in month), 4)
    return {
        "workspace": ws.id,
        "client": ws.config.client.name,
        "from": iso(start),
        "to": iso(end),
        "runs": [
            {
                "id": r.id,
                "kind": r.kind,
                "now": iso(to_utc(r.now)),
                "status": r.status,
                "dry_run": r.dry_run,
                "summary": r.summary,
            }
            for r in runs
        ],
        "sends_by_channel": dict(sorted(by_channel.items())),
        "sends_by_day": {c: dict(sorted(d.items())) for c, d in sorted(by_day.items())},
        "funnel": funnel,
        "contacted": len(contacted),
        "replied": n_replied,
        "positive": n_positive,
        "replies_total": len(any_reply),
        "positive_total": sum(1 for p in any_reply.values() if p),
        "reply_rate": _rate(n_replied, len(contacted)),
        "positive_reply_rate": _rate(n_positive, len(contacted)),
        "handoffs": int(handoffs),
        "bounces": bounces,
        "unsubscribes": unsubscribes,
        "reviews_waiting": waiting,
        "spend": {
            "by_provider": spend,
            "total_usd": total_usd,
            "total_credits": round(sum(r["credits"] for r in spend), 4),
            "per_handoff_usd": round(total_usd / handoffs, 4) if handoffs else None,
            "month_to_date": {"usd": month_usd, "credits": month_credits},
            "month_budget": {"usd": caps.usd, "credits": caps.credits},
        },
        "deferred": dict(deferred.most_common()),
        "denied": dict(denied.most_common()),
        "stopped": dict(stopped.most_common()),
        "top_openings": openings[:8],
        "experiments": experiments,
    }


def period(
    start: datetime | None, end: datetime | None, *, now: Callable[[], datetime]
) -> tuple[datetime, datetime]:
    """[start, end) from optional bounds: default the 30 days before now."""
    stop = end or now()
    return (start or stop - timedelta(days=30)), stop


def parse_day(text: str, *, field: str) -> datetime:
    """A date (YYYY-MM-DD, midnight UTC) or an ISO instant; InputError naming the field."""
    from core.errors import InputError
    from core.timeutil import parse_instant

    try:
        if len(text) == 10:
            return datetime.fromisoformat(text).replace(tzinfo=UTC)
        return parse_instant(text)
    except ValueError:
        raise InputError(f"{text!r} is not a date (YYYY-MM-DD) or an ISO-8601 instant", field=field) from None
