"""Output a person can read: the README's first-client walk-through runs as written and,
at 80 columns, its tables split no header word and show no bare prospect ids; replay of a
demo day starts with a summary of at most one screen; the daily summary is a partition
with a legend; serve says where it listens; help shows flags and markup correctly."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer.main
from rich.console import Console
from rich.table import Table
from typer.testing import CliRunner

import cli.common
from run import app
from tests.conftest import ROOT, copy_demo
from tests.fakes.dns_server import FakeDns, good_zone

runner = CliRunner()
PROSPECT_ID = re.compile(r"\bp_[0-9a-f]{12}\b")
SCREEN = 24  # lines of a classic terminal


def readme_walkthrough() -> list[list[str]]:
    """The `$R ...` commands of the README's "Set up your first client" block."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Set up your first client", 1)[1]
    block = section.split("```bash", 1)[1].split("```", 1)[0]
    joined = re.sub(r"\\\n\s*", " ", block)
    commands = []
    for line in joined.splitlines():
        line = line.strip()
        if line.startswith("$R "):
            commands.append(shlex.split(line[3:].split("  #", 1)[0]))
    return commands


class Captured:
    """Tables printed through the CLI console, rendered again at 80 columns."""

    def __init__(self) -> None:
        self.tables: list[Table] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        original = cli.common.console.print

        def printing(*objects: Any, **kwargs: Any) -> None:
            self.tables.extend(o for o in objects if isinstance(o, Table))
            original(*objects, **kwargs)

        monkeypatch.setattr(cli.common.console, "print", printing)


def render(table: Table, width: int = 80) -> str:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(table)
    return console.export_text()


def split_header_words(table: Table, width: int = 80) -> list[str]:
    """Header words that do not appear whole in the rendered header rows."""
    if not table.show_header:
        return []
    lines = render(table, width).splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("┏"))
    end = next(i for i, line in enumerate(lines) if line.lstrip().startswith("┡"))
    tokens = set(re.split(r"[┃\s]+", " ".join(lines[start + 1 : end])))
    words = {w for c in table.columns for w in str(c.header).split()}
    return sorted(w for w in words if w not in tokens)


def test_split_header_detector_detects_the_old_defect() -> None:
    """The check fails on a plain Rich table with folding headers (as the CLI had)."""
    old = Table(title="daily")
    for c in ["processed", "email", "linkedin", "direct mail", "call tasks", "review requested", "deferred"]:
        old.add_column(c, overflow="fold")
    for c in ["stopped", "errors"]:
        old.add_column(c, overflow="fold")
    old.add_row(*["56", "18", "4", "0", "1", "7", "41", "8", "0"])
    assert split_header_words(old)
    fixed = cli.common.table("daily", [str(c.header) for c in old.columns], [["56"] * 9], width=80)
    assert split_header_words(fixed) == []


