"""Builds the observation: everything the planner and the policies may look at for one
prospect at one instant, as plain JSON. It is recorded with each decision, so replay
feeds the planner and rules exactly what they saw."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlmodel import Session, col, select

from core.canonical import digest
from core.timeutil import iso, local_instant, to_utc, zone
from core.workspace import Workspace
from policies.rules.common import week_start
from state import repo
from state.models import Company, Draft, EngagementEventRow, Evidence, OutboxMessage, Prospect, Review
from state.models_reviews import ReviewBinding
from tools.channels.email_mime import list_unsubscribe
from tools.crm.facts import apply_crm_facts
from tools.normalize import COMPANY_SUFFIXES, email_domain

REPLY_TYPES = ("replied", "linkedin_replied")


def build_observation(
    session: Session,
    ws: Workspace,
    prospect: Prospect,
    now: datetime,
    facts: Facts | None = None,
) -> dict[str, Any]:
    """The observation of one prospect at `now`. `facts` supplies what is read from the
    database: by default live per-prospect queries; `prefetch` gives the same facts for
    a whole chunk of prospects from a few set-based queries (the run preview uses it)."""
    src = facts if facts is not None else LiveFacts(session, ws, now)
    return _assemble(session, ws, prospect, now, src, None, frozenset())


# What an action's known effects can name (`update_observation`): the sections re-read.
# The prospect's own row and the workspace's settings are always re-read (no query: the
# observe node loads the row anyway); anything else is kept from the previous observation.
# "counters" re-reads every usage counter; "spend" only the spend, "template_sends" only
# the sends per template version of the prospect's drafts.
SECTIONS = frozenset(
    {"company", "outbox", "events", "drafts", "counters", "spend", "template_sends", "suppressions"}
)


def update_observation(
    session: Session,
    ws: Workspace,
    prospect: Prospect,
    now: datetime,
    previous: Mapping[str, Any],
    changed: Iterable[str],
    facts: Facts | None = None,
) -> dict[str, Any] | None:
    """The observation after an action whose effects touched only the `changed` sections:
    those are re-read, the rest is the previous observation's. None when that cannot be
    exact (an unknown section, no previous observation, CRM facts folded in) - the caller
    then builds it in full. Equal to `build_observation` at the same instant whenever
    nothing outside `changed` has changed (checked by `check_observation`)."""
    wanted = frozenset(changed)
    if not previous or not wanted <= SECTIONS or crm_facts_on(ws):
        return None
    src = facts if facts is not None else LiveFacts(session, ws, now)
    return _assemble(session, ws, prospect, now, src, previous, wanted)


def prospect_row(session: Session, workspace: str, prospect_id: str) -> Any:
    """The prospect's row (Core: the observation only reads its columns), or None when it
    is not in `workspace`."""
    return session.execute(
        _statement("prospect"), {"workspace": workspace, "prospect_id": prospect_id}
    ).first()


def crm_facts_on(ws: Workspace) -> bool:
    """CRM facts are folded into several sections at once: such observations are rebuilt."""
    return ws.config.crm.provider != "none" and bool(ws.config.crm.facts_before_send)


def _assemble(
    session: Session,
    ws: Workspace,
    prospect: Prospect,
    now: datetime,
    src: Facts,
    prev: Mapping[str, Any] | None,
    changed: frozenset[str],
) -> dict[str, Any]:
    """The observation, every section read from `src` (no `prev`) or only the `changed`
    ones (the rest copied from `prev`)."""

    def fresh(section: str) -> bool:
        return prev is None or section in changed

    wid = ws.id
    rows: dict[str, Any] = {}

    def outbox() -> Sequence[Any]:
        if "outbox" not in rows:
            rows["outbox"] = src.outbox(prospect.id)
        return rows["outbox"]

    def drafts() -> Sequence[Any]:
        if "drafts" not in rows:
            rows["drafts"] = src.drafts(prospect.id)
        return rows["drafts"]

    if fresh("company"):
        company = src.company(prospect)
        company_facts: dict[str, Any] = (
            {
                "id": company.id,
                "name": company.name,
                "short_name": short_name(company.name),
                "domain": company.domain,
                "research_status": company.research_status,
                "researched": company.research_status == "done",
            }
            if company
            else {}
        )
    else:
        assert prev is not None
        company_facts = dict(prev["company"])
    domain: str = (company_facts.get("domain") or "") if company_facts else email_domain(prospect.email_norm)
    attrs = prospect.attributes or {}
    obs: dict[str, Any] = {
        "now": iso(now),
        "workspace": wid,
        "mode": ws.config.mode,
        "kill_switch": ws.kill_switch,
        "prospect": {
            "id": prospect.id,
            "first_name": prospect.first_name,
            "last_name": prospect.last_name,
            "full_name": prospect.full_name,
            "email": prospect.email_norm,
            "email_status": prospect.email_status,
            "email_domain": email_domain(prospect.email_norm),
            "linkedin_url": prospect.linkedin_url,
            "title": prospect.title,
            "country": prospect.country,
            "timezone": prospect.timezone,
            "tier": prospect.tier,
            "owner": prospect.owner,
            "status": prospect.status,
            "stop_reason": prospect.stop_reason,
            "has_postal_address": bool(postal_address_of(attrs)),
            "is_sole_trader": str(attrs.get("sole_trader", "")).lower() in ("1", "true", "yes"),
            "open_opportunity": str(attrs.get("open_opportunity", "")).lower() in ("1", "true", "yes"),
            "consent": consent_of(ws, attrs),
        },
        "company": company_facts,
        "enrichment": {"attempted": bool(prospect.enrichment_status), "status": prospect.enrichment_status},
    }
    if prev is None:
        obs["suppressions"] = src.suppressions(prospect.email_norm, domain)
    elif "suppressions" in changed:
        # Re-read; anything but the table's rows (CRM facts) never reaches here.
        obs["suppressions"] = src.suppressions(prospect.email_norm, domain)
    else:
        obs["suppressions"] = prev["suppressions"]
    if fresh("outbox"):
        obs["touches"] = [
            {
                "step_id": o.step_id,
                "channel": o.channel,
                "kind": o.kind,
                "at": iso(o.sent_at),
                "template": o.payload.get("template_version", ""),
            }
            for o in outbox()
            if o.status == "sent" and o.sent_at is not None
        ]
        obs["pending_sends"] = [
            {"step_id": o.step_id, "channel": o.channel, "status": o.status}
            for o in outbox()
            if o.status in ("pending", "sending")
        ]
    else:
        assert prev is not None
        obs["touches"], obs["pending_sends"] = prev["touches"], prev["pending_sends"]
    if fresh("events"):
        obs["events"] = event_facts(src.events(prospect.id))
    else:
        assert prev is not None
        obs["events"] = dict(prev["events"])
    if fresh("drafts"):
        obs["drafts"] = {
            d.step_id: draft_facts(ws, prospect, d, outbox())
            for d in drafts()
            if d.status not in ("rejected",)
        }
    else:
        assert prev is not None
        obs["drafts"] = prev["drafts"]
    if prev is None:
        obs.update(review_facts_from(*src.reviews(prospect.id)))
    else:
        obs["reviews"], obs["decision_reviews"] = prev["reviews"], prev["decision_reviews"]
    obs["sender"] = {
        "name": ws.config.sender.name,
        "email": ws.config.sender.email,
        "company": ws.config.sender.company,
        "postal_address": ws.config.sender.postal_address,
        "unsubscribe_url": ws.config.sender.unsubscribe_url,
        "unsubscribe_mailto": ws.config.sender.unsubscribe_mailto,
        "timezone": ws.config.sender.timezone,
    }
    obs["costs"] = {
        "credit_usd": ws.config.costs.credit_usd,
        "research_credits": ws.config.costs.research_credits,
        "enrichment_credits": ws.config.costs.enrichment_credits,
        "llm_draft_usd": ws.config.llm.est_draft_usd if ws.config.providers.drafting == "claude" else 0.0,
    }
    if prev is None:  # other prospects' replies: no action of this prospect changes them
        obs["events"]["account_replied_at"] = iso(
            src.account_replied_at(
                prospect.company_id, prospect.id, ws.config.policy.frequency.pause_reply_kinds
            )
        )
    else:
        obs["events"]["account_replied_at"] = prev["events"]["account_replied_at"]
    if fresh("drafts"):
        cited = sorted(
            {i for d in obs["drafts"].values() for sen in d["sentences"] for i in sen.get("evidence_ids", [])}
        )
        obs["evidence"] = {
            e.id: {"quote": e.quote, "url": e.source_url, "kind": e.kind} for e in src.evidence(cited)
        }
    else:
        assert prev is not None
        obs["evidence"] = prev["evidence"]
    if fresh("counters"):
        obs["counters"] = _usage(src, ws, prospect, drafts())
    else:
        assert prev is not None
        obs["counters"] = prev["counters"]
        if "template_sends" in changed or "spend" in changed:
            obs["counters"] = counters = dict(prev["counters"])
            if "template_sends" in changed:
                counters["template_sends"] = src.template_sends({d.template_version for d in drafts()})
            if "spend" in changed:
                shared = src.shared_usage()
                counters["spend"] = {
                    "run": dict(shared["spend_run"]),
                    "month": dict(shared["spend_month"]),
                    "prospect": _spend(src.spend_prospect(prospect.id)),
                }
    obs["score"] = src.score(prospect.id) if prev is None else prev["score"]
    if prev is None:
        apply_crm_facts(session, ws, prospect, obs, now)  # CRM customer / deals / opt-outs (docs/crm.md)
    return obs


def usage_counters(
    session: Session, ws: Workspace, prospect: Prospect, drafts: Any, now: datetime
) -> dict[str, Any]:
    """Usage the capacity, frequency and budget rules compare with their caps. Days,
    weeks (from Monday) and months are the sender's, in the sender's time zone."""
    return _usage(LiveFacts(session, ws, now), ws, prospect, drafts)


def _usage(src: Facts, ws: Workspace, prospect: Prospect, drafts: Any) -> dict[str, Any]:
    shared = src.shared_usage()
    return {
        "template_sends": src.template_sends({d.template_version for d in drafts}),
        "account_contacts_touched_week": src.contacts_touched(prospect.company_id),
        "mailbox_sent_today": shared["mailbox_sent_today"],
        "mailbox_first_send_date": shared["mailbox_first_send_date"],
        "linkedin_invites_week": shared["linkedin_invites_week"],
        "linkedin_messages_week": shared["linkedin_messages_week"],
        "direct_mail_sends_month": shared["direct_mail_sends_month"],
        "direct_mail_usd_month": shared["direct_mail_usd_month"],
        "spend": {
            "run": dict(shared["spend_run"]),
            "month": dict(shared["spend_month"]),
            "prospect": _spend(src.spend_prospect(prospect.id)),
        },
    }


@dataclass(frozen=True)
class Periods:
    """The sender's day, week (from Monday) and month starts around `now`."""

    day: datetime
    week: datetime
    month: datetime

    @classmethod
    def of(cls, ws: Workspace, now: datetime) -> Periods:
        stz = zone(ws.config.sender.timezone) or ZoneInfo("UTC")
        return cls(day_start(now, stz), week_start(now, stz), month_start(now, stz))


