"""CLI: `batches` (the daily run's Message Batches: poll them, list them)."""

from __future__ import annotations

import typer
from rich.markup import escape

from cli.common import (
    JsonOpt,
    NowOpt,
    WorkspaceOpt,
    console,
    emit_json,
    handle_errors,
    now_from,
    table,
    workspace,
)

batches_app = typer.Typer(
    help="The daily run's Message Batches (llm.use_batches in workspace.toml): poll them, list them.",
    no_args_is_help=True,
)


@batches_app.command("poll")
@handle_errors
def poll_cmd(workspace_dir: str = WorkspaceOpt, now: str | None = NowOpt, as_json: bool = JsonOpt) -> None:
    """Collect the results of ended batches (priced as batch work); their prospects are due at once and resume in the next run. Also resolves a submission a crash left in doubt, and submits requests (drafts, research) a crashed run left queued."""
    from agents import batching
    from agents.context import build_context
    from state.db import engine_for

    ws = workspace(workspace_dir)
    engine = engine_for(ws.database_url)
    ctx = batching.for_daily_run(build_context(ws, engine))
    if not batching.enabled(ctx):
        data: dict = {"workspace": ws.id, "enabled": False}
    else:
        data = {
            "workspace": ws.id,
            "enabled": True,
            **batching.poll(engine, ctx.llm, ws.id, now=now_from(now)),
        }
    if as_json:
        emit_json(data)
        return
    if not data["enabled"]:
        console.print(
            'Batches are off: set [llm] use_batches = true (with providers.drafting or providers.research = "claude").'
        )
        return
    results = data.get("results") or {}
    console.print(
        f"results: {', '.join(f'{k} {v}' for k, v in sorted(results.items())) or 'none yet'}; "
        f"still running: {len(data.get('in_progress') or [])}"
    )
    for r in data.get("in_doubt") or []:
        console.print(f"in doubt {escape(r['submission'])}: {escape(r['resolved'])} {escape(r['batch_id'])}")
    if data.get("resubmitted"):
        console.print(f"submitted {data['resubmitted']['items']} queued request(s) left by an earlier run")
    if data.get("submit_error"):
        console.print(f"[red]submit failed[/red]: {escape(str(data['submit_error'].get('message')))}")


@batches_app.command("list")
@handle_errors
def list_cmd(workspace_dir: str = WorkspaceOpt, as_json: bool = JsonOpt) -> None:
    """Every batch the daily runs submitted, newest first, with its results."""
    from agents import batching
    from state.db import engine_for

    ws = workspace(workspace_dir)
    rows = batching.overview(ws, engine_for(ws.database_url))
    if as_json:
        emit_json({"workspace": ws.id, "batches": rows})
        return
    console.print(
        table(
            "batches",
            ["submission", "batch", "status", "items", "results", "run"],
            [
                [
                    r["id"],
                    r["batch_id"] or "-",
                    r["status"],
                    r["items"],
                    ", ".join(f"{k} {v}" for k, v in sorted(r["results"].items())) or "-",
                    r["run_id"],
                ]
                for r in rows
            ],
        )
    )
