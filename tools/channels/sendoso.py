"""Direct mail and gifts through a Sendoso-style API (OAuth2 bearer token).

    POST /api/v3/send {send: {touch_id, name, email, custom_message,
                              confirm_address: true, address_confirmation_via: "email",
                              expire_after_days, via: "single_person_or_company"}}
      -> {success, message, tracking_code}

The recipient confirms their own postal address by email, so no address is sent from
our records. "Insufficient funds" (as an error status or as ``success: false``) is
QuotaExceeded; any other ``success: false`` is InvalidInput. Each send is priced at
the configured ``cost_per_send_usd`` (``DeliveryResult.cost_usd``) so the spend cap
can count it. ``touch_id`` may be overridden per message with
``message.metadata["touch_id"]``. An accepted send without a tracking code is still a
send (its id falls back to ``send:{idempotency_key}``), never retried. The vendor cannot be searched by our key, so
``lookup`` returns None.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

from core.errors import InvalidInput, ProviderError, QuotaExceeded
from tools.channels.base import DeliveryResult, OutboundMessage
from tools.channels.http import HttpCall, error_detail

PROVIDER = "sendoso"
DEFAULT_BASE_URL = "https://app.sendoso.com"
EXPIRE_AFTER_DAYS = range(2, 8)


def _mentions_funds(text: str) -> bool:
    return "insufficient funds" in text.lower() or "insufficient_funds" in text.lower()


@dataclass
class SendosoChannel:
    """The Channel for one Sendoso touch (a gift or mailer template)."""

    access_token: str = field(repr=False)
    touch_id: str
    client: httpx.Client = field(repr=False)
    cost_per_send_usd: float = 0.0
    expire_after_days: int = 5
    base_url: str = DEFAULT_BASE_URL
    timeout_s: float = 30.0
    name: str = PROVIDER
    # No documented deduplication of sends: a repeated call could ship (and pay for) twice.
    idempotent_by_key: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if self.expire_after_days not in EXPIRE_AFTER_DAYS:
            raise ValueError("expire_after_days must be between 2 and 7")
        self._http = HttpCall(
            client=self.client,
            provider=PROVIDER,
            base_url=self.base_url,
            timeout_s=self.timeout_s,
            secrets=(self.access_token,),
        )

    def _classify(self, response: httpx.Response, body: Any) -> ProviderError | None:
        detail = error_detail(response, (self.access_token,))
        if _mentions_funds(detail) or response.status_code == 402:
            return QuotaExceeded(
                f"insufficient funds: {detail}", provider=PROVIDER, status=response.status_code
            )
        if response.is_success and isinstance(body, Mapping) and body.get("success") is False:
            return InvalidInput(f"send refused: {detail}", provider=PROVIDER, status=response.status_code)
        return None

    def send_body(self, message: OutboundMessage) -> dict[str, Any]:
        """The /api/v3/send body for ``message``."""
        recipient = message.recipient
        if not recipient.email:
            raise InvalidInput("the recipient needs an email to confirm their address", provider=PROVIDER)
        return {
            "send": {
                "touch_id": str(message.metadata.get("touch_id") or self.touch_id),
                "name": recipient.name,
                "email": recipient.email,
                "custom_message": message.body,
                "confirm_address": True,
                "address_confirmation_via": "email",
                "expire_after_days": self.expire_after_days,
                "via": "single_person_or_company",
            }
        }

    def deliver(self, message: OutboundMessage) -> DeliveryResult:
        body = self._http.request(
            "POST",
            "/api/v3/send",
            json=self.send_body(message),
            classify=self._classify,
            headers={
                "Authorization": f"Bearer {self.access_token}",
                "Idempotency-Key": message.idempotency_key,
            },
        )
        tracking = str(body.get("tracking_code") or "") if isinstance(body, Mapping) else ""
        return DeliveryResult(
            provider=PROVIDER,
            provider_message_id=tracking or f"send:{message.idempotency_key}",
            cost_usd=self.cost_per_send_usd,
            detail={"tracking_code": tracking},
        )

    def lookup(self, idempotency_key: str) -> DeliveryResult | None:
        return None
