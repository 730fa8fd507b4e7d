"""Engagement events: one shape for everything a channel tells us back.

An :class:`EngagementEvent` is built from a generic record (the DESIGN.md shape, used by
``run.py events ingest`` JSONL files and the generic webhook) or from a provider's
webhook body (:func:`map_webhook`). Pure functions; :func:`read_events_file` is the only
one that reads a file.

Generic record
--------------
``{"type", "email" | "prospect_id", "channel", "occurred_at", "text",
"provider_message_id"}``, plus optional ``provider`` (default ``generic``) and
``linkedin_url``. ``type`` is one of :data:`EVENT_TYPES` except ``unknown``;
``occurred_at`` is ISO-8601 (a naive value is UTC) or epoch seconds/milliseconds;
``channel`` defaults from the type (``connection_accepted``/``linkedin_replied`` ->
linkedin, ``mail_*`` -> direct_mail, else email) and must agree with channel-specific
types. A bad record raises :class:`core.errors.InputError` naming the line and field.

Provider webhooks (event name -> type; fields read, first present wins)
-----------------------------------------------------------------------
Event names are matched case-insensitively. A body with an ``events`` list is a batch
(1 to MAX_BATCH items); each item is mapped on its own (:func:`map_webhook_batch` keeps
the good ones and reports each bad one with its index). Reply HTML is decoded with
``html.unescape``. An event name that is not listed (or missing) gives
an event of type ``unknown`` with ``provider_event`` and ``raw`` kept, so the caller
can store and report it.

instantly (channel email)
    event_type: email_sent -> delivered, email_opened -> opened,
    email_link_clicked -> clicked, reply_received -> replied,
    auto_reply_received -> auto_reply, email_bounced -> bounced,
    lead_unsubscribed -> unsubscribed, lead_interested -> interested,
    lead_not_interested -> not_interested, lead_out_of_office -> out_of_office,
    lead_meeting_booked -> meeting_booked, lead_wrong_person -> wrong_person,
    account_error -> account_error; lead_meeting_completed, lead_neutral, lead_closed,
    lead_no_show, campaign_completed -> info.
    prospect_email: lead_email, email, lead.email; provider_message_id: email_id,
    message_id; text: reply_text, reply_text_snippet; occurred_at: timestamp,
    event_timestamp.

smartlead (channel email)
    event_type: EMAIL_SENT -> delivered, EMAIL_OPEN -> opened,
    EMAIL_LINK_CLICK -> clicked, EMAIL_REPLY -> replied, EMAIL_BOUNCE -> bounced,
    LEAD_UNSUBSCRIBED -> unsubscribed, LEAD_CATEGORY_UPDATED -> by the category name
    (SMARTLEAD_CATEGORIES, else info); CAMPAIGN_STATUS_CHANGED, MANUAL_STEP_REACHED,
    UNTRACKED_REPLIES -> info.
    prospect_email: sl_lead_email, lead_email, lead.email, lead_data.email, to_email;
    provider_message_id: message_id, reply_message.message_id,
    sent_message.message_id; text: reply_message.text, reply_body, reply_message.html
    (tags stripped); occurred_at: event_timestamp, time, time_replied, time_sent,
    time_opened, time_clicked, time_bounced, reply_message.time.

heyreach (channel linkedin; camelCase or snake_case keys)
    event_type / eventType: CONNECTION_REQUEST_ACCEPTED -> connection_accepted,
    MESSAGE_REPLY_RECEIVED and EVERY_MESSAGE_REPLY_RECEIVED -> linkedin_replied,
    MESSAGE_SENT, CONNECTION_REQUEST_SENT, INMAIL_SENT -> delivered,
    INMAIL_REPLY_RECEIVED -> linkedin_replied; FOLLOW_SENT, LIKED_POST, VIEWED_PROFILE,
    CAMPAIGN_COMPLETED, LEAD_TAG_UPDATED -> info.
    prospect_email: lead.emailAddress, lead.email_address, lead.email, emailAddress,
    email_address;
    linkedin_url: lead.profileUrl, lead.profile_url, profileUrl (normalised);
    provider_message_id: messageId, message_id, the last of recent_messages;
    text: message, messageText, message_text, the last of recent_messages;
    occurred_at: timestamp, eventTimestamp, event_timestamp, createdAt, created_at,
    the last of recent_messages (creation_time / createdAt).

sendoso (channel direct_mail; top level, ``data`` or ``send`` object)
    event / event_type / type: send.delivered -> mail_delivered,
    send.failed, send.bounced and send.insufficient_funds -> mail_failed
    (``provider_event`` keeps which; insufficient funds is an account problem:
    the caller pauses the channel rather than blaming the prospect); send.created,
    send.approved, send.shipped, send.address_confirmed, send.expired -> info.
    prospect_email: email, recipient_email, recipient.email;
    provider_message_id: tracking_code; text: message, reason;
    occurred_at: occurred_at, timestamp, delivered_at, updated_at, created_at.

generic
    the generic record above.

Every mapping also takes a top-level ``prospect_id`` when the body carries one.
A provider body without a usable time uses ``received_at`` when given, else raises
:class:`~core.errors.InputError` naming the field.

Dedupe key
----------
sha256 of ``provider | provider_message_id | type | occurred_at`` when the provider
gave a message id, else of ``provider | type |`` the canonical JSON of the raw payload
(sorted keys). A redelivered webhook therefore gets the same key; a second open of
the same email at another time gets a different one.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from core.canonical import canonical_json
from core.errors import InputError
from core.timeutil import UTC, iso, parse_instant
from tools import jsonlimits
from tools.normalize import normalize_email, normalize_linkedin, valid_email

EVENT_TYPES = (
    "delivered",
    "opened",
    "clicked",
    "replied",
    "bounced",
    "unsubscribed",
    "connection_accepted",
    "linkedin_replied",
    "mail_delivered",
    "mail_failed",
    "auto_reply",
    "out_of_office",
    "interested",
    "not_interested",
    "meeting_booked",
    "wrong_person",
    "account_error",
    "info",
    "unknown",
)
# "info": a known provider event that changes nothing (campaign completed, profile viewed).
MAX_EVENT_BYTES = 262_144  # one JSONL line or one batched item
MAX_BATCH = 1000
EARLIEST_YEAR, LATEST_YEAR = 1990, 2100
CHANNELS = ("email", "linkedin", "direct_mail")
PROVIDERS = ("instantly", "smartlead", "heyreach", "sendoso", "generic")

_CHANNEL_OF_TYPE = {
    "connection_accepted": "linkedin",
    "linkedin_replied": "linkedin",
    "mail_delivered": "direct_mail",
    "mail_failed": "direct_mail",
}

INSTANTLY_EVENTS = {
    "email_sent": "delivered",
    "email_opened": "opened",
    "email_link_clicked": "clicked",
    "reply_received": "replied",
    "auto_reply_received": "auto_reply",
    "email_bounced": "bounced",
    "lead_unsubscribed": "unsubscribed",
    "lead_interested": "interested",
    "lead_not_interested": "not_interested",
    "lead_out_of_office": "out_of_office",
    "lead_meeting_booked": "meeting_booked",
    "lead_meeting_completed": "info",
    "lead_wrong_person": "wrong_person",
    "lead_neutral": "info",
    "lead_closed": "info",
    "lead_no_show": "info",
    "campaign_completed": "info",
    "account_error": "account_error",
}
SMARTLEAD_EVENTS = {
    "EMAIL_SENT": "delivered",
    "EMAIL_OPEN": "opened",
    "EMAIL_LINK_CLICK": "clicked",
    "EMAIL_REPLY": "replied",
    "EMAIL_BOUNCE": "bounced",
    "LEAD_UNSUBSCRIBED": "unsubscribed",
    "LEAD_CATEGORY_UPDATED": "info",  # refined by the category name, below
    "CAMPAIGN_STATUS_CHANGED": "info",
    "MANUAL_STEP_REACHED": "info",
    "UNTRACKED_REPLIES": "info",
}
# Smartlead LEAD_CATEGORY_UPDATED: the new category's name -> type.
SMARTLEAD_CATEGORIES = {
    "interested": "interested",
    "meeting request": "meeting_booked",
    "meeting booked": "meeting_booked",
    "not interested": "not_interested",
    "do not contact": "unsubscribed",
    "out of office": "out_of_office",
    "wrong person": "wrong_person",
}
HEYREACH_EVENTS = {
    "CONNECTION_REQUEST_ACCEPTED": "connection_accepted",
    "MESSAGE_REPLY_RECEIVED": "linkedin_replied",
    "EVERY_MESSAGE_REPLY_RECEIVED": "linkedin_replied",
    "MESSAGE_SENT": "delivered",
    "CONNECTION_REQUEST_SENT": "delivered",
    "INMAIL_SENT": "delivered",
    "INMAIL_REPLY_RECEIVED": "linkedin_replied",
    "FOLLOW_SENT": "info",
    "LIKED_POST": "info",
    "VIEWED_PROFILE": "info",
    "CAMPAIGN_COMPLETED": "info",
    "LEAD_TAG_UPDATED": "info",
}
SENDOSO_EVENTS = {
    "send.delivered": "mail_delivered",
    "send.failed": "mail_failed",
    "send.bounced": "mail_failed",
    "send.insufficient_funds": "mail_failed",
    "send.created": "info",
    "send.approved": "info",
    "send.shipped": "info",
    "send.address_confirmed": "info",
    "send.expired": "info",
}


@dataclass(frozen=True)
class EngagementEvent:
    """One thing that happened to a message we sent (or to the prospect's reply)."""

    type: str
    occurred_at: datetime
    channel: str
    prospect_email: str | None = None
    prospect_id: str | None = None
    provider: str = "generic"
    provider_message_id: str | None = None
    text: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    provider_event: str = ""
    linkedin_url: str | None = None

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {self.type!r}")
        if self.channel not in CHANNELS:
            raise ValueError(f"unknown channel {self.channel!r}")
        if self.occurred_at.tzinfo is None:
            raise ValueError("occurred_at must be timezone-aware")
        object.__setattr__(self, "occurred_at", self.occurred_at.astimezone(UTC))

    @property
    def dedupe_key(self) -> str:
        """The same for two deliveries of one event, different for different events."""
        if self.provider_message_id:
            basis = "|".join(
                (self.provider, self.provider_message_id, self.type, iso(self.occurred_at) or "")
            )
        else:
            basis = "|".join((self.provider, self.type, canonical_json(self.raw)))
        return hashlib.sha256(basis.encode("utf-8")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "occurred_at": iso(self.occurred_at),
            "channel": self.channel,
            "prospect_email": self.prospect_email,
            "prospect_id": self.prospect_id,
            "provider": self.provider,
            "provider_message_id": self.provider_message_id,
            "provider_event": self.provider_event,
            "linkedin_url": self.linkedin_url,
            "text": self.text,
            "dedupe_key": self.dedupe_key,
            "raw": dict(self.raw),
        }


# ---------------------------------------------------------------- field helpers


def _get(obj: Any, path: str) -> Any:
    """The value at a dotted path ("lead.email"), or None."""
    current = obj
    for part in path.split("."):
        if not isinstance(current, Mapping):
            return None
        current = current.get(part)
    return current


def _first(obj: Any, *paths: str) -> Any:
    for path in paths:
        value = _get(obj, path)
        if value is not None and value != "":
            return value
    return None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _instant(value: Any) -> datetime:
    """An aware UTC datetime from ISO text or epoch seconds/milliseconds; ValueError."""
    if isinstance(value, bool):
        raise ValueError("not a time")
    if isinstance(value, datetime):
        return _in_range(value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC))
    if isinstance(value, (int, float)) or (
        isinstance(value, str) and re.fullmatch(r"\s*\d{9,13}(\.\d+)?\s*", value)
    ):
        number = float(value)
        if number > 1e11:
            number /= 1000.0
        return _in_range(datetime.fromtimestamp(number, UTC))
    if isinstance(value, str) and value.strip():
        return _in_range(parse_instant(value[:64]))
    raise ValueError("not a time")


