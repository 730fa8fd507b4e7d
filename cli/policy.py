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
    workspace_path,
)

app = typer.Typer(help="Policy guardrails: validate and explain.", no_args_is_help=True)


@app.command("check")
@handle_errors
def check_cmd(workspace_dir: str = WorkspaceOpt, as_json: bool = JsonOpt) -> None:
    """Validate workspace.toml (policy included); report every problem with its key."""
    from core.workspace import config_problems

    problems = config_problems(workspace_path(workspace_dir))
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
        ...,
        "--action",
        help="research | enrich | draft | request_review | send | call_task (anything else is refused)",
    ),
    step: str | None = typer.Option(None, "--step", help="Playbook step id (for draft/send)."),
    workspace_dir: str = WorkspaceOpt,
    now: str | None = NowOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Every rule's verdict for ACTION on PROSPECT at --now."""
    from agents.explain import explain

    ws = workspace(workspace_dir)
    result = explain(ws, prospect, action, step_id=step, now=now_from(now))
    if as_json:
        emit_json(result)
        return
    from agents.labels import prospect_labels
    from state.db import engine_for

    who = prospect_labels(engine_for(ws.database_url), ws.id, [result["prospect_id"]])[result["prospect_id"]]
    console.print(
        table(
            f"{action} for {who}: {result['outcome']}"
            + (f" until {result['until']}" if result.get("until") else ""),
            ["rule", "verdict", "reason"],
            [[r["rule"], r["outcome"], r["reason"]] for r in result["rules"]],
        )
    )
    if result.get("score"):
        console.print(
            f"score {result['score']['score']:g} (tier {result['score']['tier']}): {result['score']['explanation']}"
        )
