"""CLI: channel state. A channel whose provider rejected the credentials is paused (one
operator task, no sends attempted); `channels resume` un-pauses it after the fix."""

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
from state.db import engine_for

channels_app = typer.Typer(help="Channel providers and their pause state.", no_args_is_help=True)

CHANNELS = ("email", "linkedin", "direct_mail")


def _provider(ws, name: str) -> str:  # noqa: ANN001
    return getattr(ws.config.channels, name).provider


@channels_app.command("list")
@handle_errors
def channels_list(workspace_dir: str = WorkspaceOpt, as_json: bool = JsonOpt) -> None:
    """Each channel with its provider, whether it is paused (and why), the sends waiting and
    the sends whose outcome is unknown (see `outbox reconcile`)."""
    from agents.delivery import channel_states

    ws = workspace(workspace_dir)
    rows = channel_states(engine_for(ws.database_url), workspace=ws.id, channels=CHANNELS)
    for r in rows:
        r["provider"] = _provider(ws, r["channel"])
    if as_json:
        emit_json(rows)
        return
    console.print(
        table(
            "channels",
            ["channel", "provider", "state", "since", "waiting", "unknown", "reason"],
            [
                [
                    r["channel"],
                    r["provider"],
                    "paused" if r["paused"] else "active",
                    r["changed_at"],
                    r["waiting"],
                    r["unknown"],
                    r["reason"],
                ]
                for r in rows
            ],
        )
    )


@channels_app.command("resume")
@handle_errors
def channels_resume(
    channel: str = typer.Argument(..., help="email, linkedin or direct_mail"),
    workspace_dir: str = WorkspaceOpt,
    now: str | None = NowOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Un-pause a channel after fixing its key or settings; waiting sends go on the next run."""
    from agents.delivery import resume_channel

    if channel not in CHANNELS:
        raise typer.BadParameter(f"expected one of {', '.join(CHANNELS)}", param_hint="CHANNEL")
    ws = workspace(workspace_dir)
    result = resume_channel(engine_for(ws.database_url), workspace=ws.id, channel=channel, now=now_from(now))
    if as_json:
        emit_json(result)
        return
    if result["was_paused"]:
        console.print(
            f"{channel} resumed; {result['tasks_closed']} operator task(s) closed. "
            "Waiting sends go out on the next run."
        )
    else:
        console.print(f"{channel} was not paused.")
