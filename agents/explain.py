"""`policy explain`: each rule's verdict for one action on one prospect at one instant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from agents.nodes.guard import evaluate
from agents.observation import build_observation
from agents.scoring import score_now
from core.errors import InputError, UnknownReference
from core.workspace import Workspace
from policies.engine import PolicyEngine
from policies.types import ACTIONS
from state import repo
from state.db import engine_for

# Actions the guard judges (wait and stop are always allowed, so explaining them says nothing).
EXPLAINABLE = tuple(a for a in ACTIONS if a not in ("wait", "stop"))


def explain(
    ws: Workspace, prospect_ref: str, action: str, *, step_id: str | None, now: datetime
) -> dict[str, Any]:
    if action not in EXPLAINABLE:
        raise InputError(
            f"unknown action {action!r}; expected one of {', '.join(EXPLAINABLE)}",
            field="--action",
            next_step=f"Give --action one of: {', '.join(EXPLAINABLE)}.",
        )
    steps = [s.id for s in ws.config.playbook.steps]
    if step_id and step_id not in steps:
        raise InputError(
            f"no playbook step {step_id!r} in workspace {ws.id}; expected one of {', '.join(steps)}",
            field="--step",
            next_step=f"Give --step one of: {', '.join(steps)}.",
        )
    engine = engine_for(ws.database_url)
    with Session(engine) as session:
        p = repo.get_prospect(session, workspace=ws.id, ref=prospect_ref)
        if p is None:
            raise UnknownReference(
                f"no prospect {prospect_ref!r} in workspace {ws.id}",
                next_step="Check the id or email with `run.py prospects list` (and the -w workspace).",
            )
        score = score_now(session, ws, p.id, now)
        session.commit()
        obs = build_observation(session, ws, p, now)
    proposal: dict[str, Any] = {"action": action, "reason": "asked by policy explain"}
    if step_id:
        step = ws.step(step_id)
        proposal.update(step_id=step.id, channel=step.channel, kind=step.kind, template=step.template)
    policy = PolicyEngine(ws.config.policy)
    decision = evaluate(policy, obs, proposal, 1)
    seen = {v["rule"]: v for v in decision["verdicts"]}
    rules = [
        seen.get(rid, {"rule": rid, "outcome": "n/a", "reason": "does not apply to this action"})
        for rid in policy.rule_ids
    ]
    return {
        "prospect_id": p.id,
        "action": action,
        "outcome": decision["outcome"],
        "until": decision.get("until"),
        "rules": rules,
        "score": score,
    }
