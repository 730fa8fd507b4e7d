"""observe: read what is known about the prospect now (database -> JSON observation).

After an action whose effects are known (`state["effects"]`, set by act) only the sections
it touched are re-read and the rest is the previous observation; otherwise (the first
observe of a run, after a review, an effect not known) it is built in full. Under a run's
allocation the workspace-wide usage comes from the run's in-memory `RunUsage`.

With OUTBOUND_OBSERVATION_CHECK=1 every observation is also rebuilt from the database and
the two must be identical (canonical JSON); the tests walk workspaces with it on."""

from __future__ import annotations

import os
from typing import Any

from langgraph.runtime import Runtime
from sqlmodel import Session

from agents import allocation
from agents.context import AgentContext
from agents.observation import (
    Facts,
    LiveFacts,
    RunFacts,
    RunUsage,
    build_observation,
    prospect_row,
    update_observation,
)
from agents.state import ProspectState
from core.canonical import canonical_json
from core.errors import InputError
from core.timeutil import parse_instant

CHECK_ENV = "OUTBOUND_OBSERVATION_CHECK"


def observe(state: ProspectState, runtime: Runtime[AgentContext]) -> ProspectState:
    ctx = runtime.context
    with Session(ctx.engine) as session:
        prospect = prospect_row(session, ctx.ws_id, state["prospect_id"])
        if prospect is None:
            raise InputError(f"prospect {state['prospect_id']} is not in workspace {ctx.ws_id}")
        now = parse_instant(state["now"])
        plan = ctx.extra.get("allocation")  # the run's capped slots, decided before the split
        plan = plan if isinstance(plan, allocation.Allocation) else None
        facts: Facts = LiveFacts(session, ctx.workspace, now)
        if plan is not None:
            facts = RunFacts(session, ctx.workspace, now, run_usage(plan, session, ctx, now))
        effects = state.get("effects")
        obs = None
        if effects is not None:
            previous = state.get("observation") or {}
            obs = update_observation(session, ctx.workspace, prospect, now, previous, effects, facts)
        if obs is None:
            obs = build_observation(session, ctx.workspace, prospect, now, facts)
        if plan is not None:
            obs = allocation.apply(obs, plan, ws=ctx.workspace, session=session, state=state, now=now)
        if os.environ.get(CHECK_ENV) == "1":
            check_observation(session, ctx, prospect, state, obs, plan, effects)
    return {"observation": obs, "effects": None}


def run_usage(plan: allocation.Allocation, session: Session, ctx: AgentContext, now: Any) -> RunUsage:
    """The run's workspace-wide usage in this process, read from the database once."""
    usage = plan.usage
    if not isinstance(usage, RunUsage) or usage.ws.id != ctx.ws_id or usage.now != now:
        usage = plan.usage = RunUsage(session, ctx.workspace, now)
    return usage


def check_observation(
    session: Session,
    ctx: AgentContext,
    prospect: Any,
    state: ProspectState,
    obs: dict[str, Any],
    plan: allocation.Allocation | None,
    effects: Any,
) -> None:
    """The observation rebuilt in full from the database must equal `obs` exactly."""
    now = parse_instant(state["now"])
    full = build_observation(session, ctx.workspace, prospect, now)
    if plan is not None:
        full = allocation.apply(full, plan, ws=ctx.workspace, session=session, state=state, now=now)
    if canonical_json(obs) != canonical_json(full):
        differ = sorted(
            k for k in obs.keys() | full.keys() if canonical_json(obs.get(k)) != canonical_json(full.get(k))
        )
        detail = {k: (obs.get(k), full.get(k)) for k in differ}
        raise AssertionError(
            f"observation of {prospect.id} after effects {effects!r} differs from the rebuild in {differ}: {detail}"
        )
