"""The daily run: every prospect due at `now` goes through its graph once.

Checkpoints use `durability="exit"`: a prospect's run writes one checkpoint when it ends
or pauses for a human, instead of one per step. Crash safety does not depend on the
intermediate checkpoints: every effect is in the database with its decision (cached
lookups, drafts keyed by step, outbox rows keyed by idempotency key), so a run that dies
mid-way is simply run again from its last checkpoint and repeats no side effect.

With `workers > 1` the due prospects are split into chunks processed by worker
processes (separate interpreters, so both cores work); each opens its own database and
checkpoint connections. Within a process, a workspace that uses Claude works on a chunk's
prospects with bounded concurrency (`[llm] run_concurrency` threads, one company per thread
at a time, see `agents.concurrency`), so a run waits on the rate limits, not on latency.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlmodel import Session, select

from agents import allocation as slots
from agents import batching, concurrency, jobs
from agents.checkpoint import open_checkpointer, thread_id
from agents.context import AgentContext, build_context
from agents.forecast import ProspectPreview, forecast, preview
from agents.observation import usage_counters
from agents.records import append, record, run_journal
from agents.state import ProspectState, initial_state
from core.errors import OutboundError
from core.timeutil import iso, to_utc
from core.workspace import Workspace, load_workspace
from state import repo
from state.db import engine_for, session_scope
from state.ledger import spend as ledger_spend
from state.models import Prospect, Run

log = structlog.get_logger(__name__)
CHANNELS = ("email", "linkedin", "direct_mail")


@dataclass
class RunSummary:
    run_id: str
    now: str
    processed: int = 0
    sent: dict[str, int] = field(default_factory=lambda: {c: 0 for c in CHANNELS})
    review_requested: int = 0
    deferred: int = 0
    stopped: int = 0
    errors: int = 0
    awaiting_batch: int = 0  # prospects waiting for a Message Batch result (agents.batching)
    batches: dict[str, Any] = field(default_factory=dict)  # polled, submitted, in doubt
    dry_run: bool = False
    error_details: list[dict[str, Any]] = field(default_factory=list)
    call_tasks: int = 0
    carried_over: dict[str, int] = field(default_factory=dict)  # cap rule -> prospects
    forecast: dict[str, Any] = field(default_factory=dict)
    actual: dict[str, Any] = field(default_factory=dict)
    preview: list[dict[str, Any]] = field(default_factory=list)  # dry run: per prospect
    queue: dict[str, Any] = field(default_factory=dict)  # a run on the job queue: jobs, status

    def add(self, outcome: dict[str, Any]) -> None:
        self.processed += 1
        for s in outcome.get("sent", []):
            if s["channel"] in self.sent:
                self.sent[s["channel"]] += 1
            elif s["channel"] == "phone":
                self.call_tasks += 1
        kind = outcome.get("kind")
        if kind == "review":
            self.review_requested += 1
        elif kind in ("wait", "step_cap"):
            self.deferred += 1
        elif kind == "stop":
            self.stopped += 1
        elif kind == "await_batch":
            self.awaiting_batch += 1
        elif kind == "error":
            self.errors += 1
            self.error_details.append(outcome["error"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "now": self.now,
            "processed": self.processed,
            "sent": dict(self.sent),
            "review_requested": self.review_requested,
            "deferred": self.deferred,
            "stopped": self.stopped,
            "errors": self.errors,
            "awaiting_batch": self.awaiting_batch,
            "batches": dict(self.batches),
            "call_tasks": self.call_tasks,
            "dry_run": self.dry_run,
            "error_details": self.error_details,
            "carried_over": dict(self.carried_over),
            "forecast": dict(self.forecast),
            "actual": dict(self.actual),
            **({"preview": self.preview} if self.dry_run else {}),
            **({"queue": dict(self.queue)} if self.queue else {}),
        }


def new_run_id(now: datetime) -> str:
    return f"run_{to_utc(now).strftime('%Y%m%dT%H%M%SZ')}_{uuid.uuid4().hex[:6]}"


ABANDONED_AFTER = timedelta(hours=24)


def new_run_row(run_id: str, workspace: str, now: datetime, kind: str = "daily") -> Run:
    """A run row marked running, with the process that runs it (so a later run can tell a
    run that was killed from one still going)."""
    return Run(
        id=run_id,
        workspace=workspace,
        kind=kind,
        now=now,
        started_at=datetime.now(UTC),
        dry_run=False,
        summary={"pid": os.getpid(), "host": socket.gethostname()},
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mark_interrupted_runs(session: Session, workspace: str) -> list[str]:
    """Runs still marked running whose process is gone: "killed" when it ran on this host
    and its process no longer exists, "abandoned" when it started more than 24 hours ago
    elsewhere. A run still going (here or on another host) is left alone."""
    marked = []
    wall = datetime.now(UTC)
    running = session.exec(select(Run).where(Run.workspace == workspace, Run.status == "running")).all()
    for run in running:
        info = run.summary or {}
        pid, host = info.get("pid"), info.get("host")
        if host == socket.gethostname() and isinstance(pid, int) and pid != os.getpid() and not _alive(pid):
            status = "killed"
        elif wall - to_utc(run.started_at) > ABANDONED_AFTER:
            status = "abandoned"
        else:
            continue
        run.status, run.finished_at = status, wall
        run.summary = {**info, "marked_by": "the next run", "marked_at": iso(wall)}
        session.add(run)
        marked.append(run.id)
        log.warning("run_interrupted", workspace=workspace, run_id=run.id, status=status)
    return marked


def process_prospect(
    graph: Any, ctx: AgentContext, prospect_id: str, *, run_id: str, now: datetime
) -> dict[str, Any]:
    """One prospect's run for today. Returns {"kind", "sent", ...}; never raises for a
    classified failure (it is logged as a decision and counted)."""
    tid = thread_id(ctx.ws_id, prospect_id)
    state = initial_state(prospect_id=prospect_id, thread_id=tid, run_id=run_id, now=iso(now))
    with structlog.contextvars.bound_contextvars(run_id=run_id, prospect_id=prospect_id), run_journal() as j:
        try:
            result = graph.invoke(state, {"configurable": {"thread_id": tid}}, context=ctx, durability="exit")
        except OutboundError as exc:
            return _error(ctx, state, exc, j.unwritten)
        except Exception as exc:  # an unexpected bug: keep the run going, keep it typed in the log
            log.exception("prospect_failed")
            return _error(ctx, state, exc, j.unwritten)
    if result.get("pending"):  # every path that ends a run writes them; never leave any behind
        with session_scope(ctx.engine) as session:
            append(session, ctx.ws_id, *result["pending"])
    sent = result.get("sent") or []
    if result.get("__interrupt__"):
        return {"kind": "review", "sent": sent}
    outcome = result.get("outcome") or {}
    if outcome.get("kind") == "error":
        return {
            "kind": "error",
            "sent": sent,
            "error": {
                "prospect_id": prospect_id,
                "error_class": outcome["error_class"],
                "message": outcome["reason"],
                "next_step": outcome["next_step"],
            },
        }
    return {"kind": outcome.get("kind", "wait"), "sent": sent}


def _error(
    ctx: AgentContext, state: ProspectState, exc: Exception, pending: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The error record, after the run's pending guard records (one append)."""
    info = (
        exc.to_dict()
        if isinstance(exc, OutboundError)
        else {
            "type": type(exc).__name__,
            "error_class": "internal",
            "message": str(exc),
            "next_step": "A bug: replay the prospect and report the decision log excerpt.",
        }
    )
    with session_scope(ctx.engine) as session:
        append(
            session,
            ctx.ws_id,
            *(pending or ()),
            record(state, node="runner", action="error", final_action="error", error=info),
        )
    return {"kind": "error", "sent": [], "error": {"prospect_id": state["prospect_id"], **info}}


