"""Message Batches for the daily run (`[llm] use_batches = true`, Claude drafting and/or
the Claude research reader).

A model call the daily run needs for a draft or for research is not made synchronously:
the action writes a *queued* batch item for its request (keyed by the request's digest,
which is also its batch `custom_id`), reserves a draft's estimated cost (research holds
its research credits, reserved before), and the prospect waits ("waiting for a batch":
decision `await_batch`, the prospect due again after `batch_poll_minutes`), all in one
transaction. At the end of the run every queued item goes out in one batch:

1. the submission row (`llm_batches`, status `submitting`) is written and the items point
   at it *before* the API is called (outbox style);
2. the batch is created; 3. its id is recorded (status `in_progress`).

A crash between 2 and 3 leaves a submission "in doubt": the next run (or `batches poll`)
looks for it in the API's batch list (created after the recorded wall-clock time, same
number of requests, not known here) and adopts it; only when no such batch exists are
its items queued again. So a crash never submits the same requests twice, and a result
is paid once (the ledger row is keyed by the digest).

Each run starts by polling (so does `run.py batches poll` and the service's daily run):
results of ended batches are recorded like any call (`LlmClient.record_batch_result`,
batch price) and their prospects become due at once. When the action runs again, its
succeeded result is handed over as the first answer (`ClaudeDrafter.draft(first=...)`,
`ClaudeResearcher.research(first=...)`), and from there it is the synchronous path: the
drafter's checks, one re-ask, then review; the reader's citation checks. Errored,
expired, canceled or missing results fall back to a synchronous call; the decision says
so (`tool.result.batch.fallback`). A prospect that needs research and then a draft waits
twice: once for each batch.

Only the daily run turns batching on (`for_daily_run`); inbound speed-to-lead
(`service.inbound`) builds its own context and always calls the model synchronously.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from agents.records import append, record
from agents.state import ProspectState
from core import faults
from core.errors import ProviderError, Transient
from core.timeutil import iso, parse_instant, to_utc
from core.workspace import Workspace
from state.db import session_scope
from state.ledger import record_cost, release
from state.models import Company, Prospect
from state.models_llm import LlmBatch, LlmBatchItem

if TYPE_CHECKING:
    from agents.context import AgentContext
    from tools.llm.client import LlmClient
    from tools.llm.prompts import Prompt

log = structlog.get_logger(__name__)

FLAG = "batch_llm"  # set in the context by the daily run only
FAILED = ("errored", "expired", "canceled", "missing")
IN_DOUBT_AFTER = timedelta(minutes=10)  # a submission of another process is in doubt after this
LIST_SLACK = timedelta(minutes=2)  # clock skew between us and the API when matching batches
_IN_FLIGHT: set[str] = set()  # submissions this process is submitting right now
_LOCK = threading.Lock()
TASKS = ("draft", "research")  # the daily run's model calls that may wait for a batch


def _provider(ctx: AgentContext, task: str) -> str:
    """The provider name of the task's component in this context."""
    return {"draft": ctx.drafter.name, "research": ctx.researcher.name}.get(task, "")


def for_daily_run(ctx: AgentContext) -> AgentContext:
    """The context of a daily run: with batching on when the workspace asks for it and
    drafts or researches with Claude. Any other context (inbound, review resume) calls the
    model synchronously."""
    cfg = ctx.workspace.config
    claude = "claude" in (cfg.providers.drafting, cfg.providers.research)
    if cfg.llm.use_batches and claude and ctx.llm is not None:
        return dataclasses.replace(ctx, extra={**ctx.extra, FLAG: True})
    return ctx


def enabled(ctx: AgentContext, task: str | None = None) -> bool:
    """Whether `task` (any batched task when None) goes through batches in this context."""
    if not ctx.extra.get(FLAG) or ctx.llm is None:
        return False
    return any(_provider(ctx, t) == "claude" for t in ((task,) if task else TASKS))


@dataclass
class Batched:
    """What the batch path says about one model call: wait (`waiting` is the node's
    return), or go on with `kwargs` for the component (`first`: the batch answer, or
    nothing for a synchronous call); `info` goes into the decision."""

    waiting: dict[str, Any] | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


