"""Capacity: what one sender can put out per period. A mailbox's daily cap ramps up
during warm-up; LinkedIn invitations and messages are capped per week; direct mail per
month in sends and dollars. Periods reset in the sender's zone (`sender.timezone`, UTC
when absent); a capped send is deferred to the next period, inside the recipient's window."""

from __future__ import annotations

from datetime import date, datetime

from core.timeutil import iso
from policies.config import CapacityConfig, PolicyConfig
from policies.rules.common import (
    amount,
    applies_to,
    local_date,
    local_text,
    money,
    next_allowed,
    next_day_start,
    next_month_start,
    next_week_start,
    sender_zone,
)
from policies.types import PolicyInput, Verdict

SEND = frozenset({"send"})


def mailbox_allowance(cap: CapacityConfig, first_send: date | None, today: date) -> int:
    """Today's send allowance for a mailbox: a linear ramp from `warmup_start_per_day` on
    the first day to `mailbox_daily_cap` after `warmup_days`."""
    full = cap.mailbox_daily_cap
    start = min(cap.warmup_start_per_day, full)
    age = 0 if first_send is None else max((today - first_send).days, 0)
    if cap.warmup_days == 0 or age >= cap.warmup_days:
        return full
    return start + (full - start) * age // cap.warmup_days


def mailbox_usage(inp: PolicyInput, cfg: PolicyConfig) -> tuple[int, int]:
    """(sent today, today's allowance) for the sending mailbox."""
    today = local_date(inp.now, sender_zone(inp))
    allowance = mailbox_allowance(cfg.capacity, inp.counters.mailbox_first_send_date, today)
    return int(inp.counters.mailbox_sent_today), allowance


def _capped(rule: str, inp: PolicyInput, cfg: PolicyConfig, what: str, reset: datetime) -> Verdict:
    until = next_allowed(inp, cfg, reset)
    return Verdict(
        rule, "defer", f"{what}; held until {local_text(until, sender_zone(inp))}", until=iso(until)
    )


@applies_to(SEND)
def mailbox_daily_cap(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """A mailbox sends at most its (warm-up adjusted) daily cap."""
    if inp.proposal.action != "send" or inp.channel != "email":
        return None
    sent, allowance = mailbox_usage(inp, cfg)
    ramp = "" if allowance == cfg.capacity.mailbox_daily_cap else " during warm-up"
    if sent >= allowance:
        return _capped(
            "mailbox_daily_cap",
            inp,
            cfg,
            f"the mailbox already sent {sent} emails today (cap {allowance}{ramp})",
            next_day_start(inp.now, sender_zone(inp)),
        )
    return Verdict("mailbox_daily_cap", "allow", f"email {sent + 1} of {allowance} today{ramp}")


def _linkedin(
    inp: PolicyInput, cfg: PolicyConfig, rule: str, kind: str, counter: str, cap: int, noun: str
) -> Verdict | None:
    if inp.proposal.action != "send" or inp.channel != "linkedin" or inp.message_kind != kind:
        return None
    used = int(inp.counters.count(counter))
    if used >= cap:
        return _capped(
            rule,
            inp,
            cfg,
            f"{used} LinkedIn {noun} already sent this week (cap {cap})",
            next_week_start(inp.now, sender_zone(inp)),
        )
    return Verdict(rule, "allow", f"LinkedIn {noun[:-1]} {used + 1} of {cap} this week")


@applies_to(SEND)
def linkedin_weekly_invites(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """A LinkedIn sender sends at most N connection requests per week."""
    return _linkedin(
        inp,
        cfg,
        "linkedin_weekly_invites",
        "linkedin_connect",
        "linkedin_invites_week",
        cfg.capacity.linkedin_invites_per_week,
        "invitations",
    )


@applies_to(SEND)
def linkedin_weekly_messages(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """A LinkedIn sender sends at most N messages per week."""
    return _linkedin(
        inp,
        cfg,
        "linkedin_weekly_messages",
        "linkedin_message",
        "linkedin_messages_week",
        cfg.capacity.linkedin_messages_per_week,
        "messages",
    )


@applies_to(SEND)
def direct_mail_monthly(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """Direct mail is capped per month in sends and in dollars."""
    if inp.proposal.action != "send" or inp.channel != "direct_mail":
        return None
    c = cfg.capacity
    sends = int(inp.counters.direct_mail_sends_month)
    spent = inp.counters.direct_mail_usd_month
    reset = next_month_start(inp.now, sender_zone(inp))
    if sends >= c.direct_mail_sends_per_month:
        return _capped(
            "direct_mail_monthly",
            inp,
            cfg,
            f"{sends} direct-mail sends already this month (cap {c.direct_mail_sends_per_month})",
            reset,
        )
    cost = inp.proposal.est_usd
    if spent + cost > c.direct_mail_usd_per_month + 1e-9:
        left = max(c.direct_mail_usd_per_month - spent, 0.0)
        return _capped(
            "direct_mail_monthly",
            inp,
            cfg,
            f"this mailing ({money(cost)}) would exceed the monthly direct-mail "
            f"budget: {money(spent)} of {money(c.direct_mail_usd_per_month)} spent, "
            f"{money(left)} left",
            reset,
        )
    return Verdict(
        "direct_mail_monthly",
        "allow",
        f"direct-mail send {sends + 1} of {c.direct_mail_sends_per_month} this month; "
        f"{money(spent + cost)} of {money(c.direct_mail_usd_per_month)} after it",
    )


def capacity_ratios(inp: PolicyInput, cfg: PolicyConfig) -> list[tuple[float, str]]:
    """For a send: each capacity it uses as (share of cap after this send, description)."""
    if inp.proposal.action != "send":
        return []
    c, out = cfg.capacity, []
    if inp.channel == "email":
        sent, allowance = mailbox_usage(inp, cfg)
        out.append(((sent + 1) / allowance, f"mailbox daily cap ({sent + 1} of {allowance})"))
    elif inp.channel == "linkedin":
        counter, cap, noun = (
            ("linkedin_invites_week", c.linkedin_invites_per_week, "invitations")
            if inp.message_kind == "linkedin_connect"
            else ("linkedin_messages_week", c.linkedin_messages_per_week, "messages")
        )
        used = inp.counters.count(counter) + 1
        if cap:
            out.append((used / cap, f"weekly LinkedIn {noun} ({amount(used)} of {cap})"))
    elif inp.channel == "direct_mail":
        sends = inp.counters.direct_mail_sends_month + 1
        usd = inp.counters.direct_mail_usd_month + inp.proposal.est_usd
        if c.direct_mail_sends_per_month:
            out.append(
                (
                    sends / c.direct_mail_sends_per_month,
                    f"monthly direct-mail sends ({amount(sends)} of {c.direct_mail_sends_per_month})",
                )
            )
        if c.direct_mail_usd_per_month:
            out.append(
                (
                    usd / c.direct_mail_usd_per_month,
                    f"monthly direct-mail budget ({money(usd)} of {money(c.direct_mail_usd_per_month)})",
                )
            )
    return out
