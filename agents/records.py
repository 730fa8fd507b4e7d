"""Decision records: what each node appends to the hash-chained log."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import structlog
from langgraph.errors import GraphBubbleUp
from langgraph.runtime import Runtime
from sqlalchemy import event
from sqlalchemy.orm import Session as SASession
from sqlmodel import Session

from agents.state import ProspectState
from state import decision_log
from state.db import session_scope

log = structlog.get_logger(__name__)

if TYPE_CHECKING:
    from agents.context import AgentContext


def record(
    state: ProspectState,
    *,
    node: str,
    action: str,
    final_action: str,
    rationale: str = "",
    tool: Mapping[str, Any] | None = None,
    cost: Mapping[str, float] | None = None,
    error: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    observation: Mapping[str, Any] | None = None,
    plan: Mapping[str, Any] | None = None,
    decision: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The body of one decision record (hash fields are added when appended)."""
    obs = observation if observation is not None else state.get("observation") or {}
    pl = plan if plan is not None else state.get("plan") or {}
    dec = decision if decision is not None else state.get("decision") or {}
    body: dict[str, Any] = {
        "at": state["now"],
        "run_id": state["run_id"],
        "prospect_id": state["prospect_id"],
        "thread_id": state["thread_id"],
        "node": node,
        "action": action,
        "observation_digest": "",  # set when appended: the observation is stored by digest
        "observation": obs,
        "proposal": pl.get("proposal"),
        "planner": pl.get("planner"),
        "planner_input": {"denials": pl.get("denials", [])},
        "rationale": rationale or pl.get("rationale", ""),
        "verdicts": dec.get("verdicts", []),
        "outcome": dec.get("outcome", ""),
        "final_action": final_action,
        "tool": dict(tool or {}),
        "cost": {"credits": 0.0, "tokens": 0, "usd": 0.0, **(cost or {})},
        "step": state.get("steps", 0),
    }
    if error:
        body["error"] = dict(error)
    if extra:
        body.update(extra)
    return body


# --- one append per step batch ----------------------------------------------------------
#
# The guard's deny/defer records are no side effect: they are kept pending in the graph
# state (`ProspectState.pending`) and written with the next record that must be written
# (the act's, the review request, the step cap, a wait or stop, the runner's error), at the
# head of that record's append: one multi-row insert, in its transaction, in the order and
# with the bodies they always had. A crash before that loses only records the rerun
# recomputes identically (nothing was done on their account).


class Pending:
    """The pending records one node call may flush. `written` turns true when the
    transaction that carried them commits; a rolled-back one leaves them pending, so a
    retry in the same node call (a new transaction) carries them again."""

    __slots__ = ("bodies", "written")

    def __init__(self, bodies: list[dict[str, Any]]) -> None:
        self.bodies = bodies
        self.written = False

    def take(self, session: Session) -> list[dict[str, Any]]:
        """The bodies to put first in an append in `session`'s transaction (none once they
        are written or already in this transaction)."""
        if self.written or not self.bodies:
            return []
        carried = session.info.setdefault(_CARRIED, [])
        if any(p is self for p in carried):
            return []
        carried.append(self)
        return self.bodies


_CARRIED = "agents.records.pending"  # Session.info: the Pending carried by its transaction


@event.listens_for(SASession, "after_commit")
def _carried_written(session: SASession) -> None:
    for pending in session.info.pop(_CARRIED, ()):
        pending.written = True


@event.listens_for(SASession, "after_rollback")
def _carried_dropped(session: SASession) -> None:
    session.info.pop(_CARRIED, None)


class RunJournal:
    """What a prospect's run left pending when a node raised, for the runner's error record."""

    __slots__ = ("unwritten",)

    def __init__(self) -> None:
        self.unwritten: list[dict[str, Any]] = []


_NODE: ContextVar[Pending | None] = ContextVar("pending_records", default=None)
_RUN: ContextVar[RunJournal | None] = ContextVar("pending_journal", default=None)


def append(session: Session, workspace: str, *bodies: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Append records to the workspace's chain in the caller's transaction. Inside a graph
    node with pending guard records (see `flushing`), those go first, in the same insert."""
    pending = _NODE.get()
    if pending is not None:
        first = pending.take(session)
        if first:
            return decision_log.append(session, workspace, (*first, *bodies))
    return decision_log.append(session, workspace, bodies)


def add_pending(*bodies: dict[str, Any]) -> None:
    """Keep records pending in the current node call (the guard's re-plan loop), so a node
    that raises before returning them hands them to the runner with the rest."""
    pending = _NODE.get()
    if pending is not None:
        pending.bodies.extend(bodies)


def flushing(node: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a graph node so any record it appends carries the run's pending records first.
    When they were written the node's update clears them; when it wrote nothing they stay
    pending for the next record; when it raises, those not written go to the runner's
    error record (or, outside the runner, are written alone, as before)."""

    @functools.wraps(node)
    def run(state: ProspectState, runtime: Runtime[AgentContext]) -> Any:
        pending = Pending(list(state.get("pending") or ()))
        token = _NODE.set(pending)
        try:
            out = node(state, runtime)
        except GraphBubbleUp:  # an interrupt is no error
            raise
        except Exception:
            if not pending.written and pending.bodies:
                _hand_over(runtime.context, pending.bodies)
            raise
        finally:
            _NODE.reset(token)
        if pending.written:
            return {**(out or {}), "pending": None}
        return out

    return run


def _hand_over(ctx: AgentContext, bodies: list[dict[str, Any]]) -> None:
    journal = _RUN.get()
    if journal is not None:
        journal.unwritten = list(bodies)
        return
    try:  # no runner to log the error: keep what was decided, in the order it was decided
        with session_scope(ctx.engine) as session:
            decision_log.append(session, ctx.ws_id, bodies)
    except Exception:  # the node's own error is the one to report
        log.exception("pending_records_not_written")


@contextmanager
def run_journal() -> Iterator[RunJournal]:
    """Scope of one prospect's graph invocation in the runner."""
    journal = RunJournal()
    token = _RUN.set(journal)
    try:
        yield journal
    finally:
        _RUN.reset(token)
