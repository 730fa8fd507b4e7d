"""A limiter for requests, input tokens and output tokens per minute (a sliding 60-second
window each, with requests paced evenly at 60/RPM seconds apart so a burst never meets a
token bucket the API refills continuously), that also honours what the API says: `retry-after` on a 429 and the
`anthropic-ratelimit-*-remaining` / `-reset` headers on every answer."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

WINDOW_S = 60.0


class RateLimiter:
    def __init__(
        self,
        *,
        requests_per_minute: int,
        input_tokens_per_minute: int,
        output_tokens_per_minute: int,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.limits = (requests_per_minute, input_tokens_per_minute, output_tokens_per_minute)
        self.clock, self.sleep, self.wall = clock, sleep, wall
        self._events: deque[tuple[float, int, int]] = deque()
        self._used = [0, 0, 0]
        self._blocked_until = 0.0
        self._spacing = WINDOW_S / requests_per_minute
        self._last_start = float("-inf")
        self._lock = threading.Lock()
        self.waited_s = 0.0

    def _expire(self, now: float) -> None:
        while self._events and now - self._events[0][0] >= WINDOW_S:
            _, tin, tout = self._events.popleft()
            self._used[0] -= 1
            self._used[1] -= tin
            self._used[2] -= tout

    def _wait_needed(self, now: float, tin: int, tout: int) -> float:
        if now < self._blocked_until:
            return self._blocked_until - now
        if now < self._last_start + self._spacing:
            return self._last_start + self._spacing - now
        want = (1, min(tin, self.limits[1]), min(tout, self.limits[2]))
        if all(self._used[i] + want[i] <= self.limits[i] for i in range(3)) or not self._events:
            return 0.0
        return max(0.001, WINDOW_S - (now - self._events[0][0]))

    def acquire(self, input_tokens: int, output_tokens: int) -> None:
        """Block until one request of this size fits into every window, then count it."""
        while True:
            with self._lock:
                now = self.clock()
                self._expire(now)
                wait = self._wait_needed(now, input_tokens, output_tokens)
                if wait <= 0:
                    self._events.append((now, input_tokens, output_tokens))
                    self._last_start = now
                    self._used[0] += 1
                    self._used[1] += input_tokens
                    self._used[2] += output_tokens
                    return
            self.waited_s += wait
            self.sleep(wait)

    def block_for(self, seconds: float) -> None:
        """No request goes out for `seconds` (a 429's retry-after)."""
        with self._lock:
            self._blocked_until = max(self._blocked_until, self.clock() + max(0.0, seconds))

    def observe(self, headers: Mapping[str, str]) -> None:
        """Pause until the reset time of any limit the API reports as exhausted."""
        for kind in ("requests", "input-tokens", "output-tokens", "tokens"):
            remaining = headers.get(f"anthropic-ratelimit-{kind}-remaining")
            reset = headers.get(f"anthropic-ratelimit-{kind}-reset")
            if remaining is None or reset is None or remaining.strip() != "0":
                continue
            try:
                at = datetime.fromisoformat(reset.replace("Z", "+00:00"))
            except ValueError:
                continue
            self.block_for((at - self.wall()).total_seconds())
