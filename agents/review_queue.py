"""The human review queue, shared by the CLI and Slack: list pending requests, show one,
and apply a decision (approve, edit, reject, snooze) by resuming the prospect's graph
with `Command(resume=...)`.

A decision is claimed in the database first (`UPDATE ... WHERE status = 'pending'`), so
a double click, a Slack retry or a second CLI call finds nothing to claim and resumes
nothing; the resumed action then passes the guard again before anything is sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import structlog
from langgraph.types import Command
from sqlalchemy import update
from sqlmodel import Session, col

from agents.checkpoint import open_checkpointer
from agents.context import AgentContext, build_context
from agents.graph import build_graph
from agents.nodes.review import DECISION_MARK
from agents.records import append, record
from agents.runner import RunSummary, mark_interrupted_runs, new_run_id, new_run_row
from agents.state import ProspectState, initial_state
from core import faults
from core.errors import EditRejected, OutboundError, ReviewError
from core.timeutil import iso
from core.workspace import Workspace
from state import repo
from state.db import engine_for, session_scope
from state.models import Company, Draft, Prospect, Review, Run
from state.models_reviews import ReviewBinding
from tools.drafting import sentences_of

log = structlog.get_logger(__name__)
Decision = Literal["approve", "edit", "reject", "snooze"]
STATUS_FOR = {"approve": "approved", "edit": "edited", "reject": "rejected", "snooze": "snoozed"}
LOCAL_ACTOR_PREFIX = "local:"


def is_decision_review(r: Review) -> bool:
    """A review asked before any draft existed (about a decision, not a message)."""
    return not r.draft_id or r.draft_id.startswith(DECISION_MARK)


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
    b = session.get(ReviewBinding, r.id)
    return ReviewView(
        review={
            "id": r.id,
            "status": r.status,
            "kind": b.kind if b is not None else ("decision" if is_decision_review(r) else "message"),
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
            "sentences": sentence_evidence(session, r.workspace, list(d.sentences)),
            "template_version": d.template_version,
            "status": d.status,
        }
        if d
        else {},
    )


def sentence_evidence(
    session: Session, workspace: str, sentences: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Each sentence with the evidence it cites as quote and source URL (what a reviewer
    checks the claim against), not only as ids."""
    ids = list(dict.fromkeys(i for s in sentences for i in s.get("evidence_ids", [])))
    rows = {e.id: e for e in repo.evidence_by_ids(session, workspace=workspace, ids=ids)}
    return [
        {
            **s,
            "evidence": [
                {"id": i, "quote": rows[i].quote, "url": rows[i].source_url}
                for i in s.get("evidence_ids", [])
                if i in rows
            ],
        }
        for s in sentences
    ]


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


# ----------------------------------------------------------------- who may decide

SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")


def owner_slack_id(ws: Workspace, owner: str) -> str:
    """The Slack user id of a prospect's owner: mapped in [slack] owner_slack_ids, or the
    owner field itself when it already is a Slack user id."""
    if not owner:
        return ""
    mapped = ws.config.slack.owner_slack_ids.get(owner, "")
    if mapped:
        return mapped
    return owner if SLACK_USER.match(owner) else ""


def may_decide(ws: Workspace, user_id: str, prospect_owner: str) -> bool:
    """Approvers of the workspace, the escalation reviewer, or the prospect's owner."""
    if not user_id:
        return False
    allowed = set(ws.config.slack.approvers)
    escalate_to = ws.config.review.escalate_to
    if SLACK_USER.match(escalate_to or ""):
        allowed.add(escalate_to)
    owner = owner_slack_id(ws, prospect_owner)
    if owner:
        allowed.add(owner)
    return user_id in allowed


def cli_actor(ws: Workspace, review_id: str, claimed: str | None, login: str) -> tuple[str, bool]:
    """Who decides from the command line, and whether that identity was checked. A
    claimed id (`--as`) must be an approver of the workspace ([slack] approvers, the
    escalation reviewer) or the prospect's owner; without `--as` the decision is recorded
    as the local OS user and marked unverified."""
    if not claimed:
        return f"{LOCAL_ACTOR_PREFIX}{login}", False
    with Session(engine_for(ws.database_url)) as session:
        r = repo.get_review(session, workspace=ws.id, review_id=review_id)
        if r is None:
            raise ReviewError(f"no review {review_id!r} in workspace {ws.id}")
        p = session.get(Prospect, r.prospect_id)
        owner = p.owner if p else ""
    if not may_decide(ws, claimed, owner):
        raise ReviewError(
            f"{claimed!r} is not an approver of workspace {ws.id} (slack.approvers) nor the "
            "owner of this prospect; nothing was changed",
            next_step="Use a user id listed in slack.approvers of workspace.toml, or leave out "
            "--as to decide as your local user (recorded as unverified).",
        )
    return claimed, True


