"""The per-prospect graph. Only wiring: nodes live in agents/nodes, routing is pure.

START -> observe -> plan -> guard --allow--> act -> observe ...
                     ^        |--review--> request_review -> await_review (interrupt) -> observe
                     |        '--deny/defer--> plan (with the verdicts)
act(wait|stop), a step cap or a delivery error end today's run.

The guard re-plans after a deny/defer within its own node call (the same planner call the
plan node makes), so guard -> plan is taken only when the next iteration hits the step cap.
The guard's deny/defer records stay pending in the state and are written with the next
record (`agents.records.flushing` wraps the nodes that may write or raise meanwhile).
"""

from __future__ import annotations

from typing import Literal

from langgraph.graph import START, StateGraph
from langgraph.types import RetryPolicy

from agents.context import AgentContext
from agents.nodes.act import act
from agents.nodes.guard import guard
from agents.nodes.observe import observe
from agents.nodes.plan import plan
from agents.nodes.review import await_review, request_review
from agents.records import flushing
from agents.state import ProspectState


def after_plan(state: ProspectState) -> Literal["guard", "__end__"]:
    return "__end__" if state.get("outcome") else "guard"  # "__end__" is END


def after_guard(state: ProspectState) -> Literal["act", "request_review", "plan"]:
    outcome = state["decision"]["outcome"]
    if outcome == "allow":
        return "request_review" if state["plan"]["proposal"]["action"] == "request_review" else "act"
    if outcome == "review":
        return "request_review"
    if outcome in ("deny", "defer"):
        return "plan"
    raise ValueError(f"unknown guard outcome {outcome!r}")


def after_act(state: ProspectState) -> Literal["observe", "__end__"]:
    return "__end__" if state.get("outcome") else "observe"  # "__end__" is END


def after_review(state: ProspectState) -> Literal["observe", "__end__"]:
    return "__end__" if state.get("outcome") else "observe"  # "__end__" is END


def build_graph(checkpointer=None):  # noqa: ANN001, ANN201
    g = StateGraph(ProspectState, context_schema=AgentContext)
    # Only I/O hiccups are retried inside a run; everything else is classified and logged.
    retry = RetryPolicy(max_attempts=2, retry_on=(TimeoutError, ConnectionError))
    g.add_node("observe", observe, retry_policy=retry)
    g.add_node("plan", flushing(plan))
    g.add_node("guard", flushing(guard))
    g.add_node("act", flushing(act))
    g.add_node("request_review", flushing(request_review))
    g.add_node("await_review", await_review)
    g.add_edge(START, "observe")
    g.add_edge("observe", "plan")
    g.add_conditional_edges("plan", after_plan)
    g.add_conditional_edges("guard", after_guard)
    g.add_conditional_edges("act", after_act)
    g.add_edge("request_review", "await_review")
    g.add_conditional_edges("await_review", after_review)
    return g.compile(checkpointer=checkpointer)
