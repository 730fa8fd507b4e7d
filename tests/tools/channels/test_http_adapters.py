"""Failure handling every HTTP adapter shares, each run against its local fake vendor:
retry on 429 with Retry-After, exhaustion on 5xx, timeouts, bad keys, the breaker."""

from __future__ import annotations

import pytest

from core.errors import OutcomeUnknown, ProviderConfigError, Transient
from tests.fakes.vendor_api import Scripted
from tests.tools.channels.factories import (
    KEY,
    KIND_FOR_VENDOR,
    SECRET,
    make_adapter,
    make_message,
)
from tools.channels.resilience import (
    CircuitBreaker,
    CircuitOpen,
    RetryPolicy,
    deliver_with_retry,
)

HTTP_VENDORS = ("instantly", "smartlead", "heyreach", "sendoso")
POLICY = RetryPolicy(max_attempts=4, base_delay=0.5, max_delay=30, jitter=0.0)


def _key_sent(vendor: str, request) -> str:
    """Where each vendor's request carries our idempotency key besides the header."""
    body = request.body
    if vendor == "instantly":
        return body["custom_variables"]["idempotency_key"]
    if vendor == "smartlead":
        return body["lead_list"][0]["custom_fields"]["idempotency_key"]
    if vendor == "heyreach":
        fields = body["accountLeadPairs"][0]["lead"]["customUserFields"]
        return {f["name"]: f["value"] for f in fields}["idempotency_key"]
    return request.headers["idempotency-key"]


@pytest.fixture(params=HTTP_VENDORS)
def setup(request, vendor_api, http_client):
    vendor = request.param
    api = vendor_api(vendor)
    return vendor, api, make_adapter(vendor, api, http_client)


def test_success_sends_the_idempotency_key(setup):
    """A delivery reaches the vendor once, with the key as header and in the payload."""
    vendor, api, channel = setup
    result = channel.deliver(make_message(KIND_FOR_VENDOR[vendor]))
    assert result.provider == vendor
    assert result.provider_message_id
    [request] = api.requests
    assert request.method == "POST"
    assert request.headers["idempotency-key"] == KEY
    assert _key_sent(vendor, request) == KEY


def test_rate_limit_is_retried_after_the_given_wait(setup, sleep):
    """A 429 with Retry-After: 3 is retried once the injected sleep saw 3 seconds."""
    vendor, api, channel = setup
    api.script(Scripted(429, {"message": "Too Many Requests"}, headers={"Retry-After": "3"}))
    result = deliver_with_retry(channel, make_message(KIND_FOR_VENDOR[vendor]), policy=POLICY, sleep=sleep)
    assert result.provider == vendor
    assert sleep.calls == [3.0]
    assert len(api.requests) == 2


def test_server_errors_are_retried_only_where_a_repeat_is_safe(setup, sleep):
    """Repeated 503s (the outcome is unknown) are retried max_attempts times, each with the
    same key, on a provider that deduplicates by key; Sendoso, which does not, is called
    once and the unknown outcome goes back to the caller with its one attempt."""
    vendor, api, channel = setup
    api.script(*[Scripted(503, {"message": "unavailable"})] * 4)
    with pytest.raises(OutcomeUnknown) as caught:
        deliver_with_retry(channel, make_message(KIND_FOR_VENDOR[vendor]), policy=POLICY, sleep=sleep)
    assert caught.value.status == 503
    if vendor == "sendoso":
        assert len(api.requests) == 1 and sleep.calls == []
        assert [a["outcome"] for a in caught.value.attempts] == ["unknown"]
    else:
        assert len(api.requests) == 4
        assert {r.headers["idempotency-key"] for r in api.requests} == {KEY}
        assert sleep.calls == [0.5, 1.0, 2.0]
        assert [a["outcome"] for a in caught.value.attempts] == ["unknown"] * 4


@pytest.mark.parametrize("vendor", HTTP_VENDORS)
def test_timeout_is_transient_for_every_vendor(vendor, vendor_api, http_client):
    """Every adapter turns a read timeout into Transient without a status."""
    api = vendor_api(vendor)
    channel = make_adapter(vendor, api, http_client, timeout_s=0.1)
    api.script(Scripted(200, {}, delay_s=10))
    with pytest.raises(Transient) as caught:
        channel.deliver(make_message(KIND_FOR_VENDOR[vendor]))
    assert caught.value.status is None


@pytest.mark.parametrize("vendor", HTTP_VENDORS)
def test_wrong_key_is_a_configuration_error_and_not_retried(vendor, vendor_api, http_client, sleep):
    """A 401 from a wrong key is ProviderConfigError after one call, without the key."""
    api = vendor_api(vendor, secret="the-right-key")
    channel = make_adapter(vendor, api, http_client, secret=SECRET)
    with pytest.raises(ProviderConfigError) as caught:
        deliver_with_retry(channel, make_message(KIND_FOR_VENDOR[vendor]), policy=POLICY, sleep=sleep)
    assert caught.value.status == 401
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(channel)
    assert len(api.requests) == 1 and sleep.calls == []


def test_breaker_opens_then_half_opens(setup, sleep, clock):
    """After 3 failing calls the breaker stops calling the vendor; after the reset one
    trial goes through and, succeeding, closes it."""
    vendor, api, channel = setup
    breaker = CircuitBreaker(failure_threshold=3, reset_after_s=60, clock=clock, provider=vendor)
    once = RetryPolicy(max_attempts=1, jitter=0.0)
    message = make_message(KIND_FOR_VENDOR[vendor])
    api.script(*[Scripted(502, {"message": "bad gateway"})] * 3)
    # An unknown outcome on Sendoso goes back as such (the outbox marks the row "unknown").
    third = OutcomeUnknown if vendor == "sendoso" else CircuitOpen
    for expected in (Transient, Transient, third):
        with pytest.raises(expected):
            deliver_with_retry(channel, message, policy=once, sleep=sleep, breaker=breaker)
    assert len(api.requests) == 3
    with pytest.raises(CircuitOpen):
        deliver_with_retry(channel, message, policy=once, sleep=sleep, breaker=breaker)
    assert len(api.requests) == 3
    clock.advance(60)
    assert breaker.state == "half_open"
    result = deliver_with_retry(channel, message, policy=once, sleep=sleep, breaker=breaker)
    assert result.provider == vendor
    assert breaker.state == "closed"
    assert len(api.requests) == 4