def draft_via_batch(
    ctx: AgentContext,
    state: ProspectState,
    *,
    step_id: str,
    kind: str,
    prospect: Mapping[str, Any],
    company: Mapping[str, Any],
    evidence: list[dict[str, Any]],
    sender: Mapping[str, Any],
) -> Batched:
    """The batch side of the draft action (a no-op unless `enabled` for drafts)."""
    if not enabled(ctx, "draft"):
        return Batched()
    drafter: Any = ctx.drafter
    messages = drafter.first_request(
        kind=kind, prospect=prospect, company=company, evidence=evidence, sender=sender
    )
    return via_batch(ctx, state, task="draft", prompt=drafter.prompt, messages=messages, step_id=step_id)


def research_via_batch(ctx: AgentContext, state: ProspectState, *, step_id: str, domain: str) -> Batched:
    """The batch side of the research action (a no-op unless `enabled` for research): the
    reader's one request for the company's pages. A company without pages is left to the
    synchronous path, which reports it (no call is made there either)."""
    if not enabled(ctx, "research"):
        return Batched()
    from tools.llm.prompts import prompt
    from tools.llm.reader import request

    reader: Any = ctx.researcher
    pages = reader.pages(domain) if domain else []
    if not pages:
        return Batched()
    messages = request(reader.questions, pages)
    return via_batch(
        ctx, state, task="research", prompt=prompt("research"), messages=messages, step_id=step_id
    )


def via_batch(
    ctx: AgentContext,
    state: ProspectState,
    *,
    task: str,
    prompt: Prompt,
    messages: list[dict[str, Any]],
    step_id: str,
) -> Batched:
    """One model call of the daily run through a batch: queue it (and wait), keep waiting,
    or hand back its succeeded result as `kwargs["first"]`; a failed result says to fall
    back to a synchronous call (`info["batch"]["fallback"] == "sync"`)."""
    from tools.llm.client import redact

    client = ctx.llm
    assert client is not None
    params = client.params(task, prompt, messages=messages, batch=True)
    key = client.digest(task, prompt, params)
    now = parse_instant(state["now"])
    with session_scope(ctx.engine) as s:
        item = s.exec(
            select(LlmBatchItem).where(LlmBatchItem.workspace == ctx.ws_id, LlmBatchItem.digest == key)
        ).first()
        if item is None:
            item = LlmBatchItem(
                workspace=ctx.ws_id,
                digest=key,
                batch_id="",
                custom_id=key[:64],
                task=task,
                prospect_id=state["prospect_id"],
                status="queued",
                request=redact(params),
                created_at=now,
                run_id=state["run_id"],
                prompt_version=prompt.version,
            )
            s.add(item)
            _reserve(s, ctx, state, task, key, str(params["model"]), now)
        info = {
            "custom_id": item.custom_id,
            "batch_id": item.batch_id,
            "submission_id": item.submission_id,
            "status": item.status,
        }
        if item.status in ("queued", "waiting"):
            return Batched(waiting=_wait(s, ctx, state, task, step_id, info, now))
    if info["status"] == "succeeded":
        done = client.recorded(key)
        if done is not None:  # shown as this call's cost once (the ledger row is the batch's)
            return Batched(kwargs={"first": dataclasses.replace(done, replayed=False)}, info={"batch": info})
        info["status"] = "missing"
    return Batched(info={"batch": {**info, "fallback": "sync"}})


def _estimate(ctx: AgentContext, task: str) -> float:
    """The full-price estimate a batched call reserves: a draft's (`est_draft_usd`); none
    for research, whose model cost is recorded when it arrives, as in a synchronous run
    (the research action holds its research credits while the prospect waits)."""
    return ctx.workspace.config.llm.est_draft_usd if task == "draft" else 0.0


