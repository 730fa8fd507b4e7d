"""Retries with backoff and a circuit breaker around any Channel.

At most once per attempt, never silently twice: a ``Transient`` failure (nothing reached
the provider, or it refused before acting: connection refused, 429) is retried; an
``OutcomeUnknown`` (the request left and no answer came back: timeout, reset, 5xx, SMTP
drop after DATA) is retried only when the channel may repeat this message
(``repeatable``: the provider deduplicates by our key, which every retry carries);
otherwise it goes back at once to the outbox, which marks the row ``unknown``.
Every call is kept in ``attempts`` (on the result and on the raised error) so the
decision log shows each attempt and its outcome.

Only ``Transient`` is retried; every other ProviderError (bad key, invalid input,
bounced address, quota) is re-raised at once. A provider's Retry-After is honoured
when it fits within ``RetryPolicy.max_delay``; a longer one ends the retries and the
Transient (still carrying ``retry_after``) goes back to the caller to reschedule.

The breaker is kept per provider. It counts consecutive Transient failures; at
``failure_threshold`` it opens and calls fail fast with ``CircuitOpen`` (a Transient)
without touching the provider. After ``reset_after_s`` one trial call is let through
(half-open): success closes the breaker, failure opens it again.

Sleep, clock and randomness are injected, so tests never wait.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import structlog

from core.errors import OutcomeUnknown, ProviderError, Transient
from tools.channels.base import Channel, DeliveryResult, OutboundMessage, repeatable

log = structlog.get_logger(__name__)

BreakerState = Literal["closed", "open", "half_open"]


class CircuitOpen(Transient):
    """The provider failed repeatedly; calls are refused until the breaker half-opens."""

    next_step = "The provider is failing repeatedly; sends resume automatically after the cool-down."


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to try and how long to wait between tries.

    The n-th retry waits ``base_delay * 2**(n-1)`` capped at ``max_delay``, increased
    by up to ``jitter`` (a fraction) of itself, or the provider's Retry-After when it
    is longer.
    """

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: float = 0.1
    random: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or not 0 <= self.jitter <= 1:
            raise ValueError("delays must be >= 0 and jitter within [0, 1]")

    def backoff(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based), without Retry-After."""
        delay = min(self.max_delay, self.base_delay * 2 ** (retry - 1))
        return min(self.max_delay, delay * (1 + self.jitter * self.random()))

    def delay(self, retry: int, retry_after: float | None) -> float | None:
        """Seconds to wait before ``retry``, or None when Retry-After exceeds max_delay."""
        if retry_after is not None and retry_after > self.max_delay:
            return None
        return max(self.backoff(retry), retry_after or 0.0)


@dataclass
class CircuitBreaker:
    """closed -> open after ``failure_threshold`` consecutive failures -> half-open after
    ``reset_after_s`` -> closed on one success (or open again on failure)."""

    failure_threshold: int = 5
    reset_after_s: float = 60.0
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    provider: str = ""
    _failures: int = field(default=0, init=False)
    _opened_at: float | None = field(default=None, init=False)
    _trial_running: bool = field(default=False, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def state(self) -> BreakerState:
        with self._lock:
            return self._state()

    def _state(self) -> BreakerState:
        if self._opened_at is None:
            return "closed"
        if self.clock() - self._opened_at >= self.reset_after_s:
            return "half_open"
        return "open"

    def before_call(self) -> None:
        """Raise CircuitOpen unless a call may go to the provider now."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return
            if state == "half_open" and not self._trial_running:
                self._trial_running = True
                return
        raise self.open_error()

    def open_error(self) -> CircuitOpen:
        """The error for a refused call, with the seconds left until the half-open trial."""
        opened_at = self._opened_at
        remaining = 0.0 if opened_at is None else max(0.0, opened_at + self.reset_after_s - self.clock())
        return CircuitOpen("circuit open", provider=self.provider, retry_after=remaining)

    def record_success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_running = False

    def abandon_trial(self) -> None:
        """Free the half-open slot after a call that failed on our side."""
        with self._lock:
            self._trial_running = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._trial_running or self._failures >= self.failure_threshold:
                self._opened_at = self.clock()
            self._trial_running = False


