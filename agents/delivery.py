"""Delivery of one outbox row: pending -> sending -> sent | failed(reason class) | unknown.

    pending  --deliver ok-->                     sent
    pending  --transient (after the adapter's retries)--> pending (attempts + 1), run ends
             with an error; after ``max_delivery_attempts`` -> failed + operator task
    pending  --permanent (bounced address, invalid profile)--> failed; prospect updated
             (email_status "invalid" / LinkedIn URL moved to attributes["invalid_linkedin_url"])
    pending  --configuration (bad key, 401/403)--> pending; the channel is paused and one
             operator task opened; while paused no send on it is attempted (deferred)
    pending  --bad input--> failed
    pending  --outcome unknown (timeout, reset, 5xx after the request left, SMTP drop after
             DATA) on a provider that cannot repeat the message by key--> unknown: never
             sent again by a run; the channel's lookup confirms it (-> sent) where the
             provider allows, otherwise one operator task ("delivery_unknown"); an
             operator settles it with `outbox resolve KEY --sent | --not-sent`
             (not-sent -> pending, sent once by the next run)
    unknown  --a later run or `outbox reconcile`: lookup confirms--> sent
    sending  (left by a crash) --lookup confirms--> sent
             --provider idempotent by key--> delivered again with the same key
             --otherwise--> sent with payload {"unconfirmed": true}, never sent twice,
             plus a decision and an operator task

A failed row is not sent again by a later run; an operator decides what to do with it.
Every decision about a delivery carries the provider calls made (``attempts``: each
call's outcome) in its tool result; the row keeps the running total in
``payload["provider_calls"]``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from agents.context import DEFAULT_MAX_DELIVERY_ATTEMPTS, AgentContext
from agents.records import append, record
from agents.state import ProspectState
from core import faults
from core.errors import OutcomeUnknown, PermanentFailure, ProviderConfigError, ProviderError
from core.timeutil import iso, parse_instant
from state.db import session_scope
from state.models import ChannelState, Draft, OutboxMessage, Prospect, Task
from tools.channels.base import Channel, DeliveryResult, OutboundMessage, repeatable
from tools.channels.resilience import CircuitOpen

log = structlog.get_logger(__name__)

UNKNOWN = (
    "the provider may have acted (no answer after the request left) and cannot repeat this "
    "message by key; not sent again"
)
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


UNKNOWN_STATUS = "unknown"


def _close_task(session: Session, workspace: str, dedupe_key: str) -> None:
    task = session.exec(
        select(Task).where(Task.workspace == workspace, Task.dedupe_key == dedupe_key, Task.status == "open")
    ).first()
    if task is not None:
        task.status = "done"
        session.add(task)


def paused_state(session: Session, *, workspace: str, channel: str) -> ChannelState | None:
    """The channel's state when it is paused, else None."""
    st = session.get(ChannelState, (workspace, channel))
    return st if st is not None and st.paused else None


def deliver(ctx: AgentContext, state: ProspectState, key: str, message: OutboundMessage) -> dict[str, Any]:
    """Deliver one outbox row (pending, or sending after a crash) and mark it; an unknown
    row is only checked with the provider, never sent again."""
    channel = ctx.channels[message.channel]
    with session_scope(ctx.engine) as session:
        row = _row(session, key)
        if row.status == "sent":
            return {}
        if row.status == "failed":
            return _skip_failed(ctx, session, state, key, message, row)
        unknown = row.status == UNKNOWN_STATUS
        if not unknown:
            paused = paused_state(session, workspace=ctx.ws_id, channel=message.channel)
            if paused is not None:
                return _defer(ctx, session, state, key, message, paused)
        was_sending = row.status == "sending"
        if not (was_sending or unknown):
            row.status, row.attempts = "sending", row.attempts + 1
            session.add(row)
    if unknown:
        return _recheck_unknown(ctx, state, key, message, channel)
    if was_sending:
        return _reconcile(ctx, state, key, message, channel)
    return _attempt(ctx, state, key, message, channel)


