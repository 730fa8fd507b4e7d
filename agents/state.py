"""The graph state: plain JSON-able facts for one prospect's run. Clients never live here
(they travel in `AgentContext`); durable facts live in the database, so the state only
carries what this run has seen and decided."""

from __future__ import annotations

from typing import Annotated, Any, TypedDict


def _pending(old: list[dict[str, Any]] | None, new: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The reducer of `ProspectState.pending`: a list extends it, None clears it."""
    if new is None:
        return []
    return [*(old or []), *new]


class ProspectState(TypedDict, total=False):
    prospect_id: str
    thread_id: str
    run_id: str
    now: str  # ISO-8601 UTC: the injected clock for this run
    steps: int  # plan iterations in this run (capped)
    observation: dict[str, Any]
    plan: dict[str, Any]  # {"proposal", "rationale", "planner", "denials"}
    decision: dict[str, Any]  # the guard's combined verdicts for the current proposal
    denials: list[dict[str, Any]]  # this run's denied/deferred proposals, fed back to the planner
    review: dict[str, Any] | None  # the review request waiting for a human
    outcome: dict[str, Any] | None  # terminal for today: wait | stop | review | step_cap | error
    sent: list[dict[str, Any]]  # messages sent in this run
    # The guard's deny/defer records not written yet: they go with the next record written
    # (agents.records.flushing); a list extends them, None clears them.
    pending: Annotated[list[dict[str, Any]] | None, _pending]
    # Sections of the observation the last action touched (act -> observe re-reads only
    # those); None or absent: the next observation is built in full.
    effects: list[str] | None


class ReviewRequest(TypedDict):
    """The payload of `interrupt()` for a human review."""

    review_id: str
    prospect_id: str
    step_id: str
    channel: str
    draft_id: str
    reasons: list[str]


class ReviewResponse(TypedDict, total=False):
    """What a reviewer decides (`Command(resume=...)`)."""

    decision: str  # approve | edit | reject | snooze
    actor: str
    subject: str
    body: str
    note: str
    until: str
    at: str


def initial_state(*, prospect_id: str, thread_id: str, run_id: str, now: str) -> ProspectState:
    return ProspectState(
        prospect_id=prospect_id,
        thread_id=thread_id,
        run_id=run_id,
        now=now,
        steps=0,
        observation={},
        plan={},
        decision={},
        denials=[],
        review=None,
        outcome=None,
        sent=[],
        pending=None,  # nothing of an earlier run is left pending
    )