def _attempt_record(attempt: int, outcome: str, exc: ProviderError | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"attempt": attempt, "outcome": outcome}
    if exc is not None:
        entry.update(error_class=exc.error_class, error=exc.message, status=exc.status)
    return entry


def deliver_with_retry(
    channel: Channel,
    message: OutboundMessage,
    *,
    policy: RetryPolicy,
    sleep: Callable[[float], None],
    breaker: CircuitBreaker | None = None,
) -> DeliveryResult:
    """Deliver, retrying Transient failures per ``policy`` and unknown outcomes only on a
    channel that may repeat the message by key; re-raise all others at once.

    The returned result (and any raised ProviderError, as ``.attempts``) lists every call:
    ``{"attempt", "outcome": "delivered" | "transient" | "unknown" | error class, ...}``."""
    attempt = 0
    attempts: list[dict[str, Any]] = []
    may_repeat = repeatable(channel, message)
    while True:
        attempt += 1
        try:
            if breaker is not None:
                breaker.before_call()
            result = channel.deliver(message)
        except CircuitOpen as exc:
            attempts.append(_attempt_record(attempt, "circuit_open", exc))
            raise _with_attempts(exc, attempts) from None
        except Transient as exc:
            unknown = isinstance(exc, OutcomeUnknown)
            attempts.append(_attempt_record(attempt, "unknown" if unknown else "transient", exc))
            if breaker is not None:
                breaker.record_failure()
            if unknown and not may_repeat:
                log.warning(
                    "channel.outcome_unknown",
                    provider=channel.name,
                    attempt=attempt,
                    status=exc.status,
                    key=message.idempotency_key,
                )
                _with_attempts(exc, attempts)
                raise
            if breaker is not None and breaker.state != "closed":
                raise _with_attempts(breaker.open_error(), attempts) from exc
            wait = policy.delay(attempt, exc.retry_after) if attempt < policy.max_attempts else None
            log.warning(
                "channel.transient",
                provider=channel.name,
                attempt=attempt,
                status=exc.status,
                retry_in=wait,
                unknown=unknown,
                key=message.idempotency_key,
            )
            if wait is None:
                _with_attempts(exc, attempts)
                raise
            sleep(wait)
            continue
        except ProviderError as exc:
            attempts.append(_attempt_record(attempt, exc.error_class, exc))
            if breaker is not None:
                breaker.record_success()  # the provider answered; this is not an outage
            _with_attempts(exc, attempts)
            raise
        except BaseException:
            if breaker is not None:
                breaker.abandon_trial()  # our own failure says nothing about the provider
            raise
        if breaker is not None:
            breaker.record_success()
        attempts.append(_attempt_record(attempt, "delivered"))
        return replace(result, attempts=tuple(attempts))


def _with_attempts(exc: ProviderError, attempts: list[dict[str, Any]]) -> ProviderError:
    exc.attempts = tuple(attempts)  # type: ignore[attr-defined]
    return exc


@dataclass
class ResilientChannel:
    """A Channel that wraps another with ``deliver_with_retry`` (same name, same lookup)."""

    inner: Channel
    policy: RetryPolicy
    sleep: Callable[[float], None]
    breaker: CircuitBreaker | None = None

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def idempotent_by_key(self) -> bool:
        return bool(getattr(self.inner, "idempotent_by_key", False))

    def deliver(self, message: OutboundMessage) -> DeliveryResult:
        return deliver_with_retry(
            self.inner, message, policy=self.policy, sleep=self.sleep, breaker=self.breaker
        )

    def repeatable(self, message: OutboundMessage) -> bool:
        return repeatable(self.inner, message)

    def lookup(self, idempotency_key: str) -> DeliveryResult | None:
        return self.inner.lookup(idempotency_key)
