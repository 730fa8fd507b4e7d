"""Holidays: by default no message goes out on a public holiday of the recipient's
country (from the holidays library); workspaces switch this off or override it per
country, add dates, and the same days are skipped by sends, waits and opening_after."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from agents.planner import due_at
from core.workspace import PlaybookStep
from policies.config import PolicyConfig, WindowConfig
from policies.rules.frequency import one_touch_per_day
from policies.rules.timing import send_window
from tests.policies.factories import make_input

NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")


def cfg(**window: object) -> PolicyConfig:
    return PolicyConfig(window=WindowConfig(**window))


@pytest.mark.parametrize(
    ("country", "tz", "now", "window", "outcome", "until"),
    [
        # Thursday 26 November 2026 is US Thanksgiving: held to Friday's opening.
        ("US", "America/New_York", "2026-11-26T15:00:00Z", {}, "defer", "2026-11-27T13:00:00Z"),
        # The same instant is an ordinary Thursday in Britain.
        ("GB", "Europe/London", "2026-11-26T15:00:00Z", {}, "allow", None),
        # Christmas: Friday 25 December 2026, then the weekend, then (GB) Boxing Day observed Monday.
        ("US", "America/New_York", "2026-12-25T15:00:00Z", {}, "defer", "2026-12-28T13:00:00Z"),
        ("GB", "Europe/London", "2026-12-25T10:00:00Z", {}, "defer", "2026-12-29T08:00:00Z"),
        ("UK", "Europe/London", "2026-12-25T10:00:00Z", {}, "defer", "2026-12-29T08:00:00Z"),
        # Switched off for the workspace, or for one country.
        ("US", "America/New_York", "2026-11-26T15:00:00Z", {"public_holidays": "none"}, "allow", None),
        (
            "US",
            "America/New_York",
            "2026-11-26T15:00:00Z",
            {"public_holidays_by_country": {"us": "none"}},
            "allow",
            None,
        ),
        # Only auto for one country when the workspace default is none.
        (
            "US",
            "America/New_York",
            "2026-11-26T15:00:00Z",
            {"public_holidays": "none", "public_holidays_by_country": {"US": "auto"}},
            "defer",
            "2026-11-27T13:00:00Z",
        ),
        # A region's own holiday: Epiphany (6 January) in Bavaria, not in Berlin.
        (
            "DE",
            "Europe/Berlin",
            "2027-01-06T10:00:00Z",
            {"public_holidays_by_country": {"DE": "BY"}},
            "defer",
            "2027-01-07T07:00:00Z",
        ),
        ("DE", "Europe/Berlin", "2027-01-06T10:00:00Z", {}, "allow", None),
        # Extra dates: for everyone and per country, with public holidays off.
        (
            "US",
            "America/New_York",
            "2026-11-27T15:00:00Z",
            {"public_holidays": "none", "holidays_by_country": {"US": ["2026-11-27"]}},
            "defer",
            "2026-11-30T13:00:00Z",
        ),
        (
            "FR",
            "Europe/Paris",
            "2026-12-24T10:00:00Z",
            {"holidays": ["2026-12-24"]},
            "defer",
            "2026-12-28T07:00:00Z",
        ),
        # No usable country: the zone's country (tz database) decides; UTC belongs to none.
        ("", "America/New_York", "2026-11-26T15:00:00Z", {}, "defer", "2026-11-27T13:00:00Z"),
        ("", "UTC", "2026-11-26T15:00:00Z", {}, "allow", None),
    ],
    ids=[
        "us-thanksgiving",
        "gb-same-day",
        "us-christmas",
        "gb-christmas-boxing-day-observed",
        "uk-alias",
        "workspace-none",
        "country-none",
        "country-auto-over-none",
        "bavaria-epiphany",
        "germany-no-epiphany",
        "extra-country-date",
        "extra-date-all",
        "no-country-zone-us",
        "no-country-utc",
    ],
)
def test_send_window_skips_holidays(country, tz, now, window, outcome, until) -> None:  # noqa: ANN001
    """The send window of a prospect excludes its country's public holidays as configured."""
    inp = make_input(now=now, prospect={"country": country, "timezone": tz})
    v = send_window(inp, cfg(**window))
    assert (v.outcome, v.until) == (outcome, until)