def _reserve(
    s: Session, ctx: AgentContext, state: ProspectState, task: str, key: str, model: str, now: datetime
) -> None:
    """Hold the estimated (batch-priced) cost while the result is awaited, so the budget
    rules count it (the guard already decided this call fits); the recorded result turns
    this row into the real cost, a failed one releases it."""
    cfg = ctx.workspace.config
    usd = _estimate(ctx, task)
    if usd <= 0:
        return
    est = round(usd * cfg.llm.prices[model].batch_discount, 8)
    record_cost(
        s,
        workspace=ctx.ws_id,
        key=f"llm:{key}",
        at=now,
        kind="llm",
        provider=f"anthropic:{model}",
        usd=est,
        llm_usd=est,
        run_id=state["run_id"],
        prospect_id=state["prospect_id"],
        status="reserved",
        detail={"task": task, "mode": "batch", "estimate": True},
    )


def _wait(
    s: Session,
    ctx: AgentContext,
    state: ProspectState,
    task: str,
    step_id: str,
    info: dict[str, Any],
    now: datetime,
) -> dict[str, Any]:
    until = now + timedelta(minutes=ctx.workspace.config.llm.batch_poll_minutes)
    p = s.get(Prospect, state["prospect_id"])
    if p is not None:
        p.status, p.next_action, p.next_action_at, p.updated_at = "waiting", step_id, until, now
        s.add(p)
    where = f"batch {info['batch_id']}" if info["batch_id"] else "the run's batch (to be submitted)"
    reason = f"waiting for a batch: the {task} request is in {where}"
    append(
        s,
        ctx.ws_id,
        record(
            state,
            node="act",
            action=task,
            final_action="await_batch",
            rationale=reason,
            tool={
                "name": f"{task}:{_provider(ctx, task)}",
                "input": {"mode": "batch"},
                "result": {"batch": info},
            },
            extra={"until": iso(until)},
        ),
    )
    return {"outcome": {"kind": "await_batch", "until": iso(until), "reason": reason}}


# --- submitting ----------------------------------------------------------------------------


def submit(
    engine: Engine, client: LlmClient | None, workspace: str, *, run_id: str, now: datetime
) -> dict[str, Any]:
    """Send every queued item of the workspace in one batch (record first, then call).
    Returns {"submitted": [batch ids], "items": n} ({} when nothing was queued)."""
    if client is None:
        return {}
    wall = datetime.now(UTC)
    sub_id = "lb_" + uuid.uuid4().hex[:20]
    with session_scope(engine) as s:
        items = list(
            s.exec(
                select(LlmBatchItem)
                .where(LlmBatchItem.workspace == workspace, LlmBatchItem.status == "queued")
                .order_by(col(LlmBatchItem.id))
            )
        )
        if not items:
            return {}
        s.add(
            LlmBatch(
                id=sub_id,
                workspace=workspace,
                status="submitting",
                run_id=run_id,
                item_count=len(items),
                created_at=now,
                submitted_wall=wall,
                counts={"pid": os.getpid(), "host": socket.gethostname()},
            )
        )
        for it in items:
            it.submission_id, it.status = sub_id, "waiting"
            s.add(it)
        requests = [{"custom_id": it.custom_id, "params": dict(it.request)} for it in items]
    with _LOCK:
        _IN_FLIGHT.add(sub_id)
    try:
        batch_id = client.submit_batch(requests)
        faults.crash_point("batch_after_submit")
    except ProviderError as exc:
        if not _may_exist(exc):  # the API answered: no batch was created
            _requeue(engine, sub_id, reason=str(exc))
        log.warning("batch_submit_failed", submission=sub_id, error=str(exc))
        raise
    finally:
        with _LOCK:
            _IN_FLIGHT.discard(sub_id)
    _adopt(engine, sub_id, batch_id)
    log.info("batch_submitted", submission=sub_id, batch_id=batch_id, items=len(requests))
    return {"submitted": [batch_id], "items": len(requests)}


def _may_exist(exc: ProviderError) -> bool:
    """A failed create may still have created the batch when no answer came back (connection
    error, timeout) or the server failed after accepting it (5xx)."""
    status = exc.status
    return status is None or status >= 500 and status not in (529,)


def _adopt(engine: Engine, sub_id: str, batch_id: str) -> None:
    with session_scope(engine) as s:
        sub = s.get(LlmBatch, sub_id)
        if sub is None:
            return
        sub.batch_id, sub.status = batch_id, "in_progress"
        s.add(sub)
        for it in s.exec(select(LlmBatchItem).where(LlmBatchItem.submission_id == sub_id)):
            it.batch_id = batch_id
            s.add(it)