# ----------------------------------------------------------------- deciding


def edit_problems(
    ws: Workspace, engine: Any, review: Review, *, subject: str | None, body: str | None, now: datetime
) -> list[str]:
    """The content rules an edited draft would break if sent now (placeholders, banned
    phrases, a missing opt-out, uncited claims ...), as "rule: reason" lines."""
    from agents.observation import build_observation, draft_facts
    from policies.engine import PolicyEngine
    from policies.rules import RULE_FAMILIES
    from policies.types import PolicyInput, Proposal

    with Session(engine) as session:
        d = session.get(Draft, review.draft_id) if review.draft_id else None
        p = session.get(Prospect, review.prospect_id)
        if d is None or p is None:
            return []
        company = session.get(Company, p.company_id) if p.company_id else None
        edited = Draft.model_validate(d.model_dump())
        edited.subject = subject if subject is not None else d.subject
        if body is not None:
            new = [s.to_dict() for s in sentences_of(body, company.name if company else "")]
            edited.sentences = keep_citations(list(d.sentences), new)
            edited.body = body
        obs = build_observation(session, ws, p, now)
        outbox = repo.outbox_for(session, workspace=ws.id, prospect_id=p.id)
        obs["drafts"] = {**obs["drafts"], d.step_id: draft_facts(ws, p, edited, outbox)}
        cited = {i for s in edited.sentences for i in s.get("evidence_ids", [])}
        obs["evidence"] = {
            e.id: {"quote": e.quote, "url": e.source_url, "kind": e.kind}
            for e in repo.evidence_by_ids(session, workspace=ws.id, ids=sorted(cited))
        }
    step = ws.step(d.step_id)
    proposal = Proposal(
        action="send",
        reason="check an edit",
        channel=step.channel,
        kind=step.kind,
        step_id=step.id,
        template=step.template,
    )
    decision = PolicyEngine(ws.config.policy).evaluate(PolicyInput.from_observation(obs, proposal, 1))
    return [
        f"{v.rule}: {v.reason}"
        for v in decision.verdicts
        if v.outcome == "deny" and RULE_FAMILIES.get(v.rule) == "content"
    ]


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
    actor_verified: bool = True,
) -> dict[str, Any]:
    """Apply a reviewer's decision exactly once and resume the prospect's graph.

    The claim, the change to the draft, the approved content fingerprint and the
    decision record are one transaction. The graph then resumes from its checkpoint when
    that checkpoint waits on this very review; when it is missing or stale (a crash right
    after the request) the prospect's run is rebuilt from the database instead, which
    holds the review and every effect. Returns what happened: sent, deferred (until when,
    by which rule), denied (by which rule, and what the agent does next), or waiting."""
    engine = context.engine if context else engine_for(ws.database_url)
    if decision == "edit" and not (subject or body):
        raise ReviewError("an edit needs a new subject or body")
    if decision == "snooze" and until is None:
        raise ReviewError("a snooze needs --until")
    with Session(engine) as session:
        r0 = repo.get_review(session, workspace=ws.id, review_id=review_id)
    if r0 is None:
        raise ReviewError(f"no review {review_id!r} in workspace {ws.id}")
    if decision == "edit" and is_decision_review(r0):
        raise ReviewError(
            f"review {review_id} is about a decision (no draft exists yet); there is nothing to edit",
            next_step="Approve or reject it; the message is reviewed on its own once it is drafted.",
        )
    if decision == "edit" and r0.status == "pending":
        problems = edit_problems(ws, engine, r0, subject=subject, body=body, now=now)
        if problems:
            raise EditRejected(review_id, problems)
    run_id = new_run_id(now)
    with session_scope(engine) as session:
        r = repo.get_review(session, workspace=ws.id, review_id=review_id)
        assert r is not None
        claimed = session.execute(
            update(Review)
            .where(col(Review.id) == review_id, col(Review.status) == "pending")
            .values(status=STATUS_FOR[decision], decided_at=now, decided_by=actor, note=note)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            session.rollback()
            with Session(engine) as s2:
                current = s2.get(Review, review_id)
            raise ReviewError(
                f"review {review_id} is already {current.status if current else 'gone'}"
                f"{' by ' + current.decided_by if current and current.decided_by else ''}; "
                "nothing was changed"
            )
        _apply_to_draft(session, r, decision, actor, subject, body)
        approved = _bind_approval(session, ws, r, decision)
        p = session.get(Prospect, r.prospect_id)
        if p is None:
            raise ReviewError(f"the prospect of review {review_id} no longer exists; nothing was changed")
        p.status = "waiting" if decision == "snooze" else "active"
        p.next_action_at = until if decision == "snooze" else None
        session.add(p)
        mark_interrupted_runs(session, ws.id)
        session.add(new_run_row(run_id, ws.id, now, kind="review"))
        append(
            session,
            ws.id,
            record(
                ProspectState(
                    prospect_id=r.prospect_id,
                    thread_id=r.thread_id,
                    run_id=run_id,
                    now=iso(now) or "",
                    steps=0,
                ),
                node="await_review",
                action=f"review_{decision}",
                final_action=decision,
                rationale=note,
                extra={
                    "review_id": review_id,
                    "actor": actor,
                    "actor_verified": actor_verified,
                    "edited": decision == "edit",
                    "step_id": r.step_id,
                    "approved_fingerprint": approved,
                    **({"until": iso(until)} if until is not None else {}),
                },
            ),
        )
        thread_id, prospect_id, step_id = r.thread_id, r.prospect_id, r.step_id
    faults.crash_point("after_review_claim")
    resume = {"decision": decision, "actor": actor, "note": note, "at": iso(now), "run_id": run_id}
    if until is not None:
        resume["until"] = iso(until)
    ctx = context or build_context(ws, engine)
    config: Any = {"configurable": {"thread_id": thread_id}}
    waiting = False
    stamp = iso(now) or ""
    result: dict[str, Any]
    try:
        with open_checkpointer(ws) as saver:
            graph = build_graph(saver)
            waiting = _waits_on(graph.get_state(config), review_id)
            if waiting:
                result = graph.invoke(Command(resume=resume), config, context=ctx, durability="exit")
            elif decision == "snooze":
                result = {
                    "outcome": {"kind": "wait", "until": iso(until), "reason": f"review snoozed by {actor}"}
                }
            else:  # missing or stale checkpoint: rebuild the run from the database
                state = initial_state(prospect_id=prospect_id, thread_id=thread_id, run_id=run_id, now=stamp)
                result = graph.invoke(state, config, context=ctx, durability="exit")
    except Exception as exc:  # the decision stands (committed and logged): say what failed
        log.exception("review_resume_failed", review_id=review_id, workspace=ws.id)
        info = (
            exc.to_dict()
            if isinstance(exc, OutboundError)
            else {"error_class": "internal", "message": str(exc)}
        )
        result = {
            "outcome": {
                "kind": "error",
                "error_class": info["error_class"],
                "reason": f"the {decision} is recorded, but resuming the prospect failed: {info['message']}",
                "next_step": "The next daily run carries the decision out; replay the prospect if it repeats.",
            }
        }
    summary = RunSummary(run_id=run_id, now=stamp)
    outcome = result.get("outcome") or {}
    summary.add(
        {
            "kind": "review" if result.get("__interrupt__") else outcome.get("kind", "wait"),
            "sent": result.get("sent") or [],
            **({"error": _error_detail(prospect_id, outcome)} if outcome.get("kind") == "error" else {}),
        }
    )
    with session_scope(engine) as session:
        run = session.get(Run, run_id)
        if run is not None:
            run.finished_at, run.status = datetime.now(UTC), "finished"
            run.summary = {**(run.summary or {}), **summary.to_dict()}
            session.add(run)
    return {
        "review_id": review_id,
        "decision": decision,
        "actor": actor,
        "actor_verified": actor_verified,
        "resumed_from": "checkpoint" if waiting else "database",
        "outcome": what_happened(decision, result, step_id=step_id, until=until),
        "run": summary.to_dict(),
    }


def _error_detail(prospect_id: str, outcome: dict[str, Any]) -> dict[str, Any]:
    return {
        "prospect_id": prospect_id,
        "error_class": outcome.get("error_class", "internal"),
        "message": outcome.get("reason", ""),
        "next_step": outcome.get("next_step", ""),
    }


def _waits_on(snapshot: Any, review_id: str) -> bool:
    """Whether the checkpoint is paused at await_review for exactly this review."""
    if snapshot is None or "await_review" not in (snapshot.next or ()):
        return False
    for it in getattr(snapshot, "interrupts", ()) or ():
        value = getattr(it, "value", None)
        if isinstance(value, dict) and value.get("review_id") == review_id:
            return True
    review = (snapshot.values or {}).get("review") or {}
    return review.get("review_id") == review_id and bool(snapshot.values.get("prospect_id"))


def _bind_approval(session: Session, ws: Workspace, r: Review, decision: Decision) -> str:
    """Record the exact content approved (after an edit: the edited content) as a
    fingerprint; returns it ("" for a rejection, a snooze or a decision review)."""
    from agents.observation import content_fingerprint, recipient_identity, recipient_of

    binding = session.get(ReviewBinding, r.id)
    if binding is None:
        binding = ReviewBinding(
            review_id=r.id,
            workspace=ws.id,
            kind="decision" if is_decision_review(r) else "message",
            action="" if is_decision_review(r) else "send",
        )
    fingerprint = ""
    content: dict[str, Any] = {}
    d = session.get(Draft, r.draft_id) if r.draft_id else None
    p = session.get(Prospect, r.prospect_id)
    if decision in ("approve", "edit") and binding.kind == "message" and d is not None and p is not None:
        identity = recipient_identity(p, d.channel)
        fingerprint = content_fingerprint(
            subject=d.subject, body=d.body, recipient=identity, channel=d.channel
        )
        if decision == "approve" and binding.fingerprint and binding.fingerprint != fingerprint:
            # The content changed after the request: the reviewer approved what they were
            # shown, so the changed content goes back to review at send time.
            fingerprint = binding.fingerprint
        content = {
            "subject": d.subject,
            "body": d.body,
            "recipient": recipient_of(p, d.channel),
            "channel": d.channel,
        }
    binding.approved_fingerprint, binding.approved_content = fingerprint, content
    session.add(binding)
    return fingerprint


def what_happened(
    decision: str, result: dict[str, Any], *, step_id: str, until: datetime | None
) -> dict[str, Any]:
    """What the decision led to, for the reviewer: sent, deferred (until when, by which
    rules), denied (by which rules, and what the agent does next), a new review, stopped
    or waiting. A rejection is reported as such, with what the agent did instead."""
    if decision == "reject":
        after = _what_followed(decision, result, step_id=step_id)
        return {
            "status": "rejected",
            "next": after["message"],
            "after": after,
            "message": f"rejected; the step is skipped and the agent moved on: {after['message']}",
        }
    return _what_followed(decision, result, step_id=step_id, until=until)


def _what_followed(
    decision: str, result: dict[str, Any], *, step_id: str, until: datetime | None = None
) -> dict[str, Any]:
    if decision == "snooze":
        return {
            "status": "snoozed",
            "until": iso(until),
            "message": f"snoozed: the request comes back {iso(until)}",
        }
    sent = result.get("sent") or []
    if sent:
        what = ", ".join(f"{s['channel']} ({s['step_id']})" for s in sent)
        return {"status": "sent", "sent": sent, "message": f"sent: {what}"}
    outcome = result.get("outcome") or {}
    nxt = _next(outcome)
    if result.get("__interrupt__"):
        review = result.get("review") or {}
        reasons = review.get("reasons") or []
        return {
            "status": "review_requested",
            "review_id": review.get("review_id", ""),
            "reasons": reasons,
            "message": f"nothing sent; a new review {review.get('review_id', '')} was requested: "
            + "; ".join(reasons),
        }
    denials = [d for d in result.get("denials") or [] if (d["proposal"].get("step_id") or "") == step_id]
    last = (denials or result.get("denials") or [None])[-1]
    if last is not None and decision in ("approve", "edit"):
        dec = last["decision"]
        rules = [v for v in dec["verdicts"] if v["outcome"] == dec["outcome"]]
        why = "; ".join(f"{v['rule']}: {v['reason']}" for v in rules)
        names = [v["rule"] for v in rules]
        if dec["outcome"] == "defer":
            return {
                "status": "deferred",
                "until": dec.get("until"),
                "rules": names,
                "reasons": [v["reason"] for v in rules],
                "next": nxt,
                "message": f"nothing sent yet: deferred until {dec.get('until')} by {', '.join(names)} ({why})",
            }
        return {
            "status": "denied",
            "rules": names,
            "reasons": [v["reason"] for v in rules],
            "next": nxt,
            "message": f"not sent: denied by {', '.join(names)} ({why}); next: {nxt}",
        }
    kind = outcome.get("kind") or "wait"
    status = {"stop": "stopped", "error": "error", "step_cap": "waiting"}.get(kind, "waiting")
    return {"status": status, "until": outcome.get("until"), "next": nxt, "message": f"nothing sent; {nxt}"}


def _next(outcome: dict[str, Any]) -> str:
    kind = outcome.get("kind")
    if kind == "wait":
        return f"the agent waits until {outcome.get('until')} ({outcome.get('reason', '')})"
    if kind == "stop":
        return f"the agent stopped the sequence ({outcome.get('reason', '')})"
    if kind == "error":
        return f"an error: {outcome.get('reason', '')} -> {outcome.get('next_step', '')}"
    if kind == "step_cap":
        return f"the step cap was hit; the agent tries again {outcome.get('until')}"
    return "the agent waits for the next run"


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