def shared_usage(session: Session, ws: Workspace, now: datetime, periods: Periods) -> dict[str, Any]:
    """The workspace-wide part of the usage counters (the same for every prospect)."""
    wid = ws.id
    if session.autoflush:
        session.flush()
    since = min(periods.week, periods.month)
    rows = session.execute(
        _statement("sends_by_period"),
        {"workspace": wid, "day": periods.day, "week": periods.week, "month": periods.month, "since": since},
    ).all()
    sends = {(c, k): (int(d or 0), int(w or 0), int(m or 0)) for c, k, d, w, m in rows}

    def count(channel: str, period: int, kind: str | None = None) -> int:
        return sum(v[period] for (c, k), v in sends.items() if c == channel and kind in (None, k))

    first_send = ws.config.sender.mailbox_warm_since or iso(
        session.execute(_statement("first_email_sent"), {"workspace": wid}).scalar()
    )
    mail_month = count("direct_mail", 2)
    mail_usd = 0.0
    if mail_month:
        payloads = session.execute(
            _statement("direct_mail_payloads"), {"workspace": wid, "since": periods.month}
        ).scalars()
        mail_usd = float(sum(float((p or {}).get("cost_usd") or 0) for p in payloads))
    spend = repo.spend_by_period(session, workspace=wid, run_since=now, month=periods.month)
    return {
        "mailbox_sent_today": count("email", 0),
        "mailbox_first_send_date": (first_send or "")[:10] or None,
        "linkedin_invites_week": count("linkedin", 1, "linkedin_connect"),
        "linkedin_messages_week": count("linkedin", 1, "linkedin_message"),
        "direct_mail_sends_month": mail_month,
        "direct_mail_usd_month": mail_usd,
        "spend_run": _spend(spend["run"]),
        "spend_month": _spend(spend["month"]),
    }


