"""plan: the configured planner (`providers.planner`: the playbook, or Claude choosing among
the actions the playbook allows, with the playbook standing in on any failure) proposes
the next action, with this run's denials as context. Hitting the per-run step cap ends
the run for today and is logged as a decision (with the guard's pending records, see
`agents.records`)."""

from __future__ import annotations

from datetime import timedelta

from langgraph.runtime import Runtime

from agents.context import AgentContext
from agents.planner_claude import plan_next
from agents.records import append, record
from agents.state import ProspectState
from core.errors import InputError
from core.timeutil import iso, parse_instant
from state.db import session_scope
from state.models import Prospect
from tools.llm.client import CallScope


def plan(state: ProspectState, runtime: Runtime[AgentContext]) -> ProspectState:
    ctx = runtime.context
    steps = state.get("steps", 0) + 1
    if steps > ctx.workspace.config.limits.max_steps_per_run:
        return _step_cap(state, ctx, steps)
    return propose(state, ctx)


def at_step_cap(state: ProspectState, ctx: AgentContext) -> bool:
    """Whether the next plan iteration ends the run at the step cap."""
    return state.get("steps", 0) + 1 > ctx.workspace.config.limits.max_steps_per_run


def propose(state: ProspectState, ctx: AgentContext) -> ProspectState:
    """The next proposal (one plan iteration below the step cap), as a state update. The
    guard calls it too, to re-plan after a deny or defer within its own node call."""
    scope = CallScope(
        at=parse_instant(state["now"]), run_id=state["run_id"], prospect_id=state["prospect_id"]
    )
    denials = state.get("denials") or []
    result = plan_next(state["observation"], ctx.workspace.config, denials, client=ctx.llm, scope=scope)
    return {
        "steps": state.get("steps", 0) + 1,
        "decision": {},
        "plan": {
            "proposal": result.proposal.to_dict(),
            "rationale": result.rationale,
            "planner": result.planner,
            "denials": list(denials),
        },
    }


def _step_cap(state: ProspectState, ctx: AgentContext, steps: int) -> ProspectState:
    until_at = parse_instant(state["now"]) + timedelta(days=1)
    until = iso(until_at)
    reason = (
        f"step cap of {ctx.workspace.config.limits.max_steps_per_run} reached in one run; "
        "stopped for today (replay the prospect to see the loop)"
    )
    with session_scope(ctx.engine) as session:
        p = session.get(Prospect, state["prospect_id"])
        if p is None:
            raise InputError(f"prospect {state['prospect_id']} is not in workspace {ctx.ws_id}")
        p.status, p.next_action, p.next_action_at = "waiting", "step_cap", until_at
        session.add(p)
        append(
            session,
            ctx.ws_id,
            record(
                state,
                node="plan",
                action="step_cap",
                final_action="wait",
                rationale=reason,
                extra={"until": until},
            ),
        )
    return {"steps": steps, "outcome": {"kind": "step_cap", "until": until, "reason": reason}}