def test_readme_first_client_walkthrough(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every command of the README walk-through succeeds; at 80 columns no table splits a
    header word or shows a bare prospect id."""
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.delenv("OUTBOUND_WORKSPACE", raising=False)
    ws = tmp_path / "clients" / "northwind"
    capture = Captured()
    capture.install(monkeypatch)
    commands = readme_walkthrough()
    assert [c[0] for c in commands][:4] == ["workspace", "policy", "daily", "doctor"]
    run_id = ""
    outputs = []
    with FakeDns(good_zone("northwind-analytics.example")) as dns:
        monkeypatch.setenv("OUTBOUND_DNS_SERVER", dns.address)
        for cmd in commands:
            args: list[str] = []
            for a in cmd:
                if a == "$W":
                    args += ["-w", str(ws)]
                elif a == "clients/northwind":
                    args.append(str(ws))
                elif a.startswith("examples/"):
                    args.append(str(ROOT / a))
                elif a == "RUN_ID":
                    args.append(run_id)
                else:
                    args.append(a)
            result = runner.invoke(app, args)
            assert result.exit_code == 0, (args, result.output)
            outputs.append(result.output)
            found = re.search(r"daily run (run_\S+)", result.output)
            if found:
                run_id = found.group(1)
    assert run_id, "the walk-through's daily run printed no run id"
    assert "Import prospects next" in " ".join(outputs[2].split())
    assert capture.tables
    for t in capture.tables:
        assert split_header_words(t) == [], render(t)
        assert not PROSPECT_ID.search(render(t)), render(t)
    replay_out = outputs[-1]
    assert "Dana Whitfield (Northwind Freight)" in replay_out
    assert not PROSPECT_ID.search(replay_out)


@pytest.fixture(scope="module")
def demo_day(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    ws = copy_demo(tmp_path_factory.mktemp("demo") / "demo")
    assert runner.invoke(app, ["init", "-w", str(ws), "--now", "2026-11-23T14:00:00Z"]).exit_code == 0
    out = runner.invoke(app, ["daily", "-w", str(ws), "--now", "2026-11-23T15:00:00Z", "--json"])
    return ws, json.loads(out.output)


def test_replay_of_a_demo_day_starts_with_one_screen(
    demo_day: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`replay --run` prints a summary of at most one screen before the per-prospect
    details, names instead of ids, and --limit bounds the details."""
    monkeypatch.setenv("COLUMNS", "80")
    ws, daily = demo_day
    out = runner.invoke(app, ["replay", "-w", str(ws), "--run", daily["run_id"]]).output
    lines = out.splitlines()
    details = next(i for i, line in enumerate(lines) if line.startswith("decisions per prospect"))
    assert 3 < details <= SCREEN, "\n".join(lines[:details])
    assert f"for {daily['processed']} prospect(s)" in " ".join(out.split())
    # People are named "First Last (Company)" (which ten come first depends on their scores).
    assert re.search(r"[A-Z][a-z]+ [A-Z][a-z]+ \([A-Z][^)]*\)", out)
    assert not PROSPECT_ID.search(out)
    assert len(lines) < 400  # was 2,364 lines with every decision in one table
    summary_only = runner.invoke(app, ["replay", "-w", str(ws), "--run", daily["run_id"], "--limit", "0"])
    assert "decisions per prospect" not in summary_only.output
    one = runner.invoke(
        app, ["replay", "-w", str(ws), "--prospect", "katrin.vogel@kranich-logistik.example", "--json"]
    )
    data = json.loads(one.output)
    assert [g["prospect_id"] for g in data["prospects"]] == [data["timeline"][0]["prospect_id"]]


def test_daily_summary_is_a_partition_with_a_legend(
    demo_day: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daily table's outcome rows add up to the prospects processed, each row has a
    meaning, and messages are counted apart from prospects."""
    from cli.summary import partition

    _, daily = demo_day
    rows = partition(daily)
    assert sum(n for _, n, _ in rows) == daily["processed"]
    assert all(meaning for _, _, meaning in rows)
    monkeypatch.setenv("COLUMNS", "80")
    capture = Captured()
    capture.install(monkeypatch)
    ws = copy_demo(Path(str(demo_day[0]) + "-again"))
    runner.invoke(app, ["init", "-w", str(ws), "--now", "2026-11-23T14:00:00Z"])
    out = runner.invoke(app, ["daily", "-w", str(ws), "--now", "2026-11-23T15:00:00Z"]).output
    assert re.search(rf"total processed\s+│ {daily['processed']}\s", out), out
    assert "per message: a prospect may get more than one" in " ".join(out.split())
    table = capture.tables[-1]
    assert [str(c.header) for c in table.columns] == ["outcome", "prospects", "meaning"]


def test_serve_prints_where_it_listens_and_what_it_serves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`serve` prints its address, the Slack request URL and the webhook routes before it starts."""
    import service.main

    ws = copy_demo(tmp_path / "demo")
    started: list[dict[str, Any]] = []
    monkeypatch.setattr(service.main, "serve", lambda dirs, **kw: started.append(kw))
    result = runner.invoke(app, ["serve", "-w", str(ws), "--port", "8099"])
    assert result.exit_code == 0, result.output
    assert started == [{"host": "127.0.0.1", "port": 8099, "verbose": False}]
    out = result.output
    assert "listening on http://127.0.0.1:8099" in out
    assert "http://localhost:8099/slack/interactions" in out
    assert "/webhooks/events/<provider>" in out and "/webhooks/inbound" in out
    assert "workspace demo: daily run 08:30 America/New_York" in out


def _all_commands() -> list[tuple[str, Any]]:
    out = []

    def walk(c: Any, path: list[str]) -> None:
        if hasattr(c, "commands"):
            for name, sub in c.commands.items():
                walk(sub, [*path, name])
        else:
            out.append((" ".join(path), c))

    walk(typer.main.get_command(app), [])
    return out


def test_every_option_and_argument_has_help() -> None:
    """Every parameter of every command carries help text."""
    missing = [
        f"{name} {p.name}" for name, c in _all_commands() for p in c.params if not getattr(p, "help", None)
    ]
    assert missing == []


@pytest.mark.parametrize("name", [n for n, _ in _all_commands()])
def test_help_shows_flags_without_a_type(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """No option is shown as taking a <bool>: flags take no value."""
    monkeypatch.setenv("COLUMNS", "100")
    result = runner.invoke(app, [*name.split(), "--help"])
    assert result.exit_code == 0 and "<bool>" not in result.output


def test_help_renders_brackets_literally(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich markup in help is escaped: `[policy]` and `[playbook]` show as written, in
    every command's help."""
    monkeypatch.setenv("COLUMNS", "200")
    out = runner.invoke(app, ["replay", "--help"]).output
    assert "[policy]" in out and "[playbook]" in out
    assert "[run] workers" in runner.invoke(app, ["daily", "--help"]).output
    for name, command in _all_commands():
        texts = [command.help or ""] + [getattr(p, "help", "") or "" for p in command.params]
        bracketed = {m for t in texts for m in re.findall(r"\[[a-z_.]+\]", t.replace("\\[", "["))}
        if bracketed:
            rendered = runner.invoke(app, [*name.split(), "--help"]).output
            assert all(b in rendered for b in bracketed), (name, bracketed)
