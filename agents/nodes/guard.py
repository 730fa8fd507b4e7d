"""guard: every proposed action passes the policy engine. Deny and defer go back to the
planner with the verdicts (and are logged); review goes to a human; allow goes to act.
A review verdict is satisfied when a human already approved this step's draft."""

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


def evaluate(engine: PolicyEngine, observation: dict, proposal: dict, steps: int) -> dict:
    """Pure policy evaluation shared with replay, dry runs and `policy explain`."""
    prop = Proposal.from_dict(proposal)
    result = engine.evaluate(PolicyInput.from_observation(observation, prop, steps))
    out = result.to_dict()
    review = (observation.get("reviews") or {}).get(prop.step_id or "") or {}
    if out["outcome"] == "review" and review.get("status") in ("approved", "edited"):
        out["outcome"] = "allow"
        out["review_satisfied_by"] = review.get("decided_by", "")
    return out
