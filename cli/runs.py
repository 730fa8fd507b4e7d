"""CLI: `run.py worker` (a job-queue worker for daily-run chunks and inbound leads, on any
host) and `run.py runs show` (a run's stored summary, aggregated when its jobs are done)."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

from cli.common import (
    WORKSPACE_ENV,
    JsonOpt,
    WorkspaceOpt,
    console,
    emit_json,
    handle_errors,
    table,
    workspace,
)
from core.errors import ConfigError, InputError

app = typer.Typer(help="Daily runs: show a run's summary (also of a run queued for workers).")


@handle_errors
def worker_command(
    workspace_dirs: list[str] | None = typer.Option(
        None,
        "--workspace",
        "-w",
        envvar=WORKSPACE_ENV,
        show_envvar=True,
        metavar="DIR",
        help="Workspace folder; repeat for several (all on the same PostgreSQL database).",
    ),
    concurrency: int = typer.Option(
        1, "--concurrency", min=1, max=64, help="Worker processes on this host (one job each at a time)."
    ),
    queues: str = typer.Option(
        "daily,inbound",
        "--queues",
        help="Comma-separated queues to take jobs from: daily (run chunks), inbound (leads).",
    ),
    burst: bool = typer.Option(False, "--burst", help="Exit once the queues are empty instead of waiting."),
    heartbeat: float = typer.Option(
        10.0, "--heartbeat", min=0.2, help="Seconds between heartbeats (and checks for stalled jobs)."
    ),
    stalled_after: float = typer.Option(
        30.0,
        "--stalled-after",
        min=1.0,
        help="A worker silent this many seconds is dead: its job goes back to the queue.",
    ),
    poll: float = typer.Option(
        2.0, "--poll", min=0.1, help="Seconds between polls when no job is announced."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print one JSON object per line (start, retried jobs, stop) instead of text."
    ),
) -> None:
    """Take daily-run chunks and inbound leads from the PostgreSQL job queue (procrastinate)
    and process them; run as many as you like on any number of hosts. SIGTERM or Ctrl-C
    finish the job in hand, then stop. A worker that dies mid-job (even by kill -9) loses
    nothing: after --stalled-after seconds another worker puts its job back in the queue,
    and the retried job skips what was done and sends nothing twice (docs/scale-out.md)."""
    from agents.jobs import QUEUES, check_workspaces, run_worker, run_workers
    from core.workspace import load_workspace

    if not workspace_dirs:
        raise ConfigError(
            f"no workspace given: pass --workspace/-w DIR (repeatable) or set {WORKSPACE_ENV}",
            next_step="Run with -w path/to/workspace.",
        )
    wanted = tuple(q.strip() for q in queues.split(",") if q.strip())
    unknown = [q for q in wanted if q not in QUEUES]
    if unknown or not wanted:
        raise InputError(
            f"unknown queue(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(QUEUES)}",
            field="--queues",
            next_step=f"Pass --queues with some of: {', '.join(QUEUES)}.",
        )
    workspaces = [load_workspace(d) for d in workspace_dirs]
    check_workspaces(workspaces)
    options: dict[str, Any] = {
        "queues": wanted,
        "burst": burst,
        "heartbeat": heartbeat,
        "stalled_after": stalled_after,
        "poll": poll,
    }
    show = _json_line if as_json else _text_line
    if concurrency == 1:
        run_worker(workspaces, on_event=show, **options)
    else:
        run_workers(
            [str(ws.root) for ws in workspaces],
            concurrency=concurrency,
            on_event=show,
            print_events=as_json,
            **options,
        )


def _json_line(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event, default=str) + "\n")
    sys.stdout.flush()


def _text_line(event: dict[str, Any]) -> None:
    kind = event.get("event")
    if kind == "worker_started":
        console.print(
            f"worker {event['worker']} taking {', '.join(event['queues'])} jobs for "
            f"{', '.join(event['workspaces'])} (Ctrl-C stops after the job in hand)",
            markup=False,
            highlight=False,
        )
    elif kind == "stalled_job_retried":
        console.print(
            f"job {event['job_id']} of a dead worker put back in the queue", style="yellow", markup=False
        )
    elif kind == "worker_stopped":
        console.print(
            f"worker {event['worker']} stopped: {event['jobs']} job(s), {event['prospects']} prospect(s), "
            f"{event['leads']} lead(s)",
            markup=False,
            highlight=False,
        )


@app.command("show")
@handle_errors
def show_command(
    run_id: str = typer.Argument(..., help="The run id (from `daily --json` or `daily --no-wait`)."),
    workspace_dir: str = WorkspaceOpt,
    as_json: bool = JsonOpt,
) -> None:
    """A run's status and summary. A run on the job queue shows how many prospects its
    workers have done; once all are done it is aggregated and marked finished."""
    from sqlmodel import Session

    from agents.jobs import progress_of, settle
    from state.db import engine_for
    from state.models import Run

    ws = workspace(workspace_dir)
    engine = engine_for(ws.database_url)
    with Session(engine) as session:
        run = session.get(Run, run_id)
        found = run is not None and run.workspace == ws.id
    if not found:
        raise InputError(
            f"no run {run_id!r} in workspace {ws.id!r}",
            field="RUN_ID",
            next_step="Use the run_id printed by `run.py daily` (with --json or --no-wait).",
        )
    with Session(engine) as session:
        run = session.get(Run, run_id)
        assert run is not None
        jobs = ((run.summary or {}).get("queue") or {}).get("jobs")
        queued = run.status == "running" and jobs is not None
    if queued:
        settle(engine, ws, run_id, jobs or [])
    with Session(engine) as session:
        run = session.get(Run, run_id)
        assert run is not None
        data: dict[str, Any] = {
            "run_id": run.id,
            "workspace": run.workspace,
            "kind": run.kind,
            "status": run.status,
            "now": run.now,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            **{k: v for k, v in (run.summary or {}).items() if k not in ("pid", "host")},
        }
    queue = data.get("queue") or {}
    if queue and data["status"] == "running":
        data["queue"] = {**queue, "done": progress_of(engine, run_id)}
    if as_json:
        emit_json(data)
        return
    rows = [["status", data["status"]], ["now", str(data["now"])]]
    if queue:
        q = data["queue"]
        rows.append(["jobs", f"{len(q.get('jobs') or [])} on the queue"])
        done = q.get("done", data.get("processed", 0))
        rows.append(["prospects done", f"{done} of {q.get('total', 0)}"])
        if q.get("workers"):
            rows.append(["workers", ", ".join(q["workers"])])
        if q.get("unprocessed"):
            rows.append(["not processed", f"{q['unprocessed']} (still due: the next run takes them)"])
    for key in ("processed", "review_requested", "deferred", "stopped", "errors"):
        if key in data:
            rows.append([key.replace("_", " "), str(data[key])])
    if "sent" in data:
        rows.append(["sent", ", ".join(f"{k} {v}" for k, v in data["sent"].items())])
    console.print(table(f"run {run_id}", ["field", "value"], rows))
