"""guard: every proposed action passes the policy engine. Deny and defer go back to the
planner with the verdicts (and are logged); review goes to a human; allow goes to act.
A review verdict is satisfied when a human approved exactly this content (or, for an
action taken before any draft exists, this decision); an approval never lifts a deny or
a defer, so an approved send still waits for its recipient's window."""

from __future__ import annotations

from langgraph.runtime import Runtime

from agents.context import AgentContext
from agents.records import append, record
from agents.state import ProspectState
from policies.engine import PolicyEngine
from policies.types import PolicyInput, Proposal
from state.db import session_scope


def guard(state: ProspectState, runtime: Runtime[AgentContext]) -> ProspectState:
    ctx = runtime.context
    decision = evaluate(ctx.policy, state["observation"], state["plan"]["proposal"], state.get("steps", 0))
    if decision["outcome"] in ("deny", "defer"):
        with session_scope(ctx.engine) as session:
            append(
                session,
                ctx.ws_id,
                record(
                    state,
                    node="guard",
                    action=state["plan"]["proposal"]["action"],
                    final_action="replan",
                    decision=decision,
                ),
            )
        denial = {"proposal": state["plan"]["proposal"], "decision": decision}
        return {"decision": decision, "denials": [*(state.get("denials") or []), denial]}
    return {"decision": decision}


MESSAGE_ACTIONS = frozenset({"send", "call_task", "request_review"})


def approval_for(engine: PolicyEngine, observation: dict, proposal: dict) -> dict[str, str] | None:
    """The human approval that covers this proposal, if any. A message (send, call task)
    is covered only by an approval of exactly its current content (same fingerprint of
    subject, body, recipient and channel); any other action only by an approval of that
    decision (`decision_reviews[step][action]`)."""
    statuses = engine.config.review.approved_statuses
    step = proposal.get("step_id") or ""
    if proposal["action"] in MESSAGE_ACTIONS:
        review = (observation.get("reviews") or {}).get(step) or {}
        draft = (observation.get("drafts") or {}).get(step) or {}
        if (
            review.get("kind", "message") == "message"
            and review.get("status") in statuses
            and review.get("approved_fingerprint")
            and review.get("approved_fingerprint") == draft.get("fingerprint")
        ):
            return {"review_id": review.get("id", ""), "by": review.get("decided_by") or "a reviewer"}
        return None
    review = ((observation.get("decision_reviews") or {}).get(step) or {}).get(proposal["action"]) or {}
    if review.get("status") in statuses:
        return {"review_id": review.get("id", ""), "by": review.get("decided_by") or "a reviewer"}
    return None


def compose(verdicts: list[dict], *, review_satisfied: bool) -> dict:
    """deny > review > defer > allow. An approval satisfies review verdicts only: a deny
    still denies and a defer still holds (an approved send waits for its window)."""
    outcomes = {v["outcome"] for v in verdicts}
    if "deny" in outcomes:
        return {"outcome": "deny", "verdicts": verdicts}
    if "review" in outcomes and not review_satisfied:
        return {"outcome": "review", "verdicts": verdicts}
    if "defer" in outcomes:
        until = max(v["until"] for v in verdicts if v["outcome"] == "defer" and v.get("until"))
        return {"outcome": "defer", "verdicts": verdicts, "until": until}
    return {"outcome": "allow", "verdicts": verdicts}


def evaluate(
    engine: PolicyEngine, observation: dict, proposal: dict, steps: int, key: str | None = None
) -> dict:
    """Pure policy evaluation shared with replay, dry runs and `policy explain`. `key`, when
    given, is the observation's digest: its typed view is then parsed once per engine."""
    prop = Proposal.from_dict(proposal)
    result = engine.evaluate(PolicyInput.from_observation(engine.observation(observation, key), prop, steps))
    out = result.to_dict()
    if out["outcome"] == "allow" or not any(v["outcome"] == "review" for v in out["verdicts"]):
        return out
    approval = approval_for(engine, observation, proposal)
    if approval is None:
        return out
    composed = compose(out["verdicts"], review_satisfied=True)
    composed["review_satisfied_by"] = approval["by"]
    composed["review_id"] = approval["review_id"]
    return composed