def _requeue(engine: Engine, sub_id: str, *, reason: str) -> None:
    with session_scope(engine) as s:
        sub = s.get(LlmBatch, sub_id)
        if sub is None:
            return
        sub.status, sub.counts = "not_created", {**(sub.counts or {}), "reason": reason[:300]}
        s.add(sub)
        for it in s.exec(select(LlmBatchItem).where(LlmBatchItem.submission_id == sub_id)):
            it.submission_id, it.status = "", "queued"
            s.add(it)


def _in_doubt(sub: LlmBatch, wall: datetime) -> bool:
    info = sub.counts or {}
    if wall - to_utc(sub.submitted_wall) > IN_DOUBT_AFTER:
        return True
    if info.get("host") != socket.gethostname() or not isinstance(info.get("pid"), int):
        return False
    pid = int(info["pid"])
    if pid == os.getpid():
        with _LOCK:
            return sub.id not in _IN_FLIGHT
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def resolve_in_doubt(engine: Engine, client: LlmClient, workspace: str) -> list[dict[str, str]]:
    """Submissions whose API call may or may not have happened (a crash after the call):
    found in the API's batch list and adopted, or queued again when no batch matches."""
    wall = datetime.now(UTC)
    with Session(engine) as s:
        subs = [
            sub
            for sub in s.exec(
                select(LlmBatch).where(LlmBatch.workspace == workspace, LlmBatch.status == "submitting")
            )
            if _in_doubt(sub, wall)
        ]
        known = set(s.exec(select(LlmBatch.batch_id).where(LlmBatch.batch_id != "")))
    out = []
    for sub in sorted(subs, key=lambda x: to_utc(x.submitted_wall)):
        since = to_utc(sub.submitted_wall) - LIST_SLACK
        found = [
            (created, bid)
            for bid, created, n in client.recent_batches(since)
            if bid not in known and n == sub.item_count
        ]
        if found:
            bid = min(found)[1]
            known.add(bid)
            _adopt(engine, sub.id, bid)
            out.append({"submission": sub.id, "batch_id": bid, "resolved": "found"})
        else:
            _requeue(engine, sub.id, reason="no batch was created (not in the API's batch list)")
            out.append({"submission": sub.id, "batch_id": "", "resolved": "not_created"})
        log.warning("batch_in_doubt_resolved", **out[-1])
    return out


# --- polling -------------------------------------------------------------------------------


def end_of_run(
    engine: Engine, client: LlmClient | None, workspace: str, *, run_id: str, now: datetime
) -> dict[str, Any]:
    """The run's one submission; a refused or failed create is reported, not raised (its
    items are queued again, or resolved as in doubt by the next poll)."""
    try:
        return submit(engine, client, workspace, run_id=run_id, now=now)
    except ProviderError as exc:
        return {"submit_error": exc.to_dict()}


def poll(
    engine: Engine, client: LlmClient | None, workspace: str, *, now: datetime, run_id: str = ""
) -> dict[str, Any]:
    """Resolve in-doubt submissions, submit items a crashed run left queued, and collect the
    results of ended batches; their prospects become due at `now`. Returns what happened."""
    out: dict[str, Any] = {}
    if client is None:
        return out
    resolved = resolve_in_doubt(engine, client, workspace)
    if resolved:
        out["in_doubt"] = resolved
    try:
        left = submit(engine, client, workspace, run_id=run_id, now=now)
    except ProviderError as exc:
        left, out["submit_error"] = {}, exc.to_dict()
    if left:
        out["resubmitted"] = left
    with Session(engine) as s:
        live = list(
            s.exec(select(LlmBatch).where(LlmBatch.workspace == workspace, LlmBatch.status == "in_progress"))
        )
    results: dict[str, int] = {}
    pending: list[str] = []
    for sub in live:
        try:
            status = client.batch_status(sub.batch_id)
        except Transient as exc:
            log.warning("batch_poll_failed", batch_id=sub.batch_id, error=str(exc))
            pending.append(sub.batch_id)
            continue
        if status != "ended":
            pending.append(sub.batch_id)
            continue
        for k, n in _collect(engine, client, sub, now).items():
            results[k] = results.get(k, 0) + n
    if results:
        out["results"] = results
    if pending:
        out["in_progress"] = pending
    return out


