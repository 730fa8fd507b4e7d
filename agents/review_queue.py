"""The human review queue, shared by the CLI and Slack: list pending requests, show one,
and apply a decision (approve, edit, reject, snooze) by resuming the prospect's graph
with `Command(resume=...)`.

A decision is claimed in the database first (`UPDATE ... WHERE status = 'pending'`), so
a double click, a Slack retry or a second CLI call finds nothing to claim and resumes
nothing; the resumed action then passes the guard again before anything is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from langgraph.types import Command
from sqlalchemy import update
from sqlmodel import Session

from agents.checkpoint import open_checkpointer
from agents.context import AgentContext, build_context
from agents.graph import build_graph
from agents.runner import RunSummary, new_run_id
from core.errors import ReviewError
from core.timeutil import iso
from core.workspace import Workspace
from state import repo
from state.db import engine_for, session_scope
from state.models import Company, Draft, Prospect, Review
from tools.drafting import sentences_of

Decision = Literal["approve", "edit", "reject", "snooze"]
STATUS_FOR = {"approve": "approved", "edit": "edited", "reject": "rejected", "snooze": "snoozed"}


@dataclass(frozen=True)
class ReviewView:
    review: dict[str, Any]
    prospect: dict[str, Any]
    draft: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"review": self.review, "prospect": self.prospect, "draft": self.draft}


def _view(session: Session, r: Review) -> ReviewView:
    p = session.get(Prospect, r.prospect_id)
    c = session.get(Company, p.company_id) if p and p.company_id else None
    d = session.get(Draft, r.draft_id) if r.draft_id else None
    return ReviewView(
        review={
            "id": r.id,
            "status": r.status,
            "step_id": r.step_id,
            "channel": r.channel,
            "reasons": r.reasons,
            "requested_at": iso(r.requested_at),
            "decided_at": iso(r.decided_at),
            "decided_by": r.decided_by,
            "note": r.note,
        },
        prospect={
            "id": p.id,
            "name": p.full_name,
            "email": p.email_norm,
            "title": p.title,
            "company": c.name if c else "",
            "domain": c.domain if c else "",
            "tier": p.tier,
            "owner": p.owner,
        }
        if p
        else {},
        draft={
            "id": d.id,
            "subject": d.subject,
            "body": d.body,
            "sentences": d.sentences,
            "template_version": d.template_version,
            "status": d.status,
        }
        if d
        else {},
    )


def list_reviews(ws: Workspace, *, status: str | None = "pending") -> list[ReviewView]:
    engine = engine_for(ws.database_url)
    with Session(engine) as session:
        rows = (
            repo.pending_reviews(session, workspace=ws.id)
            if status == "pending"
            else [
                r for r in repo.reviews_for_workspace(session, workspace=ws.id) if status in (None, r.status)
            ]
        )
        return [_view(session, r) for r in rows]


def show_review(ws: Workspace, review_id: str) -> ReviewView:
    engine = engine_for(ws.database_url)
    with Session(engine) as session:
        r = repo.get_review(session, workspace=ws.id, review_id=review_id)
        if r is None:
            raise ReviewError(f"no review {review_id!r} in workspace {ws.id}")
        return _view(session, r)


def decide(
    ws: Workspace,
    review_id: str,
    decision: Decision,
    *,
    actor: str,
    now: datetime,
    subject: str | None = None,
    body: str | None = None,
    note: str = "",
    until: datetime | None = None,
    context: AgentContext | None = None,
) -> dict[str, Any]:
    """Apply a reviewer's decision exactly once and resume the prospect's graph."""
    engine = context.engine if context else engine_for(ws.database_url)
    if decision == "edit" and not (subject or body):
        raise ReviewError("an edit needs a new subject or body")
    if decision == "snooze" and until is None:
        raise ReviewError("a snooze needs --until")
    with session_scope(engine) as session:
        r = repo.get_review(session, workspace=ws.id, review_id=review_id)
        if r is None:
            raise ReviewError(f"no review {review_id!r} in workspace {ws.id}")
        claimed = session.execute(
            update(Review)
            .where(Review.id == review_id, Review.status == "pending")
            .values(status=STATUS_FOR[decision], decided_at=now, decided_by=actor, note=note)
        )
        if claimed.rowcount != 1:
            session.rollback()
            with Session(engine) as s2:
                current = s2.get(Review, review_id)
            raise ReviewError(
                f"review {review_id} is already {current.status}"
                f"{' by ' + current.decided_by if current.decided_by else ''}; "
                "nothing was changed"
            )
        _apply_to_draft(session, r, decision, actor, subject, body)
        p = session.get(Prospect, r.prospect_id)
        p.status = "waiting" if decision == "snooze" else "active"
        p.next_action_at = until if decision == "snooze" else None
        session.add(p)
        thread_id = r.thread_id
    run_id = new_run_id(now)
    resume = {"decision": decision, "actor": actor, "note": note, "at": iso(now), "run_id": run_id}
    if until is not None:
        resume["until"] = iso(until)
    ctx = context or build_context(ws, engine)
    with open_checkpointer(ws) as saver:
        graph = build_graph(saver)
        result = graph.invoke(
            Command(resume=resume), {"configurable": {"thread_id": thread_id}}, context=ctx, durability="exit"
        )
    summary = RunSummary(run_id=run_id, now=iso(now))
    outcome = result.get("outcome") or {}
    summary.add(
        {
            "kind": "review" if result.get("__interrupt__") else outcome.get("kind", "wait"),
            "sent": result.get("sent") or [],
        }
    )
    return {"review_id": review_id, "decision": decision, "actor": actor, "run": summary.to_dict()}


def _apply_to_draft(
    session: Session, r: Review, decision: Decision, actor: str, subject: str | None, body: str | None
) -> None:
    d = session.get(Draft, r.draft_id) if r.draft_id else None
    if d is None:
        return
    if decision == "reject":
        d.status = "rejected"
    elif decision in ("approve", "edit"):
        d.status = "approved"
        if decision == "edit":
            d.subject = subject if subject is not None else d.subject
            if body is not None:
                p = session.get(Prospect, r.prospect_id)
                company = session.get(Company, p.company_id) if p and p.company_id else None
                edited = [s.to_dict() for s in sentences_of(body, company.name if company else "")]
                d.sentences = keep_citations(list(d.sentences), edited)
                d.body = body
            d.edited_by = actor
    session.add(d)


def keep_citations(original: list[dict[str, Any]], edited: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Sentences a reviewer left unchanged keep their evidence ids; changed or new ones
    carry none, so the content rules check them as uncited claims before sending."""
    cited = {s["text"]: s["evidence_ids"] for s in original if s.get("evidence_ids")}
    return [
        {
            **s,
            "evidence_ids": cited.get(s["text"], s["evidence_ids"]),
            "personal": s["personal"] or s["text"] in cited,
        }
        for s in edited
    ]