def _attempt(
    ctx: AgentContext, state: ProspectState, key: str, message: OutboundMessage, channel: Channel
) -> dict[str, Any]:
    try:
        result = channel.deliver(message)
    except OutcomeUnknown as exc:
        if not repeatable(channel, message):
            return _unknown(ctx, state, key, message, channel, exc)
        return _failed(ctx, state, key, message, exc)  # repeatable: retried later with the key
    except ProviderError as exc:
        return _failed(ctx, state, key, message, exc)
    faults.crash_point("after_deliver")
    return _mark_sent(ctx, state, key, message, result)


def _calls(source: DeliveryResult | ProviderError) -> list[dict[str, Any]]:
    """The provider calls behind a result or error (one call when no retry loop ran)."""
    attempts = list(getattr(source, "attempts", ()) or ())
    if attempts:
        return [dict(a) for a in attempts]
    if isinstance(source, ProviderError):
        return [
            {"attempt": 1, "outcome": source.error_class, "error": source.message, "status": source.status}
        ]
    return [{"attempt": 1, "outcome": "delivered"}]


def _count_calls(row: OutboxMessage, calls: list[dict[str, Any]]) -> None:
    """Add the calls that reached the provider (a refusal by the open breaker did not)."""
    made = sum(1 for c in calls if c.get("outcome") != "circuit_open")
    row.payload = {**row.payload, "provider_calls": int(row.payload.get("provider_calls") or 0) + made}


def _unknown(
    ctx: AgentContext,
    state: ProspectState,
    key: str,
    message: OutboundMessage,
    channel: Channel,
    exc: OutcomeUnknown,
) -> dict[str, Any]:
    """The request left and no answer came back, on a provider that cannot repeat it: the
    row becomes "unknown" (never sent again by a run), then the provider is asked."""
    calls = _calls(exc)
    with session_scope(ctx.engine) as session:
        row = _row(session, key)
        row.status, row.error_class, row.error = UNKNOWN_STATUS, exc.error_class, exc.message
        _count_calls(row, calls)
        session.add(row)
        append(
            session,
            ctx.ws_id,
            record(
                state,
                node="act",
                action="send_unknown",
                final_action="reconcile",
                rationale=UNKNOWN,
                error=exc.to_dict(),
                tool=_tool(ctx, message, key, outbox_status=UNKNOWN_STATUS, attempts=calls),
            ),
        )
    log.warning("outbox.unknown", channel=message.channel, key=key, calls=len(calls))
    return _recheck_unknown(ctx, state, key, message, channel)