class RunUsage:
    """The workspace-wide send usage of one run, kept in memory by one worker process (one
    chunk): read once from the database (`shared_usage`), then moved by this worker's own
    sends as the observe node sees them land in the prospect's outbox. Under a run's
    allocation the observation's send counters and run/month spend are the allotment's
    anyway (`allocation.apply`), so what the workers see never depends on one another;
    the send transaction re-reads the real counters under a lock (`recheck_send`)."""

    def __init__(self, session: Session, ws: Workspace, now: datetime) -> None:
        self.ws, self.now = ws, now
        self.periods = Periods.of(ws, now)
        self.shared = shared_usage(session, ws, now, self.periods)
        self._seen: dict[str, set[int]] = {}  # per prospect: its sent outbox rows counted

    def note_outbox(self, prospect_id: str, rows: Iterable[Any]) -> None:
        """The prospect's outbox as just read: sent rows not counted yet are added."""
        sent = [o for o in rows if o.status == repo.SENT and o.sent_at is not None]
        seen = self._seen.get(prospect_id)
        self._seen[prospect_id] = {_row_id(o) for o in sent}
        if seen is None:  # first sight: its sends so far were in the database when read
            return
        for o in sent:
            if _row_id(o) not in seen:
                self._count(o)

    def _count(self, o: Any) -> None:
        at, p, u = to_utc(o.sent_at), self.periods, self.shared
        if at < min(p.week, p.month):
            return
        if o.channel == "email":
            u["mailbox_sent_today"] += int(at >= p.day)
            if not u["mailbox_first_send_date"]:
                u["mailbox_first_send_date"] = (iso(o.sent_at) or "")[:10] or None
        elif o.channel == "linkedin" and o.kind == "linkedin_connect":
            u["linkedin_invites_week"] += int(at >= p.week)
        elif o.channel == "linkedin" and o.kind == "linkedin_message":
            u["linkedin_messages_week"] += int(at >= p.week)
        elif o.channel == "direct_mail" and at >= p.month:
            u["direct_mail_sends_month"] += 1
            u["direct_mail_usd_month"] += float((o.payload or {}).get("cost_usd") or 0)


class Facts(Protocol):
    """What `build_observation` reads from the database about one prospect."""

    def company(self, prospect: Prospect) -> Company | None: ...
    def outbox(self, prospect_id: str) -> Sequence[OutboxMessage]: ...
    def events(self, prospect_id: str) -> Sequence[EngagementEventRow]: ...
    def drafts(self, prospect_id: str) -> Sequence[Draft]: ...
    def reviews(self, prospect_id: str) -> tuple[Sequence[Review], dict[str, ReviewBinding]]: ...
    def suppressions(self, email: str, domain: str) -> list[dict[str, str]]: ...
    def account_replied_at(
        self, company_id: str | None, exclude: str, ignore_kinds: Iterable[str]
    ) -> datetime | None: ...
    def evidence(self, ids: Sequence[str]) -> Sequence[Evidence]: ...
    def template_sends(self, versions: Iterable[str]) -> dict[str, int]: ...
    def contacts_touched(self, company_id: str | None) -> int: ...
    def spend_prospect(self, prospect_id: str) -> dict[str, float]: ...
    def score(self, prospect_id: str) -> dict[str, Any]: ...
    def shared_usage(self) -> dict[str, Any]: ...


