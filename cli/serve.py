"""CLI: `run.py serve` - the HTTP service (Slack reviews, webhooks, inbound leads,
scheduler) for one or more workspaces."""

from __future__ import annotations

from typing import Any

import typer

from cli.common import WORKSPACE_ENV, console, handle_errors
from core.errors import ConfigError


@handle_errors
def serve_command(
    workspace_dirs: list[str] | None = typer.Option(
        None,
        "--workspace",
        "-w",
        envvar=WORKSPACE_ENV,
        show_envvar=True,
        help="Workspace folder; repeat for several (the env var may hold several, space-separated).",
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8080, "--port", help="Port to listen on."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log requests and jobs."),
) -> None:
    """Run the service: Slack review interactions, provider webhooks, inbound leads, the
    daily scheduler, /healthz and /metrics. Secrets come from env vars (docs/service.md)."""
    from core.workspace import load_workspace
    from service.main import serve
    from service.startup import startup_report

    if not workspace_dirs:
        raise ConfigError(
            f"no workspace given: pass --workspace/-w DIR (repeatable) or set {WORKSPACE_ENV}",
            next_step="Run with -w path/to/workspace.",
        )
    workspaces = [load_workspace(d) for d in workspace_dirs]
    print_banner(workspaces, host=host, port=port)
    for line in startup_report(workspaces, host=host, port=port)[1]:
        console.print(f"warning: {line}", style="yellow", markup=False, highlight=False)
    serve(workspace_dirs, host=host, port=port, verbose=verbose)


def banner_lines(workspaces: list[Any], *, host: str, port: int) -> list[str]:
    """What the service serves and where: the routes a provider or Slack is pointed at,
    per workspace (pure, so tests and the README check it without starting a server)."""
    from service.sites import signing_secret_env, webhook_secret_env

    shown_host = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::") else host
    base = f"http://{shown_host}:{port}"
    several = len(workspaces) > 1
    lines = [f"outbound service listening on http://{host}:{port} (Ctrl-C stops it)"]
    lines.append(f"  Slack interactivity request URL: {base}/slack/interactions")
    lines.append(f"  health: {base}/healthz   metrics: {base}/metrics")
    for ws in workspaces:
        q = f"?workspace={ws.id}" if several else ""
        slack = f"#{ws.config.slack.channel.lstrip('#')}" if ws.config.slack.channel else "off"
        lines.append(
            f"  workspace {ws.id}: daily run {ws.config.run.daily_at} {ws.config.run.timezone}; "
            f"Slack reviews {slack} (secret {signing_secret_env(ws)})"
        )
        lines.append(f"    provider webhooks: {base}/webhooks/events/<provider>{q}")
        lines.append(
            f"    inbound leads:     {base}/webhooks/inbound{q} (secret {webhook_secret_env(ws, 'inbound')})"
        )
    if host in ("127.0.0.1", "localhost", "::1"):
        lines.append(
            "  only this machine can reach it: expose it with a tunnel or reverse proxy (README: "
            "'Set up your first client')"
        )
    return lines


def print_banner(workspaces: list[Any], *, host: str, port: int) -> None:
    for line in banner_lines(workspaces, host=host, port=port):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
