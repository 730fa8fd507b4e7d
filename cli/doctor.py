"""CLI: `run.py doctor -w W` - check everything a workspace needs to work, at once; exit 1
when anything fails."""

from __future__ import annotations

import os
from typing import Any

import httpx
import typer
from rich.markup import escape
from rich.table import Table

from cli.common import JsonOpt, WorkspaceOpt, console, emit_json, handle_errors, workspace_path

STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}


@handle_errors
def doctor_command(
    workspace_dir: str = WorkspaceOpt,
    service_url: str | None = typer.Option(
        None,
        "--service-url",
        help="URL of the running service (run.py serve); doctor sends it a request signed with "
        "the Slack signing secret to check that both hold the same one.",
    ),
    dns_server: str | None = typer.Option(
        None,
        "--dns-server",
        envvar="OUTBOUND_DNS_SERVER",
        help="Ask this DNS server (HOST or HOST:PORT) instead of the system resolver.",
    ),
    no_dns: bool = typer.Option(False, "--no-dns", help="Skip the SPF/DKIM/DMARC look-ups."),
    slack_base_url: str | None = typer.Option(
        None,
        "--slack-base-url",
        envvar="OUTBOUND_SLACK_BASE_URL",
        help="Slack Web API base URL (for a test double); default Slack's own.",
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Check config (every problem at once), secrets (by name), provider credentials,
    Slack, webhook secrets, the database and the sending domain's SPF, DKIM and DMARC.
    Every finding has a next step; exit 1 when anything fails."""
    from service.sites import bot_token_env, signing_secret_env, webhook_secret_env
    from tools.doctor import DoctorDeps, EnvNames, run_doctor, summarize
    from tools.doctor.dns_check import make_resolver

    def slack_client(token: str) -> Any:
        from slack_sdk import WebClient

        kwargs: dict[str, Any] = {"token": token, "timeout": 10}
        if slack_base_url:
            kwargs["base_url"] = slack_base_url
        return WebClient(**kwargs)

    path = workspace_path(workspace_dir)
    with httpx.Client(timeout=10) as http:
        deps = DoctorDeps(
            env=dict(os.environ),
            http=http,
            slack_client_factory=slack_client,
            resolver=None if no_dns else make_resolver(dns_server),
            service_url=service_url,
        )
        findings = run_doctor(
            path,
            deps,
            lambda ws: EnvNames(
                slack_token=bot_token_env(ws),
                slack_secret=signing_secret_env(ws),
                webhook=lambda provider: webhook_secret_env(ws, provider),
            ),
        )
    counts = summarize(findings)
    if as_json:
        emit_json({"ok": counts["fail"] == 0, "counts": counts, "findings": [f.to_dict() for f in findings]})
    else:
        render(findings, counts)
    if counts["fail"]:
        raise typer.Exit(1)


def render(findings: list[Any], counts: dict[str, int]) -> None:
    """One row per finding, grouped by area; problems get their next step underneath.
    Long lines wrap under their own column (a grid), so the status column stays clear."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True, width=4)
    grid.add_column(overflow="fold")
    area = None
    for f in findings:
        if f.area != area:
            area = f.area
            grid.add_row("", f"[bold underline]{area}[/]")
        text = escape(f.message)
        if f.next_step and f.status != "ok":
            text += f"\n[dim]next:[/] {escape(f.next_step)}"
        grid.add_row(f"[{STYLE[f.status]}]{f.status}[/]", text)
    console.print(grid)
    verdict = "[bold red]problems found[/]" if counts["fail"] else "[green]ready[/]"
    console.print(
        f"{verdict}: {counts['ok']} ok, {counts['warn']} warnings, {counts['fail']} failures, "
        f"{counts['skip']} skipped"
    )