class LiveFacts:
    """Facts read per prospect, live (a node's observation, explain, review edits), with
    Core statements built once and reused with bound values: rows, not ORM objects (the
    observation only reads their columns). Pending ORM changes are flushed first, as an
    ORM query would."""

    def __init__(self, session: Session, ws: Workspace, now: datetime) -> None:
        self.session, self.ws, self.wid, self.now = session, ws, ws.id, now
        self.periods = Periods.of(ws, now)
        if session.autoflush:
            session.flush()

    def _rows(self, name: str, **params: Any) -> Sequence[Any]:
        return self.session.execute(_statement(name), {"workspace": self.wid, **params}).all()

    def company(self, prospect: Prospect) -> Any:
        if not prospect.company_id:
            return None
        rows = self._rows("company", id=prospect.company_id)
        return rows[0] if rows else None

    def outbox(self, prospect_id: str) -> Sequence[Any]:
        return self._rows("outbox", prospect_id=prospect_id)

    def events(self, prospect_id: str) -> Sequence[Any]:
        return self._rows("events", prospect_id=prospect_id)

    def drafts(self, prospect_id: str) -> Sequence[Any]:
        return self._rows("drafts", prospect_id=prospect_id)

    def reviews(self, prospect_id: str) -> tuple[Sequence[Any], dict[str, ReviewBinding]]:
        rows = self._rows("reviews", prospect_id=prospect_id)
        return rows, _bindings(self.session, [r.id for r in rows])

    def suppressions(self, email: str, domain: str) -> list[dict[str, str]]:
        if not email and not domain:
            return []
        rows = self._rows("suppressions", email=email or None, domain=domain or None)
        return [{"reason": r.reason, "match": r.kind, "value": r.value} for r in rows]

    def account_replied_at(
        self, company_id: str | None, exclude: str, ignore_kinds: Iterable[str]
    ) -> datetime | None:
        if not company_id:
            return None
        ignored = set(ignore_kinds)
        for occurred_at, raw in self._rows("account_replies", company_id=company_id, exclude=exclude):
            if str((raw or {}).get("reply_kind") or "") not in ignored:
                return occurred_at  # type: ignore[no-any-return,unused-ignore]
        return None

    def evidence(self, ids: Sequence[str]) -> Sequence[Any]:
        return self._rows("evidence", ids=list(ids)) if ids else []

    def template_sends(self, versions: Iterable[str]) -> dict[str, int]:
        wanted = [v for v in versions if v]
        if not wanted:
            return {}
        return {v: int(n) for v, n in self._rows("template_sends", versions=wanted)}

    def contacts_touched(self, company_id: str | None) -> int:
        if not company_id:
            return 0
        rows = self._rows("contacts_touched", company_id=company_id, since=self.periods.week)
        return int(rows[0][0] or 0)

    def spend_prospect(self, prospect_id: str) -> dict[str, float]:
        return repo.spend_for_prospect(self.session, workspace=self.wid, prospect_id=prospect_id)

    def score(self, prospect_id: str) -> dict[str, Any]:
        rows = self._rows("score", prospect_id=prospect_id)
        if not rows:
            return {}
        r = rows[0]
        return {"score": r.score, "tier": r.tier, "excluded": r.excluded, "breakdown": r.breakdown}

    def shared_usage(self) -> dict[str, Any]:
        return shared_usage(self.session, self.ws, self.now, self.periods)


class RunFacts(LiveFacts):
    """`LiveFacts` whose workspace-wide usage is the run's in-memory `RunUsage`."""

    def __init__(self, session: Session, ws: Workspace, now: datetime, usage: RunUsage) -> None:
        super().__init__(session, ws, now)
        self.usage = usage

    def outbox(self, prospect_id: str) -> Sequence[Any]:
        rows = super().outbox(prospect_id)
        self.usage.note_outbox(prospect_id, rows)
        return rows

    def shared_usage(self) -> dict[str, Any]:
        return {
            **self.usage.shared,
            "spend_run": dict(self.usage.shared["spend_run"]),
            "spend_month": dict(self.usage.shared["spend_month"]),
        }


_STATEMENTS: dict[str, Any] = {}


