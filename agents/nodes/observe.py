"""observe: read what is known about the prospect now (database -> JSON observation)."""

from __future__ import annotations

from langgraph.runtime import Runtime
from sqlmodel import Session

from agents import allocation
from agents.context import AgentContext
from agents.observation import build_observation
from agents.state import ProspectState
from core.errors import InputError
from core.timeutil import parse_instant
from state.models import Prospect


def observe(state: ProspectState, runtime: Runtime[AgentContext]) -> ProspectState:
    ctx = runtime.context
    with Session(ctx.engine) as session:
        prospect = session.get(Prospect, state["prospect_id"])
        if prospect is None or prospect.workspace != ctx.ws_id:
            raise InputError(f"prospect {state['prospect_id']} is not in workspace {ctx.ws_id}")
        now = parse_instant(state["now"])
        obs = build_observation(session, ctx.workspace, prospect, now)
        plan = ctx.extra.get("allocation")  # the run's capped slots, decided before the split
        if isinstance(plan, allocation.Allocation):
            obs = allocation.apply(obs, plan, ws=ctx.workspace, session=session, state=state, now=now)
    return {"observation": obs}
