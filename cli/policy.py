"""CLI: check the policy section; explain each rule's verdict for an action now."""

from __future__ import annotations

import typer

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

app = typer.Typer(help="Policy guardrails: validate and explain.", no_args_is_help=True)


@app.command("check")
@handle_errors
def check_cmd(workspace_dir: str = WorkspaceOpt, as_json: bool = JsonOpt) -> None:
    """Validate workspace.toml (policy included); report every problem with its key."""
    from pathlib import Path

    from core.workspace import config_problems

    problems = config_problems(Path(workspace_dir))
    if as_json:
        emit_json({"ok": not problems, "problems": problems})
    elif problems:
        console.print(
            table(
                "problems",
                ["file", "key", "problem"],
                [[p["file"], p["key"], p["problem"]] for p in problems],
            )
        )
    else:
        console.print("[green]workspace.toml is valid[/]")
    if problems:
        raise typer.Exit(1)


@app.command("explain")
@handle_errors
def explain_cmd(
    prospect: str = typer.Option(..., "--prospect", help="Prospect id or email."),
    action: str = typer.Option(
        ..., "--action", help="research | enrich | draft | request_review | send | call_task"
    ),
    step: str | None = typer.Option(None, "--step", help="Playbook step id (for draft/send)."),
    workspace_dir: str = WorkspaceOpt,
    now: str | None = NowOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Every rule's verdict for ACTION on PROSPECT at --now."""
    from agents.explain import explain

    result = explain(workspace(workspace_dir), prospect, action, step_id=step, now=now_from(now))
    if as_json:
        emit_json(result)
        return
    console.print(
        table(
            f"{action} for {result['prospect_id']}: {result['outcome']}"
            + (f" until {result['until']}" if result.get("until") else ""),
            ["rule", "verdict", "reason"],
            [[r["rule"], r["outcome"], r["reason"]] for r in result["rules"]],
        )
    )
    if result.get("score"):
        console.print(
            f"score {result['score']['score']:g} (tier {result['score']['tier']}): {result['score']['explanation']}"
        )