def _in_range(value: datetime) -> datetime:
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"year {value.year} is out of range")
    return value


def _email(value: Any) -> str | None:
    text = normalize_email(str(value)) if value is not None else ""
    return text if text and valid_email(text) else None


def _strip_html(value: Any) -> str | None:
    text = _text(value)
    if text is None:
        return None
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", text)
    text = re.sub(r"<[^>]+>", "", text)
    return _text(html.unescape(text).replace("\xa0", " "))


# ---------------------------------------------------------------- generic records


def parse_generic(obj: dict, *, line: int | None = None, provider: str = "generic") -> EngagementEvent:
    """An event from the DESIGN.md generic shape; InputError names the line and field."""
    if not isinstance(obj, Mapping):
        raise InputError("an event must be a JSON object", line=line)
    kind = _text(obj.get("type"))
    if kind is None:
        raise InputError("missing event type", line=line, field="type")
    kind = kind.lower()
    if kind not in EVENT_TYPES or kind == "unknown":
        raise InputError(
            f"unknown event type {kind!r} (expected one of "
            f"{', '.join(t for t in EVENT_TYPES if t != 'unknown')})",
            line=line,
            field="type",
        )
    raw_email = _text(obj.get("email") or obj.get("prospect_email"))
    email = None
    if raw_email is not None:
        email = _email(raw_email)
        if email is None:
            raise InputError(f"invalid email {raw_email!r}", line=line, field="email")
    prospect_id = _text(obj.get("prospect_id"))
    if email is None and prospect_id is None:
        raise InputError("needs email or prospect_id", line=line, field="email")
    default_channel = _CHANNEL_OF_TYPE.get(kind, "email")
    channel = (_text(obj.get("channel")) or default_channel).lower()
    if channel not in CHANNELS:
        raise InputError(
            f"unknown channel {channel!r} (expected one of {', '.join(CHANNELS)})", line=line, field="channel"
        )
    if kind in _CHANNEL_OF_TYPE and channel != default_channel:
        raise InputError(
            f"type {kind} happens on channel {default_channel}, not {channel}", line=line, field="channel"
        )
    when = obj.get("occurred_at")
    if when is None or when == "":
        raise InputError("missing occurred_at", line=line, field="occurred_at")
    try:
        occurred_at = _instant(when)
    except (ValueError, OverflowError, OSError) as exc:
        why = str(exc) if "out of range" in str(exc) else "not an ISO-8601 time"
        raise InputError(f"occurred_at {str(when)[:64]!r}: {why}", line=line, field="occurred_at") from None
    text = obj.get("text")
    if text is not None and not isinstance(text, str):
        raise InputError("text must be a string", line=line, field="text")
    linkedin = _text(obj.get("linkedin_url"))
    return EngagementEvent(
        type=kind,
        occurred_at=occurred_at,
        channel=channel,
        prospect_email=email,
        prospect_id=prospect_id,
        provider=_text(obj.get("provider")) or provider,
        provider_message_id=_text(obj.get("provider_message_id")),
        text=_text(text),
        raw=dict(obj),
        provider_event=kind,
        linkedin_url=normalize_linkedin(linkedin) or None if linkedin else None,
    )


