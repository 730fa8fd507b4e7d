"""plan: the planner proposes the next action (with this run's denials as context).
Hitting the per-run step cap ends the run for today and is logged as a decision."""

from __future__ import annotations

from datetime import timedelta

from langgraph.runtime import Runtime

from agents import planner
from agents.context import AgentContext
from agents.records import append, record
from agents.state import ProspectState
from core.errors import InputError
from core.timeutil import iso, parse_instant
from state.db import session_scope
from state.models import Prospect


def plan(state: ProspectState, runtime: Runtime[AgentContext]) -> ProspectState:
    ctx = runtime.context
    cfg = ctx.workspace.config
    steps = state.get("steps", 0) + 1
    if steps > cfg.limits.max_steps_per_run:
        return _step_cap(state, ctx, steps)
    result = planner.plan(state["observation"], cfg.playbook, cfg.policy, state.get("denials") or [])
    return {
        "steps": steps,
        "decision": {},
        "plan": {
            "proposal": result.proposal.to_dict(),
            "rationale": result.rationale,
            "planner": {
                "kind": planner.PLANNER_KIND,
                "version": planner.planner_version(cfg.playbook),
                "model": None,
                "prompt_version": None,
            },
            "denials": list(state.get("denials") or []),
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
