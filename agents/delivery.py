"""Delivery of one outbox row: pending -> sending -> sent | failed(reason class).

A row in "sending" after a crash is reconciled through `Channel.lookup` before any second
attempt; failures are classified: transient (left pending, retried by a later run),
permanent (bounced address, invalid profile: recorded, prospect updated) or
configuration (bad key)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import select

from agents.context import AgentContext
from agents.records import append, record
from agents.state import ProspectState
from core import faults
from core.errors import PermanentFailure, ProviderConfigError, ProviderError
from core.timeutil import iso, parse_instant
from state.db import session_scope
from state.models import Draft, OutboxMessage, Prospect
from tools.channels.base import OutboundMessage


def _now(state: ProspectState) -> datetime:
    return parse_instant(state["now"])


def _prospect(session: Any, state: ProspectState) -> Prospect:
    return session.get(Prospect, state["prospect_id"])


def deliver(ctx: AgentContext, state: ProspectState, key: str, message: OutboundMessage) -> dict[str, Any]:
    """Deliver one outbox row (pending or sending) and mark it; failures are classified."""
    channel = ctx.channels[message.channel]
    now = _now(state)
    with session_scope(ctx.engine) as session:
        row = session.exec(select(OutboxMessage).where(OutboxMessage.idempotency_key == key)).first()
        if row.status == "sent":
            return {}
        was_sending = row.status == "sending"
        row.status, row.attempts = "sending", row.attempts + 1
        session.add(row)
    try:
        result = channel.lookup(key) if was_sending else None
        if result is None:
            result = channel.deliver(message)
    except ProviderError as exc:
        return _failed(ctx, state, key, message, exc)
    faults.crash_point("after_deliver")
    with session_scope(ctx.engine) as session:
        row = session.exec(select(OutboxMessage).where(OutboxMessage.idempotency_key == key)).first()
        row.status, row.sent_at = "sent", now
        row.provider_message_id = result.provider_message_id
        row.payload = {**row.payload, **{k: str(v) for k, v in result.detail.items()},
                       "cost_usd": result.cost_usd}
        row.error_class = row.error = ""
        session.add(row)
        dr = session.get(Draft, row.draft_id)
        if dr is not None:
            dr.status = "sent"
            session.add(dr)
    return {"sent": [*(state.get("sent") or []), {"channel": message.channel,
                                                   "step_id": message.step_id}]}


def _failed(ctx: AgentContext, state: ProspectState, key: str, message: OutboundMessage,
            exc: ProviderError) -> dict[str, Any]:
    transient = exc.error_class in ("transient", "quota")
    with session_scope(ctx.engine) as session:
        row = session.exec(select(OutboxMessage).where(OutboxMessage.idempotency_key == key)).first()
        row.status = "pending" if transient else "failed"
        row.error_class, row.error = exc.error_class, exc.message
        session.add(row)
        if isinstance(exc, PermanentFailure) and message.channel == "email":
            p = _prospect(session, state)
            p.email_status = "invalid"
            session.add(p)
        append(session, ctx.ws_id, record(
            state, node="act", action="send_failed", final_action="retry_later" if transient else "failed",
            rationale=exc.next_step, error=exc.to_dict(),
            tool={"name": f"channel:{message.channel}:{ctx.channels[message.channel].name}",
                  "input": {"idempotency_key": key}}))
    if isinstance(exc, ProviderConfigError) or transient:
        until = iso(_now(state).replace(microsecond=0))
        return {"outcome": {"kind": "error", "error_class": exc.error_class, "reason": exc.message,
                            "next_step": exc.next_step, "until": until}}
    return {}
