"""The channel contract: one Protocol every sender implements (file outbox, SMTP,
sequencer API, HeyReach-style LinkedIn API, Sendoso-style direct mail API).

Adapters raise the typed errors of `core.errors` (Transient, PermanentFailure,
ProviderConfigError, InvalidInput, QuotaExceeded, NotFound) so the outbox can classify
failures; they never decide policy. The idempotency key is passed to providers that
accept one; `idempotent_by_key` says whether calling `deliver` again with the same key
after a crash or an unknown outcome is harmless (the outbox reconciles a crashed or
unknown send accordingly; see ``repeatable``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class Sender:
    name: str
    email: str
    company: str
    postal_address: str
    unsubscribe_url: str
    title: str = ""
    unsubscribe_mailto: str = ""
    linkedin_account_id: str = ""


@dataclass(frozen=True)
class Recipient:
    """Always taken from the prospect on record, never from model or web text."""

    prospect_id: str
    name: str
    email: str = ""
    linkedin_url: str = ""
    company: str = ""
    title: str = ""
    postal_address: str = ""


@dataclass(frozen=True)
class OutboundMessage:
    idempotency_key: str
    channel: str  # "email" | "linkedin" | "direct_mail"
    kind: str  # e.g. "email", "linkedin_connect", "linkedin_message", "direct_mail"
    sender: Sender
    recipient: Recipient
    subject: str
    body: str  # plain text, already containing the unsubscribe line and postal address
    step_id: str
    html: str | None = None
    thread: Mapping[str, str] = field(default_factory=dict)  # in_reply_to, references
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DeliveryResult:
    provider: str
    provider_message_id: str
    already_delivered: bool = False  # the provider/outbox already had this key
    cost_usd: float = 0.0
    detail: Mapping[str, Any] = field(default_factory=dict)
    # Every provider call made for this delivery and its outcome (set by the retry loop).
    attempts: tuple[Mapping[str, Any], ...] = ()


@runtime_checkable
class Channel(Protocol):
    @property
    def name(self) -> str:
        """The provider name, e.g. "file", "smtp", "instantly", "heyreach", "sendoso"."""
        ...

    @property
    def idempotent_by_key(self) -> bool:
        """True when delivering the same idempotency key twice is known to reach the
        recipient at most once (the provider or outbox deduplicates by key, lead or
        campaign). The outbox re-delivers a row left in "sending" by a crash only when this
        is True; otherwise it does not send again and asks the operator to check."""
        ...

    def deliver(self, message: OutboundMessage) -> DeliveryResult:
        """Send once. Raise a core.errors.ProviderError subclass on failure."""
        ...

    def lookup(self, idempotency_key: str) -> DeliveryResult | None:
        """Whether a message with this key was already delivered (for reconciling a
        crash between 'sending' and 'sent'); None when unknown or not delivered."""
        ...


def repeatable(channel: Channel, message: OutboundMessage) -> bool:
    """Whether calling ``channel.deliver(message)`` again, with the same key, after an
    unknown outcome reaches the recipient at most once. A channel may decide per message
    (a ``repeatable(message)`` method: e.g. re-adding a lead to a campaign is harmless,
    a direct message is not); otherwise its ``idempotent_by_key`` decides."""
    decide = getattr(channel, "repeatable", None)
    if callable(decide):
        return bool(decide(message))
    return bool(getattr(channel, "idempotent_by_key", False))