def _collect(engine: Engine, client: LlmClient, sub: LlmBatch, now: datetime) -> dict[str, int]:
    from tools.llm.client import CallScope

    rows = {cid: (kind, msg, err) for cid, kind, msg, err in client.batch_results(sub.batch_id)}
    with Session(engine) as s:
        items = list(s.exec(select(LlmBatchItem).where(LlmBatchItem.submission_id == sub.id)))
    counts: dict[str, int] = {}
    for it in items:
        if it.status != "waiting":
            continue
        kind, message, error = rows.get(it.custom_id, ("missing", None, {}))
        if kind == "succeeded" and message is not None:
            scope = CallScope(at=now, run_id=it.run_id, prospect_id=it.prospect_id)
            client.record_batch_result(
                task=it.task,
                prompt_version=it.prompt_version,
                params=it.request,
                key=it.digest,
                message=message,
                scope=scope,
            )
        counts[kind] = counts.get(kind, 0) + 1
        with session_scope(engine) as s:
            row = s.get(LlmBatchItem, it.id)
            if row is None:
                continue
            row.status, row.ended_at, row.error = kind, now, error or {}
            s.add(row)
            if kind != "succeeded":
                release(s, workspace=it.workspace, key=f"llm:{it.digest}")
            p = s.get(Prospect, it.prospect_id) if it.prospect_id else None
            if (
                p is not None
                and p.status == "waiting"
                and (p.next_action_at is None or to_utc(p.next_action_at) > to_utc(now))
            ):
                p.next_action_at = now  # the prospect resumes in this (or the next) run
                s.add(p)
    with session_scope(engine) as s:
        row_sub = s.get(LlmBatch, sub.id)
        if row_sub is not None:
            row_sub.status, row_sub.ended_at, row_sub.counts = "ended", now, counts
            s.add(row_sub)
    return counts


# --- reading -------------------------------------------------------------------------------


def waiting_for(session: Session, workspace: str, prospect_id: str) -> list[dict[str, Any]]:
    """The batch items a prospect waits for (for `prospects show`): its own, and the research
    request of its company while the company is not researched yet (colleagues at the same
    company share that one request; `for` names the prospect that queued it)."""
    me = session.get(Prospect, prospect_id)
    company = session.get(Company, me.company_id) if me is not None and me.company_id else None
    ids = {prospect_id}
    if company is not None and company.research_status not in ("done", "not_found"):
        ids |= set(
            session.exec(
                select(Prospect.id).where(Prospect.workspace == workspace, Prospect.company_id == company.id)
            )
        )
    rows = session.exec(
        select(LlmBatchItem)
        .where(
            LlmBatchItem.workspace == workspace,
            col(LlmBatchItem.prospect_id).in_(ids),
            col(LlmBatchItem.status).in_(("queued", "waiting")),
        )
        .order_by(col(LlmBatchItem.id))
    )
    return [
        {
            "task": r.task,
            "status": "queued" if r.status == "queued" else ("in doubt" if not r.batch_id else "in batch"),
            "batch_id": r.batch_id,
            "since": iso(r.created_at),
            **({"for": r.prospect_id} if r.prospect_id != prospect_id else {}),
        }
        for r in rows
        if r.prospect_id == prospect_id or r.task == "research"
    ]


def overview(ws: Workspace, engine: Engine) -> list[dict[str, Any]]:
    """Every submission of the workspace, newest first (for `batches list`)."""
    with Session(engine) as s:
        subs = list(
            s.exec(
                select(LlmBatch).where(LlmBatch.workspace == ws.id).order_by(col(LlmBatch.created_at).desc())
            )
        )
    return [
        {
            "id": b.id,
            "batch_id": b.batch_id,
            "status": b.status,
            "run_id": b.run_id,
            "items": b.item_count,
            "created_at": iso(b.created_at),
            "ended_at": iso(b.ended_at),
            "results": {k: v for k, v in (b.counts or {}).items() if k not in ("pid", "host")},
        }
        for b in subs
    ]
