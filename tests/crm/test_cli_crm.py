"""The `crm`, `clay` and `mcp` commands: help on every option, JSON output, clear errors."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from run import app

runner = CliRunner()


@pytest.mark.parametrize("cmd", [["crm", "sync"], ["clay", "push"], ["clay", "export"], ["mcp"]])
def test_help(cmd: list[str]) -> None:
    """Each new command answers --help with its options described."""
    result = runner.invoke(app, [*cmd, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output and "--workspace" in result.output


@pytest.mark.slow
def test_crm_sync_cli_dry_run_then_write_then_nothing(day0_ws, fake_hubspot, monkeypatch) -> None:  # noqa: ANN001
    """`crm sync --dry-run --json` plans without writing; the sync writes; a second writes nothing."""
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", fake_hubspot.token)
    toml = day0_ws.root / "workspace.toml"
    toml.write_text(toml.read_text() + f'\n[crm]\nprovider = "hubspot"\nhost = "{fake_hubspot.base_url}"\n')
    ws = str(day0_ws.root)
    now = ["--now", "2026-11-23T18:00:00Z"]
    plan = json.loads(runner.invoke(app, ["crm", "sync", "-w", ws, "--dry-run", "--json", *now]).output)
    assert plan["dry_run"] and plan["creates"] > 0 and fake_hubspot.writes() == 0
    done = json.loads(runner.invoke(app, ["crm", "sync", "-w", ws, "--json", *now]).output)
    assert done["writes"] > 0 and done["errors"] == []
    again = json.loads(runner.invoke(app, ["crm", "sync", "-w", ws, "--json", *now]).output)
    assert again["writes"] == 0 and again["creates"] == 0


@pytest.mark.slow
def test_crm_sync_without_a_crm_names_the_key(day0_ws) -> None:  # noqa: ANN001
    """With no CRM configured the command exits 2 naming crm.provider, without a traceback."""
    result = runner.invoke(app, ["crm", "sync", "-w", str(day0_ws.root)])
    assert result.exit_code == 2 and "crm.provider" in result.output and "Traceback" not in result.output
