"""CLI: `run.py serve` - the HTTP service (Slack reviews, webhooks, inbound leads,
scheduler) for one or more workspaces."""

from __future__ import annotations

from pathlib import Path

import typer

from cli.common import console, handle_errors


@handle_errors
def serve_command(
    workspace_dirs: list[str] = typer.Option(
        ..., "--workspace", "-w", help="Workspace folder; repeat for several."
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

    info, warnings = startup_report([load_workspace(Path(d)) for d in workspace_dirs], host=host, port=port)
    for line in info:
        console.print(line)
    for line in warnings:
        console.print(f"[yellow]warning[/] {line}")
    serve(workspace_dirs, host=host, port=port, verbose=verbose)
