"""`policy explain`: each rule's verdict for one action on one prospect at one instant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from agents.nodes.guard import evaluate
from agents.observation import build_observation
from agents.scoring import score_now
from core.errors import InputError
from core.workspace import Workspace
from policies.engine import PolicyEngine
from state import repo
from state.db import engine_for


def explain(
    ws: Workspace, prospect_ref: str, action: str, *, step_id: str | None, now: datetime
) -> dict[str, Any]:
    engine = engine_for(ws.database_url)
    with Session(engine) as session:
        p = repo.get_prospect(session, workspace=ws.id, ref=prospect_ref)
        if p is None:
            raise InputError(f"no prospect {prospect_ref!r} in workspace {ws.id}")
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
