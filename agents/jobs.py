"""The daily run and inbound leads as jobs on the PostgreSQL job queue (procrastinate).

With ``[scale] queue = "procrastinate"`` (PostgreSQL only), `agents.runner.run_daily` does
everything that must be decided once per run exactly as before (due prospects, priority
order, carry-over, the allocation of capped slots, the run row), then defers one job per
chunk into procrastinate's tables in the workspace's own database. `run.py worker`
processes on any number of hosts take those jobs (see docs/scale-out.md).

A chunk job carries the workspace id, the run id, the run's instant, the chunk's prospect
ids in priority order (with their rank in the run) and their allotments. For each
prospect it runs the graph and then writes one `run_outcomes` row. The run is finished
(its summary aggregated from those rows, in rank order, plus the ledger's actual spend) by
whoever sees the last row first: the last chunk job, or the coordinator waiting for it.

Nothing lost, nothing twice:
- a worker killed mid-job stops heartbeating; any other worker finds its job "stalled"
  (no heartbeat for ``stalled_after`` seconds) and puts it back in the queue, and the
  retried job skips the prospects that already have a `run_outcomes` row;
- a prospect whose graph was cut off mid-way runs again from its last checkpoint; every
  effect it already had is keyed (outbox idempotency keys, drafts by step, cached lookups),
  so the retry repeats no send;
- while a job runs, its worker holds a PostgreSQL advisory lock on (run, chunk) on its own
  connection, so a job wrongly declared stalled and retried waits for the first attempt
  and then skips what it did. A killed worker's connection closes, which frees the lock.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, func, select

from agents import allocation as slots
from core.errors import ConfigError
from core.timeutil import iso
from core.workspace import Workspace
from state.db import engine_for, session_scope
from state.models import Run
from state.models_queue import RunOutcome

log = structlog.get_logger(__name__)

QUEUE_DAILY = "daily"
QUEUE_INBOUND = "inbound"
QUEUES = (QUEUE_DAILY, QUEUE_INBOUND)
TASK_CHUNK = "outbound.daily_chunk"
TASK_INBOUND = "outbound.inbound_lead"
FINAL_JOB_STATES = ("succeeded", "failed", "cancelled", "aborted")
HEARTBEAT_SECONDS = 10.0
STALLED_AFTER_SECONDS = 30.0


# -- configuration


def uses_queue(ws: Workspace, override: bool | None = None) -> bool:
    """Whether this workspace's daily runs go through the job queue (``override`` is the
    CLI's --queue/--local). Raises ConfigError for a queue on SQLite."""
    wanted = ws.config.scale.queue == "procrastinate" if override is None else override
    if wanted:
        try:
            import procrastinate  # noqa: F401
        except ImportError as exc:
            raise ConfigError(
                "the job queue needs the procrastinate package, which is not installed",
                file=str(ws.root / "workspace.toml"),
                key="scale.queue",
                next_step="Install the optional extra: pip install 'outbound-agent[scale]'.",
            ) from exc
    if wanted and not ws.database_url.startswith("postgresql"):
        raise ConfigError(
            'the job queue needs PostgreSQL; this workspace uses SQLite ([scale] queue = "procrastinate" '
            "or --queue)",
            file=str(ws.root / "workspace.toml"),
            key="scale.queue",
            next_step='Set database_url to a PostgreSQL URL, or use queue = "local" (worker processes '
            "on this host: [run] workers).",
        )
    return wanted


def queue_name(kind: str, workspace: str) -> str:
    """The queue of one kind of job for one workspace (``daily.acme``), so a worker takes
    only jobs of the workspaces it serves. procrastinate announces a job on a PostgreSQL
    channel named after its queue (at most 63 bytes with its 23-byte prefix), so a long
    workspace id is shortened with a digest."""
    import hashlib

    name = f"{kind}.{workspace}"
    if len(name.encode()) <= 40:
        return name
    digest = hashlib.sha256(workspace.encode()).hexdigest()[:10]
    return f"{kind}.{workspace.encode()[:20].decode(errors='ignore')}.{digest}"


