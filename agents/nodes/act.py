"""act: carry out the allowed action. Terminal actions (wait, stop) end today's run.

A non-terminal action also names the observation sections its effects touched
(`effects`), so the next observe re-reads only those; an action whose effects are not
known here (enrich: a new address changes suppressions, drafts, CRM facts...) names none
and the next observation is built in full."""

from __future__ import annotations

from typing import Any, assert_never

from langgraph.runtime import Runtime

from agents import actions
from agents.context import AgentContext
from agents.state import ProspectState

# The observation sections each action's effects can change (besides the prospect's row).
EFFECTS: dict[str, list[str]] = {
    "research": ["company", "spend"],  # research status; spend
    "draft": ["drafts", "template_sends", "spend"],  # the draft, its evidence; its template's usage
    # the outbox row and its delivery: touches, the draft sent, a bounce's event and
    # suppression, send counters
    "send": ["outbox", "drafts", "events", "suppressions", "counters"],
    "call_task": ["outbox", "drafts", "events", "suppressions", "counters"],
}


def act(state: ProspectState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
    out = _act(state, runtime)
    if out.get("outcome"):
        return out
    return {**out, "effects": EFFECTS.get(state["plan"]["proposal"]["action"])}


def _act(state: ProspectState, runtime: Runtime[AgentContext]) -> dict[str, Any]:
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
