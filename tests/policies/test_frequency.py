"""Frequency family: replies, gaps between touches, sequence and account limits."""

from __future__ import annotations

import pytest

from policies.config import FrequencyConfig, PolicyConfig
from policies.rules import frequency as f
from tests.policies.factories import make_input

CFG = PolicyConfig()


def touch(at, channel="email", kind="email"):
    return {"step_id": "s", "channel": channel, "kind": kind, "at": at, "template": "t"}


@pytest.mark.parametrize(
    "events, proposal, expected",
    [
        ({}, {}, "allow"),
        ({"replied_at": "2024-03-04T15:00:00Z", "reply_kind": "positive"}, {}, "deny"),
        ({"replied_at": "2024-03-04T15:00:00Z", "reply_kind": None}, {"action": "draft"}, "deny"),
        ({"replied_at": "2024-03-04T15:00:00Z", "reply_kind": "out_of_office"}, {}, "allow"),
        ({"replied_at": "2024-03-04T15:00:00Z", "reply_kind": "positive"}, {"action": "stop"}, None),
    ],
    ids=["no-reply", "replied", "replied-stops-drafting", "out-of-office-pauses", "stop-allowed"],
)
def test_stop_after_reply(events, proposal, expected):
    """A reply ends the sequence; an out-of-office only pauses it."""
    v = f.stop_after_reply(make_input(events=events, proposal=proposal), CFG)
    assert (v.outcome if v else None) == expected


@pytest.mark.parametrize(
    "replied, now, tz, expected, until",
    [
        ("2024-03-04T15:00:00Z", "2024-03-05T15:00:00Z", "America/New_York", "defer", "2024-03-11T12:00:00Z"),
        ("2024-03-04T15:00:00Z", "2024-03-11T15:00:00Z", "America/New_York", "allow", None),
        ("2024-03-04T15:00:00Z", "2024-03-08T21:00:00Z", "America/New_York", "defer", "2024-03-11T12:00:00Z"),
        ("2024-10-21T08:00:00Z", "2024-10-25T08:00:00Z", "Europe/Berlin", "defer", "2024-10-28T07:00:00Z"),
    ],
    ids=[
        "ooo-defers-over-dst",
        "after-five-business-days",
        "friday-before-cooldown-ends",
        "berlin-over-fall-dst",
    ],
)
def test_reply_cooldown(replied, now, tz, expected, until):
    """After any reply (auto-replies too) touches pause for N business days, to the window."""
    v = f.reply_cooldown(
        make_input(
            now=now, prospect={"timezone": tz}, events={"replied_at": replied, "reply_kind": "out_of_office"}
        ),
        CFG,
    )
    assert (v.outcome, v.until) == (expected, until)


@pytest.mark.parametrize(
    "tz, last, now, gap, expected, until",
    [
        ("America/New_York", "2024-03-04T15:00:00Z", "2024-03-05T15:00:00Z", 1, "allow", None),
        (
            "America/New_York",
            "2024-03-08T15:00:00Z",
            "2024-03-08T20:00:00Z",
            1,
            "defer",
            "2024-03-11T12:00:00Z",
        ),
        (
            "America/New_York",
            "2024-03-04T15:00:00Z",
            "2024-03-06T15:00:00Z",
            3,
            "defer",
            "2024-03-07T13:00:00Z",
        ),
        ("America/New_York", "2024-03-04T15:00:00Z", "2024-03-07T15:00:00Z", 3, "allow", None),
        ("Europe/Berlin", "2024-10-25T08:00:00Z", "2024-10-25T12:00:00Z", 1, "defer", "2024-10-28T07:00:00Z"),
        (
            "Pacific/Auckland",
            "2024-01-18T21:00:00Z",
            "2024-01-19T01:00:00Z",
            1,
            "defer",
            "2024-01-21T19:00:00Z",
        ),
        ("Pacific/Honolulu", "2024-03-08T03:00:00Z", "2024-03-08T19:00:00Z", 1, "allow", None),
    ],
    ids=[
        "next-business-day",
        "same-day-friday-over-dst",
        "gap-3-one-short",
        "gap-3-met",
        "berlin-fall-dst",
        "auckland-same-local-day",
        "honolulu-local-days-differ",
    ],
)
def test_one_touch_per_day(tz, last, now, gap, expected, until):
    """Touches are N business days apart in the prospect's zone; a defer names the next slot."""
    cfg = PolicyConfig(frequency=FrequencyConfig(min_business_days_between_touches=gap))
    v = f.one_touch_per_day(make_input(now=now, prospect={"timezone": tz}, touches=[touch(last)]), cfg)
    assert (v.outcome, v.until) == (expected, until)


@pytest.mark.parametrize(
    "count, expected",
    [(0, "allow"), (4, "allow"), (5, "deny"), (7, "deny")],
    ids=["none", "one-below-cap", "at-cap", "over-cap"],
)
def test_max_touches_per_sequence(count, expected):
    """A prospect gets at most max_touches_per_sequence touches."""
    touches = [touch(f"2024-02-{d:02d}T15:00:00Z") for d in range(1, count + 1)]
    assert f.max_touches_per_sequence(make_input(touches=touches), CFG).outcome == expected


@pytest.mark.parametrize(
    "touched, touches, expected, until",
    [
        (2, [], "allow", None),
        (3, [], "defer", "2024-03-11T12:00:00Z"),
        (3, [touch("2024-03-04T15:00:00Z")], "allow", None),
        (3, [touch("2024-03-01T15:00:00Z")], "defer", "2024-03-11T12:00:00Z"),
    ],
    ids=[
        "one-below-cap",
        "at-cap-defers-to-next-week-window",
        "already-counted-this-week",
        "touched-last-week-counts-anew",
    ],
)
def test_account_weekly_contacts(touched, touches, expected, until):
    """At most N people per account per week; the defer lands in next week's first window."""
    inp = make_input(counters={"account_contacts_touched_week": touched}, touches=touches)
    v = f.account_weekly_contacts(inp, CFG)
    assert (v.outcome, v.until) == (expected, until)


@pytest.mark.parametrize(
    "events, now, expected, until",
    [
        (
            {"account_replied_at": "2024-03-01T15:00:00Z"},
            "2024-03-05T15:00:00Z",
            "defer",
            "2024-04-01T12:00:00Z",
        ),
        ({"account_replied_at": "2024-03-01T15:00:00Z"}, "2024-04-01T15:00:00Z", "allow", None),
        ({}, "2024-03-05T15:00:00Z", None, None),
        (
            {
                "account_replied_at": "2024-03-01T15:00:00Z",
                "replied_at": "2024-03-01T15:00:00Z",
                "reply_kind": "positive",
            },
            "2024-03-05T15:00:00Z",
            None,
            None,
        ),
    ],
    ids=["colleague-replied", "pause-over", "no-account-reply", "own-reply-handled-elsewhere"],
)
def test_account_pause(events, now, expected, until):
    """When someone else at the account replied, the account pauses for N days."""
    v = f.account_pause(make_input(now=now, events=events), CFG)
    assert ((v.outcome, v.until) if v else (None, None)) == (expected, until)
