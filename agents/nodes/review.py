"""request_review and await_review: a human decides before the action runs.

request_review stores the request (idempotently: one per draft, asked again when the
draft's content fingerprint changed after a decision; or one per step and action when no
draft exists yet) and logs it; await_review only calls
`interrupt()`. The decision is claimed and logged by `review_queue.decide` before it
resumes the graph; when the checkpoint is missing or stale (a crash right after the
request), decide rebuilds the run from the database instead, since the review row and
every effect live there. Nothing before `interrupt()` has side effects, so the re-run on
resume is safe.
"""

from __future__ import annotations

import hashlib

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agents.context import AgentContext
from agents.records import append, record
from agents.state import ProspectState, ReviewRequest, ReviewResponse
from core import faults
from core.timeutil import parse_instant
from state.db import session_scope
from state.models import Prospect, Review
from state.models_reviews import ReviewBinding


def review_reasons(state: ProspectState) -> list[str]:
    decision = state.get("decision") or {}
    reasons = [
        f"{v['rule']}: {v['reason']}" for v in decision.get("verdicts", []) if v["outcome"] == "review"
    ]
    proposal = state["plan"]["proposal"]
    if proposal["action"] == "request_review":
        reasons.insert(0, proposal["reason"])
    return reasons


MESSAGE_ACTIONS = ("send", "request_review", "call_task")
DECISION_MARK = "decision:"


def review_subject(state: ProspectState, ws_id: str) -> dict[str, str]:
    """What this review is about. With a draft for the step, the message: its draft id and
    content fingerprint (an approval binds to exactly that content). Before any draft
    exists, the decision: the proposed action on the step (an approval of it never
    approves a message)."""
    proposal = state["plan"]["proposal"]
    step_id = proposal.get("step_id") or ""
    draft = (state["observation"].get("drafts") or {}).get(step_id) or {}
    if draft and proposal["action"] in MESSAGE_ACTIONS:
        # One review per draft: when its content changes after a decision, the same
        # request is asked again for the new fingerprint.
        kind, action, fingerprint = "message", "send", str(draft.get("fingerprint", ""))
        draft_id = str(draft.get("id", ""))
    else:
        # No draft yet: the review is about the decision. It carries a marker in place of
        # a draft id (one review per step and action), never a real draft's id.
        kind, action, fingerprint = "decision", str(proposal["action"]), ""
        draft_id = f"{DECISION_MARK}{step_id}:{action}"
    review_id = "r_" + hashlib.sha256(f"{ws_id}|{state['prospect_id']}|{draft_id}".encode()).hexdigest()[:14]
    return {
        "review_id": review_id,
        "kind": kind,
        "action": action,
        "draft_id": draft_id,
        "fingerprint": fingerprint,
        "step_id": step_id,
    }


def request_review(state: ProspectState, runtime: Runtime[AgentContext]) -> ProspectState:
    ctx = runtime.context
    proposal = state["plan"]["proposal"]
    subject = review_subject(state, ctx.ws_id)
    review_id, step_id, draft_id = subject["review_id"], subject["step_id"], subject["draft_id"]
    reasons = review_reasons(state)
    now = parse_instant(state["now"])
    with session_scope(ctx.engine) as session:
        existing = session.get(Review, review_id)
        reopened = existing is not None and existing.status != "pending"
        if existing is not None and reopened:
            # Asked again (after a snooze, or the earlier decision no longer covers it):
            # the same request waits for a human once more.
            existing.status, existing.decided_at, existing.decided_by = "pending", None, ""
            existing.reasons = reasons
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
        binding = session.get(ReviewBinding, review_id) or ReviewBinding(
            review_id=review_id, workspace=ctx.ws_id
        )
        binding.kind, binding.action = subject["kind"], subject["action"]
        binding.fingerprint = subject["fingerprint"]  # the content shown to the reviewer now
        binding.approved_fingerprint, binding.approved_content = "", {}
        session.add(binding)
        p = session.get(Prospect, state["prospect_id"])
        assert p is not None, "observe checked the prospect exists"
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
                tool={"name": "review:queue", "result": {"review_id": review_id, "kind": subject["kind"]}},
                extra={"review_reasons": reasons, "review_kind": subject["kind"]},
            ),
        )
    faults.crash_point("after_review_request")
    request = ReviewRequest(
        review_id=review_id,
        prospect_id=state["prospect_id"],
        step_id=step_id,
        channel=proposal.get("channel") or "",
        draft_id="" if subject["kind"] == "decision" else draft_id,
        reasons=reasons,
    )
    return {"review": {**request, "kind": subject["kind"]}}


def await_review(state: ProspectState, runtime: Runtime[AgentContext]) -> ProspectState:
    """Wait for the human. The decision itself is claimed and logged by
    `agents.review_queue.decide` in one transaction before it resumes this node, so a
    crash anywhere after the click never loses the approval nor logs it twice."""
    response: ReviewResponse = interrupt(state["review"])
    now = str(response.get("at") or state["now"])
    run_id = str(response.get("run_id") or state["run_id"])
    out: ProspectState = {"now": now, "run_id": run_id, "review": None, "denials": [], "steps": 0, "sent": []}
    if response.get("decision") == "snooze":
        out["outcome"] = {
            "kind": "wait",
            "until": response.get("until"),
            "reason": f"review snoozed by {response.get('actor', '')}",
        }
    return out
