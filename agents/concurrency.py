"""Bounded concurrency inside one daily-run process: prospects processed by threads.

With Claude in the loop a prospect's run mostly waits for the model (seconds per call), so a
run that takes prospects one after another is bound by latency, not by the rate limits.
When a workspace uses Claude (`agents.context.uses_claude`), a chunk's prospects go through
`[llm] run_concurrency` threads ("lanes"); the LLM client's limiter and `max_concurrency`
semaphore are shared by all of them, so the rate limits still hold. Plain workspaces stay
sequential and unchanged.

Why the outcome does not depend on the number of lanes:
- the capped slots are allotted once per run before any work is split
  (`agents.allocation`): a prospect's observation shows its allotment plus its own usage,
  never what another lane happens to have done (the send transaction still re-checks the
  real totals, so a cap is never exceeded);
- a company is never processed by two lanes at once: its prospects form one unit of work,
  run sequentially in priority order by one lane (what `company_chunks` guarantees across
  worker processes);
- each lane has its own checkpointer (saver and connection) and graph; the database engine's
  pool hands each thread its own connection, and SQLite write transactions take the write
  lock at BEGIN (`state.db`), so the decision log reads its chain head under the lock and
  every append extends one unbroken chain;
- the outcomes are handed back in priority order (the summary adds them in that order,
  whichever lane finished first).

A workspace whose enrichment learns its provider order (`[enrichment] learned_order`) stays
sequential: that order depends on the lookups of the prospects processed before.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Any

from agents.checkpoint import open_checkpointer, prune_finished, thread_id
from agents.context import AgentContext, uses_claude
from agents.graph import build_graph
from core.workspace import Workspace

Outcome = dict[str, Any]
ProcessFn = Callable[[Any, AgentContext, str], Outcome]


def run_concurrency(ws: Workspace) -> int:
    """How many prospects a daily-run process works on at once: `[llm] run_concurrency`
    when a provider is Claude, else 1 (sequential)."""
    if not uses_claude(ws):
        return 1
    if ws.config.enrichment.learned_order:
        return 1
    return ws.config.llm.run_concurrency


def company_units(engine: Any, ids: Sequence[str]) -> list[list[str]]:
    """The prospects grouped by company, each group in priority order, groups in the order
    of their highest-ranked prospect (a prospect without a company is its own group)."""
    from sqlmodel import Session

    from agents.allocation import company_chunks

    with Session(engine) as session:
        return company_chunks(session, list(ids), 1)


def process_all(
    ws: Workspace,
    ctx: AgentContext,
    ids: Sequence[str],
    process: ProcessFn,
    *,
    concurrency: int,
    on_outcome: Callable[[int, str, Outcome], None] | None = None,
) -> list[Outcome]:
    """Every prospect of `ids` (in priority order) through `process(graph, ctx, pid)`, at
    most `concurrency` at a time, one company per lane at a time. Returns the outcomes in
    the order of `ids`; `on_outcome(i, pid, outcome)` is called in that order too (from the
    calling thread). Checkpoints of finished prospect-runs are pruned as before."""
    ids = list(ids)
    if concurrency <= 1 or len(ids) <= 1:
        return _sequential(ws, ctx, ids, process, on_outcome)
    units = company_units(ctx.engine, ids)
    lanes = min(concurrency, len(units))
    if lanes <= 1:
        return _sequential(ws, ctx, ids, process, on_outcome)
    with open_checkpointer(ws):
        pass  # create the checkpoint store (tables, WAL mode) once, before the lanes race
    todo: queue.Queue[list[str]] = queue.Queue()
    for unit in units:  # highest-ranked companies are started first
        todo.put(unit)
    done: queue.Queue[tuple[str, Outcome] | BaseException] = queue.Queue()
    stop = threading.Event()

    def lane() -> None:
        try:
            with ExitStack() as stack:
                saver = stack.enter_context(open_checkpointer(ws))
                graph = build_graph(saver)
                finished: list[str] = []
                try:
                    while not stop.is_set():
                        try:
                            unit = todo.get_nowait()
                        except queue.Empty:
                            return
                        for pid in unit:
                            outcome = process(graph, ctx, pid)
                            if outcome.get("kind") != "review":
                                finished.append(thread_id(ws.id, pid))
                            done.put((pid, outcome))
                finally:
                    prune_finished(saver, finished)
        except BaseException as exc:  # an infrastructure failure: the caller re-raises it
            stop.set()
            done.put(exc)

    threads = [threading.Thread(target=lane, name=f"run-lane-{i}", daemon=True) for i in range(lanes)]
    for t in threads:
        t.start()
    rank = {pid: i for i, pid in enumerate(ids)}
    outcomes: list[Outcome | None] = [None] * len(ids)
    emitted = received = 0
    failure: BaseException | None = None
    try:
        while received < len(ids):
            item = done.get()
            if isinstance(item, BaseException):
                failure = item
                break
            pid, outcome = item
            outcomes[rank[pid]] = outcome
            received += 1
            while emitted < len(ids) and outcomes[emitted] is not None:
                if on_outcome is not None:
                    on_outcome(emitted, ids[emitted], outcomes[emitted])  # type: ignore[arg-type]
                emitted += 1
    finally:
        stop.set()
        for t in threads:
            t.join()
    if failure is not None:
        raise failure
    return [o for o in outcomes if o is not None]


def _sequential(
    ws: Workspace,
    ctx: AgentContext,
    ids: list[str],
    process: ProcessFn,
    on_outcome: Callable[[int, str, Outcome], None] | None,
) -> list[Outcome]:
    """One prospect after another on one checkpointer (what every plain workspace does)."""
    with open_checkpointer(ws) as saver:
        graph = build_graph(saver)
        outcomes: list[Outcome] = []
        for i, pid in enumerate(ids):
            outcomes.append(process(graph, ctx, pid))
            if on_outcome is not None:
                on_outcome(i, pid, outcomes[-1])
        prune_finished(
            saver, [thread_id(ws.id, p) for p, o in zip(ids, outcomes, strict=True) if o["kind"] != "review"]
        )
        return outcomes