def dsn(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as a libpq connection string."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def advisory_key(name: str) -> int:
    from agents.scheduler import advisory_key as key

    return key(name)


_SCHEMA_READY: set[str] = set()


def ensure_schema(url: str) -> bool:
    """procrastinate's tables in this database, created by its own schema file the first
    time (under an advisory lock, so two processes starting at once create them once).
    Returns True when they were created now."""
    if url in _SCHEMA_READY:
        return False
    import psycopg
    from procrastinate.schema import SchemaManager

    created = False
    with psycopg.connect(dsn(url), connect_timeout=10) as conn:
        conn.execute(
            "SELECT pg_advisory_xact_lock(%s)", (advisory_key("outbound-agent:procrastinate-schema"),)
        )
        row = conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()
        if row is None or row[0] is None:
            conn.execute(SchemaManager.get_schema())
            created = True
    _SCHEMA_READY.add(url)
    if created:
        log.info("queue_schema_created", database=url.rsplit("/", 1)[-1])
    return created


def make_app(url: str, *, for_worker: bool = False) -> Any:
    """A procrastinate App on this database with the project's tasks registered. The worker
    uses the async connector; callers that only defer use the sync one."""
    from procrastinate import App, PsycopgConnector, RetryStrategy, SyncPsycopgConnector

    connector: Any = (
        PsycopgConnector(conninfo=dsn(url)) if for_worker else SyncPsycopgConnector(conninfo=dsn(url))
    )
    app = App(connector=connector)
    # A job that raises (the database went away, a worker without this workspace) is
    # tried again later; a prospect's own failure never raises (it is its outcome).
    retry = RetryStrategy(max_attempts=6, wait=5, exponential_wait=2)
    app.task(name=TASK_CHUNK, queue=QUEUE_DAILY, retry=retry)(_chunk_task)
    app.task(name=TASK_INBOUND, queue=QUEUE_INBOUND, retry=retry)(_inbound_task)
    return app


# -- deferring a run


def allocation_to_json(plan: slots.Allocation | None, ids: Sequence[str]) -> dict[str, Any] | None:
    if plan is None:
        return None
    return {
        "start": plan.start,
        "by_prospect": {
            p: {**asdict(plan.by_prospect[p]), "counters": dict(plan.by_prospect[p].counters)}
            for p in ids
            if p in plan.by_prospect
        },
    }


def allocation_from_json(data: Mapping[str, Any] | None) -> slots.Allocation | None:
    if not data:
        return None
    return slots.Allocation(
        start=dict(data["start"]),
        by_prospect={p: slots.Allotment(**a) for p, a in data["by_prospect"].items()},
    )


def defer_run(
    ws: Workspace,
    engine: Engine,
    *,
    run_id: str,
    now: datetime,
    ids: list[str],
    plan: slots.Allocation | None,
    chunk_size: int,
) -> list[int]:
    """Cut the run's prospects into chunks (a company never split) and defer one job each;
    the job ids and the count to wait for are kept in the run's summary."""
    ensure_schema(ws.database_url)
    rank = {p: i for i, p in enumerate(ids)}
    with Session(engine) as session:
        chunks = slots.company_chunks(session, ids, chunk_size) if ids else []
    app = make_app(ws.database_url)
    job_ids: list[int] = []
    with app.open():
        task = app.tasks[TASK_CHUNK].configure(queue=queue_name(QUEUE_DAILY, ws.id))
        for n, chunk in enumerate(chunks):
            job_ids.append(
                task.defer(
                    workspace=ws.id,
                    run_id=run_id,
                    now=iso(now),
                    chunk=n,
                    ids=chunk,
                    ranks=[rank[p] for p in chunk],
                    allocation=allocation_to_json(plan, chunk),
                )
            )
    with session_scope(engine) as session:
        run = session.get(Run, run_id)
        if run is not None:
            queue = {"engine": "procrastinate", "jobs": job_ids, "total": len(ids), "chunks": len(chunks)}
            run.summary = {**(run.summary or {}), "queue": queue}
            session.add(run)
    log.info("run_queued", workspace=ws.id, run_id=run_id, jobs=len(job_ids), prospects=len(ids))
    return job_ids


def run_queued(
    ws: Workspace,
    engine: Engine,
    summary: Any,
    ids: list[str],
    plan: slots.Allocation | None,
    *,
    now: datetime,
    wait: bool,
    progress: Callable[[int, int], None] | None = None,
) -> Any:
    """The queued part of `agents.runner.run_daily`: the run row already exists (with the
    carry-over recorded); keep what the summary knows so far in it, defer the chunk jobs,
    and (with ``wait``) wait for the workers and return the aggregated summary."""
    from agents.runner import RunSummary

    with session_scope(engine) as session:
        run = session.get(Run, summary.run_id)
        if run is not None:
            # No pid: the coordinator may exit (--no-wait) while workers go on, and a run
            # is not "killed" because the process that queued it is gone.
            run.summary = {**(run.summary or {}), **summary.to_dict(), "pid": None}
            session.add(run)
    job_ids = defer_run(
        ws, engine, run_id=summary.run_id, now=now, ids=ids, plan=plan, chunk_size=ws.config.scale.chunk_size
    )
    queue = {"engine": "procrastinate", "jobs": job_ids, "total": len(ids), "status": "queued"}
    if not ids:
        data = finish_if_complete(engine, ws, summary.run_id) or {}
        summary.queue = {**queue, **(data.get("queue") or {}), "status": "finished"}
        return summary
    if not wait:
        summary.queue = queue
        return summary
    data = wait_for_run(
        ws, engine, summary.run_id, timeout=ws.config.scale.wait_minutes * 60, progress=progress
    )
    out = RunSummary(run_id=summary.run_id, now=summary.now)
    out.carried_over = dict(summary.carried_over)
    out.forecast = dict(summary.forecast)
    if data.get("status") == "queued":  # not finished in time: the workers go on
        out.queue = {**queue, **(data.get("queue") or {}), "status": "queued"}
        return out
    for key in ("processed", "review_requested", "deferred", "stopped", "errors", "call_tasks"):
        setattr(out, key, int(data.get(key, 0)))
    out.sent = dict(data.get("sent") or out.sent)
    out.error_details = list(data.get("error_details") or [])
    out.actual = dict(data.get("actual") or {})
    out.queue = {**queue, **(data.get("queue") or {}), "status": data.get("status", "finished")}
    return out


# -- running a chunk (inside a worker)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@contextmanager
def chunk_lock(url: str, run_id: str, chunk: int) -> Iterator[None]:
    """Held on a connection of its own while the chunk runs; PostgreSQL frees it when that
    connection closes, also when the process is killed."""
    import psycopg

    conn = psycopg.connect(dsn(url), autocommit=True, connect_timeout=10)
    try:
        conn.execute("SELECT pg_advisory_lock(%s)", (advisory_key(f"chunk:{run_id}:{chunk}"),))
        yield
    finally:
        conn.close()


def run_chunk(
    ws: Workspace,
    *,
    run_id: str,
    now: str,
    chunk: int,
    ids: list[str],
    ranks: list[int],
    allocation: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Process the chunk's prospects that have no outcome in this run yet, each followed by
    its `run_outcomes` row; then finish the run when it was the last part."""
    from agents.checkpoint import open_checkpointer, prune_finished, thread_id
    from agents.context import build_context
    from agents.graph import build_graph
    from agents.runner import process_prospect

    engine = engine_for(ws.database_url)
    at = datetime.fromisoformat(now)
    plan = allocation_from_json(allocation)
    me = worker_name()
    with chunk_lock(ws.database_url, run_id, chunk):
        with Session(engine) as session:
            run = session.get(Run, run_id)
            status = run.status if run is not None and run.workspace == ws.id else "missing"
        if status != "running":  # purged, or given up on: its prospects are due again
            log.warning("chunk_of_ended_run_skipped", workspace=ws.id, run_id=run_id, status=status)
            return {
                "run_id": run_id,
                "chunk": chunk,
                "processed": 0,
                "skipped": len(ids),
                "run_finished": False,
            }
        with Session(engine) as session:
            done = set(
                session.exec(
                    select(RunOutcome.prospect_id).where(
                        RunOutcome.run_id == run_id,
                        col(RunOutcome.prospect_id).in_(ids),
                    )
                ).all()
            )
        todo = [(p, r) for p, r in zip(ids, ranks, strict=True) if p not in done]
        finished: list[str] = []
        if todo:
            ctx = build_context(ws, engine)
            if plan is not None:
                ctx = dataclasses.replace(ctx, extra={**ctx.extra, "allocation": plan})
            with open_checkpointer(ws) as saver:
                graph = build_graph(saver)
                for pid, rank in todo:
                    outcome = process_prospect(graph, ctx, pid, run_id=run_id, now=at)
                    with session_scope(engine) as session:
                        session.add(
                            RunOutcome(
                                run_id=run_id,
                                prospect_id=pid,
                                workspace=ws.id,
                                rank=rank,
                                chunk=chunk,
                                kind=str(outcome.get("kind", "")),
                                outcome=outcome,
                                worker=me,
                                finished_at=datetime.now(UTC),
                            )
                        )
                    if outcome.get("kind") != "review":
                        finished.append(thread_id(ws.id, pid))
                prune_finished(saver, finished)
    summary = finish_if_complete(engine, ws, run_id)
    log.info(
        "chunk_done",
        workspace=ws.id,
        run_id=run_id,
        chunk=chunk,
        processed=len(todo),
        skipped=len(done),
        worker=me,
    )
    return {
        "run_id": run_id,
        "chunk": chunk,
        "processed": len(todo),
        "skipped": len(done),
        "run_finished": summary is not None,
    }


# -- aggregating a run


def progress_of(engine: Engine, run_id: str) -> int:
    with Session(engine) as session:
        return int(
            session.exec(
                select(func.count()).select_from(RunOutcome).where(RunOutcome.run_id == run_id)
            ).one()
        )


def job_states(engine: Engine, job_ids: Sequence[int]) -> dict[int, str]:
    if not job_ids:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, status::text FROM procrastinate_jobs WHERE id = ANY(:ids)"),
            {"ids": list(job_ids)},
        ).all()
    return {int(i): str(s) for i, s in rows}


def finish_if_complete(
    engine: Engine, ws: Workspace, run_id: str, *, give_up: bool = False
) -> dict[str, Any] | None:
    """When every prospect of a queued run has its outcome (or ``give_up``: its jobs have
    all ended and some never wrote one), write the run's summary and mark it finished
    (or failed). Idempotent: the run row is locked and only a running run is finished.
    Returns the summary, or None while the run is not complete."""
    from agents.runner import RunSummary
    from state.ledger import spend as ledger_spend

    with session_scope(engine) as session:
        run = session.exec(select(Run).where(Run.id == run_id).with_for_update()).first()
        if run is None:
            return None
        info = dict(run.summary or {})
        queue = info.get("queue") or {}
        if run.status != "running":
            return info
        rows = session.exec(select(RunOutcome).where(RunOutcome.run_id == run_id)).all()
        total = int(queue.get("total", 0))
        if len(rows) < total and not give_up:
            return None
        summary = RunSummary(run_id=run_id, now=iso(run.now) or "")
        summary.carried_over = dict(info.get("carried_over") or {})
        summary.forecast = dict(info.get("forecast") or {})
        for row in sorted(rows, key=lambda r: r.rank):
            summary.add(dict(row.outcome))
        missing = total - len(rows)
        spent = ledger_spend(session, workspace=ws.id, run_id=run_id)
        summary.actual = {
            "credits": round(spent.credits, 4),
            "usd": round(spent.usd, 4),
            "llm_usd": round(spent.llm_usd, 4),
        }
        data = summary.to_dict()
        workers = sorted({r.worker for r in rows})
        data["queue"] = {**queue, "workers": workers, "unprocessed": missing}
        run.summary = {**info, **data}
        run.status = "finished" if missing == 0 else "failed"
        run.finished_at = datetime.now(UTC)
        session.add(run)
    log.info("queued_run_finished", workspace=ws.id, run_id=run_id, status=run.status, unprocessed=missing)
    return run.summary


def settle(engine: Engine, ws: Workspace, run_id: str, job_ids: Sequence[int]) -> dict[str, Any] | None:
    """Finish the queued run when every prospect has its outcome, or as failed when every
    job has ended (a job failed for good) without all of them. None while work remains."""
    summary = finish_if_complete(engine, ws, run_id)
    if summary is None:
        states = job_states(engine, job_ids)
        if states and all(s in FINAL_JOB_STATES for s in states.values()):
            summary = finish_if_complete(engine, ws, run_id, give_up=True)
    return summary


def wait_for_run(
    ws: Workspace,
    engine: Engine,
    run_id: str,
    *,
    timeout: float,
    poll: float = 0.5,
    progress: Callable[[int, int], None] | None = None,
    sleep: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Wait until the queued run is finished by its jobs; returns the run's summary. When
    every job has ended without all outcomes (a job failed for good), the run is finished
    as failed with the count of unprocessed prospects (they stay due for the next run).
    After ``timeout`` seconds the run is left to its workers and reported as still queued."""
    import time

    pause = sleep or time.sleep
    deadline = time.monotonic() + timeout
    while True:
        with Session(engine) as session:
            run = session.get(Run, run_id)
            if run is None:
                raise LookupError(f"run {run_id} is not in the database")
            info, status = dict(run.summary or {}), run.status
        queue = info.get("queue") or {}
        if status != "running":
            return {**info, "status": status}
        done, total = progress_of(engine, run_id), int(queue.get("total", 0))
        if progress:  # every poll: a stopping service's callback raises here even when idle
            progress(done, total)
        summary = settle(engine, ws, run_id, queue.get("jobs") or [])
        if summary is not None:
            with Session(engine) as session:
                run = session.get(Run, run_id)
                return {**summary, "status": run.status if run else "finished"}
        if time.monotonic() >= deadline:
            return {**info, "status": "queued", "queue": {**queue, "done": done}}
        pause(poll)


# -- the tasks (looked up in the worker's workspaces)

_SERVED: dict[str, Workspace] = {}


def _served(workspace: str) -> Workspace:
    ws = _SERVED.get(workspace)
    if ws is None:
        raise ConfigError(
            f"this worker does not serve workspace {workspace!r} (it serves: {', '.join(sorted(_SERVED)) or 'none'})",
            next_step="Start every worker with the same -w workspace folders as the service.",
        )
    return ws


def _chunk_task(
    *,
    workspace: str,
    run_id: str,
    now: str,
    chunk: int,
    ids: list[str],
    ranks: list[int],
    allocation: dict[str, Any] | None,
) -> dict[str, Any]:
    result = run_chunk(
        _served(workspace), run_id=run_id, now=now, chunk=chunk, ids=ids, ranks=ranks, allocation=allocation
    )
    _JOB_LOG.append({"task": TASK_CHUNK, "workspace": workspace, **result})
    return result


def _inbound_task(*, workspace: str, lead_id: int) -> dict[str, Any]:
    from service.inbound import process_queued_lead

    status = process_queued_lead(_served(workspace), lead_id)
    result = {"task": TASK_INBOUND, "workspace": workspace, "lead_id": lead_id, "status": status}
    _JOB_LOG.append(result)
    return result


_JOB_LOG: list[dict[str, Any]] = []  # what this worker process did (its --json report)


def defer_inbound(ws: Workspace, lead_id: int) -> int | None:
    """One job per stored lead; a lead already waiting in the queue is not queued again."""
    from procrastinate.exceptions import AlreadyEnqueued

    ensure_schema(ws.database_url)
    app = make_app(ws.database_url)
    with app.open():
        try:
            return int(
                app.tasks[TASK_INBOUND]
                .configure(queue=queue_name(QUEUE_INBOUND, ws.id), queueing_lock=f"inbound:{ws.id}:{lead_id}")
                .defer(workspace=ws.id, lead_id=lead_id)
            )
        except AlreadyEnqueued:
            return None


# -- the worker


async def recover_stalled(app: Any, *, stalled_after: float) -> list[int]:
    """Put back in the queue every job whose worker stopped heartbeating; forget the dead
    workers. Returns the ids of the jobs put back."""
    retried = []
    for job in await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=stalled_after):
        await app.job_manager.retry_job(job)
        retried.append(int(job.id))
        log.warning("stalled_job_retried", job_id=job.id, task=job.task_name, worker_id=job.worker_id)
    await app.job_manager.prune_stalled_workers(stalled_after)
    return retried


def check_workspaces(workspaces: Sequence[Workspace]) -> str:
    """The one PostgreSQL database a worker serves; raises ConfigError otherwise."""
    if not workspaces:
        raise ConfigError("no workspace given", next_step="Run with -w path/to/workspace (repeatable).")
    urls = {ws.database_url for ws in workspaces}
    for ws in workspaces:
        if not ws.database_url.startswith("postgresql"):
            raise ConfigError(
                "a queue worker needs PostgreSQL; this workspace uses SQLite",
                file=str(ws.root / "workspace.toml"),
                key="database_url",
                next_step="Point database_url (or OUTBOUND_DATABASE_URL) at PostgreSQL.",
            )
    if len(urls) > 1:
        raise ConfigError(
            "the workspaces given use different databases; one worker serves one database",
            next_step="Start one worker per database, each with the workspaces stored there.",
        )
    return next(iter(urls))


def run_worker(
    workspaces: Sequence[Workspace],
    *,
    queues: Sequence[str] = QUEUES,
    burst: bool = False,
    heartbeat: float = HEARTBEAT_SECONDS,
    stalled_after: float = STALLED_AFTER_SECONDS,
    poll: float = 2.0,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """One worker process: take jobs from ``queues`` until stopped (SIGTERM/SIGINT finish
    the job in hand) or, with ``burst``, until the queues are empty. Every ``heartbeat``
    seconds it tells the database it is alive and puts back jobs of workers silent for
    ``stalled_after`` seconds."""
    url = check_workspaces(workspaces)
    for ws in workspaces:
        engine_for(ws.database_url)  # migrated before the first job
    _SERVED.clear()
    _SERVED.update({ws.id: ws for ws in workspaces})
    _JOB_LOG.clear()
    ensure_schema(url)
    app = make_app(url, for_worker=True)
    name = worker_name()
    emit = on_event or (lambda _e: None)

    async def recovery() -> None:
        while True:
            try:
                for job_id in await recover_stalled(app, stalled_after=stalled_after):
                    emit({"event": "stalled_job_retried", "job_id": job_id, "worker": name})
            except Exception:  # the database blinked: try again at the next beat
                log.exception("stalled_job_check_failed")
            await asyncio.sleep(heartbeat)

    async def main() -> None:
        async with app.open_async():
            side = asyncio.create_task(recovery())
            try:
                await app.run_worker_async(
                    queues=[queue_name(kind, ws.id) for kind in queues for ws in workspaces],
                    name=name,
                    concurrency=1,
                    wait=not burst,
                    fetch_job_polling_interval=poll,
                    update_heartbeat_interval=heartbeat,
                    stalled_worker_timeout=stalled_after,
                    install_signal_handlers=True,
                )
            finally:
                side.cancel()

    emit({"event": "worker_started", "worker": name, "queues": list(queues), "workspaces": sorted(_SERVED)})
    asyncio.run(main())
    report = {
        "event": "worker_stopped",
        "worker": name,
        "jobs": len(_JOB_LOG),
        "prospects": sum(int(j.get("processed", 0)) for j in _JOB_LOG),
        "leads": sum(1 for j in _JOB_LOG if j["task"] == TASK_INBOUND),
    }
    emit(report)
    return report


def run_workers(
    workspace_dirs: Sequence[str],
    *,
    concurrency: int,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    print_events: bool = False,
    **options: Any,
) -> list[dict[str, Any]]:
    """``concurrency`` worker processes on this host (the daily run is CPU-bound Python, so
    processes, not threads). SIGTERM/SIGINT to this process stop them all gracefully. With
    ``print_events`` each child prints its events as JSON lines; ``on_event`` gets each
    child's final report."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_child, args=(list(workspace_dirs), options, results, print_events), daemon=False)
        for _ in range(concurrency)
    ]
    for p in procs:
        p.start()

    def forward(signum: int, _frame: Any) -> None:
        for p in procs:
            if p.pid is not None and p.is_alive():
                os.kill(p.pid, signum)

    old = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for p in procs:
            p.join()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    out = []
    while not results.empty():
        out.append(results.get())
    if on_event:
        for r in out:
            on_event(r)
    return out


def _child(workspace_dirs: list[str], options: dict[str, Any], results: Any, print_events: bool) -> None:
    import json
    import sys

    from core.workspace import load_workspace

    def show(event: dict[str, Any]) -> None:
        if print_events and event.get("event") != "worker_stopped":  # the parent prints reports
            sys.stdout.write(json.dumps(event, default=str) + "\n")
            sys.stdout.flush()

    report = run_worker([load_workspace(d) for d in workspace_dirs], on_event=show, **options)
    results.put(report)
