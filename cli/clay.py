"""CLI: `clay push` sends changed prospects to the Clay table webhook (once per change, within
Clay's limits); `clay export` writes a Clay-friendly, formula-safe CSV. See docs/crm.md."""

from __future__ import annotations

from pathlib import Path

import typer

from cli.common import JsonOpt, NowOpt, WorkspaceOpt, console, emit_json, handle_errors, now_from, workspace

clay_app = typer.Typer(help="Results out to Clay: webhook push and CSV export.", no_args_is_help=True)


@clay_app.command("push")
@handle_errors
def clay_push(
    workspace_dir: str = WorkspaceOpt,
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would be pushed; send nothing."),
    now: str | None = NowOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Push every prospect whose row changed since its last push to the webhook in the env
    var named by clay.webhook_url_env in workspace.toml (about 10 rows a second, bursts of 20)."""
    from tools.clay import push_workspace

    ws = workspace(workspace_dir)
    report = push_workspace(ws, now=now_from(now), dry_run=dry_run)
    data = report.to_dict()
    if as_json:
        emit_json(data)
    else:
        verb = "would push" if dry_run else "pushed"
        console.print(f"{verb} {data['pushed']} row(s); {data['unchanged']} unchanged since their last push")
        console.print(f"webhook lifetime: {data['lifetime_used']} of {data['lifetime_cap']} submissions used")
        for s in data["skipped"]:
            console.print(f"  [yellow]held[/] {s['prospect_id']}: {s['reason']}")
        for f in data["failed"]:
            console.print(f"  [red]failed[/] {f['prospect_id']}: {f['error']}")
        if data["warning"]:
            console.print(f"[yellow]warning:[/] {data['warning']}")
    if data["failed"]:
        raise typer.Exit(1)


@clay_app.command("export")
@handle_errors
def clay_export(
    workspace_dir: str = WorkspaceOpt,
    out: Path = typer.Option(
        ..., "--out", help="CSV file to write (Clay's column names, formula-safe cells)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Write every prospect's results (status, last touch, reply class, score, evidence) as CSV."""
    from tools.clay import export_workspace

    ws = workspace(workspace_dir)
    n = export_workspace(ws, out)
    if as_json:
        emit_json({"rows": n, "file": str(out)})
    else:
        console.print(f"wrote {n} row(s) to {out}")
