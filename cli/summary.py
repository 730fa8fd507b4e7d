"""Rendering of the daily run's summary: the processed prospects as a partition (each
counted once, by where it ended up today) with a legend, then the messages and tasks
created, which are counted separately because one prospect can get several."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from agents.labels import prospect_labels
from cli.common import console, table
from core.workspace import Workspace
from state import repo
from state.db import engine_for

# outcome -> (label, legend); the order is the order of the rows.
OUTCOMES: tuple[tuple[str, str, str], ...] = (
    ("review_requested", "waiting for review", "a draft waits for a human (queue list)"),
    ("deferred", "scheduled", "waits for its next step, window or cap (after any send today)"),
    ("stopped", "stopped", "sequence ended (reply, opt-out, policy)"),
    ("awaiting_batch", "waiting for a batch", "its draft is in a Message Batch; resumes when it ends"),
    ("errors", "failed", "a classified error; see below"),
)
DRY_RUN_OTHER = ("would act now", "research, enrich or draft at the next run")
LIVE_OTHER = ("other", "ended its run without waiting or stopping")


def partition(data: dict[str, Any]) -> list[tuple[str, int, str]]:
    """(label, prospects, legend) rows that add up to ``processed``."""
    rows = [(label, int(data.get(key, 0)), legend) for key, label, legend in OUTCOMES]
    rows = [r for r in rows if r[1] or r[0] != "waiting for a batch"]
    rest = int(data["processed"]) - sum(n for _, n, _ in rows)
    other = DRY_RUN_OTHER if data.get("dry_run") else LIVE_OTHER
    if rest:
        rows.append((other[0], rest, other[1]))
    return rows


def print_daily_summary(ws: Workspace, data: dict[str, Any]) -> None:
    """The run's outcome table, what it created, and its errors with names."""
    kind = "dry run" if data.get("dry_run") else "daily run"
    if not data["processed"]:
        _print_nothing_due(ws, data, kind)
        return
    rows: list[list[Any]] = [[label, n, legend] for label, n, legend in partition(data)]
    rows.append(["total processed", data["processed"], "each prospect counted once"])
    console.print(
        table(f"{kind} {data['run_id']} at {data['now']}", ["outcome", "prospects", "meaning"], rows)
    )
    verb = "would send" if data.get("dry_run") else "sent in this run"
    made = (
        f"{data['sent']['email']} email, {data['sent']['linkedin']} LinkedIn, "
        f"{data['sent']['direct_mail']} direct mail, {data['call_tasks']} call task(s)"
    )
    console.print(f"{verb}: {made} [dim](per message: a prospect may get more than one)[/]")
    b = data.get("batches") or {}
    if b.get("submitted") or b.get("results"):
        res = ", ".join(f"{k} {v}" for k, v in sorted((b.get("results") or {}).items()))
        console.print(
            f"batches: submitted {b.get('items', 0)} request(s) in {', '.join(b.get('submitted') or []) or '-'}; "
            f"results collected: {res or 'none'}"
        )
    details = data["error_details"][:20]
    if details:
        names = prospect_labels(engine_for(ws.database_url), ws.id, [e["prospect_id"] for e in details])
        for e in details:
            console.print(
                f"  [red]{names.get(e['prospect_id'], e['prospect_id'])}[/] ({e['error_class']}): "
                f"{e['message']} [dim]-> {e['next_step']}[/]"
            )


def _print_nothing_due(ws: Workspace, data: dict[str, Any], kind: str) -> None:
    with Session(engine_for(ws.database_url)) as session:
        any_prospect = bool(repo.list_prospects(session, workspace=ws.id, limit=1))
    if not any_prospect:
        console.print(
            f"{kind} at {data['now']}: this workspace has no prospects yet. "
            f"Import prospects next: run.py import prospects.csv -w {ws.root}",
            soft_wrap=True,
        )
    else:
        console.print(
            f"{kind} at {data['now']}: no prospect is due. "
            f"See who is waiting and until when: run.py prospects list -w {ws.root}",
            soft_wrap=True,
        )
