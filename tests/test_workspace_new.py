"""`workspace new` scaffolds a client workspace that passes policy check, imports a
Clay-style export, passes doctor and dry-runs; no command falls back to a default
workspace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from run import app
from tests.conftest import DEMO
from tests.fakes.dns_server import FakeDns, good_zone

runner = CliRunner()

FLAGS = [
    "--client",
    "Northwind Analytics",
    "--sender-name",
    "Jo Park",
    "--sender-email",
    "jo@northwind-analytics.example",
    "--postal-address",
    "Northwind Analytics Inc., 100 Pine St, Seattle, WA 98101, USA",
    "--timezone",
    "America/Los_Angeles",
    "--industries",
    "Logistics,Software",
    "--countries",
    "US,CA",
    "--titles",
    "VP Finance,Controller",
    "--channels",
    "email,linkedin",
    "--dkim-selector",
    "google",
    "--spf-include",
    "_spf.google.com",
    "--pitch",
    "Northwind Analytics turns freight invoices into clean ledger entries",
]

CLAY_CSV = """First Name,Last Name,Job Title,Company Name,Company Domain,LinkedIn Profile,Work Email,Location,Company Size,Industry
Dana,Whitfield,VP Finance,Northwind Freight,northwind-freight.example,https://www.linkedin.com/in/dana-whitfield,dana@northwind-freight.example,"Chicago, Illinois, United States",201-500 employees,Logistics
Omar,Haddad,Controller,Bluefin Analytics,bluefin.example,https://www.linkedin.com/in/omar-haddad,omar@bluefin.example,"Austin, Texas, United States",51-200 employees,Software
Priya,Natarajan,Head of Finance,Copperleaf Health,copperleaf.example,https://www.linkedin.com/in/priya-natarajan,,Greater Boston,1001-5000 employees,Healthcare IT
"""


def flat(text: str) -> str:
    return " ".join(text.split())


def new_workspace(path: Path, *extra: str) -> Path:
    result = runner.invoke(app, ["workspace", "new", str(path), "--yes", *FLAGS, *extra])
    assert result.exit_code == 0, result.output
    return path


def test_scaffold_import_doctor_dry_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A scaffolded workspace passes policy check, says "import prospects next" when empty,
    imports a Clay-style CSV, passes doctor (against a local DNS server) and dry-runs."""
    monkeypatch.setenv("COLUMNS", "80")
    ws = new_workspace(tmp_path / "northwind")
    toml = (ws / "workspace.toml").read_text()
    assert "# [policy.capacity]" in toml and "# mailbox_daily_cap = 40" in toml  # defaults explained inline
    assert (
        'mode = "send"' in toml
        and 'provider = "file"' in toml
        and (ws / "templates" / "email_intro.j2").exists()
    )

    check = runner.invoke(app, ["policy", "check", "-w", str(ws), "--json"])
    assert check.exit_code == 0 and json.loads(check.output) == {"ok": True, "problems": []}

    empty = runner.invoke(app, ["daily", "--dry-run", "-w", str(ws), "--now", "2026-11-23T15:00:00Z"])
    assert empty.exit_code == 0, empty.output
    assert "Import prospects next" in flat(empty.output)

    csv = tmp_path / "clay-export.csv"
    csv.write_text(CLAY_CSV, encoding="utf-8")
    imported = runner.invoke(
        app, ["import", str(csv), "-w", str(ws), "--json", "--now", "2026-11-23T14:00:00Z"]
    )
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.output)["imported"] == 3

    with FakeDns(good_zone("northwind-analytics.example")) as dns:
        doctor = runner.invoke(app, ["doctor", "-w", str(ws), "--dns-server", dns.address, "--json"])
    report = json.loads(doctor.output)
    assert doctor.exit_code == 0, [f for f in report["findings"] if f["status"] == "fail"]
    assert {f["area"] for f in report["findings"]} >= {"config", "providers", "database", "dns"}

    dry = runner.invoke(app, ["daily", "--dry-run", "-w", str(ws), "--now", "2026-11-23T15:00:00Z", "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["processed"] == 3


def test_yes_without_answers_names_every_missing_flag(tmp_path: Path) -> None:
    """--yes with required answers missing fails naming each flag, and writes nothing."""
    result = runner.invoke(app, ["workspace", "new", str(tmp_path / "x"), "--yes", "--client", "X"])
    assert result.exit_code == 2
    text = flat(result.output)
    for flag in ("--sender-name", "--sender-email", "--postal-address"):
        assert flag in text
    assert not (tmp_path / "x" / "workspace.toml").exists()


def test_prompts_ask_for_missing_answers_and_reask_bad_ones(tmp_path: Path) -> None:
    """Without --yes every missing answer is asked; an invalid time zone is asked again."""
    answers = "\n".join(
        [
            "Bluefin",  # client
            "Ana Silva",  # sender name
            "ana@bluefin.example",  # sender email
            "",  # title
            "",  # company (default: client)
            "Bluefin Ltd, 1 Dock Road, London E1 1AA, UK",  # postal address
            "",  # domain (default from the email)
            "google",  # DKIM selector
            "Mars/Olympus",  # bad time zone
            "Europe/London",  # asked again
            "",  # industries
            "GB",  # countries
            "",  # titles
            "email",  # channels
            "",  # pitch
        ]
    )
    result = runner.invoke(app, ["workspace", "new", str(tmp_path / "bluefin")], input=answers + "\n")
    assert result.exit_code == 0, result.output
    assert "not an IANA time zone" in result.output
    toml = (tmp_path / "bluefin" / "workspace.toml").read_text()
    assert 'timezone = "Europe/London"' in toml and 'sending_domain = "bluefin.example"' in toml
    check = runner.invoke(app, ["policy", "check", "-w", str(tmp_path / "bluefin")])
    assert check.exit_code == 0, check.output


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    """An existing workspace.toml is not overwritten without --force."""
    ws = new_workspace(tmp_path / "a")
    before = (ws / "workspace.toml").read_text()
    again = runner.invoke(app, ["workspace", "new", str(ws), "--yes", *FLAGS])
    assert again.exit_code == 2 and "already exists" in flat(again.output)
    assert (ws / "workspace.toml").read_text() == before


WS_COMMANDS = [
    ["init"],
    ["daily"],
    ["import", "x.csv"],
    ["prospects", "list"],
    ["outbox", "list"],
    ["audit", "verify"],
    ["replay", "--run", "r"],
    ["policy", "check"],
    ["policy", "explain", "--prospect", "a@b.example", "--action", "send"],
    ["queue", "list"],
    ["channels", "list"],
    ["signals", "import", "x.csv"],
    ["suppress", "import", "x.csv"],
    ["events", "ingest", "x.jsonl"],
    ["doctor"],
    ["serve"],
]


def _tree_state(root: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(root)), p.stat().st_mtime_ns) for p in root.rglob("*"))


@pytest.mark.parametrize("cmd", WS_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_no_workspace_no_default(cmd: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without -w and OUTBOUND_WORKSPACE a command fails naming both, and never touches
    the bundled demo."""
    monkeypatch.delenv("OUTBOUND_WORKSPACE", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x.csv").write_text("email\na@b.example\n")
    (tmp_path / "x.jsonl").write_text("")
    before = _tree_state(DEMO)
    result = runner.invoke(app, cmd)
    assert result.exit_code == 2, result.output
    text = flat(result.output)
    assert "--workspace/-w" in text and "OUTBOUND_WORKSPACE" in text
    assert _tree_state(DEMO) == before


def test_env_var_is_read_when_the_command_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """OUTBOUND_WORKSPACE set after the CLI was imported is honoured (Typer envvar)."""
    ws = new_workspace(tmp_path / "envws")
    monkeypatch.setenv("OUTBOUND_WORKSPACE", str(ws))
    result = runner.invoke(app, ["policy", "check", "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["ok"] is True
