"""CLI: `run.py workspace new DIR` - scaffold a client workspace, asking for every answer
not given as a flag (or, with --yes, taking the defaults and failing on what has none)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from cli.common import JsonOpt, console, emit_json, handle_errors
from core.errors import ConfigError
from tools.scaffold import CHANNEL_CHOICES, MODES, WorkspaceAnswers, validate_answers, write_workspace

workspace_app = typer.Typer(help="Create client workspaces.", no_args_is_help=True)


def _split(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


@workspace_app.command("new")
@handle_errors
def new_cmd(
    directory: Path = typer.Argument(..., help="Folder to create the workspace in (created if missing)."),
    client: str | None = typer.Option(None, "--client", help="The client's name, e.g. 'Acme Analytics'."),
    sender_name: str | None = typer.Option(None, "--sender-name", help="Who the messages are from."),
    sender_email: str | None = typer.Option(None, "--sender-email", help="The sending mailbox address."),
    sender_title: str | None = typer.Option(None, "--sender-title", help="The sender's job title."),
    company: str | None = typer.Option(
        None, "--company", help="The sender's company as printed in emails (default: the client)."
    ),
    postal_address: str | None = typer.Option(
        None, "--postal-address", help="Physical postal address printed in every email (CAN-SPAM)."
    ),
    domain: str | None = typer.Option(
        None, "--domain", help="Sending domain checked for SPF/DKIM/DMARC (default: the sender's)."
    ),
    unsubscribe_url: str | None = typer.Option(
        None, "--unsubscribe-url", help="One-click unsubscribe URL (default: https://DOMAIN/unsubscribe)."
    ),
    dkim_selector: str | None = typer.Option(
        None, "--dkim-selector", help="DKIM selector(s) of the sending service, comma-separated."
    ),
    spf_include: str | None = typer.Option(
        None, "--spf-include", help="What SPF must include, comma-separated (e.g. _spf.google.com)."
    ),
    timezone: str | None = typer.Option(
        None, "--timezone", help="The sender's IANA time zone (e.g. America/New_York)."
    ),
    industries: str | None = typer.Option(None, "--industries", help="ICP industries, comma-separated."),
    countries: str | None = typer.Option(
        None, "--countries", help="ICP countries as ISO codes, comma-separated (e.g. US,GB)."
    ),
    titles: str | None = typer.Option(None, "--titles", help="ICP job titles, comma-separated."),
    min_employees: int | None = typer.Option(None, "--min-employees", help="ICP minimum company size."),
    max_employees: int | None = typer.Option(None, "--max-employees", help="ICP maximum company size."),
    channels: str | None = typer.Option(
        None, "--channels", help=f"Channels to use, comma-separated: {', '.join(CHANNEL_CHOICES)}."
    ),
    pitch: str | None = typer.Option(
        None, "--pitch", help="One sentence on what the client offers (used in the starter templates)."
    ),
    mode: str | None = typer.Option(
        None,
        "--mode",
        help=f"What the agent may do: {' | '.join(MODES)} (default send, into the file outbox).",
    ),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="Do not ask: use defaults for what is not given; fail on missing answers."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing workspace.toml and templates."),
    as_json: bool = JsonOpt,
) -> None:
    """Scaffold a client workspace: a commented workspace.toml with a starter playbook and
    the policy defaults explained inline, plus its templates. Then run doctor."""
    given: dict[str, Any] = {
        "client": client,
        "sender_name": sender_name,
        "sender_email": sender_email,
        "sender_title": sender_title,
        "company": company,
        "postal_address": postal_address,
        "domain": domain,
        "unsubscribe_url": unsubscribe_url,
        "dkim_selectors": _split(dkim_selector),
        "spf_includes": _split(spf_include),
        "timezone": timezone,
        "industries": _split(industries),
        "countries": _split(countries),
        "titles": _split(titles),
        "min_employees": min_employees,
        "max_employees": max_employees,
        "channels": _split(channels),
        "pitch": pitch,
        "mode": mode,
    }
    if (directory / "workspace.toml").exists() and not force:
        raise ConfigError(
            "a workspace already exists here",
            file=str(directory / "workspace.toml"),
            next_step="Choose another folder, or pass --force to overwrite it.",
        )
    if not yes:
        given = _ask(given)
    answers = WorkspaceAnswers(**{k: v for k, v in given.items() if v is not None})
    result = write_workspace(directory, answers, force=force)
    if as_json:
        emit_json(result)
        return
    console.print(f"[green]created[/] workspace for [bold]{answers.client}[/] in [bold]{directory}[/]:")
    for f in result["files"]:
        console.print(f"  {f}")
    console.print("next:")
    for step in result["next_steps"]:
        console.print(f"  {step}")


# (field, question, default or None when it must be answered, is a list)
QUESTIONS: tuple[tuple[str, str, str | None, bool], ...] = (
    ("client", "Client name", None, False),
    ("sender_name", "Sender's name", None, False),
    ("sender_email", "Sender's email address", None, False),
    ("sender_title", "Sender's job title", "", False),
    ("company", "Sender's company (as printed in emails)", "", False),
    ("postal_address", "Physical postal address for the email footer", None, False),
    ("domain", "Sending domain", "", False),
    ("dkim_selectors", "DKIM selector(s), comma-separated", "", True),
    ("timezone", "Sender's time zone (IANA)", "UTC", False),
    ("industries", "ICP industries, comma-separated", "", True),
    ("countries", "ICP countries (ISO codes), comma-separated", "", True),
    ("titles", "ICP job titles, comma-separated", "", True),
    ("channels", f"Channels ({', '.join(CHANNEL_CHOICES)})", "email", True),
    ("pitch", "One sentence on what the client offers", "", False),
)


def _ask(given: dict[str, Any]) -> dict[str, Any]:
    """Prompt for every answer not given as a flag; re-ask a field until it is valid."""
    out = dict(given)
    for name, question, default, is_list in QUESTIONS:
        if out.get(name) is not None:
            continue
        if name == "company":
            default = out.get("client") or ""
        if name == "domain" and out.get("sender_email") and "@" in out["sender_email"]:
            default = out["sender_email"].rsplit("@", 1)[1]
        while True:
            raw = typer.prompt(question, default=default) if default is not None else typer.prompt(question)
            value: Any = _split(raw) if is_list else raw
            trial = {k: v for k, v in out.items() if v is not None} | {name: value}
            answers = WorkspaceAnswers(**trial).with_defaults()
            problems = [p for p in validate_answers(answers) if p["field"] == name]
            if not problems:
                out[name] = value
                break
            for p in problems:
                console.print(f"  [red]{p['problem']}[/]")
    return out
