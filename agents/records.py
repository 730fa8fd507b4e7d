"""Decision records: what each node appends to the hash-chained log."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlmodel import Session

from agents.state import ProspectState
from state import decision_log


def record(
    state: ProspectState,
    *,
    node: str,
    action: str,
    final_action: str,
    rationale: str = "",
    tool: Mapping[str, Any] | None = None,
    cost: Mapping[str, float] | None = None,
    error: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    observation: Mapping[str, Any] | None = None,
    plan: Mapping[str, Any] | None = None,
    decision: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The body of one decision record (hash fields are added when appended)."""
    obs = observation if observation is not None else state.get("observation") or {}
    pl = plan if plan is not None else state.get("plan") or {}
    dec = decision if decision is not None else state.get("decision") or {}
    body: dict[str, Any] = {
        "at": state["now"],
        "run_id": state["run_id"],
        "prospect_id": state["prospect_id"],
        "thread_id": state["thread_id"],
        "node": node,
        "action": action,
        "observation_digest": "",  # set when appended: the observation is stored by digest
        "observation": obs,
        "proposal": pl.get("proposal"),
        "planner": pl.get("planner"),
        "planner_input": {"denials": pl.get("denials", [])},
        "rationale": rationale or pl.get("rationale", ""),
        "verdicts": dec.get("verdicts", []),
        "outcome": dec.get("outcome", ""),
        "final_action": final_action,
        "tool": dict(tool or {}),
        "cost": {"credits": 0.0, "tokens": 0, "usd": 0.0, **(cost or {})},
        "step": state.get("steps", 0),
    }
    if error:
        body["error"] = dict(error)
    if extra:
        body.update(extra)
    return body


def append(session: Session, workspace: str, *bodies: Mapping[str, Any]) -> list[dict[str, Any]]:
    return decision_log.append(session, workspace, bodies)