def _statement(name: str) -> Any:
    """The Core statement `LiveFacts` runs for `name`, built on first use. Each mirrors the
    `state.repo` query of the same purpose (same filters, same order)."""
    if name in _STATEMENTS:
        return _STATEMENTS[name]
    from sqlalchemy import and_, bindparam, case, or_
    from sqlalchemy import select as core_select

    from state.models import Suppression
    from state.models_scoring import ProspectScore

    ws: Any = bindparam("workspace")
    pid: Any = bindparam("prospect_id")
    tables: dict[str, Any] = {
        m.__name__: getattr(m, "__table__")  # noqa: B009
        for m in (
            Company,
            OutboxMessage,
            EngagementEventRow,
            Draft,
            Review,
            Suppression,
            ProspectScore,
            Prospect,
            Evidence,
        )
    }
    co, ob, ev, dr, rv, sp, sc, pr, evd = (
        tables[n].c
        for n in (
            "Company",
            "OutboxMessage",
            "EngagementEventRow",
            "Draft",
            "Review",
            "Suppression",
            "ProspectScore",
            "Prospect",
            "Evidence",
        )
    )
    built = {
        "company": core_select(tables["Company"]).where(co.id == bindparam("id")),
        "prospect": core_select(tables["Prospect"]).where(pr.workspace == ws, pr.id == pid),
        "outbox": core_select(tables["OutboxMessage"])
        .where(ob.workspace == ws, ob.prospect_id == pid)
        .order_by(ob.id),
        "events": core_select(tables["EngagementEventRow"])
        .where(ev.workspace == ws, ev.prospect_id == pid)
        .order_by(ev.occurred_at),
        "drafts": core_select(tables["Draft"])
        .where(dr.workspace == ws, dr.prospect_id == pid, dr.status != "superseded")
        .order_by(dr.created_at),
        "reviews": core_select(tables["Review"])
        .where(rv.workspace == ws, rv.prospect_id == pid)
        .order_by(rv.requested_at),
        "suppressions": core_select(tables["Suppression"])
        .where(
            sp.workspace == ws,
            or_(
                and_(sp.kind == "email", sp.value == bindparam("email")),
                and_(sp.kind == "domain", sp.value == bindparam("domain")),
            ),
        )
        .order_by(sp.id),
        "account_replies": core_select(ev.occurred_at, ev.raw)
        .join(tables["Prospect"], pr.id == ev.prospect_id)
        .where(
            ev.workspace == ws,
            pr.company_id == bindparam("company_id"),
            pr.id != bindparam("exclude"),
            ev.type.in_(REPLY_TYPES),
        )
        .order_by(ev.occurred_at.desc()),
        "contacts_touched": core_select(func.count(func.distinct(ob.prospect_id)))
        .join(tables["Prospect"], pr.id == ob.prospect_id)
        .where(
            ob.workspace == ws,
            pr.company_id == bindparam("company_id"),
            ob.status == repo.SENT,
            ob.sent_at >= bindparam("since"),
        ),
        "score": core_select(tables["ProspectScore"]).where(sc.workspace == ws, sc.prospect_id == pid),
        "evidence": core_select(tables["Evidence"]).where(
            evd.workspace == ws, evd.id.in_(bindparam("ids", expanding=True))
        ),
        "template_sends": core_select(dr.template_version, func.count(ob.id))
        .join(tables["OutboxMessage"], ob.draft_id == dr.id)
        .where(
            ob.workspace == ws,
            ob.status == repo.SENT,
            dr.template_version.in_(bindparam("versions", expanding=True)),
        )
        .group_by(dr.template_version),
        "sends_by_period": core_select(
            ob.channel,
            ob.kind,
            func.sum(case((ob.sent_at >= bindparam("day"), 1), else_=0)),
            func.sum(case((ob.sent_at >= bindparam("week"), 1), else_=0)),
            func.sum(case((ob.sent_at >= bindparam("month"), 1), else_=0)),
        )
        .where(ob.workspace == ws, ob.status == repo.SENT, ob.sent_at >= bindparam("since"))
        .group_by(ob.channel, ob.kind),
        "first_email_sent": core_select(func.min(ob.sent_at)).where(
            ob.workspace == ws, ob.channel == "email", ob.status == repo.SENT
        ),
        "direct_mail_payloads": core_select(ob.payload).where(
            ob.workspace == ws,
            ob.channel == "direct_mail",
            ob.status == repo.SENT,
            ob.sent_at >= bindparam("since"),
        ),
    }
    _STATEMENTS.update(built)
    return _STATEMENTS[name]


IN_BATCH = 500  # ids per IN (...) list


def _parts(ids: Sequence[str]) -> Iterable[list[str]]:
    for i in range(0, len(ids), IN_BATCH):
        yield list(ids[i : i + IN_BATCH])


