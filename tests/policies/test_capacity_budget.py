"""Capacity and budget families: caps hit exactly, warm-up ramp, period resets, spend caps."""

from __future__ import annotations

from datetime import date

import pytest

from policies.config import CapacityConfig, PolicyConfig
from policies.rules import budget as b
from policies.rules import capacity as c
from tests.policies.factories import make_input

CFG = PolicyConfig()
LI_CONNECT = {"channel": "linkedin", "kind": "linkedin_connect", "step_id": None}
LI_MESSAGE = {"channel": "linkedin", "kind": "linkedin_message", "step_id": None}
MAIL = {"channel": "direct_mail", "kind": "direct_mail", "step_id": None, "est_usd": 40.0}


@pytest.mark.parametrize(
    "age_days, expected",
    [(None, 10), (0, 10), (14, 25), (27, 38), (28, 40), (90, 40)],
    ids=["never-sent", "first-day", "mid-ramp", "last-ramp-day", "warm", "old"],
)
def test_mailbox_allowance(age_days, expected):
    """The daily allowance ramps linearly from 10 to 40 over 28 days."""
    today = date(2024, 3, 5)
    first = None if age_days is None else date.fromordinal(today.toordinal() - age_days)
    assert c.mailbox_allowance(CapacityConfig(), first, today) == expected


@pytest.mark.parametrize(
    "sent, first, expected, until",
    [
        (39, "2024-01-01", "allow", None),
        (40, "2024-01-01", "defer", "2024-03-06T13:00:00Z"),
        (9, "2024-03-05", "allow", None),
        (10, "2024-03-05", "defer", "2024-03-06T13:00:00Z"),
        (10, None, "defer", "2024-03-06T13:00:00Z"),
        (24, "2024-02-20", "allow", None),
        (25, "2024-02-20", "defer", "2024-03-06T13:00:00Z"),
    ],
    ids=[
        "warm-one-below",
        "warm-at-cap",
        "day1-one-below",
        "day1-at-cap",
        "first-send-unknown",
        "ramp-one-below",
        "ramp-at-cap",
    ],
)
def test_mailbox_daily_cap(sent, first, expected, until):
    """A capped mailbox defers to the next day's first window opening for the recipient."""
    inp = make_input(counters={"mailbox_sent_today": sent, "mailbox_first_send_date": first})
    v = c.mailbox_daily_cap(inp, CFG)
    assert (v.outcome, v.until) == (expected, until)


@pytest.mark.parametrize(
    "fn, proposal, counters, expected, until",
    [
        (c.linkedin_weekly_invites, LI_CONNECT, {"linkedin_invites_week": 79}, "allow", None),
        (
            c.linkedin_weekly_invites,
            LI_CONNECT,
            {"linkedin_invites_week": 80},
            "defer",
            "2024-03-11T12:00:00Z",
        ),
        (c.linkedin_weekly_invites, LI_MESSAGE, {"linkedin_invites_week": 80}, None, None),
        (c.linkedin_weekly_messages, LI_MESSAGE, {"linkedin_messages_week": 99}, "allow", None),
        (
            c.linkedin_weekly_messages,
            LI_MESSAGE,
            {"linkedin_messages_week": 100},
            "defer",
            "2024-03-11T12:00:00Z",
        ),
        (c.direct_mail_monthly, MAIL, {"direct_mail_sends_month": 19}, "allow", None),
        (c.direct_mail_monthly, MAIL, {"direct_mail_sends_month": 20}, "defer", "2024-04-01T00:00:00Z"),
        (c.direct_mail_monthly, MAIL, {"direct_mail_usd_month": 960.0}, "allow", None),
        (
            c.direct_mail_monthly,
            {**MAIL, "est_usd": 40.01},
            {"direct_mail_usd_month": 960.0},
            "defer",
            "2024-04-01T00:00:00Z",
        ),
    ],
    ids=[
        "invites-one-below",
        "invites-at-cap",
        "message-not-an-invite",
        "messages-one-below",
        "messages-at-cap",
        "mail-sends-one-below",
        "mail-sends-at-cap",
        "mail-usd-exactly-cap",
        "mail-usd-over-cap",
    ],
)
def test_weekly_and_monthly_caps(fn, proposal, counters, expected, until):
    """Weekly LinkedIn and monthly direct-mail caps defer to the next period."""
    v = fn(make_input(counters=counters, proposal=proposal), CFG)
    assert ((v.outcome, v.until) if v else (None, None)) == (expected, until)


@pytest.mark.parametrize(
    "sender_tz, until",
    [
        ("UTC", "2024-04-01T00:00:00Z"),
        ("America/Los_Angeles", "2024-04-01T07:00:00Z"),
        ("Europe/Berlin", "2024-03-31T22:00:00Z"),
    ],
    ids=["utc", "los-angeles-pdt", "berlin-after-spring-dst"],
)
def test_monthly_reset_in_sender_zone(sender_tz, until):
    """The month resets at local midnight in the sender's zone, DST included."""
    inp = make_input(
        now="2024-03-31T20:00:00Z",
        sender={"timezone": sender_tz},
        counters={"direct_mail_sends_month": 20},
        proposal=MAIL,
    )
    assert c.direct_mail_monthly(inp, CFG).until == until


@pytest.mark.parametrize(
    "fn, spend, proposal, expected, left",
    [
        (b.budget_run, {"run": {"credits": 45}}, {"est_credits": 5}, "allow", None),
        (b.budget_run, {"run": {"credits": 45}}, {"est_credits": 6}, "deny", "only 5 of 50 is left"),
        (b.budget_month, {"month": {"usd": 1490.0}}, {"est_usd": 10.0}, "allow", None),
        (b.budget_month, {"month": {"usd": 1490.0}}, {"est_usd": 10.5}, "deny", "only $10.00 of $1,500.00"),
        (b.budget_prospect, {"prospect": {"llm_usd": 0.45}}, {"est_llm_usd": 0.05}, "allow", None),
        (b.budget_prospect, {"prospect": {"llm_usd": 0.45}}, {"est_llm_usd": 0.06}, "deny", "only $0.05"),
        (b.budget_month, {"month": {"credits": 2500}}, {"est_credits": 1}, "deny", "only 0 of 2,000"),
        (b.budget_month, {"month": {"credits": 2000}}, {"est_credits": 0}, "allow", None),
    ],
    ids=[
        "run-credits-exactly-cap",
        "run-credits-over",
        "month-usd-exactly-cap",
        "month-usd-over",
        "prospect-llm-exactly-cap",
        "prospect-llm-over",
        "already-over",
        "free-action-at-cap",
    ],
)
def test_budget(fn, spend, proposal, expected, left):
    """Crossing a spend cap denies the action and says what is left."""
    v = fn(make_input(counters={"spend": spend}, proposal={"action": "enrich", **proposal}), CFG)
    assert v.outcome == expected
    if left:
        assert left in v.reason


def test_budget_without_caps_or_for_wait():
    """No caps means the rule does not apply; wait is never budgeted."""
    cfg = PolicyConfig(budget={"run": {}, "month": {}, "prospect": {}})
    assert b.budget_run(make_input(), cfg) is None
    assert b.budget_run(make_input(proposal={"action": "wait"}), CFG) is None
