"""guard: every proposed action passes the policy engine. Deny and defer go back to the
planner with the verdicts (and are logged with the run's next record); review goes to a human; allow goes to act.
A review verdict is satisfied when a human approved exactly this content (or, for an
action taken before any draft exists, this decision); an approval never lifts a deny or
a defer, so an approved send still waits for its recipient's window."""

from __future__ import annotations

from langgraph.runtime import Runtime

from agents.context import AgentContext
from agents.nodes.plan import at_step_cap, propose
from agents.records import add_pending, record
from agents.state import ProspectState
from policies.engine import PolicyEngine
from policies.types import PolicyInput, Proposal


def guard(state: ProspectState, runtime: Runtime[AgentContext]) -> ProspectState:
    """Evaluate the proposal. On deny or defer the planner proposes again with the verdicts,
    within this node call (as plan -> guard would, one superstep pair fewer each time), until
    a proposal is allowed or goes to review, or the next plan iteration would hit the step
    cap: then the plan node ends the run. Each deny/defer is a record kept pending in the
    state (`pending`), written with the next record of the run (`agents.records`)."""
    ctx = runtime.context
    cur: ProspectState = {**state}
    out: ProspectState = {}
    pending: list[dict] = []
    while True:
        decision = evaluate(ctx.policy, cur["observation"], cur["plan"]["proposal"], cur.get("steps", 0))
        if decision["outcome"] not in ("deny", "defer"):
            out["decision"] = decision
            break
        proposal = cur["plan"]["proposal"]
        body = record(cur, node="guard", action=proposal["action"], final_action="replan", decision=decision)
        pending.append(body)
        add_pending(body)
        denial = {"proposal": proposal, "decision": decision}
        step: ProspectState = {"decision": decision, "denials": [*(cur.get("denials") or []), denial]}
        out.update(step)
        cur.update(step)
        if at_step_cap(cur, ctx):
            break  # routed to plan, which logs the step cap
        step = propose(cur, ctx)
        out.update(step)
        cur.update(step)
    if pending:
        out["pending"] = pending
    return out


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
