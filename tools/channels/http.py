"""One HTTP call helper shared by the API adapters, so every provider's failures are
classified the same way:

    connect error / connect or pool timeout (nothing left us) -> Transient
    read timeout, reset, dropped connection (the request left) -> OutcomeUnknown
    429 (Retry-After in seconds or as an HTTP-date) -> Transient(retry_after=...)
    5xx (the request reached the server, which may have acted) -> OutcomeUnknown
    401 / 403 -> ProviderConfigError
    400 / 422 -> InvalidInput
    404 -> NotFound
    other 4xx -> InvalidInput

Transient means the provider did not act and the call may be repeated; OutcomeUnknown
(a Transient) means it may have acted, so only a provider that deduplicates by our key
may be called again (see ``tools.channels.resilience``).

An adapter may pass ``classify`` to recognise vendor-specific failures first (an
invalid profile, insufficient funds). Secrets given in ``secrets`` are removed from
every text that reaches an exception, and transport errors are described by their
type only, because their text can carry the request URL (query-string keys).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from core.errors import (
    InvalidInput,
    NotFound,
    OutcomeUnknown,
    ProviderConfigError,
    ProviderError,
    Transient,
)

REDACTED = "[redacted]"
_DETAIL_LIMIT = 200
_DETAIL_KEYS = ("message", "error", "errorMessage", "error_message", "detail", "title")

# Failures raised before any byte of the request reached the provider: safe to repeat.
BEFORE_SEND: tuple[type[Exception], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
)

Classifier = Callable[[httpx.Response, Any], ProviderError | None]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every non-empty secret in ``text`` with a fixed marker."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def response_json(response: httpx.Response) -> Any:
    """The decoded JSON body, or None when the body is empty or not JSON."""
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def error_detail(response: httpx.Response, secrets: Iterable[str] = ()) -> str:
    """A short, redacted description of an error body (the vendor's message field)."""
    body = response_json(response)
    text = ""
    if isinstance(body, Mapping):
        for key in _DETAIL_KEYS:
            if body.get(key):
                text = str(body[key])
                break
    elif isinstance(body, str):
        text = body
    if not text and not isinstance(body, (Mapping, list)):
        text = response.text
    return redact(" ".join(text.split())[:_DETAIL_LIMIT], secrets)


def classify_response(
    response: httpx.Response,
    *,
    provider: str,
    secrets: Iterable[str] = (),
    now: Callable[[], datetime] = _utcnow,
) -> ProviderError | None:
    """The error a response stands for, or None for a 2xx/3xx success."""
    status = response.status_code
    if status < 400:
        return None
    detail = error_detail(response, secrets)
    text = f"HTTP {status}" + (f": {detail}" if detail else "")
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now=now())
        return Transient(f"rate limited ({text})", provider=provider, status=status, retry_after=retry_after)
    if status >= 500:
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now=now())
        return OutcomeUnknown(text, provider=provider, status=status, retry_after=retry_after)
    if status in (401, 403):
        return ProviderConfigError(f"not authorised ({text})", provider=provider, status=status)
    if status == 404:
        return NotFound(text, provider=provider, status=status)
    return InvalidInput(text, provider=provider, status=status)


@dataclass(frozen=True)
class HttpCall:
    """The settings every request of one adapter shares."""

    client: httpx.Client
    provider: str
    base_url: str
    timeout_s: float = 30.0
    secrets: tuple[str, ...] = ()
    now: Callable[[], datetime] = _utcnow

    def url(self, path: str) -> str:
        return f"{self.base_url.rstrip('/')}/{path.lstrip('/')}"

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        classify: Classifier | None = None,
    ) -> Any:
        """Send one request and return its decoded JSON body; raise a ProviderError.

        ``classify(response, body)`` runs before the generic rules and may return a
        more specific error (it is also called for 2xx bodies that report failure).
        """
        try:
            response = self.client.request(
                method,
                self.url(path),
                json=json,
                params=params,
                headers=dict(headers or {}),
                timeout=self.timeout_s,
            )
        except BEFORE_SEND as exc:
            raise Transient(f"connection failed ({type(exc).__name__})", provider=self.provider) from None
        except httpx.TimeoutException as exc:
            raise OutcomeUnknown(
                f"no answer within {self.timeout_s:g}s after sending ({type(exc).__name__})",
                provider=self.provider,
            ) from None
        except httpx.TransportError as exc:
            raise OutcomeUnknown(
                f"connection lost after sending ({type(exc).__name__})", provider=self.provider
            ) from None
        body = response_json(response)
        if classify is not None:
            specific = classify(response, body)
            if specific is not None:
                raise specific
        error = classify_response(response, provider=self.provider, secrets=self.secrets, now=self.now)
        if error is not None:
            raise error
        return body