def test_holiday_defer_names_the_holiday() -> None:
    """A defer on a public holiday says which one, so the operator sees why."""
    inp = make_input(now="2026-11-26T15:00:00Z", prospect={"country": "US", "timezone": "America/New_York"})
    v = send_window(inp, cfg())
    assert "public holiday in US (Thanksgiving" in v.reason


@pytest.mark.parametrize(
    ("window", "country", "day", "days", "expected"),
    [
        # Monday 23 Nov + 3 business days: Thursday is Thanksgiving, so Friday.
        ({}, "US", date(2026, 11, 23), 3, "2026-11-27T13:00:00Z"),
        ({}, "GB", date(2026, 11, 23), 3, "2026-11-26T08:00:00Z"),
        # Tuesday 22 Dec + 3: 25 Dec and the weekend are skipped.
        ({}, "US", date(2026, 12, 22), 3, "2026-12-28T13:00:00Z"),
        # The defect: holidays_by_country was ignored by opening_after.
        (
            {"public_holidays": "none", "holidays_by_country": {"US": ["2026-11-24"]}},
            "US",
            date(2026, 11, 23),
            1,
            "2026-11-25T13:00:00Z",
        ),
        # Zero days on a holiday: the next business day.
        ({}, "US", date(2026, 12, 25), 0, "2026-12-28T13:00:00Z"),
    ],
    ids=["us-thanksgiving", "gb-thursday", "us-christmas", "holidays-by-country", "zero-on-holiday"],
)
def test_opening_after_skips_the_countrys_no_send_days(window, country, day, days, expected) -> None:  # noqa: ANN001
    """Waits counted in business days skip the prospect country's holidays."""
    tz = LONDON if country == "GB" else NY
    got = WindowConfig(**window).opening_after(day, days, tz, country=country)
    assert got.isoformat().replace("+00:00", "Z") == expected


def test_planner_wait_skips_christmas() -> None:
    """A follow-up 3 business days after a touch on 22 December is due on 28 December
    (Wednesday 23, Thursday 24, Monday 28: the 25th is skipped)."""
    step = PlaybookStep(id="email_followup", channel="email", delay_business_days=3)
    obs = {
        "now": "2026-12-22T16:00:00Z",
        "prospect": {"timezone": "America/New_York", "country": "US"},
        "touches": [{"step_id": "email_intro", "at": "2026-12-22T15:00:00Z"}],
    }
    assert due_at(step, obs, PolicyConfig()).isoformat() == "2026-12-28T13:00:00+00:00"


def test_gap_between_touches_counts_holidays_out() -> None:
    """The minimum gap between touches is counted in business days without holidays: a
    touch on Wednesday 25 Nov may be followed on Friday 27 Nov (Thanksgiving skipped)."""
    touches = [{"step_id": "email_intro", "channel": "email", "at": "2026-11-25T15:00:00Z"}]
    prospect = {"country": "US", "timezone": "America/New_York"}
    v = one_touch_per_day(
        make_input(now="2026-11-26T15:00:00Z", prospect=prospect, touches=touches), PolicyConfig()
    )
    assert (v.outcome, v.until) == ("defer", "2026-11-27T13:00:00Z")


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ({"public_holidays": "sometimes"}, "public_holidays"),
        ({"public_holidays_by_country": {"XX": "auto"}}, "no calendar for country 'XX'"),
        ({"public_holidays_by_country": {"DE": "ZZ"}}, "subdivisions"),
        ({"holidays_by_country": {"Germany": ["2026-01-01"]}}, "not an ISO alpha-2 country code"),
    ],
    ids=["bad-mode", "unknown-country", "unknown-subdivision", "bad-country-key"],
)
def test_bad_holiday_config_is_refused_with_its_key(window, message) -> None:  # noqa: ANN001
    """A holiday setting that cannot work is refused on load with a message naming it."""
    with pytest.raises(ValidationError) as err:
        WindowConfig(**window)
    assert message in str(err.value)
