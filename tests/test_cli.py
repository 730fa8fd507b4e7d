"""The command line: every command has --help; the JSON forms carry the documented keys;
bad input exits non-zero with the file, line or key named."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from run import app
from tests.conftest import copy_demo

runner = CliRunner()
COMMANDS = [
    [],
    ["import"],
    ["init"],
    ["daily"],
    ["demo-data"],
    ["replay"],
    ["prospects", "list"],
    ["prospects", "show"],
    ["signals", "import"],
    ["suppress", "import"],
    ["queue", "list"],
    ["queue", "show"],
    ["queue", "approve"],
    ["queue", "edit"],
    ["queue", "reject"],
    ["queue", "snooze"],
    ["outbox", "list"],
    ["audit", "verify"],
    ["policy", "check"],
    ["policy", "explain"],
    ["events", "ingest"],
    ["channels", "list"],
    ["channels", "resume"],
    ["serve"],
    ["costs"],
    ["forecast"],
    ["research"],
]


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c) or "root")
def test_help(cmd: list[str]) -> None:
    """Every user-facing command answers --help."""
    result = runner.invoke(app, [*cmd, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_json_forms_and_tamper(tmp_path) -> None:  # noqa: ANN001
    """init, daily, outbox, queue, replay and audit print JSON; tampering makes verify fail."""
    ws = str(copy_demo(tmp_path / "demo"))
    out = runner.invoke(
        app, ["import", f"{ws}/prospects.csv", "-w", ws, "--json", "--now", "2026-11-23T14:00:00Z"]
    )
    assert out.exit_code == 0, out.output
    imported = json.loads(out.output)
    assert set(imported) == {
        "imported",
        "updated",
        "merged",
        "rejected",
        "rejects_file",
        "rows",
        "warnings",
        "location",
    }
    assert imported["rejected"] == 4 and imported["merged"] == 2
    daily = json.loads(
        runner.invoke(app, ["daily", "-w", ws, "--now", "2026-11-23T15:00:00Z", "--json"]).output
    )
    assert {"run_id", "processed", "sent", "review_requested", "deferred", "stopped", "errors"} <= set(daily)
    assert set(daily["sent"]) == {"email", "linkedin", "direct_mail"}
    sent = json.loads(runner.invoke(app, ["outbox", "list", "-w", ws, "--json"]).output)
    assert sum(daily["sent"].values()) + daily["call_tasks"] == len(
        [s for s in sent if s["status"] == "sent"]
    )
    replayed = json.loads(runner.invoke(app, ["replay", "-w", ws, "--run", daily["run_id"], "--json"]).output)
    assert replayed["decisions"] > 0 and replayed["divergences"] == []
    ok = runner.invoke(app, ["audit", "verify", "-w", ws, "--json"])
    assert ok.exit_code == 0 and json.loads(ok.output)["ok"] is True
    from sqlalchemy import text

    from state.db import engine_for
    from tests.stored_bodies import edit_body

    with engine_for(f"sqlite:///{ws}/var/outbound.db").begin() as conn:
        wid = conn.execute(text("SELECT workspace FROM decisions WHERE seq = 2")).scalar_one()
        edit_body(conn, wid, 2, "research", "Research")
    bad = runner.invoke(app, ["audit", "verify", "-w", ws, "--json"])
    assert bad.exit_code == 1 and json.loads(bad.output)["first_broken_seq"] == 2


def test_bad_workspace_names_file_and_key(tmp_path) -> None:  # noqa: ANN001
    """A wrong value in workspace.toml is reported with the file and the key."""
    ws = copy_demo(tmp_path / "demo")
    toml = ws / "workspace.toml"
    toml.write_text(toml.read_text().replace("delay_business_days = 3", "delay_business_days = -3"))
    result = runner.invoke(app, ["daily", "-w", str(ws), "--json"])
    assert result.exit_code == 2
    err = json.loads(result.output)["error"]
    assert "workspace.toml" in err["message"] and "delay_business_days" in err["message"]
    check = runner.invoke(app, ["policy", "check", "-w", str(ws), "--json"])
    assert check.exit_code == 1 and json.loads(check.output)["problems"]
