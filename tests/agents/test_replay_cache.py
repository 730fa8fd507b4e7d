"""Replay re-decides identical inputs once (planner by observation and denials, policies by
observation, proposal and step). The cache must never hide a change: an edited decision
still diverges, an edited observation still fails to load, and records that kept their
observation inline are keyed by its content."""

from __future__ import annotations

import copy
import json
import zlib

import orjson
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from agents.replay import Replayer, replay
from agents.runner import run_daily
from run import app
from state.db import engine_for, session_scope
from state.decision_log import ObservationMismatch, stream_bodies
from tests.conftest import at
from tests.stored_bodies import edit_body

DAY0 = at("2026-11-23T15:00:00Z")


def _shared_pairs(ws, run_id: str) -> list[tuple[dict, dict]]:  # noqa: ANN001
    """(first, later) decisions of the run with the same observation, proposal and step."""
    seen: dict[tuple, dict] = {}
    pairs = []
    for b in stream_bodies(engine_for(ws.database_url), ws.id, run_id=run_id):
        if (
            b["node"] not in ("guard", "act", "request_review")
            or not b.get("proposal")
            or not b.get("outcome")
        ):
            continue
        key = (
            b["observation_digest"],
            orjson.dumps(b["proposal"], option=orjson.OPT_SORT_KEYS),
            b.get("step"),
        )
        if key in seen:
            pairs.append((seen[key], b))
        else:
            seen[key] = b
    return pairs


def _edit_body(ws, seq: int, old: str, new: str) -> None:  # noqa: ANN001
    with session_scope(engine_for(ws.database_url)) as s:
        edit_body(s.connection(), ws.id, seq, old, new)


def test_edited_decisions_sharing_cached_results_still_diverge(ready_ws) -> None:  # noqa: ANN001
    """Of two decisions with the same inputs, the later one's recorded outcome is edited: its
    re-decision comes from the cache filled by the first and is still reported for exactly
    that record. Then another later one's proposal is edited: it no longer shares the first
    one's key, and the replanned proposal differs from what it records."""
    summary = run_daily(ready_ws, now=DAY0)
    pairs = _shared_pairs(ready_ws, summary.run_id)
    assert len(pairs) >= 2, "the demo run has decisions sharing observation, proposal and step"
    assert replay(ready_ws, run_id=summary.run_id)["divergences"] == []
    _first, later = pairs[0]
    other = "deny" if later["outcome"] != "deny" else "allow"
    _edit_body(ready_ws, later["seq"], f'"outcome":"{later["outcome"]}"', f'"outcome":"{other}"')
    result = replay(ready_ws, run_id=summary.run_id)
    assert [d["seq"] for d in result["divergences"]] == [later["seq"]]
    assert result["divergences"][0]["verdicts"]["recorded_outcome"] == other

    first2, later2 = pairs[1]
    _edit_body(ready_ws, later2["seq"], orjson.dumps(later2["proposal"]["reason"]).decode(), '"edited"')
    seqs = [d["seq"] for d in replay(ready_ws, run_id=summary.run_id)["divergences"]]
    assert later2["seq"] in seqs and first2["seq"] not in seqs


def test_cache_keys_follow_the_observation_content(ready_ws) -> None:  # noqa: ANN001
    """Records written before observations were stored by digest carry the observation
    inline and no digest: two such records with different observations never share a
    cached plan. And an observation that several decisions name, edited in its table, makes
    replay refuse to load it instead of re-deciding (from the cache or not) on other content."""
    summary = run_daily(ready_ws, now=DAY0)
    body = next(
        b
        for b in stream_bodies(engine_for(ready_ws.database_url), ready_ws.id, run_id=summary.run_id)
        if b["node"] == "act" and b.get("proposal") and b["proposal"]["action"] not in ("stop", "wait")
    )
    inline = {**copy.deepcopy(body), "observation_digest": ""}
    stopped = copy.deepcopy(inline)
    stopped["observation"]["prospect"]["status"] = "stopped"
    replayer = Replayer(ready_ws.config.playbook, ready_ws.config.policy)
    assert replayer.replay_one(inline) == {}
    assert replayer.replay_one(stopped)["proposal"]["replayed"]["action"] == "stop"

    first, _later = _shared_pairs(ready_ws, summary.run_id)[0]
    obs = copy.deepcopy(first["observation"])
    obs["kill_switch"] = not obs.get("kill_switch")
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = co.compress(orjson.dumps(obs, option=orjson.OPT_SORT_KEYS)) + co.flush()
    with session_scope(engine_for(ready_ws.database_url)) as s:
        s.connection().execute(
            text("UPDATE observations SET packed = :p, codec = 'z' WHERE workspace = :w AND digest = :d"),
            {"p": packed, "w": ready_ws.id, "d": first["observation_digest"]},
        )
    with pytest.raises(ObservationMismatch):
        replay(ready_ws, run_id=summary.run_id)
    # the CLI names the problem and a next step (exit 2), no traceback
    out = CliRunner().invoke(app, ["replay", "-w", str(ready_ws.root), "--run", summary.run_id, "--json"])
    assert out.exit_code == 2 and "Traceback" not in out.output
    assert json.loads(out.output)["error"]["type"] == "ObservationMismatch"
