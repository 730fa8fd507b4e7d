"""Replay: re-run the planner and the policies over recorded observations, offline, and
report every decision that comes out different. With another policy or playbook it
answers "what if" as a list of differences."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlmodel import Session

from agents import planner
from agents.nodes.guard import evaluate
from agents.scoring import explain as explain_score
from core.errors import InputError
from core.workspace import PlaybookConfig, Workspace
from policies.config import PolicyConfig
from policies.engine import PolicyEngine
from state import repo
from state.db import engine_for
from state.decision_log import load_body

REPLAYABLE_NODES = ("guard", "act", "request_review")


def timeline_row(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "seq": body["seq"],
        "at": body["at"],
        "run_id": body["run_id"],
        "prospect_id": body["prospect_id"],
        "node": body["node"],
        "action": body["action"],
        "final_action": body.get("final_action"),
        "why": body.get("rationale", ""),
        "verdicts": [v for v in body.get("verdicts", []) if v["outcome"] != "allow"],
        "outcome": body.get("outcome", ""),
        "cost": body.get("cost", {}),
        "actor": body.get("actor", ""),
        "error": body.get("error"),
    }


def replay(
    ws: Workspace,
    *,
    run_id: str | None = None,
    prospect_id: str | None = None,
    policy: PolicyConfig | None = None,
    playbook: PlaybookConfig | None = None,
) -> dict[str, Any]:
    if not (run_id or prospect_id):
        raise InputError("give --run or --prospect")
    engine = engine_for(ws.database_url)
    with Session(engine) as session:
        if prospect_id:
            p = repo.get_prospect(session, workspace=ws.id, ref=prospect_id)
            if p is None:
                raise InputError(f"no prospect {prospect_id!r} in workspace {ws.id}")
            prospect_id = p.id
        rows = repo.decisions_for(session, workspace=ws.id, run_id=run_id, prospect_id=prospect_id)
        bodies = [load_body(r) for r in rows]
        if run_id and not bodies and repo.get_run(session, workspace=ws.id, run_id=run_id) is None:
            raise InputError(f"no run {run_id!r} in workspace {ws.id}")
    pol = policy or ws.config.policy
    pb = playbook or ws.config.playbook
    engine_p = PolicyEngine(pol)
    divergences, replayed = [], 0
    for body in bodies:
        if body["node"] not in REPLAYABLE_NODES or not body.get("proposal"):
            continue
        replayed += 1
        diff = _replay_one(body, pb, pol, engine_p)
        if diff:
            divergences.append(
                {"seq": body["seq"], "prospect_id": body["prospect_id"], "node": body["node"], **diff}
            )
    scores = {
        b["prospect_id"]: explain_score((b.get("observation") or {}).get("score", {}).get("breakdown", {}))
        for b in bodies
        if (b.get("observation") or {}).get("score")
    }
    return {
        "scores": scores,
        "decisions": len(bodies),
        "replayed": replayed,
        "divergences": divergences,
        "timeline": [timeline_row(b) for b in bodies],
    }


def _replay_one(
    body: dict[str, Any], pb: PlaybookConfig, pol: PolicyConfig, engine: PolicyEngine
) -> dict[str, Any]:
    obs = body["observation"]
    denials = (body.get("planner_input") or {}).get("denials", [])
    out: dict[str, Any] = {}
    if body["node"] != "request_review" or body["proposal"]["action"] == "request_review":
        again = planner.plan(obs, pb, pol, denials).proposal.to_dict()
        if again != body["proposal"]:
            out["proposal"] = {"recorded": body["proposal"], "replayed": again}
    decision = evaluate(engine, obs, body["proposal"], body.get("step", 0))
    recorded = {(v["rule"], v["outcome"]) for v in body.get("verdicts", [])}
    replayed = {(v["rule"], v["outcome"]) for v in decision["verdicts"]}
    if body.get("outcome") and (decision["outcome"] != body["outcome"] or recorded != replayed):
        out["verdicts"] = {
            "recorded_outcome": body["outcome"],
            "replayed_outcome": decision["outcome"],
            "changed": sorted(f"{r}:{o}" for r, o in recorded ^ replayed),
        }
    return out


def what_if_config(ws: Workspace, path: Path) -> tuple[PolicyConfig | None, PlaybookConfig | None]:
    """Read a what-if file: `[policy]` and/or `[playbook]` sections replacing the workspace's."""
    import tomllib

    from pydantic import ValidationError

    from core.errors import ConfigError

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        policy = PolicyConfig.model_validate(data["policy"]) if "policy" in data else None
        playbook = PlaybookConfig.model_validate(data["playbook"]) if "playbook" in data else None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(str(exc), file=str(path)) from exc
    except ValidationError as exc:
        e = exc.errors()[0]
        raise ConfigError(e["msg"], file=str(path), key=".".join(str(x) for x in e["loc"])) from exc
    return policy, playbook
