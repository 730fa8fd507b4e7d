"""CLI: signals and suppression lists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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

signals_app = typer.Typer(
    help="Buying signals (hiring, funding, ...) that drafts can cite.", no_args_is_help=True
)
suppress_app = typer.Typer(
    help="Suppression lists: emails and domains never to contact.", no_args_is_help=True
)


SHOWN_REJECTS = 10


def _rejects(rejects: list[dict[str, Any]], path: str | None) -> None:
    """The first rejects, then "and N more", then where they all are."""
    for r in rejects[:SHOWN_REJECTS]:
        where = f"line {r['line']}" if r.get("line") is not None else f"event {r.get('index')}"
        if r.get("line") is not None and r.get("index") is not None:
            where += f" event {r['index']}"
        field = f" {r['field']}" if r.get("field") else ""
        console.print(f"  [red]{where}[/]{field}: {escape(str(r['reason']))}")
    if len(rejects) > SHOWN_REJECTS:
        console.print(f"  and {len(rejects) - SHOWN_REJECTS} more")
    if path:
        console.print(f"rejected rows written to [bold]{escape(path)}[/]")


def render_import(result: Any, name: str) -> None:
    """The prospects import: counts, warnings, location inference, the first rejects."""
    console.print(
        table(
            f"import {name}",
            ["imported", "updated", "merged", "rejected"],
            [[result.imported, result.updated, result.merged, result.rejected]],
        )
    )
    for w in result.warnings:
        console.print(f"[yellow]warning[/] {escape(w)}")
    loc = result.to_dict()["location"]
    if result.accepted:
        tz = ", ".join(f"{n} {k}" for k, n in sorted(loc["timezone"].items()))
        country = ", ".join(f"{n} {k}" for k, n in sorted(loc["country"].items()))
        console.print(f"country: {country}; time zone: {tz}")
    _rejects(result.rejects, result.rejects_file)
    if not result.accepted:
        console.print(
            f"[red]no usable row in {escape(name)}[/]: nothing was imported"
            + (" (see the rejects above)" if result.rejects else " (the file has no data rows)")
        )


def _show(title: str, result: dict[str, Any], as_json: bool) -> None:
    public = {k: v for k, v in result.items() if k != "rejects"}
    if as_json:
        emit_json(public)
        return
    cols = [k for k in public if k not in ("rejects_file", "unknown_events")]
    console.print(table(title, cols, [[public[k] for k in cols]]))
    _rejects(result.get("rejects", []), result.get("rejects_file"))


@signals_app.command("import")
@handle_errors
def signals_import(
    file: Path = typer.Argument(..., help="CSV or JSONL file of signals."),
    workspace_dir: str = WorkspaceOpt,
    now: str | None = NowOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Import signals (CSV or JSONL: company_domain or email, type, detail, url, occurred_at)."""
    from agents.services import signals_file

    _show(f"signals {file.name}", signals_file(workspace(workspace_dir), file, now=now_from(now)), as_json)


@suppress_app.command("import")
@handle_errors
def suppress_import(
    file: Path = typer.Argument(..., help="CSV file with email and/or domain columns, and a reason."),
    workspace_dir: str = WorkspaceOpt,
    now: str | None = NowOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Import a suppression list (CSV with email and/or domain, and reason)."""
    from agents.services import suppressions_file

    _show(
        f"suppressions {file.name}",
        suppressions_file(workspace(workspace_dir), file, now=now_from(now)),
        as_json,
    )


events_app = typer.Typer(help="Engagement events (opens, replies, bounces, ...).", no_args_is_help=True)


@events_app.command("ingest")
@handle_errors
def events_ingest(
    file: Path = typer.Argument(..., help='JSONL: generic events or {"provider", "payload"} lines.'),
    workspace_dir: str = WorkspaceOpt,
    now: str | None = NowOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Ingest engagement events: match, store once, classify replies, apply their effects."""
    from agents.events_service import ingest
    from tools.events import read_events_file

    events, rejects = read_events_file(file)
    result = ingest(workspace(workspace_dir), events, now=now_from(now))
    rejects = rejects + result.pop("failed", [])
    result["rejected"] = len(rejects)
    result["rejects"] = rejects
    if as_json:
        emit_json(result)
        return
    effects = ", ".join(f"{n} {k}" for k, n in result["effects"].items()) or "none"
    _show(
        f"events {file.name}",
        {k: result[k] for k in ("stored", "duplicates", "unknown", "unmatched", "rejected")}
        | {"rejects": rejects},
        False,
    )
    console.print(f"effects: {effects}")
    if result["unknown_events"]:
        from agents.labels import prospect_labels
        from state.db import engine_for

        ws = workspace(workspace_dir)
        names = prospect_labels(
            engine_for(ws.database_url), ws.id, [u["prospect_id"] for u in result["unknown_events"]]
        )
    for u in result["unknown_events"]:
        who = names.get(u["prospect_id"], u["prospect_id"]) if u.get("prospect_id") else "no prospect"
        console.print(f"  [yellow]unknown event[/] {u['provider']}:{u['event']} (stored, {escape(str(who))})")
