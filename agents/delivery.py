"""Delivery of one outbox row: pending -> sending -> sent | failed(reason class).

    pending  --deliver ok-->                     sent
    pending  --transient (after the adapter's retries)--> pending (attempts + 1), run ends
             with an error; after ``max_delivery_attempts`` -> failed + operator task
    pending  --permanent (bounced address, invalid profile)--> failed; prospect updated
             (email_status "invalid" / LinkedIn URL moved to attributes["invalid_linkedin_url"])
    pending  --configuration (bad key, 401/403)--> pending; the channel is paused and one
             operator task opened; while paused no send on it is attempted (deferred)
    pending  --bad input--> failed
    sending  (left by a crash) --lookup confirms--> sent
             --provider idempotent by key--> delivered again with the same key
             --otherwise--> sent with payload {"unconfirmed": true}, never sent twice,
             plus a decision and an operator task

A failed row is not sent again by a later run; an operator decides what to do with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from agents.context import DEFAULT_MAX_DELIVERY_ATTEMPTS, AgentContext
from agents.records import append, record
from agents.state import ProspectState
from core import faults
from core.errors import PermanentFailure, ProviderConfigError, ProviderError
from core.timeutil import iso, parse_instant
from state.db import session_scope
from state.models import ChannelState, Draft, OutboxMessage, Prospect, Task
from tools.channels.base import Channel, DeliveryResult, OutboundMessage
from tools.channels.resilience import CircuitOpen

log = structlog.get_logger(__name__)

UNCONFIRMED = "delivery unconfirmed after a crash; not re-sent to avoid a duplicate"
RESUME_HINT = "run `run.py channels resume {channel} -w WORKSPACE` once the key or settings are fixed"


def _now(state: ProspectState) -> datetime:
    return parse_instant(state["now"])


def _row(session: Session, key: str) -> OutboxMessage:
    return session.exec(select(OutboxMessage).where(OutboxMessage.idempotency_key == key)).one()


def _tool(ctx: AgentContext, message: OutboundMessage, key: str, **result: Any) -> dict[str, Any]:
    tool: dict[str, Any] = {
        "name": f"channel:{message.channel}:{ctx.channels[message.channel].name}",
        "input": {"idempotency_key": key},
    }
    if result:
        tool["result"] = result
    return tool


def _error_outcome(state: ProspectState, error_class: str, reason: str, next_step: str) -> dict[str, Any]:
    return {
        "outcome": {
            "kind": "error",
            "error_class": error_class,
            "reason": reason,
            "next_step": next_step,
            "until": iso(_now(state).replace(microsecond=0)),
        }
    }


def _add_task(
    session: Session,
    *,
    workspace: str,
    dedupe_key: str,
    kind: str,
    title: str,
    body: str,
    now: datetime,
    prospect_id: str = "",
) -> None:
    exists = session.exec(
        select(Task).where(Task.workspace == workspace, Task.dedupe_key == dedupe_key)
    ).first()
    if exists is None:
        session.add(
            Task(
                workspace=workspace,
                dedupe_key=dedupe_key,
                prospect_id=prospect_id,
                kind=kind,
                title=title,
                body=body,
                created_at=now,
            )
        )


def paused_state(session: Session, *, workspace: str, channel: str) -> ChannelState | None:
    """The channel's state when it is paused, else None."""
    st = session.get(ChannelState, (workspace, channel))
    return st if st is not None and st.paused else None


def deliver(ctx: AgentContext, state: ProspectState, key: str, message: OutboundMessage) -> dict[str, Any]:
    """Deliver one outbox row (pending, or sending after a crash) and mark it."""
    channel = ctx.channels[message.channel]
    with session_scope(ctx.engine) as session:
        row = _row(session, key)
        if row.status == "sent":
            return {}
        if row.status == "failed":
            return _skip_failed(ctx, session, state, key, message, row)
        paused = paused_state(session, workspace=ctx.ws_id, channel=message.channel)
        if paused is not None:
            return _defer(ctx, session, state, key, message, paused)
        was_sending = row.status == "sending"
        if not was_sending:
            row.status, row.attempts = "sending", row.attempts + 1
            session.add(row)
    if was_sending:
        return _reconcile(ctx, state, key, message, channel)
    return _attempt(ctx, state, key, message, channel)


