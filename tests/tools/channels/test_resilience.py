"""RetryPolicy, CircuitBreaker and deliver_with_retry with an injected sleep and clock."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from core.errors import (
    InvalidInput,
    OutcomeUnknown,
    PermanentFailure,
    ProviderConfigError,
    ProviderError,
    QuotaExceeded,
    Transient,
)
from tests.tools.channels.factories import make_message
from tools.channels.base import DeliveryResult, OutboundMessage
from tools.channels.resilience import (
    CircuitBreaker,
    CircuitOpen,
    ResilientChannel,
    RetryPolicy,
    deliver_with_retry,
)

NO_JITTER = RetryPolicy(jitter=0.0)


@dataclass
class ScriptedChannel:
    """A channel that raises the scripted errors in order, then succeeds."""

    errors: list[ProviderError]
    name: str = "scripted"
    calls: int = field(default=0)

    def deliver(self, message: OutboundMessage) -> DeliveryResult:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return DeliveryResult(provider=self.name, provider_message_id=f"id-{self.calls}")

    def lookup(self, idempotency_key: str) -> DeliveryResult | None:
        return None


def test_backoff_doubles_and_is_capped():
    """Without jitter the waits are 0.5, 1, 2, ... and never above max_delay."""
    policy = RetryPolicy(base_delay=0.5, max_delay=3.0, jitter=0.0)
    assert [policy.backoff(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_jitter_adds_at_most_its_fraction():
    """Jitter lengthens a wait by up to its fraction, using the injected random source."""
    policy = RetryPolicy(base_delay=1.0, jitter=0.2, random=lambda: 1.0)
    assert policy.backoff(1) == pytest.approx(1.2)


def test_transient_failures_are_retried_until_success(sleep):
    """Two transient failures then a success: three calls and two backoff sleeps."""
    channel = ScriptedChannel([Transient("a"), Transient("b")])
    result = deliver_with_retry(channel, make_message(), policy=NO_JITTER, sleep=sleep)
    assert result.provider_message_id == "id-3"
    assert sleep.calls == [0.5, 1.0]


def test_retry_after_is_honoured_when_longer_than_backoff(sleep):
    """The provider's Retry-After replaces a shorter backoff."""
    channel = ScriptedChannel([Transient("slow down", retry_after=7.0)])
    deliver_with_retry(channel, make_message(), policy=NO_JITTER, sleep=sleep)
    assert sleep.calls == [7.0]


def test_retry_after_beyond_max_delay_is_handed_back(sleep):
    """A Retry-After longer than max_delay stops retrying and keeps the wait on the error."""
    channel = ScriptedChannel([Transient("come back in an hour", retry_after=3600.0)])
    with pytest.raises(Transient) as caught:
        deliver_with_retry(channel, make_message(), policy=NO_JITTER, sleep=sleep)
    assert caught.value.retry_after == 3600.0
    assert channel.calls == 1 and sleep.calls == []


def test_attempts_are_bounded(sleep):
    """After max_attempts transient failures the last Transient is raised."""
    channel = ScriptedChannel([Transient(str(n)) for n in range(10)])
    with pytest.raises(Transient, match="3"):
        deliver_with_retry(channel, make_message(), policy=NO_JITTER, sleep=sleep)
    assert channel.calls == 4
    assert len(sleep.calls) == 3


@pytest.mark.parametrize(
    "error",
    [ProviderConfigError("key"), InvalidInput("bad"), PermanentFailure("bounced"), QuotaExceeded("funds")],
)
def test_non_transient_errors_are_not_retried(error, sleep):
    """Configuration, input, permanent and quota errors surface after one call."""
    channel = ScriptedChannel([error])
    with pytest.raises(type(error)):
        deliver_with_retry(channel, make_message(), policy=NO_JITTER, sleep=sleep)
    assert channel.calls == 1 and sleep.calls == []


def test_breaker_opens_after_threshold_and_fails_fast(clock):
    """After N consecutive failures the breaker refuses calls without reaching the provider."""
    breaker = CircuitBreaker(failure_threshold=3, reset_after_s=60, clock=clock, provider="p")
    for _ in range(3):
        breaker.before_call()
        breaker.record_failure()
    assert breaker.state == "open"
    clock.advance(10)
    with pytest.raises(CircuitOpen) as caught:
        breaker.before_call()
    assert isinstance(caught.value, Transient)
    assert caught.value.retry_after == 50
    assert "circuit open" in str(caught.value)


def test_breaker_half_opens_for_one_trial(clock):
    """After reset_after_s one trial call is let through; a second one is refused."""
    breaker = CircuitBreaker(failure_threshold=1, reset_after_s=60, clock=clock)
    breaker.record_failure()
    clock.advance(60)
    assert breaker.state == "half_open"
    breaker.before_call()
    with pytest.raises(CircuitOpen):
        breaker.before_call()


def test_failed_trial_reopens_and_successful_trial_closes(clock):
    """A failing half-open trial opens the breaker again; a succeeding one closes it."""
    breaker = CircuitBreaker(failure_threshold=2, reset_after_s=30, clock=clock)
    breaker.record_failure()
    breaker.record_failure()
    clock.advance(30)
    breaker.before_call()
    breaker.record_failure()
    assert breaker.state == "open"
    clock.advance(30)
    breaker.before_call()
    breaker.record_success()
    assert breaker.state == "closed"


