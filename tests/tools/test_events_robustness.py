"""Events ingest against bad input (issue 15): deep nesting, '[' in URLs, out-of-range
dates, empty batches, per-event rejects, HTML entities, the full provider event maps and
the account-level effects (Sendoso insufficient funds, Instantly account errors)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import Session, select

from agents.events_service import ingest
from state.db import engine_for
from state.models import ChannelState, EngagementEventRow, Task
from tests.conftest import at
from tools.events import map_webhook, map_webhook_batch, read_events_file

NOW = at("2026-11-25T20:00:00Z")
DANA = "dana.whitfield@northwindfreight.example"
AROHA = "aroha.ngata@kauricloud.example"  # Pacific/Auckland: year 1 local is year 0 in UTC


def generic(**extra) -> dict:
    return {"type": "opened", "email": DANA, "occurred_at": "2026-11-24T10:00:00Z", **extra}


def write_lines(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_deeply_nested_line_is_rejected_with_its_line(tmp_path: Path) -> None:
    """A JSON line nested 5,000 levels deep is refused before parsing (no RecursionError)
    and the good lines around it are kept."""
    deep = "[" * 5000 + "]" * 5000
    path = write_lines(tmp_path, [json.dumps(generic()), deep, json.dumps(generic(type="clicked"))])
    events, rejects = read_events_file(path)
    assert [e.type for e in events] == ["opened", "clicked"]
    assert rejects == [{"line": 2, "reason": "JSON nested 5000 levels deep (limit 32)"}]


@pytest.mark.parametrize(
    ("when", "reason"),
    [
        ("0001-01-01T00:00:00+05:00", "out of range"),
        ("9999-12-31T23:59:59-05:00", "out of range"),
        (99999999999999, "out of range"),
        ("not a date", "not an ISO-8601 time"),
    ],
)
def test_out_of_range_dates_are_rejected_with_a_reason(tmp_path: Path, when, reason) -> None:
    """Dates outside 1990-2100 or unparseable are a reject naming the field, not an
    OverflowError."""
    path = write_lines(tmp_path, [json.dumps(generic(occurred_at=when))])
    events, rejects = read_events_file(path)
    assert events == [] and rejects[0]["line"] == 1
    assert "occurred_at" in rejects[0]["reason"] and reason in rejects[0]["reason"]


def test_bracket_in_linkedin_url_does_not_crash() -> None:
    """A '[' in a HeyReach profile URL is kept as text instead of raising ValueError."""
    body = {
        "eventType": "CONNECTION_REQUEST_ACCEPTED",
        "timestamp": "2026-11-24T10:00:00Z",
        "lead": {"profileUrl": "https://[www.linkedin.com/in/ada"},
    }
    (event,) = map_webhook("heyreach", body)
    assert event.type == "connection_accepted" and event.linkedin_url == "https://[www.linkedin.com/in/ada"


def test_empty_batch_is_a_reject_not_silence(tmp_path: Path) -> None:
    """`{"events": []}` is reported as an empty batch instead of being dropped silently."""
    path = write_lines(tmp_path, [json.dumps({"provider": "generic", "payload": {"events": []}})])
    events, rejects = read_events_file(path)
    assert events == [] and rejects == [
        {"line": 1, "reason": "events: the events batch is empty: nothing to store"}
    ]


def test_batch_keeps_good_events_and_rejects_bad_ones_by_index() -> None:
    """One bad event in a batch is rejected with its index and reason; the others are kept."""
    body = {"events": [generic(), generic(occurred_at="never"), "not an object", generic(type="clicked")]}
    events, rejects = map_webhook_batch("generic", body)
    assert [e.type for e in events] == ["opened", "clicked"]
    assert [r["index"] for r in rejects] == [1, 2]
    assert "occurred_at" in rejects[0]["reason"] and "JSON object" in rejects[1]["reason"]


def test_html_entities_are_decoded_with_the_standard_library() -> None:
    """Smartlead reply HTML has every entity decoded (&rsquo;, &#8217;, &eacute;)."""
    body = {
        "event_type": "EMAIL_REPLY",
        "event_timestamp": "2026-11-24T10:00:00Z",
        "to_email": DANA,
        "reply_message": {
            "html": "<p>I&rsquo;m out &amp; back Monday &#8212; it&#8217;s caf&eacute; time</p>"
        },
    }
    (event,) = map_webhook("smartlead", body)
    assert event.text == "I\u2019m out & back Monday \u2014 it\u2019s caf\u00e9 time"


@pytest.mark.parametrize(
    ("provider", "body", "expected"),
    [
        ("instantly", {"event_type": "lead_meeting_booked"}, "meeting_booked"),
        ("instantly", {"event_type": "lead_wrong_person"}, "wrong_person"),
        ("instantly", {"event_type": "account_error"}, "account_error"),
        ("instantly", {"event_type": "campaign_completed"}, "info"),
        (
            "smartlead",
            {"event_type": "LEAD_CATEGORY_UPDATED", "lead_category": {"new_name": "Meeting Request"}},
            "meeting_booked",
        ),
        (
            "smartlead",
            {"event_type": "LEAD_CATEGORY_UPDATED", "lead_category": {"new_name": "Wrong Person"}},
            "wrong_person",
        ),
        ("heyreach", {"eventType": "INMAIL_REPLY_RECEIVED"}, "linkedin_replied"),
        ("heyreach", {"eventType": "CONNECTION_REQUEST_SENT"}, "delivered"),
        ("sendoso", {"event": "send.shipped"}, "info"),
    ],
)
def test_full_provider_event_maps(provider: str, body: dict, expected: str) -> None:
    """The providers' documented event names map to known types instead of `unknown`."""
    when = "2026-11-24T10:00:00Z"
    (event,) = map_webhook(provider, {**body, "timestamp": when, "event_timestamp": when, "email": DANA})
    assert event.type == expected


def _rows(ws, model, *where):  # noqa: ANN001, ANN002, ANN202
    with Session(engine_for(ws.database_url)) as s:
        return list(s.exec(select(model).where(model.workspace == ws.id, *where)))


def test_insufficient_funds_pauses_direct_mail_and_tells_the_operator_once(ready_ws) -> None:  # noqa: ANN001
    """Sendoso's insufficient funds pauses the direct-mail channel with one operator task,
    however many failures arrive; a redelivery stores nothing twice."""
    ws = ready_ws
    bodies = [
        {
            "event": "send.insufficient_funds",
            "data": {"tracking_code": f"T{i}", "email": DANA, "updated_at": f"2026-11-24T10:0{i}:00Z"},
        }
        for i in range(3)
    ]
    events = [e for b in bodies for e in map_webhook("sendoso", b)]
    first = ingest(ws, events, now=NOW)
    again = ingest(ws, events, now=NOW)
    assert first["stored"] == 3 and again["duplicates"] == 3 and again["stored"] == 0
    [state] = _rows(ws, ChannelState, ChannelState.channel == "direct_mail")
    assert state.paused and "insufficient funds" in state.reason
    tasks = [t for t in _rows(ws, Task) if t.kind == "channel_paused"]
    assert len(tasks) == 1 and "direct_mail" in tasks[0].title


def test_account_error_opens_one_operator_task_per_account(ready_ws) -> None:  # noqa: ANN001
    """Instantly's account_error is told to the operator once per sending account."""
    ws = ready_ws
    body = {
        "event_type": "account_error",
        "timestamp": "2026-11-24T10:00:00Z",
        "email_account": "sam@agency.example",
        "error": "SMTP auth failed",
    }
    ingest(ws, map_webhook("instantly", body), now=NOW)
    ingest(ws, map_webhook("instantly", {**body, "timestamp": "2026-11-24T11:00:00Z"}), now=NOW)
    tasks = [t for t in _rows(ws, Task) if t.kind == "operator"]
    assert len(tasks) == 1 and "sam@agency.example" in tasks[0].title


def test_meeting_booked_hands_off_and_wrong_person_stops(ready_ws) -> None:  # noqa: ANN001
    """A provider's meeting-booked event is a hand-off; wrong person ends the sequence."""
    ws = ready_ws
    booked = map_webhook(
        "instantly",
        {"event_type": "lead_meeting_booked", "timestamp": "2026-11-24T10:00:00Z", "lead_email": DANA},
    )
    result = ingest(ws, booked, now=NOW)
    assert result["effects"] == {"handoff": 1}
    assert any(t.kind == "handoff" for t in _rows(ws, Task))


def test_an_event_that_cannot_be_stored_is_rejected_alone_and_redelivery_is_clean(ready_ws) -> None:  # noqa: ANN001
    """An out-of-office reply "until 0001-01-01" (an OverflowError before) pauses with the
    default return instead; the batch's good events are stored once and a redelivery
    stores nothing twice and raises nothing."""
    ws = ready_ws
    ooo = generic(type="replied", email=AROHA, text="Out of office until 0001-01-01.")
    batch = map_webhook("generic", {"events": [generic(), ooo, generic(type="clicked")]})
    first = ingest(ws, batch, now=NOW)
    second = ingest(ws, batch, now=NOW)
    assert first["stored"] == 3 and first["failed"] == [] and first["effects"]["paused_until_return"] == 1
    assert second["stored"] == 0 and second["duplicates"] == 3
    stored = _rows(ws, EngagementEventRow)
    assert len({r.dedupe_key for r in stored}) == len(stored) == first["stored"]
