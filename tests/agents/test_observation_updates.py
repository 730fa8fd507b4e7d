"""Observations updated from each action's known effects equal observations rebuilt from
the database, and a run decides exactly as with every observation rebuilt in full.

The check mode (OUTBOUND_OBSERVATION_CHECK=1) rebuilds every observation from the
database next to the updated one and fails the node on any difference; the walks below
run the demo workspace through its days (events, approvals) and a synthetic workspace
through three days with it on, then again with updates off (every observation rebuilt,
the shared usage read live: how observe worked before), and compare the decision logs."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from agents.events_service import ingest
from agents.runner import run_daily
from agents.services import init_workspace
from core.canonical import canonical_json
from core.workspace import load_workspace
from state.db import engine_for
from state.decision_log import load_body
from state.models import DecisionRecord, OutboxMessage, Prospect
from tests.agents.test_demo_timeline import EVENTS_AT, RUNS, approve_all
from tests.conftest import DEMO, at, copy_demo
from tools.events import read_events_file
from tools.synthetic import write_synthetic_workspace

VOLATILE = ("recorded_at", "hash", "prev_hash", "seq", "duration_ms", "id", "run_id")


def full_rebuilds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Observe as before: no effects named, every observation built in full, live usage."""
    import agents.nodes.act as act_node
    import agents.nodes.observe as observe_node
    from agents.observation import LiveFacts

    monkeypatch.setattr(act_node, "EFFECTS", {})
    monkeypatch.setattr(observe_node, "RunFacts", lambda session, ws, now, usage: LiveFacts(session, ws, now))


def log_of(ws: Any) -> list[str]:
    """The decision log, body by body (minus times and chain fields), and the outcomes."""
    with Session(engine_for(ws.database_url)) as s:
        rows = s.exec(
            select(DecisionRecord).where(DecisionRecord.workspace == ws.id).order_by(DecisionRecord.seq)  # type: ignore[arg-type]
        ).all()
        bodies = [canonical_json({k: v for k, v in load_body(r).items() if k not in VOLATILE}) for r in rows]
        sent = sorted(
            (o.prospect_id, o.step_id, o.status)
            for o in s.exec(select(OutboxMessage).where(OutboxMessage.workspace == ws.id)).all()
        )
        status = sorted(
            (p.id, p.status, p.stop_reason)
            for p in s.exec(select(Prospect).where(Prospect.workspace == ws.id)).all()
        )
    return [*bodies, canonical_json(sent), canonical_json(status)]


def walk_demo(path: Path) -> list[str]:
    ws = load_workspace(path)
    init_workspace(ws, now=at("2026-11-23T14:00:00Z"))
    for i, run_at in enumerate(RUNS):
        if i == 1:
            events, _ = read_events_file(DEMO / "events.jsonl")
            ingest(ws, events, now=at(EVENTS_AT))
        summary = run_daily(ws, now=at(run_at))
        assert summary.errors == 0, summary.error_details
        approve_all(ws, at(run_at.replace("15:00", "16:30")))
    return log_of(ws)


def walk_synthetic(src: Path, dest: Path) -> list[str]:
    shutil.copytree(src, dest)
    ws = load_workspace(dest)
    init_workspace(ws, now=at("2026-11-23T14:00:00Z"))
    for day in ("2026-11-23T16:00:00Z", "2026-11-24T16:00:00Z", "2026-11-26T16:00:00Z"):
        summary = run_daily(ws, now=at(day), chunk_size=40)
        assert summary.errors == 0, summary.error_details
    return log_of(ws)


@pytest.mark.slow
def test_demo_days_updated_observations_equal_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTBOUND_OBSERVATION_CHECK", "1")
    updated = walk_demo(copy_demo(tmp_path / "updated"))
    monkeypatch.delenv("OUTBOUND_OBSERVATION_CHECK")
    full_rebuilds(monkeypatch)
    rebuilt = walk_demo(copy_demo(tmp_path / "rebuilt"))
    assert len(updated) > 50
    assert updated == rebuilt


@pytest.mark.slow
def test_synthetic_days_updated_observations_equal_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    write_synthetic_workspace(src, 160, seed=7)
    monkeypatch.setenv("OUTBOUND_OBSERVATION_CHECK", "1")
    updated = walk_synthetic(src, tmp_path / "updated")
    monkeypatch.delenv("OUTBOUND_OBSERVATION_CHECK")
    full_rebuilds(monkeypatch)
    rebuilt = walk_synthetic(src, tmp_path / "rebuilt")
    assert len(updated) > 100
    assert updated == rebuilt


def test_the_check_catches_an_effect_left_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check is not vacuous: if research named only the spend (not the company's research
    status) the updated observation would keep "research_status" stale, and the check
    fails the observe node with the difference; named correctly, it passes."""
    from langgraph.runtime import Runtime

    import agents.nodes.act as act_node
    from agents.checkpoint import thread_id
    from agents.context import build_context
    from agents.nodes.guard import guard
    from agents.nodes.observe import observe
    from agents.nodes.plan import plan
    from agents.state import initial_state

    ws = load_workspace(copy_demo(tmp_path / "demo"))
    init_workspace(ws, now=at("2026-11-23T14:00:00Z"))
    rt: Any = Runtime(context=build_context(ws, engine_for(ws.database_url)))
    with Session(engine_for(ws.database_url)) as s:
        p = s.exec(select(Prospect).where(Prospect.email_norm == "carlos.mendez@acmerobotics.example")).one()
    st: Any = dict(initial_state(prospect_id=p.id, thread_id=thread_id(ws.id, p.id), run_id="r", now=RUNS[0]))
    st.update(observe(st, rt))
    st.update(plan(st, rt))
    st.update(guard(st, rt))
    assert st["plan"]["proposal"]["action"] == "research" and st["decision"]["outcome"] == "allow"
    monkeypatch.setattr(act_node, "EFFECTS", {**act_node.EFFECTS, "research": ["counters"]})
    after = act_node.act(st, rt)
    assert after["effects"] == ["counters"]
    monkeypatch.setenv("OUTBOUND_OBSERVATION_CHECK", "1")
    with pytest.raises(AssertionError, match=r"differs from the rebuild in \['company'\]"):
        observe({**st, **after}, rt)
    fixed = observe({**st, **after, "effects": ["company", "counters"]}, rt)
    assert fixed["observation"]["company"]["research_status"] == "done"
    assert st["observation"]["company"]["research_status"] != "done"


def test_updates_reread_only_the_touched_sections(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A day of the demo: most observations after an action are updates, not rebuilds."""
    import agents.nodes.observe as observe_node

    calls = {"update": 0, "build": 0}
    real_update, real_build = observe_node.update_observation, observe_node.build_observation

    def update(*a: Any, **k: Any) -> Any:
        out = real_update(*a, **k)
        calls["update"] += out is not None
        return out

    def build(*a: Any, **k: Any) -> Any:
        calls["build"] += 1
        return real_build(*a, **k)

    monkeypatch.setattr(observe_node, "update_observation", update)
    monkeypatch.setattr(observe_node, "build_observation", build)
    ws = load_workspace(copy_demo(tmp_path / "demo"))
    init_workspace(ws, now=at("2026-11-23T14:00:00Z"))
    summary = run_daily(ws, now=at(RUNS[0]))
    assert summary.errors == 0
    assert calls["update"] > 10 and calls["update"] >= calls["build"] // 2, calls
