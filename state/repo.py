"""Keyword-only data functions over the tables. Each takes a session and a workspace id,
and never crosses workspaces."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, or_
from sqlmodel import Session, col, select

from core.timeutil import to_utc
from state.models import (
    Company,
    Draft,
    EngagementEventRow,
    Evidence,
    LookupCache,
    OutboxMessage,
    Prospect,
    Review,
    Run,
    Suppression,
)

SENT = "sent"


def get_prospect(session: Session, *, workspace: str, ref: str) -> Prospect | None:
    """By id or by email (case-insensitive)."""
    p = session.get(Prospect, ref)
    if p is not None and p.workspace == workspace:
        return p
    return session.exec(
        select(Prospect).where(Prospect.workspace == workspace, Prospect.email_norm == ref.strip().lower())
    ).first()


def list_prospects(
    session: Session, *, workspace: str, limit: int | None = None, status: str | None = None
) -> Sequence[Prospect]:
    q = select(Prospect).where(Prospect.workspace == workspace)
    if status:
        q = q.where(Prospect.status == status)
    q = q.order_by(col(Prospect.created_at), col(Prospect.id))
    return session.exec(q.limit(limit) if limit else q).all()


def due_prospect_ids(
    session: Session, *, workspace: str, now: datetime, limit: int | None = None
) -> list[str]:
    """Prospects whose next action is due: active, or waiting with next_action_at <= now."""
    q = (
        select(Prospect.id)
        .where(
            Prospect.workspace == workspace,
            or_(
                col(Prospect.status) == "active",
                (col(Prospect.status) == "waiting") & (col(Prospect.next_action_at) <= now),
            ),
        )
        .order_by(col(Prospect.next_action_at), col(Prospect.id))
    )
    return list(session.exec(q.limit(limit) if limit else q).all())


def companies_by_id(session: Session, *, workspace: str, ids: Iterable[str]) -> dict[str, Company]:
    ids = list(set(i for i in ids if i))
    if not ids:
        return {}
    rows = session.exec(select(Company).where(Company.workspace == workspace, col(Company.id).in_(ids)))
    return {c.id: c for c in rows}


def suppression_hits(session: Session, *, workspace: str, email: str, domain: str) -> list[dict[str, str]]:
    conds = []
    if email:
        conds.append((col(Suppression.kind) == "email") & (col(Suppression.value) == email))
    if domain:
        conds.append((col(Suppression.kind) == "domain") & (col(Suppression.value) == domain))
    if not conds:
        return []
    rows = session.exec(
        select(Suppression)
        .where(Suppression.workspace == workspace, or_(*conds))
        .order_by(col(Suppression.id))
    ).all()
    return [{"reason": s.reason, "match": s.kind, "value": s.value} for s in rows]


def outbox_for(session: Session, *, workspace: str, prospect_id: str) -> Sequence[OutboxMessage]:
    return session.exec(
        select(OutboxMessage)
        .where(OutboxMessage.workspace == workspace, OutboxMessage.prospect_id == prospect_id)
        .order_by(col(OutboxMessage.id))
    ).all()


def events_for(session: Session, *, workspace: str, prospect_id: str) -> Sequence[EngagementEventRow]:
    return session.exec(
        select(EngagementEventRow)
        .where(EngagementEventRow.workspace == workspace, EngagementEventRow.prospect_id == prospect_id)
        .order_by(col(EngagementEventRow.occurred_at))
    ).all()


AWAY_REPLY_KINDS = ("out_of_office", "auto_reply")


def account_replied_at(
    session: Session,
    *,
    workspace: str,
    company_id: str | None,
    exclude: str,
    ignore_kinds: Iterable[str] = AWAY_REPLY_KINDS,
) -> datetime | None:
    """The latest real reply from anyone else at the account: replies classified as one
    of `ignore_kinds` (out-of-office and auto-replies by default) pause only their own
    prospect and are not counted."""
    if not company_id:
        return None
    ignored = set(ignore_kinds)
    rows = session.exec(
        select(EngagementEventRow.occurred_at, EngagementEventRow.raw)
        .join(Prospect, col(Prospect.id) == col(EngagementEventRow.prospect_id))
        .where(
            EngagementEventRow.workspace == workspace,
            Prospect.company_id == company_id,
            Prospect.id != exclude,
            col(EngagementEventRow.type).in_(("replied", "linkedin_replied")),
        )
        .order_by(col(EngagementEventRow.occurred_at).desc())
    ).all()
    for occurred_at, raw in rows:
        if str((raw or {}).get("reply_kind") or "") not in ignored:
            return occurred_at
    return None


def sent_texts_for(session: Session, *, workspace: str, prospect_id: str) -> list[str]:
    """The subject and body of every message drafted for the prospect (what a reply may
    quote back to us), oldest first."""
    rows = session.exec(
        select(Draft.subject, Draft.body)
        .where(Draft.workspace == workspace, Draft.prospect_id == prospect_id)
        .order_by(col(Draft.created_at))
    ).all()
    return [text for subject, body in rows for text in (subject, body) if text]


def account_contacts_touched(
    session: Session, *, workspace: str, company_id: str | None, since: datetime
) -> int:
    if not company_id:
        return 0
    q = (
        select(func.count(func.distinct(OutboxMessage.prospect_id)))
        .join(Prospect, col(Prospect.id) == col(OutboxMessage.prospect_id))
        .where(
            OutboxMessage.workspace == workspace,
            Prospect.company_id == company_id,
            OutboxMessage.status == SENT,
            col(OutboxMessage.sent_at) >= since,
        )
    )
    return int(session.exec(q).first() or 0)


def drafts_for(session: Session, *, workspace: str, prospect_id: str) -> Sequence[Draft]:
    return session.exec(
        select(Draft)
        .where(Draft.workspace == workspace, Draft.prospect_id == prospect_id, Draft.status != "superseded")
        .order_by(col(Draft.created_at))
    ).all()


def reviews_for(session: Session, *, workspace: str, prospect_id: str) -> Sequence[Review]:
    return session.exec(
        select(Review)
        .where(Review.workspace == workspace, Review.prospect_id == prospect_id)
        .order_by(col(Review.requested_at))
    ).all()


def evidence_for(
    session: Session, *, workspace: str, company_id: str | None, prospect_id: str
) -> Sequence[Evidence]:
    conds = [col(Evidence.prospect_id) == prospect_id]
    if company_id:
        conds.append(col(Evidence.company_id) == company_id)
    return session.exec(
        select(Evidence).where(Evidence.workspace == workspace, or_(*conds)).order_by(col(Evidence.id))
    ).all()


def cached_lookup(session: Session, *, workspace: str, provider: str, key: str) -> LookupCache | None:
    return session.exec(
        select(LookupCache).where(
            LookupCache.workspace == workspace, LookupCache.provider == provider, LookupCache.key == key
        )
    ).first()


def spend_since(session: Session, *, workspace: str, since: datetime) -> dict[str, float]:
    from state.ledger import spend

    return spend(session, workspace=workspace, since=since).to_dict()


def pending_reviews(session: Session, *, workspace: str) -> Sequence[Review]:
    return session.exec(
        select(Review)
        .where(Review.workspace == workspace, Review.status == "pending")
        .order_by(col(Review.requested_at))
    ).all()


def get_review(session: Session, *, workspace: str, review_id: str) -> Review | None:
    r = session.get(Review, review_id)
    return r if r is not None and r.workspace == workspace else None


def outbox_list(session: Session, *, workspace: str, status: str | None = None) -> Sequence[OutboxMessage]:
    q = select(OutboxMessage).where(OutboxMessage.workspace == workspace)
    if status:
        q = q.where(OutboxMessage.status == status)
    return session.exec(q.order_by(col(OutboxMessage.id))).all()


def get_run(session: Session, *, workspace: str, run_id: str) -> Run | None:
    r = session.get(Run, run_id)
    return r if r is not None and r.workspace == workspace else None


def reviews_for_workspace(session: Session, *, workspace: str) -> Sequence[Review]:
    return session.exec(
        select(Review).where(Review.workspace == workspace).order_by(col(Review.requested_at))
    ).all()


def decisions_for(
    session: Session, *, workspace: str, run_id: str | None = None, prospect_id: str | None = None
) -> Sequence[Any]:
    from state.models import DecisionRecord

    q = select(DecisionRecord).where(DecisionRecord.workspace == workspace)
    if run_id:
        q = q.where(DecisionRecord.run_id == run_id)
    if prospect_id:
        q = q.where(DecisionRecord.prospect_id == prospect_id)
    return session.exec(q.order_by(col(DecisionRecord.seq))).all()


def template_sends(session: Session, *, workspace: str, versions: Iterable[str]) -> dict[str, int]:
    """How many messages went out per template version (for new-template review)."""
    from state.models import Draft as D

    versions = [v for v in versions if v]
    if not versions:
        return {}
    rows = session.exec(
        select(D.template_version, func.count(col(OutboxMessage.id)))
        .join(OutboxMessage, col(OutboxMessage.draft_id) == col(D.id))
        .where(
            OutboxMessage.workspace == workspace,
            OutboxMessage.status == SENT,
            col(D.template_version).in_(versions),
        )
        .group_by(D.template_version)
    ).all()
    return {v: int(n) for v, n in rows}


def evidence_by_ids(session: Session, *, workspace: str, ids: Sequence[str]) -> Sequence[Evidence]:
    if not ids:
        return []
    return session.exec(
        select(Evidence).where(Evidence.workspace == workspace, col(Evidence.id).in_(list(ids)))
    ).all()


def first_sent_at(session: Session, *, workspace: str, channel: str) -> datetime | None:
    return session.exec(
        select(func.min(OutboxMessage.sent_at)).where(
            OutboxMessage.workspace == workspace,
            OutboxMessage.channel == channel,
            OutboxMessage.status == SENT,
        )
    ).first()


def direct_mail_usd(session: Session, *, workspace: str, since: datetime) -> float:
    rows = session.exec(
        select(OutboxMessage.payload).where(
            OutboxMessage.workspace == workspace,
            OutboxMessage.channel == "direct_mail",
            OutboxMessage.status == SENT,
            col(OutboxMessage.sent_at) >= since,
        )
    ).all()
    return float(sum(float((p or {}).get("cost_usd") or 0) for p in rows))


def spend_for_prospect(session: Session, *, workspace: str, prospect_id: str) -> dict[str, float]:
    """Credits and dollars recorded in the cost ledger against this prospect."""
    from state.ledger import spend

    return spend(session, workspace=workspace, prospect_id=prospect_id).to_dict()


def sends_by_period(
    session: Session, *, workspace: str, day: datetime, week: datetime, month: datetime
) -> dict[tuple[str, str], tuple[int, int, int]]:
    """Sent messages per (channel, kind) since the start of the day, week and month: one
    grouped query over the usage index instead of one count per counter."""
    since = min(week, month)
    rows = session.exec(
        select(  # type: ignore[call-overload]  # sqlmodel's select() stubs stop at 4 columns; runtime takes any number
            OutboxMessage.channel,
            OutboxMessage.kind,
            func.sum(case((col(OutboxMessage.sent_at) >= day, 1), else_=0)),
            func.sum(case((col(OutboxMessage.sent_at) >= week, 1), else_=0)),
            func.sum(case((col(OutboxMessage.sent_at) >= month, 1), else_=0)),
        )
        .where(
            OutboxMessage.workspace == workspace,
            OutboxMessage.status == SENT,
            col(OutboxMessage.sent_at) >= since,
        )
        .group_by(OutboxMessage.channel, OutboxMessage.kind)
    ).all()
    return {(c, k): (int(d or 0), int(w or 0), int(m or 0)) for c, k, d, w, m in rows}


def spend_by_period(
    session: Session, *, workspace: str, run_since: datetime, month: datetime
) -> dict[str, dict[str, float]]:
    """Credits, dollars and LLM dollars in the cost ledger in this run (everything stamped at or
    after the run's instant) and this month."""
    from state.ledger import spend

    return {
        "run": spend(session, workspace=workspace, since=run_since).to_dict(),
        "month": spend(session, workspace=workspace, since=min(run_since, month)).to_dict(),
    }


def last_daily_fire(session: Session, *, workspace: str) -> datetime | None:
    """When the workspace last had its day run: the latest daily fire time the scheduler
    started a run for, or the logical time of the latest run of any kind (a manual
    `daily`, a wake-up, or a workspace from before the scheduler kept marks), whichever
    is later."""
    from state.models_schedule import DailyRunMark

    mark = session.exec(
        select(func.max(DailyRunMark.fire_at)).where(DailyRunMark.workspace == workspace)
    ).first()
    run = session.exec(select(func.max(Run.now)).where(Run.workspace == workspace)).first()
    known = [to_utc(v) for v in (mark, run) if v is not None]
    return max(known) if known else None


def mark_daily_fire(session: Session, *, workspace: str, fire_at: datetime, started_at: datetime) -> bool:
    """Record that a run starts for this daily fire time; False when one already did
    (the caller then skips it). Commits on its own so the mark holds before the run."""
    from sqlalchemy.exc import IntegrityError

    from state.models_schedule import DailyRunMark

    session.add(DailyRunMark(workspace=workspace, fire_at=fire_at, started_at=started_at))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return False
    return True