def test_success_resets_the_failure_count(clock):
    """Failures must be consecutive to open the breaker."""
    breaker = CircuitBreaker(failure_threshold=2, clock=clock)
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == "closed"


def test_open_circuit_is_not_retried_in_the_loop(clock, sleep):
    """deliver_with_retry raises CircuitOpen at once instead of sleeping through it."""
    breaker = CircuitBreaker(failure_threshold=2, reset_after_s=60, clock=clock)
    channel = ScriptedChannel([Transient("a"), Transient("b"), Transient("c")])
    with pytest.raises(CircuitOpen):
        deliver_with_retry(channel, make_message(), policy=NO_JITTER, sleep=sleep, breaker=breaker)
    assert channel.calls == 2
    assert sleep.calls == [0.5]


def test_provider_answers_that_are_not_outages_do_not_trip_the_breaker(clock, sleep):
    """An invalid-input answer proves the provider is up and resets the failure count."""
    breaker = CircuitBreaker(failure_threshold=2, clock=clock)
    breaker.record_failure()
    with pytest.raises(InvalidInput):
        deliver_with_retry(
            ScriptedChannel([InvalidInput("bad")]),
            make_message(),
            policy=NO_JITTER,
            sleep=sleep,
            breaker=breaker,
        )
    breaker.record_failure()
    assert breaker.state == "closed"


def test_resilient_channel_wraps_deliver_and_keeps_the_name(sleep):
    """ResilientChannel is a Channel that retries and reports the inner provider name."""
    wrapped = ResilientChannel(ScriptedChannel([Transient("x")]), NO_JITTER, sleep)
    assert wrapped.name == "scripted"
    assert wrapped.deliver(make_message()).provider_message_id == "id-2"
    assert wrapped.lookup("k") is None


def test_policy_rejects_nonsense():
    """A policy with no attempts or a jitter above 1 is refused."""
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(jitter=2.0)


def test_a_crash_on_our_side_frees_the_half_open_trial(clock, sleep):
    """A non-provider exception during the trial call does not leave the breaker stuck."""

    class Broken(ScriptedChannel):
        def deliver(self, message):
            raise RuntimeError("bug in our code")

    breaker = CircuitBreaker(failure_threshold=1, reset_after_s=10, clock=clock)
    breaker.record_failure()
    clock.advance(10)
    with pytest.raises(RuntimeError):
        deliver_with_retry(Broken([]), make_message(), policy=NO_JITTER, sleep=sleep, breaker=breaker)
    breaker.before_call()
    assert breaker.state == "half_open"


@dataclass
class RepeatableChannel(ScriptedChannel):
    """A scripted channel that deduplicates by key, so a repeat is harmless."""

    idempotent_by_key: bool = True


def test_an_unknown_outcome_is_not_retried_on_a_provider_that_cannot_repeat(sleep):
    """A timeout after the request left, on a provider without key deduplication, goes back
    after one call with its attempt recorded as unknown."""
    channel = ScriptedChannel([OutcomeUnknown("read timeout")])
    with pytest.raises(OutcomeUnknown) as caught:
        deliver_with_retry(channel, make_message(), policy=NO_JITTER, sleep=sleep)
    assert channel.calls == 1 and sleep.calls == []
    assert [a["outcome"] for a in caught.value.attempts] == ["unknown"]


def test_an_unknown_outcome_is_retried_with_the_key_where_a_repeat_is_safe(sleep):
    """On a provider that deduplicates by key an unknown outcome is retried, and the result
    lists every call with its outcome."""
    channel = RepeatableChannel([OutcomeUnknown("reset"), Transient("refused")])
    result = deliver_with_retry(channel, make_message(), policy=NO_JITTER, sleep=sleep)
    assert channel.calls == 3
    assert [a["outcome"] for a in result.attempts] == ["unknown", "transient", "delivered"]


def test_a_per_message_repeatable_decision_wins_over_the_channel_flag(sleep):
    """A channel's repeatable(message) decides per message (HeyReach: invitations yes,
    messages no) instead of its idempotent_by_key flag."""

    @dataclass
    class PerKind(ScriptedChannel):
        idempotent_by_key: bool = False

        def repeatable(self, message: OutboundMessage) -> bool:
            return message.kind == "linkedin_connect"

    connect = PerKind([OutcomeUnknown("504")])
    deliver_with_retry(connect, make_message("linkedin_connect"), policy=NO_JITTER, sleep=sleep)
    assert connect.calls == 2
    dm = PerKind([OutcomeUnknown("504")])
    with pytest.raises(OutcomeUnknown):
        deliver_with_retry(dm, make_message("linkedin_message"), policy=NO_JITTER, sleep=sleep)
    assert dm.calls == 1


def test_an_unknown_outcome_that_opens_the_breaker_still_reports_unknown(clock, sleep):
    """When the call that trips the breaker had an unknown outcome on a non-repeatable
    provider, the caller learns the outcome is unknown, not that the circuit is open."""
    breaker = CircuitBreaker(failure_threshold=1, clock=clock)
    channel = ScriptedChannel([OutcomeUnknown("502")])
    with pytest.raises(OutcomeUnknown):
        deliver_with_retry(channel, make_message(), policy=NO_JITTER, sleep=sleep, breaker=breaker)
    assert breaker.state == "open"
