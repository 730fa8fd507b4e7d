"""CLI: forecast, daily --dry-run preview, costs and research print tables and JSON and
name bad options."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from run import app
from tests.conftest import copy_demo

runner = CliRunner()
NOW = "2026-11-23T15:00:00Z"


def test_forecast_preview_and_costs(tmp_path) -> None:  # noqa: ANN001
    """forecast and the dry run agree on credits and pay nothing; after the run, costs by provider
    add up to the run's actual spend, which the summary shows next to the forecast."""
    ws = str(copy_demo(tmp_path / "demo"))
    assert runner.invoke(app, ["init", "-w", ws, "--now", "2026-11-23T14:00:00Z", "--json"]).exit_code == 0
    fc = json.loads(runner.invoke(app, ["forecast", "-w", ws, "--now", NOW, "--json"]).output)
    dry = json.loads(runner.invoke(app, ["daily", "-w", ws, "--now", NOW, "--dry-run", "--json"]).output)
    assert (
        fc["credits"]
        == dry["forecast"]["credits"]
        == sum(r["est_credits"] for r in dry["preview"] if not r["carry_over"])
    )
    empty = json.loads(runner.invoke(app, ["costs", "-w", ws, "--json"]).output)
    assert empty["rows"] == [] and empty["total"]["credits"] == 0
    run = json.loads(runner.invoke(app, ["daily", "-w", ws, "--now", NOW, "--json"]).output)
    costs = json.loads(runner.invoke(app, ["costs", "-w", ws, "--by", "provider", "--json"]).output)
    assert costs["total"]["credits"] == run["actual"]["credits"] == run["forecast"]["credits"]
    table = runner.invoke(app, ["daily", "-w", ws, "--now", NOW, "--dry-run"])
    assert table.exit_code == 0 and "highest score first" in table.output
    bad = runner.invoke(app, ["costs", "-w", ws, "--by", "weekday"])
    assert bad.exit_code != 0 and "--by" in bad.output and "Traceback" not in bad.output
    bad_day = runner.invoke(app, ["costs", "-w", ws, "--from", "yesterday"])
    assert bad_day.exit_code != 0 and "--from" in bad_day.output
