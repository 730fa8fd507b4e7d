"""request_review and await_review: a human decides before the action runs.

request_review stores the request (idempotently: one per draft) and logs it; await_review
only calls `interrupt()` and, once resumed with `Command(resume=ReviewResponse)`, logs the
decision. Nothing before `interrupt()` has side effects, so the re-run on resume is safe.
The database row is the source of truth for "is this still pending": a second resume for
the same review is ignored.
"""

from __future__ import annotations

import hashlib

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agents.context import AgentContext
from agents.records import append, record
from agents.state import ProspectState, ReviewRequest, ReviewResponse
from core.timeutil import parse_instant
from state.db import session_scope
from state.models import Prospect, Review


def review_reasons(state: ProspectState) -> list[str]:
    decision = state.get("decision") or {}
    reasons = [
        f"{v['rule']}: {v['reason']}" for v in decision.get("verdicts", []) if v["outcome"] == "review"
    ]
    proposal = state["plan"]["proposal"]
    if proposal["action"] == "request_review":
        reasons.insert(0, proposal["reason"])
    return reasons


def request_review(state: ProspectState, runtime: Runtime[AgentContext]) -> ProspectState:
    ctx = runtime.context
    proposal = state["plan"]["proposal"]
    step_id = proposal.get("step_id") or ""
    draft = (state["observation"].get("drafts") or {}).get(step_id) or {}
    draft_id = draft.get("id", "")
    review_id = (
        "r_"
        + hashlib.sha256(
            f"{ctx.ws_id}|{state['prospect_id']}|{draft_id}|{proposal['action']}".encode()
        ).hexdigest()[:14]
    )
    reasons = review_reasons(state)
    now = parse_instant(state["now"])
    with session_scope(ctx.engine) as session:
        existing = session.get(Review, review_id)
        if existing is not None and existing.status == "snoozed":
            existing.status = "pending"
            session.add(existing)
        if existing is None:
            session.add(
                Review(
                    id=review_id,
                    workspace=ctx.ws_id,
                    prospect_id=state["prospect_id"],
                    thread_id=state["thread_id"],
                    draft_id=draft_id,
                    step_id=step_id,
                    channel=proposal.get("channel") or "",
                    reasons=reasons,
                    status="pending",
                    requested_at=now,
                    requested_run_id=state["run_id"],
                )
            )
        p = session.get(Prospect, state["prospect_id"])
        p.status, p.next_action, p.next_action_at = "awaiting_review", f"review:{review_id}", None
        session.add(p)
        append(
            session,
            ctx.ws_id,
            record(
                state,
                node="request_review",
                action="request_review",
                final_action="request_review",
                tool={"name": "review:queue", "result": {"review_id": review_id}},
                extra={"review_reasons": reasons},
            ),
        )
    request = ReviewRequest(
        review_id=review_id,
        prospect_id=state["prospect_id"],
        step_id=step_id,
        channel=proposal.get("channel") or "",
        draft_id=draft_id,
        reasons=reasons,
    )
    return {"review": dict(request)}


def await_review(state: ProspectState, runtime: Runtime[AgentContext]) -> ProspectState:
    ctx = runtime.context
    response: ReviewResponse = interrupt(state["review"])
    now = response.get("at") or state["now"]
    run_id = response.get("run_id") or state["run_id"]
    resumed = {**state, "now": now, "run_id": run_id}
    decision = response.get("decision", "")
    with session_scope(ctx.engine) as session:
        append(
            session,
            ctx.ws_id,
            record(
                resumed,
                node="await_review",
                action=f"review_{decision}",
                final_action=decision,
                rationale=response.get("note", ""),
                extra={
                    "review_id": state["review"]["review_id"],
                    "actor": response.get("actor", ""),
                    "edited": decision == "edit",
                },
            ),
        )
    out: ProspectState = {"now": now, "run_id": run_id, "review": None, "denials": [], "steps": 0}
    if decision == "snooze":
        out["outcome"] = {
            "kind": "wait",
            "until": response.get("until"),
            "reason": f"review snoozed by {response.get('actor', '')}",
        }
    return out