def _attempt(
    ctx: AgentContext, state: ProspectState, key: str, message: OutboundMessage, channel: Channel
) -> dict[str, Any]:
    try:
        result = channel.deliver(message)
    except ProviderError as exc:
        return _failed(ctx, state, key, message, exc)
    faults.crash_point("after_deliver")
    return _mark_sent(ctx, state, key, message, result)


def _reconcile(
    ctx: AgentContext, state: ProspectState, key: str, message: OutboundMessage, channel: Channel
) -> dict[str, Any]:
    """A row left in "sending" by a crash: ask the channel, re-deliver only when that is
    harmless, otherwise record it as sent but unconfirmed."""
    try:
        found = channel.lookup(key)
    except ProviderError as exc:
        with session_scope(ctx.engine) as session:
            row = _row(session, key)  # stays "sending": the next run asks again
            row.error_class, row.error = exc.error_class, exc.message
            session.add(row)
            append(
                session,
                ctx.ws_id,
                record(
                    state,
                    node="act",
                    action="send_reconcile_failed",
                    final_action="retry_later",
                    rationale=f"could not check whether the crashed send went out: {exc.message}",
                    error=exc.to_dict(),
                    tool=_tool(ctx, message, key),
                ),
            )
        return _error_outcome(state, exc.error_class, exc.message, exc.next_step)
    if found is not None:
        return _mark_sent(ctx, state, key, message, found, reconciled=True)
    if getattr(channel, "idempotent_by_key", False):
        with session_scope(ctx.engine) as session:
            row = _row(session, key)
            row.attempts += 1
            session.add(row)
        return _attempt(ctx, state, key, message, channel)
    return _unconfirmed(ctx, state, key, message)


def _mark_sent(
    ctx: AgentContext,
    state: ProspectState,
    key: str,
    message: OutboundMessage,
    result: DeliveryResult,
    *,
    reconciled: bool = False,
) -> dict[str, Any]:
    with session_scope(ctx.engine) as session:
        row = _row(session, key)
        row.status, row.sent_at = "sent", _now(state)
        row.provider_message_id = result.provider_message_id
        row.payload = {
            **row.payload,
            **{k: str(v) for k, v in result.detail.items()},
            "cost_usd": result.cost_usd,
        }
        row.error_class = row.error = ""
        session.add(row)
        dr = session.get(Draft, row.draft_id)
        if dr is not None:
            dr.status = "sent"
            session.add(dr)
        if reconciled:
            append(
                session,
                ctx.ws_id,
                record(
                    state,
                    node="act",
                    action="send_reconciled",
                    final_action="noop",
                    rationale="the channel confirms the send made before a crash; not sent again",
                    tool=_tool(ctx, message, key, provider_message_id=result.provider_message_id),
                ),
            )
    if reconciled:
        return {}
    return {"sent": [*(state.get("sent") or []), {"channel": message.channel, "step_id": message.step_id}]}


def _unconfirmed(
    ctx: AgentContext, state: ProspectState, key: str, message: OutboundMessage
) -> dict[str, Any]:
    now = _now(state)
    with session_scope(ctx.engine) as session:
        row = _row(session, key)
        # No provider message id: a follow-up never threads onto a message not known to exist.
        row.status, row.sent_at = "sent", now
        row.payload = {**row.payload, "unconfirmed": True}
        session.add(row)
        dr = session.get(Draft, row.draft_id)
        if dr is not None:
            dr.status = "sent"
            session.add(dr)
        provider = ctx.channels[message.channel].name
        _add_task(
            session,
            workspace=ctx.ws_id,
            dedupe_key=f"delivery_unconfirmed:{key}",
            kind="delivery_unconfirmed",
            prospect_id=state["prospect_id"],
            now=now,
            title=f"Check whether {message.channel} step {message.step_id} reached "
            f"{message.recipient.name or state['prospect_id']}",
            body=f"The process stopped while sending through {provider}, which cannot "
            f"confirm a delivery or deduplicate by key. It was not sent again. "
            f"Check the provider's sent items for idempotency key {key}.",
        )
        append(
            session,
            ctx.ws_id,
            record(
                state,
                node="act",
                action="send_unconfirmed",
                final_action="noop",
                rationale=UNCONFIRMED,
                tool=_tool(ctx, message, key, outbox_status="sent", unconfirmed=True),
            ),
        )
    log.warning("outbox.unconfirmed", channel=message.channel, key=key)
    return {}