class ChunkFacts:
    """The facts of many prospects at one instant, loaded with one query per table (per
    500 ids) instead of about fifteen queries per prospect. Read-only: it is a snapshot,
    right for the run preview (which writes nothing) and for anything that reads the
    observations of many prospects at the same instant."""

    def __init__(self, session: Session, ws: Workspace, ids: Sequence[str], now: datetime) -> None:
        from sqlalchemy import select as core_select

        from state.ledger import COUNTED
        from state.models import CostEntry, Suppression
        from state.models_scoring import ProspectScore

        self.session, self.ws, self.wid, self.now = session, ws, ws.id, now
        self.periods = Periods.of(ws, now)
        wid = ws.id
        ids = list(dict.fromkeys(ids))
        if session.autoflush:
            session.flush()
        # Rows, not ORM objects: the observation only reads their columns.
        pt, ot, et, dt, rt, st = (
            getattr(m, "__table__")  # noqa: B009
            for m in (Prospect, OutboxMessage, EngagementEventRow, Draft, Review, ProspectScore)
        )
        self.prospects: dict[str, Any] = {}
        self._outbox: dict[str, list[Any]] = {}
        self._events: dict[str, list[Any]] = {}
        self._drafts: dict[str, list[Any]] = {}
        self._reviews: dict[str, list[Any]] = {}
        self._bindings: dict[str, ReviewBinding] = {}
        self._spend: dict[str, dict[str, float]] = {}
        self._scores: dict[str, dict[str, Any]] = {}
        for part in _parts(ids):
            # By primary key only (the workspace checked here): with `workspace = ?` in the
            # statement, SQLite (no ANALYZE statistics) walks a workspace index over every
            # prospect of the workspace, for each chunk.
            for p in session.execute(core_select(pt).where(pt.c.id.in_(part))):
                if p.workspace == wid:
                    self.prospects[p.id] = p
            for o in session.execute(
                core_select(ot).where(ot.c.workspace == wid, ot.c.prospect_id.in_(part)).order_by(ot.c.id)
            ):
                self._outbox.setdefault(o.prospect_id, []).append(o)
            for e in session.execute(
                core_select(et)
                .where(et.c.workspace == wid, et.c.prospect_id.in_(part))
                .order_by(et.c.occurred_at, et.c.id)
            ):
                self._events.setdefault(e.prospect_id or "", []).append(e)
            for d in session.execute(
                core_select(dt)
                .where(dt.c.workspace == wid, dt.c.prospect_id.in_(part), dt.c.status != "superseded")
                .order_by(dt.c.created_at)
            ):
                self._drafts.setdefault(d.prospect_id, []).append(d)
            for r in session.execute(
                core_select(rt)
                .where(rt.c.workspace == wid, rt.c.prospect_id.in_(part))
                .order_by(rt.c.requested_at)
            ):
                self._reviews.setdefault(r.prospect_id, []).append(r)
            for pid, credits, usd, llm in session.exec(
                select(
                    CostEntry.prospect_id,
                    func.coalesce(func.sum(CostEntry.credits), 0.0),
                    func.coalesce(func.sum(CostEntry.usd), 0.0),
                    func.coalesce(func.sum(CostEntry.llm_usd), 0.0),
                )
                .where(
                    CostEntry.workspace == wid,
                    col(CostEntry.status).in_(COUNTED),
                    col(CostEntry.prospect_id).in_(part),
                )
                .group_by(CostEntry.prospect_id)
            ):
                self._spend[pid] = {"credits": float(credits), "usd": float(usd), "llm_usd": float(llm)}
            for sc in session.execute(
                core_select(st).where(st.c.workspace == wid, st.c.prospect_id.in_(part))
            ):
                self._scores[sc.prospect_id] = {
                    "score": sc.score,
                    "tier": sc.tier,
                    "excluded": sc.excluded,
                    "breakdown": sc.breakdown,
                }
        review_ids = [r.id for rows in self._reviews.values() for r in rows]
        for part in _parts(review_ids):
            for b in session.exec(select(ReviewBinding).where(col(ReviewBinding.review_id).in_(part))):
                self._bindings[b.review_id] = b
        company_ids = sorted({p.company_id for p in self.prospects.values() if p.company_id})
        self.companies: dict[str, Any] = {}
        self._replies: dict[str, list[tuple[str, datetime, Any]]] = {}
        self._touched: dict[str, set[str]] = {}
        for part in _parts(company_ids):
            ct = getattr(Company, "__table__")  # noqa: B009
            self.companies.update(
                {  # by primary key only, as the prospects above
                    c.id: c
                    for c in session.execute(core_select(ct).where(ct.c.id.in_(part)))
                    if c.workspace == wid
                }
            )
            for who, cid, at, raw in session.exec(
                select(
                    EngagementEventRow.prospect_id,
                    Prospect.company_id,
                    EngagementEventRow.occurred_at,
                    EngagementEventRow.raw,
                )
                .join(Prospect, col(Prospect.id) == col(EngagementEventRow.prospect_id))
                .where(
                    EngagementEventRow.workspace == wid,
                    col(Prospect.company_id).in_(part),
                    col(EngagementEventRow.type).in_(REPLY_TYPES),
                )
                .order_by(col(EngagementEventRow.occurred_at).desc())
            ):
                self._replies.setdefault(cid or "", []).append((who or "", at, raw))
            for cid, toucher in session.exec(
                select(Prospect.company_id, OutboxMessage.prospect_id)
                .join(Prospect, col(Prospect.id) == col(OutboxMessage.prospect_id))
                .where(
                    OutboxMessage.workspace == wid,
                    col(Prospect.company_id).in_(part),
                    OutboxMessage.status == repo.SENT,
                    col(OutboxMessage.sent_at) >= self.periods.week,
                )
                .distinct()
            ):
                self._touched.setdefault(cid or "", set()).add(toucher)
        emails = sorted({p.email_norm for p in self.prospects.values() if p.email_norm})
        domains = sorted({self._domain(p) for p in self.prospects.values()} - {""})
        self._supp: dict[tuple[str, str], list[Any]] = {}
        for kind, values in (("email", emails), ("domain", domains)):
            for part in _parts(values):
                for row in session.exec(
                    select(Suppression).where(
                        Suppression.workspace == wid,
                        Suppression.kind == kind,
                        col(Suppression.value).in_(part),
                    )
                ):
                    self._supp.setdefault((kind, row.value), []).append(row)
        versions = sorted({d.template_version for rows in self._drafts.values() for d in rows} - {""})
        self._template_sends = repo.template_sends(session, workspace=wid, versions=versions)
        cited = sorted(
            {
                i
                for rows in self._drafts.values()
                for d in rows
                for sen in d.sentences or []
                for i in sen.get("evidence_ids", [])
            }
        )
        self._evidence: dict[str, Evidence] = {}
        for part in _parts(cited):
            self._evidence.update({e.id: e for e in repo.evidence_by_ids(session, workspace=wid, ids=part)})
        self._shared = shared_usage(session, ws, now, self.periods)

    def company(self, prospect: Prospect) -> Company | None:
        return self.companies.get(prospect.company_id) if prospect.company_id else None

    def _domain(self, prospect: Prospect) -> str:
        company = self.company(prospect)
        return company.domain if company else email_domain(prospect.email_norm)

    def outbox(self, prospect_id: str) -> Sequence[OutboxMessage]:
        return self._outbox.get(prospect_id, [])

    def events(self, prospect_id: str) -> Sequence[EngagementEventRow]:
        return self._events.get(prospect_id, [])

    def drafts(self, prospect_id: str) -> Sequence[Draft]:
        return self._drafts.get(prospect_id, [])

    def reviews(self, prospect_id: str) -> tuple[Sequence[Review], dict[str, ReviewBinding]]:
        rows = self._reviews.get(prospect_id, [])
        return rows, {r.id: self._bindings[r.id] for r in rows if r.id in self._bindings}

    def suppressions(self, email: str, domain: str) -> list[dict[str, str]]:
        rows = (self._supp.get(("email", email), []) if email else []) + (
            self._supp.get(("domain", domain), []) if domain else []
        )
        return [{"reason": s.reason, "match": s.kind, "value": s.value} for s in sorted(rows, key=_row_id)]

    def account_replied_at(
        self, company_id: str | None, exclude: str, ignore_kinds: Iterable[str]
    ) -> datetime | None:
        if not company_id:
            return None
        ignored = set(ignore_kinds)
        for pid, at, raw in self._replies.get(company_id, []):
            if pid != exclude and str((raw or {}).get("reply_kind") or "") not in ignored:
                return at
        return None

    def evidence(self, ids: Sequence[str]) -> Sequence[Evidence]:
        return [self._evidence[i] for i in ids if i in self._evidence]

    def template_sends(self, versions: Iterable[str]) -> dict[str, int]:
        return {v: self._template_sends[v] for v in versions if v in self._template_sends}

    def contacts_touched(self, company_id: str | None) -> int:
        return len(self._touched.get(company_id, ())) if company_id else 0

    def spend_prospect(self, prospect_id: str) -> dict[str, float]:
        return dict(self._spend.get(prospect_id) or {"credits": 0.0, "usd": 0.0, "llm_usd": 0.0})

    def score(self, prospect_id: str) -> dict[str, Any]:
        return self._scores.get(prospect_id, {})

    def shared_usage(self) -> dict[str, Any]:
        return self._shared

    def observation(self, prospect_id: str) -> dict[str, Any]:
        """The observation `build_observation` gives for this prospect, from the snapshot."""
        return build_observation(self.session, self.ws, self.prospects[prospect_id], self.now, self)