def _recheck_unknown(
    ctx: AgentContext, state: ProspectState, key: str, message: OutboundMessage, channel: Channel
) -> dict[str, Any]:
    """Ask the provider about an unknown row: confirmed -> sent; otherwise it stays unknown
    with one operator task, and this prospect's run ends with an error (nothing re-sent)."""
    try:
        found = channel.lookup(key)
    except ProviderError as exc:
        found, lookup_error = None, exc.message
    else:
        lookup_error = ""
    if found is not None:
        return _mark_sent(ctx, state, key, message, found, reconciled=True)
    provider = channel.name
    now = _now(state)
    with session_scope(ctx.engine) as session:
        _add_task(
            session,
            workspace=ctx.ws_id,
            dedupe_key=f"delivery_unknown:{key}",
            kind="delivery_unknown",
            prospect_id=state["prospect_id"],
            now=now,
            title=f"Did {message.channel} step {message.step_id} reach "
            f"{message.recipient.name or state['prospect_id']}?",
            body=f"{provider} may have acted on this send but gave no answer; it does not confirm "
            f"it by key and cannot repeat it safely, so it was not sent again. Check the provider "
            f"(sent items, the recipient's activity) for idempotency key {key}, then run "
            f"`run.py outbox resolve {key} --sent` (it went out) or `--not-sent` (send it once more).",
        )
    reason = f"{message.channel} send outcome unknown; waiting for the provider or an operator" + (
        f" (lookup failed: {lookup_error})" if lookup_error else ""
    )
    return _error_outcome(
        state,
        "transient",
        reason,
        f"Run `run.py outbox reconcile` or settle it with `run.py outbox resolve {key} --sent|--not-sent`.",
    )


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
        if not reconciled:
            _count_calls(row, _calls(result))
        session.add(row)
        dr = session.get(Draft, row.draft_id)
        if dr is not None:
            dr.status = "sent"
            session.add(dr)
        _close_task(session, ctx.ws_id, f"delivery_unknown:{key}")
        if reconciled:
            append(
                session,
                ctx.ws_id,
                record(
                    state,
                    node="act",
                    action="send_reconciled",
                    final_action="noop",
                    rationale="the channel confirms the earlier send (crash or unknown outcome); "
                    "not sent again",
                    tool=_tool(ctx, message, key, provider_message_id=result.provider_message_id),
                ),
            )
        else:
            append(
                session,
                ctx.ws_id,
                record(
                    state,
                    node="act",
                    action="send_delivered",
                    final_action="sent",
                    rationale="the provider accepted the message",
                    tool=_tool(
                        ctx,
                        message,
                        key,
                        outbox_status="sent",
                        provider_message_id=result.provider_message_id,
                        attempts=_calls(result),
                    ),
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
        calls = _calls(exc)
        _count_calls(row, calls)
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
                tool=_tool(
                    ctx,
                    message,
                    key,
                    outbox_status=row.status,
                    delivery_attempts=row.attempts,
                    attempts=calls,
                ),
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
    if p is None:
        return
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
    """Each channel's pause state, how many sends wait on it and how many have an unknown
    outcome (the provider may have acted; see `outbox reconcile`)."""
    out = []
    with Session(engine) as session:
        for name in channels:
            st = session.get(ChannelState, (workspace, name))
            waiting = len(
                session.exec(
                    select(OutboxMessage.id).where(
                        OutboxMessage.workspace == workspace,
                        OutboxMessage.channel == name,
                        col(OutboxMessage.status).in_(("pending", "sending")),
                    )
                ).all()
            )
            unknown = len(
                session.exec(
                    select(OutboxMessage.id).where(
                        OutboxMessage.workspace == workspace,
                        OutboxMessage.channel == name,
                        OutboxMessage.status == UNKNOWN_STATUS,
                    )
                ).all()
            )
            out.append(
                {
                    "channel": name,
                    "paused": bool(st and st.paused),
                    "unknown": unknown,
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
                col(Task.dedupe_key).startswith(f"channel_paused:{channel}:", autoescape=True),
            )
        ).all():
            task.status = "done"
            session.add(task)
            closed += 1
    return {"channel": channel, "was_paused": was_paused, "paused": False, "tasks_closed": closed}


# ----------------------------------------------------------------- unknown outcomes


def _operator_state(row: OutboxMessage, now: datetime, run_id: str) -> ProspectState:
    from agents.checkpoint import thread_id
    from agents.state import initial_state

    return initial_state(
        prospect_id=row.prospect_id,
        thread_id=thread_id(row.workspace, row.prospect_id),
        run_id=run_id,
        now=iso(now) or "",
    )


def _unknown_row(session: Session, workspace: str, key: str) -> OutboxMessage:
    from core.errors import InputError

    row = session.exec(
        select(OutboxMessage).where(
            OutboxMessage.workspace == workspace, OutboxMessage.idempotency_key == key
        )
    ).first()
    if row is None:
        raise InputError(
            f"no outbox row with idempotency key {key!r} in workspace {workspace}",
            field="key",
            next_step="Run `run.py outbox list --status unknown` to see the rows to settle.",
        )
    if row.status != UNKNOWN_STATUS:
        raise InputError(
            f"outbox row {key} is {row.status!r}, not 'unknown': nothing to settle",
            field="key",
            next_step="Run `run.py outbox list --status unknown` to see the rows to settle.",
        )
    return row


def reconcile_unknown(
    engine: Engine, *, workspace: str, channels: Mapping[str, Channel], now: datetime
) -> list[dict[str, Any]]:
    """Ask each channel about its unknown rows: a confirmed one becomes sent (decision
    "send_reconciled", task closed); the others stay unknown with their operator task."""
    with Session(engine) as session:
        keys = session.exec(
            select(OutboxMessage.idempotency_key, OutboxMessage.channel)
            .where(OutboxMessage.workspace == workspace, OutboxMessage.status == UNKNOWN_STATUS)
            .order_by(col(OutboxMessage.id))
        ).all()
    out = []
    for key, channel_name in keys:
        channel = channels.get(channel_name)
        entry: dict[str, Any] = {"idempotency_key": key, "channel": channel_name, "status": UNKNOWN_STATUS}
        try:
            found = channel.lookup(key) if channel is not None else None
        except ProviderError as exc:
            entry["problem"] = exc.message
            out.append(entry)
            continue
        if found is None:
            entry["problem"] = "the provider cannot confirm it; an operator settles it with `outbox resolve`"
            out.append(entry)
            continue
        with session_scope(engine) as session:
            row = session.exec(select(OutboxMessage).where(OutboxMessage.idempotency_key == key)).one()
            if row.status != UNKNOWN_STATUS:
                continue  # settled meanwhile
            row.status, row.sent_at = "sent", now
            row.provider_message_id = found.provider_message_id
            row.error_class = row.error = ""
            row.payload = {**row.payload, "reconciled": True}
            session.add(row)
            _mark_draft_sent(session, row.draft_id)
            _close_task(session, workspace, f"delivery_unknown:{key}")
            append(
                session,
                workspace,
                record(
                    _operator_state(row, now, "reconcile"),
                    node="act",
                    action="send_reconciled",
                    final_action="noop",
                    rationale="the provider confirms the send whose outcome was unknown; not sent again",
                    tool={
                        "name": f"channel:{row.channel}:{row.provider}",
                        "input": {"idempotency_key": key},
                        "result": {"provider_message_id": found.provider_message_id, "outbox_status": "sent"},
                    },
                ),
            )
        entry.update(status="sent", provider_message_id=found.provider_message_id)
        out.append(entry)
    return out


def resolve_unknown(
    engine: Engine, *, workspace: str, key: str, delivered: bool, actor: str, now: datetime
) -> dict[str, Any]:
    """An operator settles an unknown row: it went out (sent, unconfirmed by the provider,
    so nothing threads onto it) or it did not (pending: the next run sends it once)."""
    with session_scope(engine) as session:
        row = _unknown_row(session, workspace, key)
        if delivered:
            row.status, row.sent_at = "sent", now
            row.payload = {**row.payload, "unconfirmed": True, "resolved_by": actor}
            _mark_draft_sent(session, row.draft_id)
        else:
            row.status = "pending"
            row.payload = {**row.payload, "resolved_by": actor}
        row.error_class = row.error = ""
        session.add(row)
        _close_task(session, workspace, f"delivery_unknown:{key}")
        append(
            session,
            workspace,
            record(
                _operator_state(row, now, "operator"),
                node="operator",
                action="send_resolved",
                final_action="noop" if delivered else "send_later",
                rationale=f"{actor} settled an unknown delivery: "
                + (
                    "it reached the recipient"
                    if delivered
                    else "it did not go out; the next run sends it once"
                ),
                tool={
                    "name": f"channel:{row.channel}:{row.provider}",
                    "input": {"idempotency_key": key},
                    "result": {"outbox_status": row.status},
                },
                extra={"actor": actor},
            ),
        )
        return {"idempotency_key": key, "status": row.status, "prospect_id": row.prospect_id}


def _mark_draft_sent(session: Session, draft_id: str) -> None:
    dr = session.get(Draft, draft_id)
    if dr is not None:
        dr.status = "sent"
        session.add(dr)