def _defer(
    ctx: AgentContext,
    session: Session,
    state: ProspectState,
    key: str,
    message: OutboundMessage,
    paused: ChannelState,
) -> dict[str, Any]:
    reason = (
        f"{message.channel} channel is paused since {iso(paused.changed_at)} "
        f"({paused.reason}); {RESUME_HINT.format(channel=message.channel)}"
    )
    append(
        session,
        ctx.ws_id,
        record(
            state,
            node="act",
            action="send_deferred",
            final_action="defer",
            rationale=reason,
            tool=_tool(ctx, message, key, outbox_status="pending", channel_paused=True),
        ),
    )
    return {"outcome": {"kind": "wait", "until": None, "reason": reason}}


def _skip_failed(
    ctx: AgentContext,
    session: Session,
    state: ProspectState,
    key: str,
    message: OutboundMessage,
    row: OutboxMessage,
) -> dict[str, Any]:
    reason = f"this {message.channel} send failed earlier ({row.error_class}: {row.error}); not sent again"
    next_step = "An operator decides: fix the prospect or the channel, or let the sequence move on."
    append(
        session,
        ctx.ws_id,
        record(
            state,
            node="act",
            action="send_skipped",
            final_action="noop",
            rationale=reason,
            tool=_tool(ctx, message, key, outbox_status="failed"),
        ),
    )
    return _error_outcome(state, row.error_class or "internal", reason, next_step)


def _failed(
    ctx: AgentContext, state: ProspectState, key: str, message: OutboundMessage, exc: ProviderError
) -> dict[str, Any]:
    try:
        return _record_failure(ctx, state, key, message, exc)
    except IntegrityError:
        # Another worker paused the channel at the same moment: record against its pause.
        return _record_failure(ctx, state, key, message, exc)


def _record_failure(
    ctx: AgentContext, state: ProspectState, key: str, message: OutboundMessage, exc: ProviderError
) -> dict[str, Any]:
    now = _now(state)
    limit = dict(ctx.extra.get("max_delivery_attempts") or {}).get(  # type: ignore[call-overload]
        message.channel, DEFAULT_MAX_DELIVERY_ATTEMPTS
    )
    config = isinstance(exc, ProviderConfigError)
    transient = exc.error_class in ("transient", "quota")
    gave_up = False
    with session_scope(ctx.engine) as session:
        row = _row(session, key)
        if config or isinstance(exc, CircuitOpen):
            row.attempts -= 1  # the provider never took the message
        if config:
            row.status = "pending"
            _pause(session, ctx, state, message, exc, now)
        elif transient:
            gave_up = row.attempts >= limit
            row.status = "failed" if gave_up else "pending"
        else:
            row.status = "failed"
        row.error_class, row.error = exc.error_class, exc.message
        session.add(row)
        if isinstance(exc, PermanentFailure):
            _mark_prospect(session, state["prospect_id"], message.channel)
        if gave_up:
            _add_task(
                session,
                workspace=ctx.ws_id,
                dedupe_key=f"delivery_failed:{key}",
                kind="delivery_failed",
                prospect_id=state["prospect_id"],
                now=now,
                title=f"{message.channel} step {message.step_id} gave up after {row.attempts} attempts",
                body=f"{exc.message}\nNext step: {exc.next_step}",
            )
        final = "pause_channel" if config else "failed" if gave_up or not transient else "retry_later"
        append(
            session,
            ctx.ws_id,
            record(
                state,
                node="act",
                action="send_failed",
                final_action=final,
                rationale=exc.next_step,
                error=exc.to_dict(),
                tool=_tool(ctx, message, key, outbox_status=row.status, attempts=row.attempts),
            ),
        )
    log.warning(
        "outbox.failed",
        channel=message.channel,
        error_class=exc.error_class,
        status=row.status,
        attempts=row.attempts,
    )
    if isinstance(exc, PermanentFailure):
        return {}  # the prospect was updated; the planner picks another channel or stops
    if gave_up:
        return _error_outcome(
            state,
            exc.error_class,
            f"{exc.message} (gave up after {row.attempts} attempts)",
            "An operator task was opened; the message is not retried.",
        )
    return _error_outcome(state, exc.error_class, exc.message, exc.next_step)


