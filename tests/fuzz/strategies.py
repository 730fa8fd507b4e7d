"""Hypothesis strategies for awkward real-world input: spreadsheet cells, event records
and webhook bodies, mixing plausible values with the ones that broke the product."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

TRICKY_CELLS = [
    '=HYPERLINK("http://evil.example","x")',
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)",
    "-2+3",
    "\tTab",
    "a\x00b",
    "acme[.com",
    "http://[acme.com/",
    "https://[www.linkedin.com/in/ann",
    "https://www.linkedin.com/in/ann-lee",
    "Europe/" + "B" * 300,
    "Europe/Berlin",
    "Mars/Olympus",
    "x" * 131_073,
    '{"email": "ann@acme.com", "status": "valid"}',
    '{"email": "' + "a" * 300 + '@acme.com"}',
    "[" * 200 + "]" * 200,
    "Austin, Texas, United States",
    "Greater Seattle Area",
    "Lyon, Auvergne-Rhône-Alpes, France",
    "201-500 employees",
    "10,001+",
    ".a@b.com",
    "jürgen@müller.de",
    "ann@acme.com",
    "bob@t-online.de",
    "The Acme Company",
    "Tier 1",
    "Tier 9",
    "Atlantis",
    "DE",
    "+1 206 555 0100",
    "line\nbreak",
    'quote " inside',
    "semi;colon",
    "🙂 émoji",
    "   ",
    "",
]
HEADERS = [
    "Email",
    "Work Email",
    "First Name",
    "Last Name",
    "Full Name",
    "Company Name",
    "Company Domain",
    "Website",
    "LinkedIn Profile",
    "Location",
    "Country",
    "City",
    "Time Zone",
    "Company Size",
    "Tier",
    "Phone",
    "Clay Score",
    "Notes",
    "Email",
    "=cmd",
    "",
]

cells = st.one_of(st.sampled_from(TRICKY_CELLS), st.text(max_size=30))


@st.composite
def tables(draw: Any, max_rows: int = 12) -> tuple[list[str], list[list[str]]]:
    """(headers, rows): every row has at least one non-blank cell."""
    headers = draw(st.lists(st.sampled_from(HEADERS), min_size=1, max_size=8))
    rows = []
    for _ in range(draw(st.integers(min_value=0, max_value=max_rows))):
        width = draw(st.integers(min_value=1, max_value=len(headers)))
        row = [draw(cells) for _ in range(width)]
        if not any(c.strip() for c in row):
            row[0] = "filler@acme.com"
        rows.append(row)
    return headers, rows


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(TRICKY_CELLS[:30]),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
EVENT_TYPES = [
    "opened",
    "clicked",
    "replied",
    "bounced",
    "unsubscribed",
    "delivered",
    "mail_failed",
    "nope",
    "",
]
WHEN = st.one_of(
    st.sampled_from(
        [
            "2026-11-24T10:00:00Z",
            "0001-01-01T00:00:00+05:00",
            "9999-12-31T23:59:59-05:00",
            "yesterday",
            "",
            "2026-11-24",
        ]
    ),
    st.integers(min_value=-(10**15), max_value=10**15),
    st.floats(allow_nan=False, allow_infinity=False),
)
EMAILS = st.sampled_from(
    [
        "dana.whitfield@northwindfreight.example",
        "aroha.ngata@kauricloud.example",
        "nobody@acme.com",
        "not-an-email",
        "",
    ]
)
REPLY_TEXTS = st.one_of(
    st.sampled_from(
        [
            "Out of office until 0001-01-01.",
            "I&rsquo;m out until Monday &#8212; thanks",
            "Please unsubscribe me",
            "Interested, let's talk",
            "Talk to jane@acme.com instead",
        ]
    ),
    st.text(max_size=40),
)


@st.composite
def generic_events(draw: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": draw(st.sampled_from(EVENT_TYPES)),
        "email": draw(EMAILS),
        "occurred_at": draw(WHEN),
    }
    if draw(st.booleans()):
        event["text"] = draw(st.one_of(REPLY_TEXTS, json_values))
    if draw(st.booleans()):
        event["linkedin_url"] = draw(st.sampled_from(TRICKY_CELLS[:12]))
    if draw(st.booleans()):
        event["provider_message_id"] = draw(st.text(max_size=10))
    if draw(st.booleans()):
        event[draw(st.text(max_size=6))] = draw(json_values)
    return event


PROVIDER_EVENTS = {
    "instantly": [
        "email_opened",
        "reply_received",
        "lead_meeting_booked",
        "lead_wrong_person",
        "account_error",
        "x",
    ],
    "smartlead": ["EMAIL_REPLY", "EMAIL_BOUNCE", "LEAD_CATEGORY_UPDATED", "X"],
    "heyreach": ["CONNECTION_REQUEST_ACCEPTED", "MESSAGE_REPLY_RECEIVED", "X"],
    "sendoso": ["send.delivered", "send.insufficient_funds", "send.failed", "x"],
}


@st.composite
def provider_bodies(draw: Any, provider: str) -> dict[str, Any]:
    def one() -> dict[str, Any]:
        name = draw(st.sampled_from(PROVIDER_EVENTS[provider]))
        email, when = draw(EMAILS), draw(WHEN)
        base = {
            "instantly": {
                "event_type": name,
                "lead_email": email,
                "timestamp": when,
                "reply_text": draw(REPLY_TEXTS),
            },
            "smartlead": {
                "event_type": name,
                "to_email": email,
                "event_timestamp": when,
                "reply_message": {"html": draw(REPLY_TEXTS)},
                "lead_category": {"new_name": draw(st.sampled_from(["Interested", "Wrong Person", "?"]))},
            },
            "heyreach": {
                "eventType": name,
                "timestamp": when,
                "lead": {"profileUrl": draw(st.sampled_from(TRICKY_CELLS[:12])), "emailAddress": email},
            },
            "sendoso": {
                "event": name,
                "data": {"tracking_code": draw(st.text(max_size=6)), "email": email, "updated_at": when},
            },
        }[provider]
        if draw(st.booleans()):
            base[draw(st.text(max_size=6))] = draw(json_values)
        return base

    if draw(st.booleans()):
        return {"events": [one() for _ in range(draw(st.integers(min_value=0, max_value=4)))]}
    return one()


def deep(n: int) -> str:
    return '{"a":' + "[" * n + "]" * n + "}"


def as_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