def _row_id(row: Any) -> int:
    return int(row.id or 0)


def _spend(raw: dict[str, float]) -> dict[str, float]:
    return {"credits": raw["credits"], "llm_usd": raw.get("llm_usd", 0.0), "usd": raw["usd"]}


def day_start(now: datetime, tz: Any) -> datetime:
    return local_instant(to_utc(now).astimezone(tz).date(), time(0), tz)


def month_start(now: datetime, tz: Any) -> datetime:
    return local_instant(to_utc(now).astimezone(tz).date().replace(day=1), time(0), tz)


def postal_address_of(attrs: dict[str, Any]) -> str:
    """The prospect's postal address from the import (column "postal_address" or "Postal Address")."""
    return str(attrs.get("postal_address") or attrs.get("Postal Address") or "").strip()


def short_name(name: str) -> str:
    """'Acme Robotics, Inc.' -> 'Acme Robotics' (how people write it in a sentence)."""
    words = name.replace(",", " ").split()
    while len(words) > 1 and words[-1].strip(".").lower() in COMPANY_SUFFIXES:
        words.pop()
    return " ".join(words)


def consent_of(ws: Workspace, attrs: dict[str, Any]) -> dict[str, Any]:
    """The prospect's recorded basis (import columns consent_basis / consent_recorded_at),
    else the workspace's legitimate-interest assessment."""
    truthy = lambda k: str(attrs.get(k, "")).lower() in ("1", "true", "yes")  # noqa: E731
    basis = str(attrs.get("consent_basis", "")).strip().lower()
    recorded = str(attrs.get("consent_recorded_at", "")).strip() or None
    lia = ws.config.compliance.legitimate_interest_assessed_at
    if not basis and lia:
        basis, recorded = "legitimate_interest", lia
    return {
        "basis": basis,
        "recorded_at": recorded,
        "published_address": truthy("published_address"),
        "no_solicitation": truthy("no_solicitation"),
    }


