"""observe: read what is known about the prospect now (database -> JSON observation)."""

from __future__ import annotations

from langgraph.runtime import Runtime
from sqlmodel import Session

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
        obs = build_observation(session, ctx.workspace, prospect, parse_instant(state["now"]))
    return {"observation": obs}
