"""Replay: re-run the planner and the policies over recorded observations, offline, and
report every decision that comes out different. With another policy or playbook it
answers "what if" as a list of differences."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from sqlmodel import Session

from agents import planner, planner_claude
from agents.nodes.guard import evaluate
from agents.scoring import explain as explain_score
from core.canonical import digest
from core.errors import InputError, UnknownReference
from core.workspace import PlaybookConfig, Workspace
from policies.config import PolicyConfig
from policies.engine import PolicyEngine
from state import repo
from state.db import engine_for
from state.decision_log import stream_bodies

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
        raise InputError("give --run or --prospect", next_step="Run `run.py replay --help` for the options.")
    engine = engine_for(ws.database_url)
    if prospect_id:
        with Session(engine) as session:
            p = repo.get_prospect(session, workspace=ws.id, ref=prospect_id)
            if p is None:
                raise UnknownReference(
                    f"no prospect {prospect_id!r} in workspace {ws.id}",
                    next_step="Check the id or email with `run.py prospects list` (and the -w workspace).",
                )
            prospect_id = p.id
    pol = policy or ws.config.policy
    pb = playbook or ws.config.playbook
    cfg = ws.config.model_copy(update={"policy": pol, "playbook": pb})
    llm = planner_claude.replay_client(cfg, engine, ws.id)  # answers from recorded calls only
    replayer = Replayer(pb, pol, replan=lambda b: planner_claude.replan(b, cfg, client=llm))
    divergences: list[dict[str, Any]] = []
    timeline: list[dict[str, Any]] = []
    scores: dict[str, Any] = {}
    for body in stream_bodies(engine, ws.id, run_id=run_id, prospect_id=prospect_id):
        timeline.append(timeline_row(body))
        obs = body.get("observation")
        if obs and obs.get("score") and body["prospect_id"] not in scores:
            scores[body["prospect_id"]] = obs["score"].get("breakdown", {})
        if body["node"] not in REPLAYABLE_NODES or not body.get("proposal") or not obs:
            continue  # nothing to re-decide (or its observation was removed by retention)
        diff = replayer.replay_one(body)
        if diff:
            divergences.append(
                {"seq": body["seq"], "prospect_id": body["prospect_id"], "node": body["node"], **diff}
            )
    if run_id and not timeline:
        with Session(engine) as session:
            if repo.get_run(session, workspace=ws.id, run_id=run_id) is None:
                raise UnknownReference(
                    f"no run {run_id!r} in workspace {ws.id}",
                    next_step="Use a run id printed by `run.py daily` (or found in `run.py prospects show`), "
                    "and check the -w workspace.",
                )
    groups = prospect_groups(timeline)
    return {
        "scores": {pid: explain_score(breakdown) for pid, breakdown in scores.items()},
        "decisions": len(timeline),
        "replayed": replayer.replayed,
        "divergences": divergences,
        "summary": summarize(timeline, groups, divergences),
        "prospects": groups,
        "timeline": timeline,
    }


# how a prospect's last recorded decision reads as "where it ended"
ENDED = {
    "wait": "waiting for a next step",
    "stop": "stopped",
    "request_review": "waiting for review",
    "error": "failed",
    "await_batch": "waiting for a batch",
}


def ended(last: dict[str, Any]) -> str:
    action = last.get("final_action") or last["action"]
    if last.get("node") == "runner" or action == "error":
        return ENDED["error"]
    return ENDED.get(action, f"last action: {action}")


def prospect_groups(timeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The timeline grouped per prospect, in order of first appearance: how many
    decisions, what was sent, what the rules held back, where it ended, the cost."""
    groups: dict[str, dict[str, Any]] = {}
    for t in timeline:
        if not t["prospect_id"]:
            continue  # a run-level record (carried-over prospects counted by reason)
        g = groups.setdefault(
            t["prospect_id"],
            {
                "prospect_id": t["prospect_id"],
                "decisions": 0,
                "sent": 0,
                "held": 0,
                "errors": 0,
                "cost": {"credits": 0.0, "tokens": 0, "usd": 0.0},
                "seqs": [],
            },
        )
        g["decisions"] += 1
        g["seqs"].append(t["seq"])
        if t["node"] == "act" and t["action"] == "send" and not t.get("error"):
            g["sent"] += 1
        if t["node"] == "guard" and t.get("outcome") in ("deny", "defer", "review"):
            g["held"] += 1
        if t.get("error"):
            g["errors"] += 1
        for k in ("credits", "tokens", "usd"):
            g["cost"][k] += (t.get("cost") or {}).get(k) or 0
        g["ended"] = ended(t)
    return list(groups.values())