# ---------------------------------------------------------------- provider webhooks


@dataclass(frozen=True)
class _Fields:
    """Where one provider keeps each field (dotted paths, first present wins)."""

    channel: str
    event_names: Mapping[str, str]
    event_keys: tuple[str, ...]
    email: tuple[str, ...]
    message_id: tuple[str, ...]
    text: tuple[str, ...]
    time: tuple[str, ...]
    linkedin: tuple[str, ...] = ()
    html_text: tuple[str, ...] = ()
    upper: bool = False  # event names are compared upper-case (else lower-case)


_PROVIDER_FIELDS: dict[str, _Fields] = {
    "instantly": _Fields(
        channel="email",
        event_names=INSTANTLY_EVENTS,
        event_keys=("event_type", "event"),
        email=("lead_email", "email", "lead.email"),
        message_id=("email_id", "message_id"),
        text=("reply_text", "reply_text_snippet"),
        time=("timestamp", "event_timestamp"),
    ),
    "smartlead": _Fields(
        channel="email",
        event_names=SMARTLEAD_EVENTS,
        event_keys=("event_type", "event"),
        email=("sl_lead_email", "lead_email", "lead.email", "lead_data.email", "to_email"),
        message_id=("message_id", "reply_message.message_id", "sent_message.message_id"),
        text=("reply_message.text", "reply_body"),
        html_text=("reply_message.html",),
        time=(
            "event_timestamp",
            "time",
            "time_replied",
            "time_sent",
            "time_opened",
            "time_clicked",
            "time_bounced",
            "reply_message.time",
        ),
        upper=True,
    ),
    "heyreach": _Fields(
        channel="linkedin",
        event_names=HEYREACH_EVENTS,
        event_keys=("event_type", "eventType", "event", "type"),
        email=("lead.emailAddress", "lead.email_address", "lead.email", "emailAddress", "email_address"),
        linkedin=("lead.profileUrl", "lead.profile_url", "profileUrl", "profile_url"),
        message_id=("messageId", "message_id", "_last.message_id", "_last.messageId", "_last.id"),
        text=("message", "messageText", "message_text", "_last.message", "_last.text"),
        time=(
            "timestamp",
            "eventTimestamp",
            "event_timestamp",
            "createdAt",
            "created_at",
            "_last.creation_time",
            "_last.createdAt",
            "_last.created_at",
        ),
        upper=True,
    ),
    "sendoso": _Fields(
        channel="direct_mail",
        event_names=SENDOSO_EVENTS,
        event_keys=("event", "event_type", "type"),
        email=("email", "recipient_email", "recipient.email"),
        message_id=("tracking_code",),
        text=("message", "reason"),
        time=("occurred_at", "timestamp", "delivered_at", "updated_at", "created_at"),
    ),
}


