"""The daily run of a Claude workspace with bounded concurrency (`[llm] run_concurrency`):
the same per-prospect outcomes as one prospect after another, an intact decision-log chain,
and a replay with no divergence, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from agents import concurrency
from agents.replay import replay
from agents.runner import run_daily
from core.workspace import Workspace, load_workspace
from state.db import engine_for
from state.decision_log import load_bodies, verify
from state.models import DecisionRecord, Draft, OutboxMessage
from tests.conftest import at, copy_demo
from tests.fakes.anthropic_api import FakeAnthropic
from tests.llm.conftest import KEY, claude_toml

DAY0 = at("2026-11-23T15:00:00Z")


def _claude_demo(tmp_path: Path, name: str, base_url: str, backend: str, lanes: int) -> Workspace:
    from agents.services import init_workspace

    d = copy_demo(tmp_path / name, backend=backend)
    toml = d / "workspace.toml"
    text = toml.read_text(encoding="utf-8")
    tight = "[policy.budget.run]\ncredits = 15"  # the run's budget binds: allotments matter
    assert "[policy.budget.run]\ncredits = 40" in text
    text = text.replace("[policy.budget.run]\ncredits = 40", tight)
    # near-cap reviews on: a verdict depends on the usage of everyone ranked above
    text = text.replace('disabled_rules = ["review_near_cap"]', "disabled_rules = []")
    toml.write_text(claude_toml(text, base_url, llm=f"run_concurrency = {lanes}"), encoding="utf-8")
    ws = load_workspace(d)
    init_workspace(ws, now=at("2026-11-23T14:00:00Z"))
    return ws


def _masked(obs: dict[str, Any] | None) -> Any:
    """The observation with its dollar spend left out: which prospect's draft writes the
    shared prompt prefix to the cache (and so pays the cache write) depends on timing, with
    the real API as with the fake; credits, counters and everything else stay."""
    if not obs:
        return obs
    spend = {
        scope: {k: v for k, v in values.items() if k not in ("usd", "llm_usd")}
        for scope, values in obs["counters"]["spend"].items()
    }
    return {**obs, "counters": {**obs["counters"], "spend": spend}}


def _outcomes(ws: Workspace, run_id: str) -> dict[str, Any]:
    """Per prospect: its decisions in order (node, action, final action, outcome, verdicts,
    what it observed - usage counters and allotted credits included -, proposal, credits
    spent), its drafts (subject, body) and what was sent; ids and hashes left out."""
    engine = engine_for(ws.database_url)
    per: dict[str, list[Any]] = {}
    with Session(engine) as s:
        recs = s.exec(
            select(DecisionRecord)
            .where(DecisionRecord.workspace == ws.id, DecisionRecord.run_id == run_id)
            .order_by(col(DecisionRecord.seq))
        ).all()
        for b in load_bodies(s, recs):
            verdicts = sorted((v["rule"], v["outcome"]) for v in b.get("verdicts") or [])
            per.setdefault(b["prospect_id"], []).append(
                [b["node"], b["action"], b["final_action"], b.get("outcome", ""), verdicts]
                + [_masked(b.get("observation")), b.get("proposal"), b["cost"].get("credits")]
            )
        drafts = {
            (d.prospect_id, d.step_id): [d.subject, d.body]
            for d in s.exec(select(Draft).where(Draft.workspace == ws.id))
        }
        sent = sorted(
            (m.prospect_id, m.channel, m.status)
            for m in s.exec(select(OutboxMessage).where(OutboxMessage.workspace == ws.id))
        )
    return {"decisions": per, "drafts": sorted(drafts.items()), "outbox": sent}


@pytest.mark.slow
def test_concurrent_run_matches_sequential(
    tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Concurrency 1 and 8 (the fake answering after 50 ms) give identical per-prospect
    outcomes and summaries; both chains verify and both runs replay with 0 divergences."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    seen: dict[int, Any] = {}
    lanes_used: list[int] = []
    in_flight = {"now": 0, "max": 0}
    lock = threading.Lock()
    real = concurrency.process_all

    def spy(ws: Any, ctx: Any, ids: Any, process: Any, **kwargs: Any) -> Any:
        lanes_used.append(kwargs["concurrency"])
        in_flight["max"] = 0

        def counted(*a: Any) -> Any:
            with lock:
                in_flight["now"] += 1
                in_flight["max"] = max(in_flight["max"], in_flight["now"])
            try:
                return process(*a)
            finally:
                with lock:
                    in_flight["now"] -= 1

        return real(ws, ctx, ids, counted, **kwargs)

    monkeypatch.setattr(concurrency, "process_all", spy)
    for lanes in (1, 8):
        with FakeAnthropic(min_cache_tokens=50, latency_s=0.05) as fake:
            ws = _claude_demo(tmp_path, f"demo{lanes}", fake.base_url, backend, lanes)
            summary = run_daily(ws, now=DAY0, limit=24)
            assert summary.errors == 0 and summary.processed > 10 and summary.carried_over
            assert len(fake.calls()) > 10  # drafts went through the model
            engine = engine_for(ws.database_url)
            assert verify(engine, ws.id).ok
            fake.stop()  # replay needs no network
            result = replay(ws, run_id=summary.run_id)
            assert result["replayed"] > 0 and result["divergences"] == []
            report = summary.to_dict()
            for k in ("run_id", "forecast", "actual"):  # actual: dollars (see _masked)
                report.pop(k)
            seen[lanes] = {"summary": report, **_outcomes(ws, summary.run_id)}
            assert (in_flight["max"] > 1) == (lanes > 1)  # 8 lanes did overlap; 1 never did
    assert lanes_used == [1, 8]
    assert seen[1]["summary"]["review_requested"] > 0
    assert json.dumps(seen[1], sort_keys=True, default=str) == json.dumps(
        seen[8], sort_keys=True, default=str
    )


def test_plain_workspace_stays_sequential(demo_ws: Workspace) -> None:
    """Without Claude the run takes prospects one after another, whatever run_concurrency says."""
    assert concurrency.run_concurrency(demo_ws) == 1


def test_claude_workspace_uses_run_concurrency(tmp_path: Path) -> None:
    d = copy_demo(tmp_path / "demo")
    toml = d / "workspace.toml"
    toml.write_text(
        claude_toml(toml.read_text(encoding="utf-8"), "http://127.0.0.1:9", llm="run_concurrency = 5"),
        encoding="utf-8",
    )
    assert concurrency.run_concurrency(load_workspace(d)) == 5


@pytest.mark.parametrize("url", ["sqlite:///{tmp}/x.db", "postgresql+psycopg://u@127.0.0.1:9/x"])
def test_engine_has_a_connection_for_every_lane(tmp_path: Path, url: str) -> None:
    """The most lanes a run may have (each holding one connection at a time) and the calling
    thread all get a connection without waiting for one to be returned."""
    from core.workspace import LlmConfig
    from state.db import make_engine

    most = next(m.le for m in LlmConfig.model_fields["run_concurrency"].metadata if hasattr(m, "le"))
    pool = make_engine(url.format(tmp=tmp_path)).pool
    assert pool.size() + pool._max_overflow >= most + 1  # type: ignore[attr-defined]