def draft_facts(ws: Workspace, prospect: Prospect, d: Any, outbox: Any) -> dict[str, Any]:
    """The draft as it would go out: text, citations, the headers the channel adds, links
    and the recipient on record."""
    step = next((s for s in ws.config.playbook.steps if s.id == d.step_id), None)
    headers: dict[str, str] = {}
    if d.channel == "email":
        s = ws.config.sender
        headers["List-Unsubscribe"] = list_unsubscribe(s.unsubscribe_url, s.unsubscribe_mailto)
        if s.unsubscribe_url.startswith("https://"):
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        parent = step.follow_up_of if step else ""
        if parent and any(o.step_id == parent and o.status == "sent" for o in outbox):
            headers["In-Reply-To"] = headers["References"] = f"<{parent}>"
    recipient = recipient_of(prospect, d.channel)
    return {
        "id": d.id,
        "channel": d.channel,
        "kind": d.kind,
        "subject": d.subject,
        "body": d.body,
        "sentences": d.sentences,
        "template": d.template,
        "template_version": d.template_version,
        "status": d.status,
        "model_written": bool(getattr(d, "model_written", False)),
        "headers": headers,
        "links": re.findall(r"https?://[^\s<>\")]+", d.body),
        "recipient": recipient,
        "fingerprint": content_fingerprint(
            subject=d.subject,
            body=d.body,
            recipient=recipient_identity(prospect, d.channel),
            channel=d.channel,
        ),
    }


def recipient_of(prospect: Prospect, channel: str) -> str:
    """Who a draft on `channel` is addressed to, from the record: the email address, the
    LinkedIn profile, or for direct mail and call tasks the prospect id (the postal
    identity - name and postal address - is looked up by it when the mail goes out)."""
    if channel == "email":
        return prospect.email_norm
    if channel == "linkedin":
        return prospect.linkedin_url
    return prospect.id


def recipient_identity(prospect: Prospect, channel: str) -> str:
    """Everything that decides where a message lands, for its fingerprint: for direct mail
    the name and postal address on record, for a call the phone number."""
    if channel == "direct_mail":
        return f"{prospect.id}|{prospect.full_name}|{postal_address_of(prospect.attributes or {})}"
    if channel == "phone":
        return f"{prospect.id}|{prospect.phone}"
    return recipient_of(prospect, channel)


def content_fingerprint(*, subject: str, body: str, recipient: str, channel: str) -> str:
    """sha256 of exactly what goes out: an approval holds for this content only."""
    return digest({"subject": subject or "", "body": body or "", "recipient": recipient, "channel": channel})


def review_facts(session: Session, reviews: Any) -> dict[str, Any]:
    """`reviews`: per step, the latest review of a draft (a message review); an approval
    counts only while `approved_fingerprint` equals the draft's current fingerprint.
    `decision_reviews`: per step ("" for none) and action, reviews asked before any draft
    existed; they approve that decision, never a message."""
    rows = list(reviews)
    return review_facts_from(rows, _bindings(session, [r.id for r in rows]))


def _bindings(session: Session, review_ids: list[str]) -> dict[str, ReviewBinding]:
    if not review_ids:
        return {}
    return {
        b.review_id: b
        for b in session.exec(select(ReviewBinding).where(col(ReviewBinding.review_id).in_(review_ids)))
    }


def review_facts_from(reviews: Iterable[Review], bindings: Mapping[str, ReviewBinding]) -> dict[str, Any]:
    """`review_facts` over reviews and their bindings already loaded."""
    messages: dict[str, dict[str, Any]] = {}
    decisions: dict[str, dict[str, dict[str, Any]]] = {}
    for r in sorted(reviews, key=lambda r: (to_utc(r.requested_at), r.status == "pending")):
        b = bindings.get(r.id)
        kind = (
            b.kind if b is not None else ("message" if r.draft_id and ":" not in r.draft_id else "decision")
        )
        fact = review_fact(r, b, kind)
        if kind == "message":
            messages[r.step_id] = fact
        else:
            decisions.setdefault(r.step_id or "", {})[fact["action"]] = fact
    return {"reviews": messages, "decision_reviews": decisions}


def review_fact(r: Review, b: ReviewBinding | None, kind: str) -> dict[str, Any]:
    return {
        "id": r.id,
        "status": r.status,
        "decided_by": r.decided_by,
        "draft_id": r.draft_id,
        "kind": kind,
        "action": (b.action if b is not None else "") or ("send" if kind == "message" else ""),
        "fingerprint": b.fingerprint if b is not None else "",
        "approved_fingerprint": b.approved_fingerprint if b is not None else "",
    }


def event_facts(rows: list[Any] | Any) -> dict[str, Any]:
    """The `events` section: first reply, bounce, open ... of the prospect's events."""
    out: dict[str, Any] = {
        "replied_at": None,
        "reply_kind": None,
        "bounced_at": None,
        "opened_at": None,
        "connection_accepted_at": None,
        "unsubscribed_at": None,
    }
    key = {
        "bounced": "bounced_at",
        "opened": "opened_at",
        "clicked": "opened_at",
        "connection_accepted": "connection_accepted_at",
        "unsubscribed": "unsubscribed_at",
    }
    out["ooo_until"] = None
    for e in rows:
        at = iso(to_utc(e.occurred_at))
        raw = e.raw or {}
        if e.type in REPLY_TYPES and raw.get("reply_kind") in ("out_of_office", "auto_reply"):
            out["ooo_until"] = raw.get("pause_until") or out["ooo_until"]
        elif e.type in REPLY_TYPES and out["replied_at"] is None:
            out["replied_at"] = at
            out["reply_kind"] = raw.get("reply_kind")
        elif e.type in key and out[key[e.type]] is None:
            out[key[e.type]] = at
    return out
