"""The set-based observation loader (`ChunkFacts`) gives exactly the observation the
per-prospect builder gives, and the daily run's cheap carry-over decides exactly what the
full preview decides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from agents.forecast import CAP_RULES, ProspectPreview, preview
from agents.observation import ChunkFacts, build_observation
from agents.runner import run_daily
from agents.services import init_workspace
from core.workspace import load_workspace
from state.db import engine_for
from state.models import Prospect
from tests.conftest import DEMO, at
from tools.events import read_events_file
from tools.synthetic import write_synthetic_workspace


def assert_same_observations(ws: Any, now: Any) -> int:
    """Every prospect's observation from ChunkFacts equals build_observation's; returns how
    many prospects were compared."""
    engine = engine_for(ws.database_url)
    with Session(engine) as s:
        ids = list(s.exec(select(Prospect.id).where(Prospect.workspace == ws.id)).all())
        live = {pid: build_observation(s, ws, s.get(Prospect, pid), now) for pid in ids}  # type: ignore[arg-type]
    with Session(engine) as s:
        facts = ChunkFacts(s, ws, ids, now)
        bulk = {pid: facts.observation(pid) for pid in ids}
    differ = {pid: sorted(k for k in live[pid] if live[pid][k] != bulk[pid].get(k)) for pid in ids}
    assert {pid: keys for pid, keys in differ.items() if keys} == {}
    assert live == bulk
    return len(ids)


@pytest.mark.slow
def test_loader_matches_builder_on_the_demo(ready_ws) -> None:  # noqa: ANN001
    """The demo after two days of runs and its events (replies, out-of-office, acceptances):
    drafts, touches, reviews, events, suppressions and account replies all in play."""
    from agents.events_service import ingest

    ws = ready_ws
    run_daily(ws, now=at("2026-11-23T16:00:00Z"))
    events, _rejects = read_events_file(DEMO / "events.jsonl")
    ingest(ws, events, now=at("2026-11-25T20:00:00Z"))
    run_daily(ws, now=at("2026-11-26T16:00:00Z"))
    now = at("2026-11-27T16:00:00Z")
    n = assert_same_observations(ws, now)
    engine = engine_for(ws.database_url)
    with Session(engine) as s:
        ids = list(s.exec(select(Prospect.id).where(Prospect.workspace == ws.id)).all())
        obs = ChunkFacts(s, ws, ids, now)
        seen = [obs.observation(pid) for pid in ids]
    # the comparison covered the interesting sections, not only empty ones
    assert n >= 10
    assert any(o["touches"] for o in seen) and any(o["drafts"] for o in seen)
    assert any(o["events"]["replied_at"] for o in seen) and any(o["suppressions"] for o in seen)
    assert any(o["reviews"] for o in seen)


def test_loader_matches_builder_on_a_synthetic_workspace(tmp_path: Path) -> None:
    """A 30-prospect synthetic workspace after two daily runs (several prospects per
    company, so account-level counters differ by company)."""
    write_synthetic_workspace(tmp_path / "ws", 30, seed=3)
    ws = load_workspace(tmp_path / "ws")
    init_workspace(ws, now=at("2026-11-23T14:00:00Z"))
    run_daily(ws, now=at("2026-11-23T16:00:00Z"))
    run_daily(ws, now=at("2026-11-26T16:00:00Z"))
    assert assert_same_observations(ws, at("2026-11-30T16:00:00Z")) == 30


def _row(r: ProspectPreview) -> dict[str, Any]:
    d = r.to_dict()
    if r.carry_over:  # the run's rows name the cap verdicts only
        d["verdicts"] = [v for v in d["verdicts"] if v["rule"] in CAP_RULES]
    return d


def test_cheap_carry_over_decides_like_the_full_preview(tmp_path: Path) -> None:
    """On a synthetic workspace whose run budget runs out, the daily run's preview (cheap
    carry-over, no observation for those prospects) gives the same row for every prospect
    as the full preview: same order, action, outcome, carried-over rule and reason, cost."""
    write_synthetic_workspace(tmp_path / "ws", 80, seed=7)
    with (tmp_path / "ws" / "workspace.toml").open("a") as fh:
        fh.write("\n[policy.budget.run]\ncredits = 16\n")
    ws = load_workspace(tmp_path / "ws")
    init_workspace(ws, now=at("2026-11-23T14:00:00Z"))
    engine, now = engine_for(ws.database_url), at("2026-11-23T16:00:00Z")
    full = preview(ws, engine, now=now)
    cheap = preview(ws, engine, now=now, detail=False)
    carried = [r for r in full if r.carry_over]
    assert len(carried) >= 20 and len(full) - len(carried) >= 20  # both paths really taken
    assert [_row(r) for r in cheap] == [_row(r) for r in full]
