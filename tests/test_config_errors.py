"""A bad workspace.toml is reported whole: every problem with its key, "did you mean"
for a typo'd key, and a missing file says how to create one."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from core.workspace import config_problems
from run import app
from tests.conftest import copy_demo

runner = CliRunner()


def test_every_problem_at_once_with_did_you_mean(tmp_path: Path) -> None:
    """daily names all three problems (not just the first), typos with the closest key."""
    ws = copy_demo(tmp_path / "demo")
    toml = ws / "workspace.toml"
    toml.write_text(
        toml.read_text()
        .replace("mailbox_daily_cap = 18", "mailbox_dayly_cap = 18")
        .replace("delay_business_days = 3", "delay_busines_days = 3")
        .replace('daily_at = "08:30"', 'daily_at = "half past eight"')
    )
    result = runner.invoke(app, ["daily", "-w", str(ws), "--json"])
    assert result.exit_code == 2
    message = json.loads(result.output)["error"]["message"]
    assert "3 problems" in message
    assert (
        "policy.capacity.mailbox_dayly_cap: unknown key 'mailbox_dayly_cap'; did you mean 'mailbox_daily_cap'?"
        in message
    )
    assert "did you mean 'delay_business_days'?" in message
    assert "run.daily_at" in message
    keys = [p["key"] for p in config_problems(ws)]
    assert keys == [
        "playbook.steps.3.delay_busines_days",
        "run.daily_at",
        "policy.capacity.mailbox_dayly_cap",
    ]


def test_unknown_section_lists_known_keys_when_nothing_is_close(tmp_path: Path) -> None:
    """An unknown key with no close match lists the keys allowed at that place."""
    ws = copy_demo(tmp_path / "demo")
    toml = ws / "workspace.toml"
    toml.write_text(toml.read_text() + "\n[zzz]\nx = 1\n")
    (problem,) = config_problems(ws)
    assert problem["key"] == "zzz" and "known keys here: client, sender" in problem["problem"]


def test_missing_workspace_says_how_to_create_one(tmp_path: Path) -> None:
    """init on an empty folder, and doctor, point to `workspace new`."""
    init = runner.invoke(app, ["init", "-w", str(tmp_path), "--json"])
    assert init.exit_code == 2
    assert "workspace new" in json.loads(init.output)["error"]["next_step"]
    doctor = runner.invoke(app, ["doctor", "-w", str(tmp_path), "--no-dns", "--json"])
    assert doctor.exit_code == 1
    (finding,) = json.loads(doctor.output)["findings"]
    assert "workspace new" in finding["next_step"]
