"""A prospect carried over by a spent cap runs no graph and gets no decision of its own;
`prospects show` still says why it was not worked, from the run-level record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from agents.runner import run_daily
from agents.services import init_workspace
from core.workspace import load_workspace
from run import app
from state.db import engine_for
from state.decision_log import load_body
from state.models import DecisionRecord
from tests.conftest import at, copy_demo


@pytest.mark.slow
def test_prospects_show_explains_a_carried_over_prospect(tmp_path: Path) -> None:
    """The demo's 40-credit run cap carries two prospects over: `prospects show` names the
    rule, the reason and the run for each (JSON and Rich), and says nothing of the kind for a
    prospect the run worked."""
    path = copy_demo(tmp_path / "demo")
    ws = load_workspace(path)
    init_workspace(ws, now=at("2026-11-23T14:00:00Z"))
    summary = run_daily(ws, now=at("2026-11-23T15:00:00Z"))
    assert summary.carried_over == {"budget_run": 2}
    with Session(engine_for(ws.database_url)) as s:
        rec = s.exec(select(DecisionRecord).where(DecisionRecord.action == "carry_over")).one()
        carried = [p["id"] for p in load_body(rec)["carry_over"]["prospects"]]
        worked = s.exec(
            select(DecisionRecord.prospect_id).where(
                DecisionRecord.run_id == summary.run_id, DecisionRecord.prospect_id != ""
            )
        ).first()
    assert worked and worked not in carried
    runner = CliRunner()
    for pid in carried:
        out = runner.invoke(app, ["prospects", "show", pid, "-w", str(path), "--json"])
        assert out.exit_code == 0, out.output
        info = json.loads(out.output)["carried_over"]
        assert info["rule"] == "budget_run" and info["run_id"] == summary.run_id
        assert "budget" in info["reason"]
        rich = runner.invoke(app, ["prospects", "show", pid, "-w", str(path)])
        assert "carried over by budget_run" in " ".join(rich.output.split())  # Rich wraps lines
    out = runner.invoke(app, ["prospects", "show", worked, "-w", str(path), "--json"])
    assert json.loads(out.output)["carried_over"] is None
