"""Frequency: how often a prospect and an account hear from us. Stop on reply (an
out-of-office pauses instead), a cool-down after any reply, a minimum gap between
touches, a cap per sequence, and per-account limits. Gaps are counted in business days
in the prospect's own zone; defers name the next allowed instant."""

from __future__ import annotations

from datetime import timedelta

from core.timeutil import add_business_days, business_days_between, iso, local_instant, to_utc
from policies.config import PolicyConfig
from policies.rules.common import (
    ACTIVE_ACTIONS,
    UTC_ZONE,
    applies_to,
    local_date,
    local_text,
    next_allowed,
    next_week_start,
    prospect_zone,
    sender_zone,
    week_start,
    window_for,
)
from policies.types import TOUCH_ACTIONS, PolicyInput, Verdict


def _reply_kind(inp: PolicyInput) -> str:
    return str(inp.events.reply_kind or "")


@applies_to(ACTIVE_ACTIONS)
def stop_after_reply(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """Once the prospect has replied, the automated sequence ends (an auto-reply only pauses)."""
    if inp.proposal.action not in ACTIVE_ACTIONS:
        return None
    if inp.replied_at is None:
        return Verdict("stop_after_reply", "allow", "no reply yet")
    kind = _reply_kind(inp)
    if kind in cfg.frequency.pause_reply_kinds:
        return Verdict(
            "stop_after_reply",
            "allow",
            f"the reply on {iso(inp.replied_at)} was an {kind.replace('_', '-')}; "
            "it pauses the sequence, it does not end it",
        )
    return Verdict(
        "stop_after_reply",
        "deny",
        f"the prospect replied on {iso(inp.replied_at)}; a human takes it from here",
    )


@applies_to(TOUCH_ACTIONS)
def reply_cooldown(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """No automated touch for N business days after any reply, auto-replies included."""
    if inp.proposal.action not in TOUCH_ACTIONS or inp.replied_at is None:
        return None
    n = cfg.frequency.reply_cooldown_business_days
    tz = prospect_zone(inp) or UTC_ZONE
    w = window_for(inp, cfg)
    reply_day = local_date(inp.replied_at, tz)
    passed = business_days_between(reply_day, local_date(inp.now, tz), w.days, w.holidays)
    if passed >= n:
        return Verdict("reply_cooldown", "allow", f"last reply {passed} business day(s) ago (cool-down {n})")
    resume = add_business_days(reply_day, n, w.days, w.holidays)
    until = next_allowed(inp, cfg, max(local_instant(resume, w.start, tz), to_utc(inp.now)))
    return Verdict(
        "reply_cooldown",
        "defer",
        f"the prospect replied on {reply_day.isoformat()} (local); touches pause for "
        f"{n} business day(s), until {local_text(until, tz)}",
        until=iso(until),
    )


@applies_to(TOUCH_ACTIONS)
def one_touch_per_day(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """At least N business days (default 1) between touches, counted in the prospect's zone."""
    if inp.proposal.action not in TOUCH_ACTIONS or not inp.touches:
        return None
    tz = prospect_zone(inp) or UTC_ZONE
    last = max(t.at for t in inp.touches)
    gap = cfg.frequency.min_business_days_between_touches
    w = window_for(inp, cfg)
    local_last = local_date(last, tz)
    days = business_days_between(local_last, local_date(inp.now, tz), w.days, w.holidays)
    if days >= gap:
        return Verdict("one_touch_per_day", "allow", f"last touch {days} business day(s) ago (minimum {gap})")
    next_day = add_business_days(local_last, gap, w.days, w.holidays)
    until = next_allowed(inp, cfg, max(local_instant(next_day, w.start, tz), to_utc(inp.now)))
    return Verdict(
        "one_touch_per_day",
        "defer",
        f"already touched on {local_last.isoformat()} (local); the next touch is "
        f"allowed {gap} business day(s) later, from {local_text(until, tz)}",
        until=iso(until),
    )


@applies_to(TOUCH_ACTIONS)
def max_touches_per_sequence(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """A prospect receives at most N touches across all channels; then the sequence ends."""
    if inp.proposal.action not in TOUCH_ACTIONS:
        return None
    cap, done = cfg.frequency.max_touches_per_sequence, len(inp.touches)
    if done >= cap:
        return Verdict(
            "max_touches_per_sequence",
            "deny",
            f"the prospect already received {done} touches (maximum {cap}); the sequence is finished",
        )
    return Verdict("max_touches_per_sequence", "allow", f"touch {done + 1} of at most {cap}")


@applies_to(TOUCH_ACTIONS)
def account_weekly_contacts(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """At most N people at one account are touched per calendar week (sender's zone)."""
    if inp.proposal.action not in TOUCH_ACTIONS:
        return None
    stz = sender_zone(inp)
    cap = cfg.frequency.max_contacts_per_account_week
    touched = int(inp.counters.account_contacts_touched_week)
    start = week_start(inp.now, stz)
    if any(to_utc(t.at) >= start for t in inp.touches):
        return Verdict(
            "account_weekly_contacts",
            "allow",
            "this prospect was already touched this week and is counted already",
        )
    if touched >= cap:
        until = next_allowed(inp, cfg, next_week_start(inp.now, stz))
        return Verdict(
            "account_weekly_contacts",
            "defer",
            f"{touched} people at this account were already touched this week "
            f"(maximum {cap}); next week starts {local_text(until, stz)}",
            until=iso(until),
        )
    return Verdict(
        "account_weekly_contacts",
        "allow",
        f"{touched} of at most {cap} people at this account touched this week",
    )


@applies_to(TOUCH_ACTIONS)
def account_pause(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """When anyone at the account replied, everyone else there is paused for N days."""
    if inp.proposal.action not in TOUCH_ACTIONS or inp.account_replied_at is None:
        return None
    if inp.replied_at is not None and inp.replied_at == inp.account_replied_at:
        return None
    resume = to_utc(inp.account_replied_at) + timedelta(days=cfg.frequency.account_pause_days)
    if to_utc(inp.now) >= resume:
        return Verdict(
            "account_pause",
            "allow",
            f"the account reply on {iso(inp.account_replied_at)} is older than "
            f"{cfg.frequency.account_pause_days} days",
        )
    until = next_allowed(inp, cfg, resume)
    return Verdict(
        "account_pause",
        "defer",
        f"someone at this account replied on {iso(inp.account_replied_at)}; the "
        f"account is paused for {cfg.frequency.account_pause_days} days",
        until=iso(until),
    )