def summarize(
    timeline: list[dict[str, Any]], groups: list[dict[str, Any]], divergences: list[dict[str, Any]]
) -> dict[str, Any]:
    """What a person wants first: where the prospects ended, the actions taken, the
    rules that held actions back (most frequent first) and the cost."""
    ended_counts: Counter[str] = Counter(g["ended"] for g in groups)
    actions: Counter[str] = Counter(
        t["action"] for t in timeline if t["node"] in ("act", "request_review", "runner")
    )
    held: Counter[tuple[str, str]] = Counter(
        (v["rule"], v["outcome"]) for t in timeline if t["node"] == "guard" for v in t["verdicts"]
    )
    cost = {k: sum(g["cost"][k] for g in groups) for k in ("credits", "tokens", "usd")}
    times = sorted(t["at"] for t in timeline)
    return {
        "prospects": len(groups),
        "decisions": len(timeline),
        "first_at": times[0] if times else None,
        "last_at": times[-1] if times else None,
        "ended": dict(ended_counts.most_common()),
        "actions": dict(actions.most_common()),
        "held_by_rules": [{"rule": r, "outcome": o, "count": n} for (r, o), n in held.most_common()],
        "sent": sum(g["sent"] for g in groups),
        "errors": sum(g["errors"] for g in groups),
        "errors_by_class": dict(
            Counter(
                (t["error"] or {}).get("error_class", "error") for t in timeline if t.get("error")
            ).most_common()
        ),
        "divergences": len(divergences),
        "cost": cost,
    }


class Replayer:
    """Re-decides recorded decisions with one playbook and policy, set up once.

    The planner and the policies are pure functions of their inputs, so identical inputs
    give identical outputs: the replanned proposal is cached by (observation digest,
    denials) and the policy decision by (observation digest, proposal, step). The keys are
    the recorded inputs themselves (the observation by the digest it was checked against
    when loaded, the proposal and denials by their canonical JSON), so an edited decision
    or observation can never hit another decision's cached result."""

    def __init__(
        self,
        playbook: PlaybookConfig,
        policy: PolicyConfig,
        replan: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self.playbook, self.policy = playbook, policy
        # A record planned by Claude is re-planned by `replan` (from its recorded call, which
        # depends on the record's time and run), never from the cache.
        self.replan = replan
        self.engine = PolicyEngine(policy)
        self.replayed = 0
        self._plans: dict[tuple[str, bytes], dict[str, Any]] = {}
        self._decisions: dict[tuple[str, bytes, int], dict[str, Any]] = {}

    def _obs_key(self, body: dict[str, Any]) -> str:
        # Records that kept their observation inline have no digest: key by its content.
        return body.get("observation_digest") or digest(body["observation"])

    def plan(self, body: dict[str, Any], denials: list[Any]) -> dict[str, Any]:
        recorded = body.get("planner") or {}
        if (
            self.replan is not None
            and (recorded.get("configured") or recorded.get("kind")) == planner_claude.KIND
        ):
            return self.replan(body)
        key = (self._obs_key(body), orjson.dumps(denials, option=orjson.OPT_SORT_KEYS))
        again = self._plans.get(key)
        if again is None:
            view = self.engine.observation(body["observation"], key[0])
            again = planner.plan(view, self.playbook, self.policy, denials).proposal.to_dict()
            self._plans[key] = again
        return again

    def decide(self, body: dict[str, Any]) -> dict[str, Any]:
        step = body.get("step", 0)
        key = (self._obs_key(body), orjson.dumps(body["proposal"], option=orjson.OPT_SORT_KEYS), step)
        decision = self._decisions.get(key)
        if decision is None:
            decision = evaluate(self.engine, body["observation"], body["proposal"], step, key=key[0])
            self._decisions[key] = decision
        return decision

    def replay_one(self, body: dict[str, Any]) -> dict[str, Any]:
        self.replayed += 1
        denials = (body.get("planner_input") or {}).get("denials", [])
        out: dict[str, Any] = {}
        if body["node"] != "request_review" or body["proposal"]["action"] == "request_review":
            again = self.plan(body, denials)
            if again != body["proposal"]:
                out["proposal"] = {"recorded": body["proposal"], "replayed": again}
        if not body.get("outcome"):
            return out  # nothing recorded to compare the policy decision with
        decision = self.decide(body)
        recorded = {(v["rule"], v["outcome"]) for v in body.get("verdicts", [])}
        replayed = {(v["rule"], v["outcome"]) for v in decision["verdicts"]}
        if decision["outcome"] != body["outcome"] or recorded != replayed:
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
