"""Response classification, Retry-After parsing and secret hygiene of the HTTP helper."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from core.errors import (
    InvalidInput,
    NotFound,
    OutcomeUnknown,
    ProviderConfigError,
    Transient,
)
from tools.channels.http import HttpCall, classify_response, parse_retry_after

NOW = datetime(2025, 3, 4, 12, 0, 0, tzinfo=UTC)
SECRET = "sk-live-abcdef123456"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7", 7.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("Tue, 04 Mar 2025 12:00:30 GMT", 30.0),
        ("Tue, 04 Mar 2025 11:59:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_parses_seconds_and_http_dates(value, expected):
    """Retry-After is read as delta-seconds or an HTTP-date relative to now; junk is None."""
    assert parse_retry_after(value, now=NOW) == expected


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (429, Transient),
        (500, OutcomeUnknown),
        (502, OutcomeUnknown),
        (503, OutcomeUnknown),
        (401, ProviderConfigError),
        (403, ProviderConfigError),
        (400, InvalidInput),
        (422, InvalidInput),
        (409, InvalidInput),
        (404, NotFound),
    ],
)
def test_status_codes_map_to_the_error_tree(status, error_type):
    """Each error status becomes the documented ProviderError subclass with its status."""
    error = classify_response(
        httpx.Response(status, json={"message": "nope"}), provider="acme", now=lambda: NOW
    )
    assert type(error) is error_type
    assert error.status == status
    assert error.provider == "acme"


def test_success_is_not_an_error():
    """A 2xx response classifies as no error."""
    assert classify_response(httpx.Response(201, json={}), provider="acme") is None


def test_429_carries_retry_after_from_an_http_date():
    """A rate limit with an HTTP-date Retry-After becomes Transient with seconds to wait."""
    response = httpx.Response(429, headers={"Retry-After": "Tue, 04 Mar 2025 12:01:00 GMT"})
    error = classify_response(response, provider="acme", now=lambda: NOW)
    assert isinstance(error, Transient)
    assert error.retry_after == 60.0


def test_error_text_never_contains_the_secret():
    """A vendor echoing the key back in its error body has it redacted."""
    response = httpx.Response(401, json={"message": f"key {SECRET} is not valid"})
    error = classify_response(response, provider="acme", secrets=(SECRET,))
    assert SECRET not in str(error)
    assert "[redacted]" in str(error)


def test_transport_error_text_never_contains_the_url():
    """A connection failure is described by its type, not a message that may hold the URL."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    with httpx.Client(transport=httpx.MockTransport(refuse)) as client:
        call = HttpCall(client=client, provider="acme", base_url="http://127.0.0.1:9", secrets=(SECRET,))
        with pytest.raises(Transient) as caught:
            call.request("POST", "/leads", params={"api_key": SECRET})
    assert SECRET not in str(caught.value)
    assert "ConnectError" in str(caught.value)
    assert caught.value.__cause__ is None


def test_vendor_classifier_runs_before_the_generic_rules():
    """An adapter's classifier can turn a 2xx body that reports failure into an error."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"success": False})

    def classify(response, body):
        return InvalidInput("refused", provider="acme") if body == {"success": False} else None

    with httpx.Client(transport=httpx.MockTransport(answer)) as client:
        call = HttpCall(client=client, provider="acme", base_url="http://127.0.0.1:9")
        with pytest.raises(InvalidInput):
            call.request("POST", "/send", classify=classify)


@pytest.mark.parametrize(
    ("failure", "error_type"),
    [
        (httpx.ConnectError, Transient),
        (httpx.ConnectTimeout, Transient),
        (httpx.PoolTimeout, Transient),
        (httpx.ReadTimeout, OutcomeUnknown),
        (httpx.ReadError, OutcomeUnknown),
        (httpx.RemoteProtocolError, OutcomeUnknown),
        (httpx.WriteError, OutcomeUnknown),
    ],
)
def test_transport_failures_are_split_by_whether_the_request_left(failure, error_type):
    """Failures before the request left are plain Transient; after it left the outcome is unknown."""

    def fail(request: httpx.Request) -> httpx.Response:
        raise failure("boom", request=request)

    with httpx.Client(transport=httpx.MockTransport(fail)) as client:
        call = HttpCall(client=client, provider="acme", base_url="http://127.0.0.1:9")
        with pytest.raises(Transient) as caught:
            call.request("POST", "/send")
    assert type(caught.value) is error_type
