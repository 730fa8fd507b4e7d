"""The rules the per-prospect loop was first built on (suppression, stop after a reply,
one touch per business day, the local sending window), importable from their original
place. They live in their family modules now."""

from __future__ import annotations

from policies.rules.common import ACTIVE_ACTIONS
from policies.rules.frequency import one_touch_per_day, stop_after_reply
from policies.rules.suppression import suppression
from policies.rules.timing import send_window

__all__ = ["ACTIVE_ACTIONS", "one_touch_per_day", "send_window", "stop_after_reply", "suppression"]
