"""The rules the per-prospect loop depends on: suppression, stop after a reply, one
touch per prospect per business day, and the local sending window."""

from __future__ import annotations

from datetime import timedelta

from core.timeutil import Window, business_days_between, iso, to_utc, zone
from policies.config import PolicyConfig
from policies.types import TOUCH_ACTIONS, PolicyInput, Verdict

# Actions that spend money or reach the prospect; "wait" and "stop" are always allowed.
ACTIVE_ACTIONS = frozenset({"research", "enrich", "draft", "request_review", "send", "call_task"})


def suppression(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """A suppressed email or domain stops everything, including sequences already running."""
    if inp.proposal.action not in ACTIVE_ACTIONS:
        return None
    if not inp.suppressions:
        return Verdict("suppression", "allow", "not on the suppression list")
    hit = inp.suppressions[0]
    return Verdict("suppression", "deny",
                   f"{hit.match} {hit.value} is suppressed ({hit.reason})")


def stop_after_reply(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """Once the prospect has replied, the automated sequence ends."""
    if inp.proposal.action not in ACTIVE_ACTIONS:
        return None
    if inp.replied_at is not None:
        return Verdict("stop_after_reply", "deny",
                       f"the prospect replied on {iso(inp.replied_at)}; a human takes it from here")
    return Verdict("stop_after_reply", "allow", "no reply yet")


def one_touch_per_day(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """At most one touch per prospect per business day (configurable gap), in their zone."""
    if inp.proposal.action not in TOUCH_ACTIONS or not inp.touches:
        return None
    tz = zone(inp.prospect.get("timezone")) or zone("UTC")
    last = max(t.at for t in inp.touches)
    gap = cfg.frequency.min_business_days_between_touches
    w = cfg.window
    days = business_days_between(to_utc(last).astimezone(tz).date(),
                                 to_utc(inp.now).astimezone(tz).date(), w.days, w.holidays)
    if days >= gap:
        return Verdict("one_touch_per_day", "allow",
                       f"last touch {days} business day(s) ago (minimum {gap})")
    window = Window(days=w.days, start=w.start, end=w.end, holidays=frozenset(w.holidays))
    local_last = to_utc(last).astimezone(tz).date()
    from core.timeutil import add_business_days, local_instant

    next_day = add_business_days(local_last, gap, w.days, w.holidays)
    until = window.next_open(local_instant(next_day, w.start, tz), tz)
    return Verdict("one_touch_per_day", "defer",
                   f"already touched on {local_last.isoformat()} (local); next touch allowed "
                   f"{gap} business day(s) later", until=iso(until))


def send_window(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """Sends go out inside the recipient's local window; an unknown zone is never guessed."""
    if inp.proposal.action not in TOUCH_ACTIONS:
        return None
    tz = zone(inp.prospect.get("timezone"))
    if tz is None:
        outcome = "review" if cfg.unknown_timezone == "review" else "defer"
        name = inp.prospect.get("timezone") or "missing"
        if outcome == "review":
            return Verdict("send_window", "review",
                           f"time zone {name!r} is unknown; a human must confirm the send time")
        return Verdict("send_window", "defer",
                       f"time zone {name!r} is unknown; held and checked again in a day "
                       "(set the prospect's timezone to release it)",
                       until=iso(to_utc(inp.now) + timedelta(days=1)))
    w = cfg.window
    window = Window(days=w.days, start=w.start, end=w.end, holidays=frozenset(w.holidays))
    if window.contains(inp.now, tz):
        return Verdict("send_window", "allow", f"inside the local sending window ({tz.key})")
    nxt = window.next_open(inp.now, tz)
    local = nxt.astimezone(tz)
    return Verdict("send_window", "defer",
                   f"outside the sending window in {tz.key}; next opening "
                   f"{local.strftime('%a %Y-%m-%d %H:%M')} local", until=iso(nxt))
