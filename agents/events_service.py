"""Engagement events in: matched to the prospect, stored once, and turned into facts the
planner and the guard act on.

Matching: the provider's message id (an outbox row), then the email, then the prospect
id, then the LinkedIn URL. Duplicates (same dedupe key) are ignored; unknown event
types and unmatched events are stored and reported, never dropped.

Effects, applied once with the stored event and logged as decisions (node "events"):
- a reply is classified offline (tools/replies.py): unsubscribe -> suppression;
  out-of-office / auto-reply -> the prospect pauses until the return date (it is not
  unenrolled); interested / meeting -> a hand-off task for the owner; referral / wrong
  person -> the referred person becomes a prospect; a low-confidence reply -> a review
  task. Any real reply ends the sequence (the guard's stop_after_reply) and pauses the
  account's colleagues (account_pause).
- bounced -> the address is marked invalid and suppressed for email (another channel
  may still be used); unsubscribed / complained -> suppression.
- connection accepted, opens and the rest are facts the playbook conditions read; the
  prospect is woken so the next run considers them.
- a provider's "meeting booked" is an interested reply (hand-off); "wrong person" ends
  the sequence like a reply saying so.
- account problems are the operator's, not the prospect's: Sendoso's insufficient funds
  (``send.insufficient_funds``, or a failed send whose reason says so) pauses the
  direct-mail channel with the existing channel-pause mechanism and opens one operator
  task (told once while paused; ``run.py channels resume direct_mail`` after topping up);
  Instantly's ``account_error`` opens one operator task per sending account.

Each event is stored in its own transaction: an event that cannot be stored (a value out
of range, a database refusal) is rolled back alone and reported as a reject with its
index and reason, while the others are kept; a redelivery finds the stored ones by their
dedupe key and stores nothing twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, select

from agents.records import append
from core.timeutil import iso, to_utc, zone
from core.workspace import Workspace
from state import repo
from state.db import engine_for, session_scope
from state.models import ChannelState, EngagementEventRow, OutboxMessage, Prospect, Suppression, Task
from tools.events import EngagementEvent
from tools.normalize import normalize_linkedin
from tools.replies import classify_reply

log = structlog.get_logger(__name__)
REPLY_TYPES = {"replied", "linkedin_replied"}
PROVIDER_REPLY_KINDS = {
    "meeting_booked": "meeting",
    "wrong_person": "wrong_person",
    "interested": "interested",
    "not_interested": "not_interested",
    "out_of_office": "out_of_office",
    "auto_reply": "auto_reply",
}
PAUSE_KINDS = {"out_of_office", "auto_reply"}
DEFAULT_OOO_BUSINESS_DAYS = 5


@dataclass
class IngestResult:
    stored: int = 0
    duplicates: int = 0
    unknown: int = 0
    unmatched: int = 0
    effects: dict[str, int] = field(default_factory=dict)
    unknown_events: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "stored": self.stored,
            "duplicates": self.duplicates,
            "unknown": self.unknown,
            "unmatched": self.unmatched,
            "effects": dict(self.effects),
            "unknown_events": self.unknown_events,
            "failed": list(self.failed),
        }


def ingest(ws: Workspace, events: Iterable[EngagementEvent], *, now: datetime) -> dict[str, Any]:
    """Store and apply each event in its own transaction (see the module docstring)."""
    engine = engine_for(ws.database_url)
    result = IngestResult()
    for index, event in enumerate(events):
        local = IngestResult()
        try:
            with session_scope(engine) as session:
                _ingest_one(session, ws, event, now, local)
        except IntegrityError:  # a concurrent delivery of the same event stored it first
            local = IngestResult(duplicates=1)
        except (ValueError, OverflowError, TypeError, SQLAlchemyError) as exc:
            reason = f"cannot be stored ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
            log.warning("event_not_stored", workspace=ws.id, index=index, error=type(exc).__name__)
            local = IngestResult(failed=[{"index": index, "reason": reason}])
        _merge(result, local)
    return result.to_dict()


def _merge(total: IngestResult, part: IngestResult) -> None:
    total.stored += part.stored
    total.duplicates += part.duplicates
    total.unknown += part.unknown
    total.unmatched += part.unmatched
    for k, n in part.effects.items():
        total.effects[k] = total.effects.get(k, 0) + n
    total.unknown_events.extend(part.unknown_events)
    total.failed.extend(part.failed)


def _match(session: Session, ws: Workspace, e: EngagementEvent) -> Prospect | None:
    if e.provider_message_id:
        row = session.exec(
            select(OutboxMessage).where(
                OutboxMessage.workspace == ws.id, OutboxMessage.provider_message_id == e.provider_message_id
            )
        ).first()
        if row is not None:
            return session.get(Prospect, row.prospect_id)
    if e.prospect_email:
        p = session.exec(
            select(Prospect).where(
                Prospect.workspace == ws.id, Prospect.email_norm == e.prospect_email.lower()
            )
        ).first()
        if p is not None:
            return p
    if e.prospect_id:
        p = session.get(Prospect, e.prospect_id)
        if p is not None and p.workspace == ws.id:
            return p
    url = normalize_linkedin(getattr(e, "linkedin_url", "") or "")
    if url:
        return session.exec(
            select(Prospect).where(Prospect.workspace == ws.id, Prospect.linkedin_norm == url)
        ).first()
    return None


def _ingest_one(
    session: Session, ws: Workspace, e: EngagementEvent, now: datetime, result: IngestResult
) -> None:
    if (
        session.exec(
            select(EngagementEventRow.id).where(
                EngagementEventRow.workspace == ws.id, EngagementEventRow.dedupe_key == e.dedupe_key
            )
        ).first()
        is not None
    ):
        result.duplicates += 1
        return
    prospect = _match(session, ws, e)
    raw = {"payload": e.raw, "provider_event": getattr(e, "provider_event", "")}
    etype = e.type
    if etype in PROVIDER_REPLY_KINDS:  # a provider's own classification of a reply
        raw["reply_kind"], raw["confidence"], etype = PROVIDER_REPLY_KINDS[etype], 0.9, "replied"
    elif etype in REPLY_TYPES:
        tz = prospect.timezone if prospect else None
        sent = repo.sent_texts_for(session, workspace=ws.id, prospect_id=prospect.id) if prospect else []
        c = classify_reply(e.text or "", received_at=e.occurred_at, tz=tz or None, sent_texts=sent)
        raw.update(
            reply_kind=c.kind,
            confidence=c.confidence,
            matched=list(c.matched),
            return_date=c.return_date.isoformat() if c.return_date else None,
            referral=c.referral,
        )
        if ws.config.providers.replies == "claude":  # unsure rule verdicts go to Claude, then a human
            from tools.llm.hooks import judge_event_reply

            raw.update(judge_event_reply(ws, session, e.text or "", e.occurred_at, tz, now, prospect))
    session.add(
        EngagementEventRow(
            workspace=ws.id,
            dedupe_key=e.dedupe_key,
            prospect_id=prospect.id if prospect else None,
            type=etype,
            channel=e.channel,
            occurred_at=e.occurred_at,
            text=e.text or "",
            provider=e.provider,
            provider_message_id=e.provider_message_id or "",
            raw=raw,
        )
    )
    result.stored += 1
    if e.type == "unknown":
        result.unknown += 1
        result.unknown_events.append(
            {
                "provider": e.provider,
                "event": raw["provider_event"],
                "prospect_id": prospect.id if prospect else None,
            }
        )
    account_effect = _account_problem(session, ws, e, now)
    if account_effect:
        result.effects[account_effect] = result.effects.get(account_effect, 0) + 1
    if prospect is None:
        result.unmatched += 1
        return
    effect = _apply(session, ws, prospect, etype, e, raw, now)
    if effect:
        result.effects[effect] = result.effects.get(effect, 0) + 1
        append(
            session,
            ws.id,
            {
                "at": now,
                "run_id": f"events_{now.strftime('%Y%m%d')}",
                "prospect_id": prospect.id,
                "thread_id": "",
                "node": "events",
                "action": effect,
                "final_action": effect,
                "rationale": _why(effect, etype, raw),
                "verdicts": [],
                "outcome": "",
                "tool": {
                    "name": f"events:{e.provider}",
                    "result": {
                        "type": etype,
                        **{k: raw.get(k) for k in ("reply_kind", "confidence", "return_date") if k in raw},
                    },
                },
                "cost": {"credits": 0.0, "tokens": 0, "usd": 0.0},
            },
        )


def _insufficient_funds(e: EngagementEvent) -> bool:
    if e.type != "mail_failed":
        return False
    if e.provider_event.lower() == "send.insufficient_funds":
        return True
    return "insufficient funds" in (e.text or "").lower() or "insufficient_funds" in (e.text or "").lower()


def _account_problem(session: Session, ws: Workspace, e: EngagementEvent, now: datetime) -> str:
    """Pause direct mail on insufficient funds / note an account error, telling the
    operator once. Returns the effect name, or '' when there was nothing to do."""
    if _insufficient_funds(e):
        st = session.get(ChannelState, (ws.id, "direct_mail"))
        if st is not None and st.paused:
            return ""
        if st is None:
            st = ChannelState(workspace=ws.id, channel="direct_mail", changed_at=now)
        reason = f"{e.provider}: insufficient funds for direct mail"
        st.paused, st.reason, st.error_class, st.changed_at = True, reason, "quota", now
        session.add(st)
        _operator_task(
            session,
            ws,
            f"channel_paused:direct_mail:funds:{iso(now)}",
            f"direct_mail channel paused: {reason}",
            "Top up the direct-mail balance, then run `run.py channels resume direct_mail`; "
            "sends waiting on it go out on the next run.",
            now,
        )
        log.warning("channel.paused", channel="direct_mail", provider=e.provider, error_class="quota")
        return "channel_paused"
    if e.type == "account_error":
        account = str(e.raw.get("email_account") or e.raw.get("account") or e.raw.get("from_email") or "")
        detail = str(e.raw.get("error") or e.raw.get("message") or e.text or "")[:300]
        _operator_task(
            session,
            ws,
            f"account_error:{e.provider}:{account[:200]}",
            f"{e.provider} sending account {account or '(unnamed)'} reports an error",
            f"{detail}\nFix the account in {e.provider}; sends from it may fail until then.",
            now,
        )
        return "operator_told"
    return ""


def _operator_task(
    session: Session, ws: Workspace, dedupe: str, title: str, body: str, now: datetime
) -> None:
    if session.exec(select(Task).where(Task.workspace == ws.id, Task.dedupe_key == dedupe)).first() is None:
        session.add(
            Task(
                workspace=ws.id,
                dedupe_key=dedupe,
                kind="channel_paused" if dedupe.startswith("channel_paused") else "operator",
                title=title,
                body=body,
                created_at=now,
            )
        )


def _why(effect: str, etype: str, raw: dict[str, Any]) -> str:
    kind = raw.get("reply_kind")
    conf = raw.get("confidence")
    base = f"{etype} event" + (f" classified {kind} (confidence {conf:.2f})" if kind else "")
    return f"{base}: {effect.replace('_', ' ')}"


def _apply(
    session: Session,
    ws: Workspace,
    p: Prospect,
    etype: str,
    e: EngagementEvent,
    raw: dict[str, Any],
    now: datetime,
) -> str:
    if etype == "bounced":
        p.email_status = "invalid"
        _suppress(session, ws, "email", p.email_norm, "bounced", now)
        return _wake(session, p, now, "email bounced: address marked invalid")
    if etype in ("unsubscribed", "complained"):
        _suppress(session, ws, "email", p.email_norm, etype, now)
        return _wake(session, p, now, f"{etype}: suppressed")
    if etype == "replied":
        return _reply(session, ws, p, e, raw, now)
    if etype in ("connection_accepted", "opened", "clicked"):
        return _wake(session, p, now, f"{etype}: next step reconsidered")
    return ""


def _reply(
    session: Session, ws: Workspace, p: Prospect, e: EngagementEvent, raw: dict[str, Any], now: datetime
) -> str:
    kind = raw.get("reply_kind") or "unclear"
    if kind in PAUSE_KINDS:
        until = _return_instant(ws, p, raw.get("return_date"), e.occurred_at)
        raw["pause_until"] = iso(until)
        p.status, p.next_action, p.next_action_at = "waiting", "resume_after_ooo", until
        session.add(p)
        return "paused_until_return"
    if kind == "unsubscribe":
        _suppress(session, ws, "email", p.email_norm, "unsubscribed", now)
    if kind in ("interested", "meeting"):
        _task(
            session, ws, p, "handoff", f"Interested reply from {p.full_name}", e.text or "", e.dedupe_key, now
        )
    if kind in ("referral", "wrong_person") and raw.get("referral"):
        if not _referral(session, ws, p, raw["referral"], now):
            _task(
                session,
                ws,
                p,
                "referral",
                f"{p.full_name} referred {raw['referral'].get('name') or 'someone'}: "
                "no email in the reply, add them by hand",
                e.text or "",
                e.dedupe_key,
                now,
            )
    if float(raw.get("confidence") or 0) < 0.6:
        _task(
            session,
            ws,
            p,
            "review_low_confidence",
            f"Check the reply from {p.full_name} (classified {kind}, low confidence)",
            e.text or "",
            e.dedupe_key,
            now,
        )
    _wake(session, p, now, "replied")
    return {
        "interested": "handoff",
        "meeting": "handoff",
        "unsubscribe": "suppressed",
        "referral": "referral",
        "wrong_person": "referral",
    }.get(kind, "sequence_stopped")


def _return_instant(ws: Workspace, p: Prospect, return_date: str | None, received: datetime) -> datetime:
    tz = zone(p.timezone) or ZoneInfo("UTC")
    window = ws.config.policy.window
    back = None
    if return_date:
        try:
            back = datetime.fromisoformat(return_date).date()
        except ValueError:
            back = None
    day = to_utc(received).astimezone(tz).date()
    if back is not None and day <= back <= day + timedelta(days=366):  # a plausible return date
        return window.opening_after(back, 0, tz, country=p.country)
    return window.opening_after(day, DEFAULT_OOO_BUSINESS_DAYS, tz, country=p.country)


def _wake(session: Session, p: Prospect, now: datetime, reason: str) -> str:
    """Make the prospect due so the next run plans with the new fact."""
    if p.status in ("waiting", "active"):
        p.status, p.next_action_at = "waiting", now
        p.next_action = f"event: {reason}"
    session.add(p)
    return reason.split(":")[0].replace(" ", "_")


def _suppress(session: Session, ws: Workspace, kind: str, value: str, reason: str, now: datetime) -> None:
    if not value:
        return
    if (
        session.exec(
            select(Suppression).where(
                Suppression.workspace == ws.id, Suppression.kind == kind, Suppression.value == value
            )
        ).first()
        is None
    ):
        session.add(
            Suppression(
                workspace=ws.id,
                kind=kind,
                value=value,
                reason=reason,
                source="engagement event",
                created_at=now,
            )
        )


def _task(
    session: Session, ws: Workspace, p: Prospect, kind: str, title: str, body: str, key: str, now: datetime
) -> None:
    dedupe = f"{kind}:{key}"
    if session.exec(select(Task).where(Task.workspace == ws.id, Task.dedupe_key == dedupe)).first() is None:
        session.add(
            Task(
                workspace=ws.id,
                dedupe_key=dedupe,
                prospect_id=p.id,
                kind=kind,
                owner=p.owner,
                title=title,
                body=body,
                created_at=now,
            )
        )


def _referral(session: Session, ws: Workspace, p: Prospect, ref: dict[str, Any], now: datetime) -> bool:
    """Create the referred person as a prospect; False when the reply gave no email."""
    email = (ref.get("email") or "").strip().lower()
    if not email:
        return False
    if session.exec(
        select(Prospect).where(Prospect.workspace == ws.id, Prospect.email_norm == email)
    ).first():
        return True
    name = (ref.get("name") or "").strip()
    first, _, last = name.partition(" ")
    pid = "p_" + hashlib.sha256(f"{ws.id}|email|{email}".encode()).hexdigest()[:12]
    session.add(
        Prospect(
            id=pid,
            workspace=ws.id,
            first_name=first,
            last_name=last,
            full_name=name,
            email=email,
            email_norm=email,
            company_id=p.company_id,
            country=p.country,
            timezone=p.timezone,
            tier=p.tier,
            owner=p.owner,
            source=f"referral from {p.id}",
            attributes={"referred_by": p.id},
            status="active",
            created_at=now,
            updated_at=now,
        )
    )
    session.flush()
    return True