def _heyreach_view(payload: Mapping[str, Any]) -> dict[str, Any]:
    view = dict(payload)
    recent = payload.get("recent_messages") or payload.get("recentMessages")
    if isinstance(recent, list) and recent and isinstance(recent[-1], Mapping):
        view["_last"] = recent[-1]
    return view


def _sendoso_view(payload: Mapping[str, Any]) -> dict[str, Any]:
    view: dict[str, Any] = {}
    for key in ("data", "send"):
        nested = payload.get(key)
        if isinstance(nested, Mapping):
            view.update(nested)
    view.update({k: v for k, v in payload.items() if k not in ("data", "send")})
    return view


_VIEWS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "heyreach": _heyreach_view,
    "sendoso": _sendoso_view,
}


def map_webhook(
    provider: str, payload: dict, *, received_at: datetime | None = None
) -> list[EngagementEvent]:
    """The events in one provider webhook body (see the module docstring for mappings).

    An unknown event name gives an event of type ``unknown``; a body that is not an
    object, an unknown provider, an empty batch, or an event without a usable time (and
    no ``received_at``) raises InputError. :func:`map_webhook_batch` keeps the good
    events of a batch and reports the bad ones instead.
    """
    name, items = _batch_items(provider, payload)
    return [_map_item(name, item, received_at) for item in items]


