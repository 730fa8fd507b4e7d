"""Timing family: the recipient-local sending window across DST, far zones and weekends."""

from __future__ import annotations

from datetime import date

import pytest

from policies.config import PolicyConfig, WindowConfig
from policies.rules.timing import send_window
from tests.policies.factories import make_input

CFG = PolicyConfig()


@pytest.mark.parametrize(
    "tz, now, expected, until",
    [
        ("America/New_York", "2024-03-05T15:00:00Z", "allow", None),
        ("America/New_York", "2024-03-05T13:00:00Z", "allow", None),
        ("America/New_York", "2024-03-05T22:00:00Z", "defer", "2024-03-06T13:00:00Z"),
        ("America/New_York", "2024-03-08T22:30:00Z", "defer", "2024-03-11T12:00:00Z"),
        ("America/New_York", "2024-03-10T07:30:00Z", "defer", "2024-03-11T12:00:00Z"),
        ("America/New_York", "2024-11-01T22:00:00Z", "defer", "2024-11-04T13:00:00Z"),
        ("America/New_York", "2024-11-03T06:30:00Z", "defer", "2024-11-04T13:00:00Z"),
        ("Europe/Berlin", "2024-03-29T16:00:00Z", "defer", "2024-04-01T06:00:00Z"),
        ("Europe/Berlin", "2024-10-25T18:00:00Z", "defer", "2024-10-28T07:00:00Z"),
        ("Europe/Berlin", "2024-10-28T07:00:00Z", "allow", None),
        ("Pacific/Auckland", "2024-01-15T19:30:00Z", "allow", None),
        ("Pacific/Auckland", "2024-01-19T04:30:00Z", "defer", "2024-01-21T19:00:00Z"),
        ("Pacific/Auckland", "2024-01-21T18:00:00Z", "defer", "2024-01-21T19:00:00Z"),
        ("Pacific/Honolulu", "2024-03-08T03:30:00Z", "defer", "2024-03-08T18:00:00Z"),
        ("Pacific/Honolulu", "2024-03-09T03:30:00Z", "defer", "2024-03-11T18:00:00Z"),
        ("Pacific/Honolulu", "2024-03-08T18:00:00Z", "allow", None),
    ],
    ids=[
        "ny-inside",
        "ny-opening-minute",
        "ny-closing-minute",
        "ny-fri-eve-over-spring-dst",
        "ny-dst-sunday",
        "ny-fri-eve-over-fall-dst",
        "ny-fall-dst-night",
        "berlin-spring-dst",
        "berlin-fall-dst",
        "berlin-monday-after-fall-dst",
        "auckland-utc+13-inside",
        "auckland-fri-eve-to-mon",
        "auckland-mon-before-open-utc-sunday",
        "honolulu-thu-eve",
        "honolulu-fri-eve-to-mon",
        "honolulu-opening",
    ],
)
def test_send_window(tz, now, expected, until):
    """Sends go inside 08:00-17:00 Mon-Fri local; a defer names the next opening in UTC."""
    v = send_window(make_input(now=now, prospect={"timezone": tz}), CFG)
    assert (v.outcome, v.until) == (expected, until)


@pytest.mark.parametrize(
    "window, country, until",
    [
        (WindowConfig(holidays=(date(2024, 3, 6),)), "US", "2024-03-07T13:00:00Z"),
        (WindowConfig(holidays_by_country={"US": (date(2024, 3, 6),)}), "US", "2024-03-07T13:00:00Z"),
        (WindowConfig(holidays_by_country={"DE": (date(2024, 3, 6),)}), "US", "2024-03-06T13:00:00Z"),
        (WindowConfig(days=("mon", "tue", "wed", "thu", "fri", "sat")), "US", "2024-03-06T13:00:00Z"),
    ],
    ids=["holiday", "country-holiday", "other-country-holiday", "six-day-window"],
)
def test_send_window_holidays(window, country, until):
    """Holidays (global or the prospect country's) are skipped when finding the next opening."""
    cfg = PolicyConfig(window=window)
    v = send_window(make_input(now="2024-03-05T22:00:00Z", prospect={"country": country}), cfg)
    assert (v.outcome, v.until) == ("defer", until)


@pytest.mark.parametrize(
    "tz, policy, expected, until",
    [
        ("", "defer", "defer", "2024-03-06T15:00:00Z"),
        ("Mars/Olympus_Mons", "defer", "defer", "2024-03-06T15:00:00Z"),
        (None, "review", "review", None),
    ],
    ids=["missing-defers", "invalid-defers", "review-by-config"],
)
def test_unknown_timezone_never_guessed(tz, policy, expected, until):
    """An unknown zone holds the send (recheck later) or asks a human, per configuration."""
    v = send_window(make_input(prospect={"timezone": tz}), PolicyConfig(unknown_timezone=policy))
    assert (v.outcome, v.until) == (expected, until)


@pytest.mark.parametrize(
    "proposal",
    [
        {"channel": "direct_mail", "kind": "direct_mail"},
        {"action": "draft"},
        {"action": "wait"},
    ],
    ids=["direct-mail-not-timed", "draft-not-timed", "wait-not-timed"],
)
def test_send_window_not_applicable(proposal):
    """Only sends on timed channels are held to the window."""
    assert send_window(make_input(now="2024-03-09T12:00:00Z", proposal=proposal), CFG) is None
