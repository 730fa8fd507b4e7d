"""Named crash points for durability tests: when OUTBOUND_CRASH_AT names a point, the
process dies there at once (os._exit, no cleanup), exactly like a kill -9. Unset in
normal operation, where a crash point costs one environment lookup."""

from __future__ import annotations

import os

ENV = "OUTBOUND_CRASH_AT"


def crash_point(name: str) -> None:
    if os.environ.get(ENV) == name:
        os._exit(137)