def map_webhook_batch(
    provider: str, payload: Any, *, received_at: datetime | None = None
) -> tuple[list[EngagementEvent], list[dict[str, Any]]]:
    """(events, rejects) for one webhook body: each item of an ``events`` batch is mapped
    on its own, and a bad one becomes a reject ``{"index", "reason", "field"}`` while the
    others are kept. InputError only for a body that cannot be a webhook at all (unknown
    provider, not an object, an empty or oversized batch)."""
    name, items = _batch_items(provider, payload)
    events: list[EngagementEvent] = []
    rejects: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            events.append(_map_item(name, item, received_at))
        except InputError as exc:
            rejects.append({"index": index, "reason": exc.message, "field": exc.field or ""})
        except (ValueError, TypeError, OverflowError) as exc:  # a value no rule foresaw
            rejects.append({"index": index, "reason": f"cannot be read ({type(exc).__name__})", "field": ""})
    return events, rejects


def _batch_items(provider: str, payload: Any) -> tuple[str, list[Any]]:
    """(provider name, the body's events): InputError for a body that is not a webhook."""
    name = (provider or "").strip().lower()
    if name not in PROVIDERS:
        raise InputError(
            f"unknown provider {str(provider)[:40]!r} (expected one of {', '.join(PROVIDERS)})",
            field="provider",
        )
    if not isinstance(payload, Mapping):
        raise InputError("a webhook body must be a JSON object", field="payload")
    batch = payload.get("events")
    if "events" in payload and not isinstance(batch, list):
        raise InputError("events must be a list of event objects", field="events")
    if isinstance(batch, list) and not batch:
        raise InputError("the events batch is empty: nothing to store", field="events")
    if isinstance(batch, list) and len(batch) > MAX_BATCH:
        raise InputError(f"{len(batch)} events in one batch (limit {MAX_BATCH})", field="events")
    return name, (batch if isinstance(batch, list) else [payload])