def _mark_prospect(session: Session, prospect_id: str, channel: str) -> None:
    """A bounced address or an invalid profile is never used again."""
    p = session.get(Prospect, prospect_id)
    if channel == "email":
        p.email_status = "invalid"
    elif channel == "linkedin" and p.linkedin_url:
        p.attributes = {**(p.attributes or {}), "invalid_linkedin_url": p.linkedin_url}
        p.linkedin_url = ""
    session.add(p)


def _pause(
    session: Session,
    ctx: AgentContext,
    state: ProspectState,
    message: OutboundMessage,
    exc: ProviderError,
    now: datetime,
) -> None:
    """Pause the channel and open one operator task, unless it is paused already."""
    st = session.get(ChannelState, (ctx.ws_id, message.channel))
    if st is not None and st.paused:
        return
    if st is None:
        st = ChannelState(workspace=ctx.ws_id, channel=message.channel, changed_at=now)
    st.paused, st.reason, st.error_class, st.changed_at = True, exc.message, exc.error_class, now
    session.add(st)
    _add_task(
        session,
        workspace=ctx.ws_id,
        kind="channel_paused",
        now=now,
        dedupe_key=f"channel_paused:{message.channel}:{state['run_id']}",
        title=f"{message.channel} channel paused: {exc.message}",
        body=f"{exc.next_step}\nThen {RESUME_HINT.format(channel=message.channel)}; "
        f"sends waiting on it go out on the next run.",
    )
    log.warning("channel.paused", channel=message.channel, provider=exc.provider, error_class=exc.error_class)


def channel_states(engine: Engine, *, workspace: str, channels: Sequence[str]) -> list[dict[str, Any]]:
    """Each channel's pause state and how many sends wait on it."""
    out = []
    with Session(engine) as session:
        for name in channels:
            st = session.get(ChannelState, (workspace, name))
            waiting = len(
                session.exec(
                    select(OutboxMessage.id).where(
                        OutboxMessage.workspace == workspace,
                        OutboxMessage.channel == name,
                        OutboxMessage.status.in_(("pending", "sending")),
                    )
                ).all()
            )
            out.append(
                {
                    "channel": name,
                    "paused": bool(st and st.paused),
                    "reason": st.reason if st else "",
                    "error_class": st.error_class if st else "",
                    "changed_at": iso(st.changed_at) if st else None,
                    "waiting": waiting,
                }
            )
    return out


def resume_channel(engine: Engine, *, workspace: str, channel: str, now: datetime) -> dict[str, Any]:
    """Un-pause a channel and close its open "channel_paused" tasks."""
    with session_scope(engine) as session:
        st = session.get(ChannelState, (workspace, channel))
        was_paused = bool(st and st.paused)
        if st is not None and st.paused:
            st.paused, st.changed_at = False, now
            session.add(st)
        closed = 0
        for task in session.exec(
            select(Task).where(
                Task.workspace == workspace,
                Task.kind == "channel_paused",
                Task.status == "open",
                Task.dedupe_key.startswith(f"channel_paused:{channel}:", autoescape=True),
            )
        ).all():
            task.status = "done"
            session.add(task)
            closed += 1
    return {"channel": channel, "was_paused": was_paused, "paused": False, "tasks_closed": closed}
