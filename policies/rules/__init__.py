"""The rule catalogue. DEFAULT_RULES is the ordered list every workspace runs, minus
`policy.disabled_rules`."""

from __future__ import annotations

from policies.rules.core import one_touch_per_day, send_window, stop_after_reply, suppression

DEFAULT_RULES = [
    ("suppression", suppression),
    ("stop_after_reply", stop_after_reply),
    ("one_touch_per_day", one_touch_per_day),
    ("send_window", send_window),
]