def has_nul(value: Any) -> bool:
    """A NUL character anywhere in a parsed JSON value (PostgreSQL cannot store one)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, Mapping):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    return False


def _map_item(name: str, item: Any, received_at: datetime | None) -> EngagementEvent:
    if not isinstance(item, Mapping):
        raise InputError("a batched event must be a JSON object", field="events")
    if has_nul(item):
        raise InputError("the event contains a NUL character", field="events")
    if name == "generic":
        return parse_generic(dict(item))
    return _map_one(name, item, received_at)


def _map_one(provider: str, payload: Mapping[str, Any], received_at: datetime | None) -> EngagementEvent:
    spec = _PROVIDER_FIELDS[provider]
    view = _VIEWS.get(provider, dict)(payload)
    event_name = (_text(_first(view, *spec.event_keys)) or "")[:100]
    key = event_name.upper() if spec.upper else event_name.lower()
    kind = spec.event_names.get(key, "unknown")
    if provider == "smartlead" and key == "LEAD_CATEGORY_UPDATED":
        category = _text(_first(view, "lead_category.new_name", "category", "lead_category")) or ""
        kind = SMARTLEAD_CATEGORIES.get(category.lower(), "info")
    when = _first(view, *spec.time)
    if when is None:
        if received_at is None:
            raise InputError(f"{provider} event {event_name or '(no name)'} has no time", field=spec.time[0])
        occurred_at = received_at
    else:
        try:
            occurred_at = _instant(when)
        except (ValueError, OverflowError, OSError) as exc:
            why = str(exc) if "out of range" in str(exc) else "not a valid time"
            raise InputError(f"{provider} time {str(when)[:64]!r}: {why}", field=spec.time[0]) from None
    text = _text(_first(view, *spec.text))
    if text is None and spec.html_text:
        text = _strip_html(_first(view, *spec.html_text))
    linkedin = _text(_first(view, *spec.linkedin)) if spec.linkedin else None
    return EngagementEvent(
        type=kind,
        occurred_at=occurred_at,
        channel=spec.channel,
        prospect_email=_email(_first(view, *spec.email)),
        prospect_id=_text(payload.get("prospect_id")),
        provider=provider,
        provider_message_id=_text(_first(view, *spec.message_id)),
        text=text,
        raw=dict(payload),
        provider_event=event_name,
        linkedin_url=(normalize_linkedin(linkedin) or linkedin) if linkedin else None,
    )


# ---------------------------------------------------------------- files


def read_events_file(path: str | Path) -> tuple[list[EngagementEvent], list[dict]]:
    """Events from a JSONL file, plus rejects ``{line, index?, reason}`` for every line (or
    item of a batched line) that could not be used; blank lines are not records. A line
    is a generic record or ``{"provider": ..., "payload": {...}}`` for a provider webhook
    body. Lines over :data:`MAX_EVENT_BYTES`, nested deeper than the JSON limit, or with
    NUL characters are rejected before they are parsed."""
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read events file: {exc.strerror or exc}", file=str(file)) from None
    events: list[EngagementEvent] = []
    rejects: list[dict] = []
    for number, raw_line in enumerate(data.splitlines(), start=1):
        if not raw_line.strip():
            continue
        if len(raw_line) > MAX_EVENT_BYTES:
            rejects.append(
                {"line": number, "reason": f"line is {len(raw_line):,} bytes (limit {MAX_EVENT_BYTES:,})"}
            )
            continue
        try:
            obj = jsonlimits.parse(raw_line)
        except jsonlimits.BadJSON as exc:
            reason = str(exc).replace("not valid UTF-8", "line is not valid UTF-8")
            rejects.append({"line": number, "reason": reason})
            continue
        if not isinstance(obj, dict):
            rejects.append({"line": number, "reason": "an event must be a JSON object"})
            continue
        try:
            if "payload" in obj and "provider" in obj:
                found, bad = map_webhook_batch(str(obj["provider"])[:40], obj["payload"])
                events.extend(found)
                rejects.extend({"line": number, **r} for r in bad)
            elif has_nul(obj):
                rejects.append({"line": number, "reason": "the event contains a NUL character"})
            else:
                events.append(parse_generic(obj, line=number))
        except InputError as exc:
            rejects.append({"line": number, "reason": exc.message})
    return events, rejects
