"""Engagement events: generic records, provider webhook mappings, dedupe keys, files."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from core.errors import InputError
from tools.events import (
    EVENT_TYPES,
    HEYREACH_EVENTS,
    INSTANTLY_EVENTS,
    SENDOSO_EVENTS,
    SMARTLEAD_EVENTS,
    EngagementEvent,
    map_webhook,
    parse_generic,
    read_events_file,
)

UTC = UTC
T0 = "2025-12-01T10:00:00Z"
AT0 = datetime(2025, 12, 1, 10, 0, tzinfo=UTC)


def instantly(event_type: str, **extra) -> dict:
    return {
        "event_type": event_type,
        "timestamp": T0,
        "lead_email": "Ada@Acme.example",
        "email_id": "em-1",
        "campaign_id": "c-1",
        **extra,
    }


def smartlead(event_type: str, **extra) -> dict:
    return {
        "event_type": event_type,
        "event_timestamp": T0,
        "to_email": "ada@acme.example",
        "message_id": "<m1@mail.example>",
        "campaign_id": 7,
        **extra,
    }


def heyreach(event_type: str, **extra) -> dict:
    return {
        "eventType": event_type,
        "timestamp": T0,
        "lead": {"profileUrl": "https://www.linkedin.com/in/ada-l/", "emailAddress": "ada@acme.example"},
        **extra,
    }


def sendoso(event: str, **extra) -> dict:
    return {
        "event": event,
        "data": {"tracking_code": "TRK-1", "email": "ada@acme.example", "updated_at": T0, **extra},
    }


MAPPING_CASES = [
    *[
        pytest.param("instantly", instantly(name), kind, "email", id=f"instantly-{name}")
        for name, kind in INSTANTLY_EVENTS.items()
    ],
    *[
        pytest.param("smartlead", smartlead(name), kind, "email", id=f"smartlead-{name}")
        for name, kind in SMARTLEAD_EVENTS.items()
    ],
    *[
        pytest.param("heyreach", heyreach(name), kind, "linkedin", id=f"heyreach-{name}")
        for name, kind in HEYREACH_EVENTS.items()
    ],
    *[
        pytest.param("sendoso", sendoso(name), kind, "direct_mail", id=f"sendoso-{name}")
        for name, kind in SENDOSO_EVENTS.items()
    ],
    pytest.param(
        "generic",
        {"type": "clicked", "email": "ada@acme.example", "occurred_at": T0},
        "clicked",
        "email",
        id="generic-clicked",
    ),
]


@pytest.mark.parametrize(("provider", "payload", "kind", "channel"), MAPPING_CASES)
def test_each_provider_event_maps_to_its_type(provider, payload, kind, channel):
    """Every documented provider event name maps to the expected type and channel."""
    (event,) = map_webhook(provider, payload)
    assert (event.type, event.channel, event.occurred_at) == (kind, channel, AT0)
    assert event.prospect_email == "ada@acme.example"
    assert event.raw == payload
    assert event.provider == provider


FIELD_CASES = [
    pytest.param(
        "instantly",
        instantly("reply_received", reply_text="Full reply", reply_text_snippet="Full"),
        {"text": "Full reply", "provider_message_id": "em-1"},
        id="instantly-full-reply-text-preferred",
    ),
    pytest.param(
        "instantly",
        instantly("reply_received", reply_text_snippet="Snippet only"),
        {"text": "Snippet only"},
        id="instantly-snippet",
    ),
    pytest.param(
        "smartlead",
        smartlead(
            "EMAIL_REPLY", sl_lead_email="lead@acme.example", reply_message={"html": "<p>Yes&nbsp;please</p>"}
        ),
        {"text": "Yes please", "prospect_email": "lead@acme.example"},
        id="smartlead-html-reply-stripped",
    ),
    pytest.param(
        "smartlead",
        {"event_type": "email_open", "time": 1764583200, "to_email": "ada@acme.example"},
        {"type": "opened", "occurred_at": AT0, "provider_message_id": None},
        id="smartlead-lowercase-name-epoch-seconds",
    ),
    pytest.param(
        "heyreach",
        heyreach(
            "MESSAGE_REPLY_RECEIVED",
            recent_messages=[
                {"message": "old", "creation_time": "2025-11-30T09:00:00Z"},
                {"message": "Happy to chat", "creation_time": "2025-12-01T10:00:00Z", "id": "hm-9"},
            ],
        ),
        {"text": "Happy to chat", "provider_message_id": "hm-9", "linkedin_url": "linkedin.com/in/ada-l"},
        id="heyreach-last-recent-message",
    ),
    pytest.param(
        "heyreach",
        {
            "event_type": "connection_request_accepted",
            "created_at": 1764583200000,
            "lead": {"profile_url": "linkedin.com/in/ada-l"},
        },
        {
            "type": "connection_accepted",
            "prospect_email": None,
            "linkedin_url": "linkedin.com/in/ada-l",
            "occurred_at": AT0,
        },
        id="heyreach-snake-case-epoch-ms",
    ),
    pytest.param(
        "sendoso",
        sendoso("send.insufficient_funds"),
        {"type": "mail_failed", "provider_event": "send.insufficient_funds", "provider_message_id": "TRK-1"},
        id="sendoso-insufficient-funds-kept",
    ),
    pytest.param(
        "sendoso",
        {
            "event": "send.delivered",
            "tracking_code": "TRK-2",
            "recipient_email": "bo@acme.example",
            "delivered_at": T0,
        },
        {"provider_message_id": "TRK-2", "prospect_email": "bo@acme.example"},
        id="sendoso-flat-body",
    ),
    pytest.param(
        "instantly",
        instantly("email_opened", prospect_id="p-42"),
        {"prospect_id": "p-42"},
        id="prospect-id-carried",
    ),
]


@pytest.mark.parametrize(("provider", "payload", "expected"), FIELD_CASES)
def test_provider_fields_are_read(provider, payload, expected):
    """Text, ids, emails, profile URLs and times come from the documented fields."""
    (event,) = map_webhook(provider, payload)
    assert {key: getattr(event, key) for key in expected} == expected


UNKNOWN_CASES = [
    pytest.param("instantly", instantly("email_teleported"), "email_teleported", id="instantly-new-event"),
    pytest.param("smartlead", smartlead("EMAIL_TELEPORTED"), "EMAIL_TELEPORTED", id="smartlead-new-event"),
    pytest.param("heyreach", heyreach("HOLOGRAM_SENT"), "HOLOGRAM_SENT", id="heyreach-new-event"),
    pytest.param("sendoso", sendoso("send.teleported"), "send.teleported", id="sendoso-new-event"),
    pytest.param("instantly", {"timestamp": T0, "lead_email": "ada@acme.example"}, "", id="no-event-name"),
]


@pytest.mark.parametrize(("provider", "payload", "name"), UNKNOWN_CASES)
def test_unknown_events_are_kept(provider, payload, name):
    """An unlisted event name becomes an `unknown` event carrying the raw payload."""
    (event,) = map_webhook(provider, payload)
    assert event.type == "unknown"
    assert event.provider_event == name
    assert event.raw == payload
    assert "unknown" in EVENT_TYPES


def test_batch_body_gives_one_event_per_item():
    """A body with an `events` list is mapped item by item."""
    body = {"events": [instantly("email_opened"), instantly("reply_received")]}
    assert [e.type for e in map_webhook("instantly", body)] == ["opened", "replied"]


def test_received_at_is_the_fallback_time():
    """A provider body without a time uses received_at when given."""
    payload = {"event_type": "email_opened", "lead_email": "ada@acme.example"}
    (event,) = map_webhook("instantly", payload, received_at=AT0)
    assert event.occurred_at == AT0


WEBHOOK_ERRORS = [
    pytest.param("mailchimp", instantly("email_opened"), "provider", id="unknown-provider"),
    pytest.param("instantly", {"event_type": "email_opened"}, "timestamp", id="no-time"),
    pytest.param("instantly", instantly("email_opened", timestamp="yesterday"), "timestamp", id="bad-time"),
    pytest.param("sendoso", ["not", "an", "object"], "payload", id="not-an-object"),
]


@pytest.mark.parametrize(("provider", "payload", "field"), WEBHOOK_ERRORS)
def test_unusable_webhooks_raise_input_error(provider, payload, field):
    """A body that cannot be mapped raises InputError naming the field."""
    with pytest.raises(InputError) as info:
        map_webhook(provider, payload)
    assert info.value.field == field


def _key(provider: str, payload: dict) -> str:
    return map_webhook(provider, payload)[0].dedupe_key


DEDUPE_CASES = [
    pytest.param(
        ("instantly", instantly("email_opened")),
        ("instantly", json.loads(json.dumps(instantly("email_opened")))),
        True,
        id="same-delivery-twice",
    ),
    pytest.param(
        ("instantly", instantly("email_opened")),
        ("instantly", instantly("email_opened", campaign_name="renamed")),
        True,
        id="same-id-extra-fields",
    ),
    pytest.param(
        ("instantly", instantly("email_opened")),
        ("instantly", instantly("email_opened", timestamp="2025-12-01T11:00:00Z")),
        False,
        id="second-open-later",
    ),
    pytest.param(
        ("instantly", instantly("email_opened")),
        ("instantly", instantly("email_link_clicked")),
        False,
        id="other-type",
    ),
    pytest.param(
        ("instantly", instantly("email_opened")),
        ("smartlead", {"event_type": "EMAIL_OPEN", "event_timestamp": T0, "message_id": "em-1"}),
        False,
        id="other-provider",
    ),
    pytest.param(
        ("heyreach", heyreach("CONNECTION_REQUEST_ACCEPTED")),
        ("heyreach", heyreach("CONNECTION_REQUEST_ACCEPTED")),
        True,
        id="no-id-same-payload",
    ),
    pytest.param(
        ("heyreach", heyreach("CONNECTION_REQUEST_ACCEPTED")),
        ("heyreach", heyreach("CONNECTION_REQUEST_ACCEPTED", lead={"profileUrl": "linkedin.com/in/bo"})),
        False,
        id="no-id-other-payload",
    ),
    pytest.param(
        (
            "generic",
            {"type": "opened", "email": "a@acme.example", "occurred_at": T0, "provider_message_id": "x"},
        ),
        (
            "generic",
            {
                "occurred_at": "2025-12-01T11:00:00+01:00",
                "type": "opened",
                "email": "a@acme.example",
                "provider_message_id": "x",
            },
        ),
        True,
        id="generic-same-instant-other-offset",
    ),
]


@pytest.mark.parametrize(("first", "second", "same"), DEDUPE_CASES)
def test_dedupe_keys(first, second, same):
    """Keys are equal for one delivery seen twice and differ for different events."""
    assert (_key(*first) == _key(*second)) is same


GENERIC_OK = [
    pytest.param(
        {
            "type": "replied",
            "email": " Ada@Acme.example ",
            "occurred_at": T0,
            "text": "Sounds good",
            "provider_message_id": "m-1",
        },
        {
            "prospect_email": "ada@acme.example",
            "channel": "email",
            "text": "Sounds good",
            "provider": "generic",
        },
        id="reply-by-email",
    ),
    pytest.param(
        {"type": "linkedin_replied", "prospect_id": 17, "occurred_at": "2025-12-01T11:00:00+01:00"},
        {"prospect_id": "17", "channel": "linkedin", "occurred_at": AT0},
        id="linkedin-channel-from-type-offset-to-utc",
    ),
    pytest.param(
        {
            "type": "mail_delivered",
            "email": "a@acme.example",
            "occurred_at": "2025-12-01T10:00:00",
            "provider": "sendoso",
        },
        {"channel": "direct_mail", "occurred_at": AT0, "provider": "sendoso"},
        id="naive-time-is-utc",
    ),
]


@pytest.mark.parametrize(("record", "expected"), GENERIC_OK)
def test_generic_records_parse(record, expected):
    """Valid generic records become events with normalised fields."""
    event = parse_generic(record)
    assert {key: getattr(event, key) for key in expected} == expected


GENERIC_BAD = [
    pytest.param({"email": "a@acme.example", "occurred_at": T0}, "type", id="no-type"),
    pytest.param({"type": "liked", "email": "a@acme.example", "occurred_at": T0}, "type", id="unknown-type"),
    pytest.param(
        {"type": "unknown", "email": "a@acme.example", "occurred_at": T0},
        "type",
        id="unknown-not-allowed-in-generic",
    ),
    pytest.param({"type": "opened", "occurred_at": T0}, "email", id="no-prospect"),
    pytest.param({"type": "opened", "email": "not-an-email", "occurred_at": T0}, "email", id="bad-email"),
    pytest.param({"type": "opened", "email": "a@acme.example"}, "occurred_at", id="no-time"),
    pytest.param(
        {"type": "opened", "email": "a@acme.example", "occurred_at": "soon"}, "occurred_at", id="bad-time"
    ),
    pytest.param(
        {"type": "opened", "email": "a@acme.example", "occurred_at": T0, "channel": "fax"},
        "channel",
        id="bad-channel",
    ),
    pytest.param(
        {"type": "connection_accepted", "email": "a@acme.example", "occurred_at": T0, "channel": "email"},
        "channel",
        id="channel-mismatch",
    ),
    pytest.param(
        {"type": "replied", "email": "a@acme.example", "occurred_at": T0, "text": ["x"]},
        "text",
        id="text-not-string",
    ),
]


@pytest.mark.parametrize(("record", "field"), GENERIC_BAD)
def test_bad_generic_record_names_line_and_field(record, field):
    """A bad generic record raises InputError with its line number and field."""
    with pytest.raises(InputError) as info:
        parse_generic(record, line=7)
    assert (info.value.line, info.value.field) == (7, field)
    assert "line 7" in str(info.value)


def test_event_requires_aware_time():
    """An event cannot be built with a naive occurred_at."""
    with pytest.raises(ValueError):
        EngagementEvent(type="opened", occurred_at=datetime(2025, 12, 1), channel="email")


def test_read_events_file_returns_events_and_rejects(tmp_path):
    """Every non-blank line becomes an event or a reject with its line number."""
    lines = [
        json.dumps({"type": "opened", "email": "a@acme.example", "occurred_at": T0}),
        "",
        "{not json",
        json.dumps({"type": "opened", "email": "a@acme.example"}),
        json.dumps({"provider": "instantly", "payload": instantly("reply_received", reply_text="Yes")}),
        json.dumps({"provider": "smartlead", "payload": smartlead("SOMETHING_NEW")}),
        json.dumps(["a", "list"]),
        json.dumps({"provider": "nope", "payload": {}}),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    events, rejects = read_events_file(path)
    assert [e.type for e in events] == ["opened", "replied", "unknown"]
    assert [r["line"] for r in rejects] == [3, 4, 7, 8]
    assert "occurred_at" in rejects[1]["reason"]
    assert all(set(r) == {"line", "reason"} and r["reason"] for r in rejects)


def test_read_events_file_rejects_bad_utf8(tmp_path):
    """A line that is not UTF-8 is rejected, not skipped."""
    path = tmp_path / "events.jsonl"
    path.write_bytes(
        b'\xef\xbb\xbf{"type":"opened","email":"a@acme.example",'
        b'"occurred_at":"2025-12-01T10:00:00Z"}\n\xff\xfe\n'
    )
    events, rejects = read_events_file(path)
    assert len(events) == 1
    assert rejects == [{"line": 2, "reason": "line is not valid UTF-8 (byte 0)"}]


def test_missing_events_file_is_an_input_error(tmp_path):
    """A file that cannot be read raises InputError naming it."""
    with pytest.raises(InputError) as info:
        read_events_file(tmp_path / "absent.jsonl")
    assert info.value.file and info.value.file.endswith("absent.jsonl")
