"""act: carry out the allowed action. Terminal actions (wait, stop) end today's run."""

from __future__ import annotations

from typing import Any, assert_never

from langgraph.runtime import Runtime

from agents import actions
from agents.context import AgentContext
from agents.state import ProspectState


def act(state: ProspectState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    ctx = runtime.context
    proposal = state["plan"]["proposal"]
    kind = proposal["action"]
    if kind == "research":
        return actions.research(state, ctx)
    if kind == "enrich":
        return actions.enrich(state, ctx)
    if kind == "draft":
        return actions.draft(state, ctx)
    if kind == "send":
        return actions.send(state, ctx)
    if kind == "call_task":
        return actions.call_task(state, ctx)
    if kind == "wait":
        return actions.finish(state, ctx, kind="wait", until=proposal.get("until"), reason=proposal["reason"])
    if kind == "stop":
        return actions.finish(state, ctx, kind="stop", until=None, reason=proposal["reason"])
    if kind == "request_review":  # routed to the review nodes by the graph, never here
        raise ValueError("request_review is handled by the review node")
    assert_never(kind)
