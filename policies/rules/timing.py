"""Timing: messages go out inside the recipient's local sending window (weekdays, hours,
the public holidays of the recipient's country and configured no-send days), computed with the tz database so DST changes are
handled. An unknown zone is never guessed: the send is held or sent to a human."""

from __future__ import annotations

from datetime import timedelta

from core.timeutil import iso, to_utc, zone_country
from policies.config import PolicyConfig
from policies.rules.common import (
    ConfigMemo,
    country,
    local_date,
    local_text,
    prospect_zone,
    window_for,
    windowed,
)
from policies.types import PolicyInput, Verdict

# The verdict of a windowed send is a pure function of the config, the prospect's zone
# name, its country and the instant (a run checks many prospects at one instant).
_VERDICTS = ConfigMemo()


def send_window(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """Sends go out inside the recipient's local window; an unknown zone is never guessed."""
    if not windowed(inp, cfg):
        return None
    p = inp.prospect
    try:
        key = (p.timezone, p.country_code, inp.now)
        hash(key)
    except TypeError:  # an unhashable zone value: not memoised
        return _send_window(inp, cfg)
    return _VERDICTS.get(cfg, key, lambda: _send_window(inp, cfg))


def _send_window(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    tz = prospect_zone(inp)
    if tz is None:
        name = inp.prospect.timezone or "missing"
        if cfg.unknown_timezone == "review":
            return Verdict(
                "send_window", "review", f"time zone {name!r} is unknown; a human must confirm the send time"
            )
        hours = cfg.window.unknown_timezone_recheck_hours
        return Verdict(
            "send_window",
            "defer",
            f"time zone {name!r} is unknown; the send is held and checked again in "
            f"{hours} hours (set the prospect's timezone to release it)",
            until=iso(to_utc(inp.now) + timedelta(hours=hours)),
        )
    window = window_for(inp, cfg)
    if window.contains(inp.now, tz):
        return Verdict("send_window", "allow", f"inside the local sending window ({local_text(inp.now, tz)})")
    nxt = window.next_open(inp.now, tz)
    holiday = cfg.window.holiday_reason(country(inp) or zone_country(tz.key), local_date(inp.now, tz))
    why = f"{local_text(inp.now, tz)} is outside the sending window" + (f": {holiday}" if holiday else "")
    return Verdict("send_window", "defer", f"{why}; next opening {local_text(nxt, tz)}", until=iso(nxt))