def _chunk_worker(
    ws_path: str, ids: list[str], run_id: str, now_iso: str, plan: slots.Allocation | None = None
) -> list[dict[str, Any]]:
    ws = load_workspace(ws_path)
    engine = engine_for(ws.database_url)
    ctx = batching.for_daily_run(build_context(ws, engine))
    if plan is not None:
        ctx = dataclasses.replace(ctx, extra={**ctx.extra, "allocation": plan})
    now = datetime.fromisoformat(now_iso)
    return _process_chunk(ws, ctx, ids, run_id=run_id, now=now)


def _process_chunk(
    ws: Workspace,
    ctx: AgentContext,
    ids: list[str],
    *,
    run_id: str,
    now: datetime,
    on_outcome: Callable[[int, str, dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """A chunk's prospects in priority order: one after another, or with bounded
    concurrency when the workspace uses Claude (`agents.concurrency`)."""

    def one(graph: Any, c: AgentContext, pid: str) -> dict[str, Any]:
        return process_prospect(graph, c, pid, run_id=run_id, now=now)

    return concurrency.process_all(
        ws, ctx, ids, one, concurrency=concurrency.run_concurrency(ws), on_outcome=on_outcome
    )


def run_daily(
    ws: Workspace,
    *,
    now: datetime,
    limit: int | None = None,
    dry_run: bool = False,
    workers: int = 1,
    chunk_size: int = 250,
    progress: Callable[[int, int], None] | None = None,
    context: AgentContext | None = None,
    queue: bool | None = None,
    wait: bool = True,
) -> RunSummary:
    """Process every prospect due at `now`. `progress(done, total)` is called as they finish.
    On the job queue (`queue`, default: the workspace's [scale] queue) the chunks are jobs
    for `run.py worker` processes on any host; with `wait` the run waits for them."""
    queued = not dry_run and jobs.uses_queue(ws, queue)
    engine = context.engine if context else engine_for(ws.database_url)
    run_id = new_run_id(now)
    summary = RunSummary(run_id=run_id, now=iso(now), dry_run=dry_run)
    ctx = batching.for_daily_run(context or build_context(ws, engine))
    if not dry_run and batching.enabled(ctx):  # ended batches first: their prospects are due now
        summary.batches = batching.poll(engine, ctx.llm, ws.id, now=now, run_id=run_id)
    with Session(engine) as session:
        due = repo.due_prospect_ids(session, workspace=ws.id, now=now, limit=limit)
    # Decided once, before any work is split: the order (score, then id), who is carried
    # over because a cap is spent, and the forecast the actual spend is compared with.
    rows = preview(ws, engine, now=now, ids=due, context=ctx, detail=dry_run)
    summary.forecast = forecast(rows, ws)
    if dry_run:
        summary.preview = [r.to_dict() for r in rows]
        for r in rows:
            summary.add(_preview_outcome(r))
            if progress:
                progress(summary.processed, len(rows))
        summary.carried_over = dict(summary.forecast["carried_over"])
        return summary
    ids = [r.prospect_id for r in rows if not r.carry_over]
    plan = _allocate(ws, engine, rows, ids, now)
    ctx = dataclasses.replace(ctx, extra={**ctx.extra, "allocation": plan})
    with session_scope(engine) as session:
        mark_interrupted_runs(session, ws.id)
        session.add(new_run_row(run_id, ws.id, now))
        _record_carry_over(session, ws, rows, run_id=run_id, now=now, summary=summary)
    total = len(ids)
    if progress:
        progress(0, total)
    if queued:
        return jobs.run_queued(ws, engine, summary, ids, plan, now=now, wait=wait, progress=progress)
    if workers > 1 and total > chunk_size:
        _run_parallel(ws, ids, run_id, now, workers, chunk_size, summary, progress, total, plan)
    else:

        def add(i: int, _pid: str, outcome: dict[str, Any]) -> None:
            summary.add(outcome)
            if progress:
                progress(i + 1, total)

        _process_chunk(ws, ctx, ids, run_id=run_id, now=now, on_outcome=add)
    if batching.enabled(ctx):  # the run's one batch: every draft queued above
        summary.batches.update(batching.end_of_run(engine, ctx.llm, ws.id, run_id=run_id, now=now))
    with session_scope(engine) as session:
        spent = ledger_spend(session, workspace=ws.id, run_id=run_id)
        summary.actual = {
            "credits": round(spent.credits, 4),
            "usd": round(spent.usd, 4),
            "llm_usd": round(spent.llm_usd, 4),
        }
        run = session.get(Run, run_id)
        if run is not None:  # the row written at the start of this run
            run.finished_at, run.status = datetime.now(UTC), "finished"
            run.summary = {**(run.summary or {}), **summary.to_dict()}
            session.add(run)
    return summary


def _allocate(
    ws: Workspace, engine: Any, rows: list[ProspectPreview], ids: list[str], now: datetime
) -> slots.Allocation | None:
    """The run's capped slots, allotted in priority order from one snapshot of the shared
    usage, before any work is split (see `agents.allocation`)."""
    if not ids:
        return None
    with Session(engine) as session:
        first = session.get(Prospect, ids[0])
        assert first is not None
        start = slots.snapshot(usage_counters(session, ws, first, [], now))
    return slots.allocate(ws, rows, start)


def _preview_outcome(r: ProspectPreview) -> dict[str, Any]:
    if r.carry_over:
        return {"kind": "wait", "sent": []}
    if r.action == "send" and r.outcome == "allow":
        return {"kind": "planned", "sent": [{"channel": r.channel}]}
    if r.action == "request_review" or r.outcome == "review":
        return {"kind": "review", "sent": []}
    if r.action == "wait" or r.outcome == "defer":
        return {"kind": "wait", "sent": []}
    if r.action == "stop" or r.outcome == "deny":
        return {"kind": "stop", "sent": []}
    return {"kind": "planned", "sent": []}


def _record_carry_over(
    session: Session,
    ws: Workspace,
    rows: list[ProspectPreview],
    *,
    run_id: str,
    now: datetime,
    summary: RunSummary,
) -> None:
    """One run-level decision per cap rule: how many prospects wait for the next run and who."""
    by_rule: dict[str, list[ProspectPreview]] = {}
    for r in rows:
        if r.carry_over:
            by_rule.setdefault(r.carry_over, []).append(r)
    for rule, group in sorted(by_rule.items()):
        summary.carried_over[rule] = len(group)
        reasons = [next((v["reason"] for v in r.verdicts if v["rule"] == rule), "") for r in group]
        reason = reasons[0]
        same = all(r == reason for r in reasons)
        if not same:  # e.g. send windows: each recipient's zone and next opening
            reason = f"{rule} holds each of them for the day (each prospect's reason is listed)"
        state = {"now": iso(now), "run_id": run_id, "prospect_id": "", "thread_id": ""}
        append(
            session,
            ws.id,
            record(
                state,  # type: ignore[arg-type]
                node="runner",
                action="carry_over",
                final_action="carry_over",
                rationale=f"{len(group)} prospect(s) carried over to the next run: {rule} ({reason})",
                extra={
                    "carry_over": {
                        "rule": rule,
                        "reason": reason,
                        "count": len(group),
                        "prospects": [
                            {"id": r.prospect_id, "score": r.score}
                            if same
                            else {"id": r.prospect_id, "score": r.score, "reason": why}
                            for r, why in zip(group, reasons, strict=True)
                        ],
                    }
                },
            ),
        )


def carried_over_in(session: Session, workspace: str, prospect_id: str) -> dict[str, Any] | None:
    """Why the prospect was not worked in its latest run, when that run carried it over: the
    run-level carry-over record naming it (rule, reason, run, when), provided no decision of
    the prospect's own came after it. None otherwise."""
    from sqlmodel import col, func

    from state.decision_log import load_body
    from state.models import DecisionRecord

    own = session.exec(
        select(func.max(DecisionRecord.seq)).where(
            DecisionRecord.workspace == workspace, DecisionRecord.prospect_id == prospect_id
        )
    ).first()
    q = select(DecisionRecord).where(
        DecisionRecord.workspace == workspace, DecisionRecord.action == "carry_over"
    )
    if own is not None:
        q = q.where(DecisionRecord.seq > own)
    for rec in session.exec(q.order_by(col(DecisionRecord.seq).desc()).limit(20)):
        body = load_body(rec)
        info = body.get("carry_over") or {}
        mine = next((p for p in info.get("prospects") or () if p.get("id") == prospect_id), None)
        if mine is not None:
            return {
                "run_id": rec.run_id,
                "at": iso(rec.at),
                "seq": rec.seq,
                "rule": info.get("rule", ""),
                "reason": mine.get("reason") or info.get("reason", ""),
            }
    return None


def _run_parallel(
    ws: Workspace,
    ids: list[str],
    run_id: str,
    now: datetime,
    workers: int,
    chunk_size: int,
    summary: RunSummary,
    progress: Callable[[int, int], None] | None,
    total: int,
    plan: slots.Allocation | None = None,
) -> None:
    engine = engine_for(ws.database_url)
    with Session(engine) as session:  # a company never spans two workers
        chunks = slots.company_chunks(session, ids, chunk_size)
    with open_checkpointer(ws):
        pass  # create the checkpoint store (and its WAL mode) once, before the workers race
    done = 0
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(_chunk_worker, str(ws.root), c, run_id, iso(now), plan) for c in chunks]
        for fut in as_completed(futures):
            for outcome in fut.result():
                summary.add(outcome)
                done += 1
            if progress:
                progress(done, total)
