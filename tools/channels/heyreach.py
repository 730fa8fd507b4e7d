"""LinkedIn through a HeyReach-style API (header ``X-API-KEY``).

    linkedin_connect   POST campaign/AddLeadsToCampaignV2
                       {campaignId, accountLeadPairs: [{linkedInAccountId, lead: {firstName,
                        lastName, profileUrl, companyName, position, emailAddress,
                        customUserFields: [{name, value}]}}]}
                       The invitation note (<= 300 characters) is the custom field
                       ``connection_note``; the campaign's invite step uses it.
    linkedin_message   POST inbox/SendMessage {linkedInAccountId, profileUrl, message}
                       (only after the invitation was accepted).

The LinkedIn account is the sender's ``linkedin_account_id`` or the configured
default. A profile URL that is not a linkedin.com/in/ address, or one the vendor
reports as invalid, is a PermanentFailure. The vendor cannot be searched by our key,
so ``lookup`` returns None; re-adding a lead to a campaign updates it instead of
inviting twice (reported as ``already_delivered``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

from core.errors import InvalidInput, PermanentFailure, ProviderConfigError, ProviderError
from tools.channels.base import DeliveryResult, OutboundMessage
from tools.channels.http import HttpCall, error_detail
from tools.channels.instantly import split_name

PROVIDER = "heyreach"
DEFAULT_BASE_URL = "https://api.heyreach.io/api/public/"
CONNECT_NOTE_LIMIT = 300
_PROFILE_URL = re.compile(r"^https?://([a-z]{2,3}\.|www\.)?linkedin\.com/in/[^/?#\s]+/?$", re.I)


def _id(value: str) -> int | str:
    """HeyReach ids are integers; keep anything else as given."""
    return int(value) if value.isdigit() else value


@dataclass
class HeyReachChannel:
    """The Channel for LinkedIn invitations and messages."""

    api_key: str = field(repr=False)
    campaign_id: str
    client: httpx.Client = field(repr=False)
    linkedin_account_id: str = ""
    base_url: str = DEFAULT_BASE_URL
    timeout_s: float = 30.0
    name: str = PROVIDER
    # A re-added lead is updated, not invited twice, but inbox/SendMessage has no documented
    # deduplication: a message repeated after a crash could reach the prospect twice.
    idempotent_by_key: ClassVar[bool] = False

    def __post_init__(self) -> None:
        self._http = HttpCall(
            client=self.client,
            provider=PROVIDER,
            base_url=self.base_url,
            timeout_s=self.timeout_s,
            secrets=(self.api_key,),
        )

    def _classify(self, response: httpx.Response, body: Any) -> ProviderError | None:
        if response.status_code in (400, 404, 422):
            detail = error_detail(response, (self.api_key,))
            if "profile" in detail.lower():
                return PermanentFailure(
                    f"invalid LinkedIn profile: {detail}", provider=PROVIDER, status=response.status_code
                )
        return None

    def _account(self, message: OutboundMessage) -> int | str:
        account = message.sender.linkedin_account_id or self.linkedin_account_id
        if not account:
            raise ProviderConfigError("no LinkedIn account id for the sender", provider=PROVIDER)
        return _id(account)

    def _profile(self, message: OutboundMessage) -> str:
        url = message.recipient.linkedin_url.strip()
        if not _PROFILE_URL.match(url):
            raise PermanentFailure("recipient has no valid linkedin.com/in/ profile URL", provider=PROVIDER)
        return url

    def _post(self, path: str, body: Mapping[str, Any], key: str) -> Any:
        return self._http.request(
            "POST",
            path,
            json=body,
            classify=self._classify,
            headers={"X-API-KEY": self.api_key, "Idempotency-Key": key},
        )

    def connect_body(self, message: OutboundMessage) -> dict[str, Any]:
        """The AddLeadsToCampaignV2 body for one invitation."""
        note = message.body.strip()
        if len(note) > CONNECT_NOTE_LIMIT:
            raise InvalidInput(
                f"connection note is {len(note)} characters; LinkedIn allows {CONNECT_NOTE_LIMIT}",
                provider=PROVIDER,
            )
        recipient = message.recipient
        first, last = split_name(recipient.name)
        lead = {
            "firstName": first,
            "lastName": last,
            "profileUrl": self._profile(message),
            "companyName": recipient.company,
            "position": recipient.title,
            "emailAddress": recipient.email,
            "customUserFields": [
                {"name": "connection_note", "value": note},
                {"name": "idempotency_key", "value": message.idempotency_key},
                {"name": "step_id", "value": message.step_id},
            ],
        }
        return {
            "campaignId": _id(self.campaign_id),
            "accountLeadPairs": [{"linkedInAccountId": self._account(message), "lead": lead}],
        }

    def message_body(self, message: OutboundMessage) -> dict[str, Any]:
        """The SendMessage body for a message to an accepted connection."""
        if not message.body.strip():
            raise InvalidInput("empty LinkedIn message", provider=PROVIDER)
        return {
            "linkedInAccountId": self._account(message),
            "profileUrl": self._profile(message),
            "message": message.body,
        }

    def deliver(self, message: OutboundMessage) -> DeliveryResult:
        if message.kind == "linkedin_connect":
            body = self._post(
                "campaign/AddLeadsToCampaignV2", self.connect_body(message), message.idempotency_key
            )
            counts = body if isinstance(body, Mapping) else {}
            if int(counts.get("failedLeadsCount") or 0):
                raise PermanentFailure("the vendor refused the lead (invalid profile)", provider=PROVIDER)
            already = (
                not int(counts.get("addedLeadsCount") or 0) and int(counts.get("updatedLeadsCount") or 0) > 0
            )
            return DeliveryResult(
                provider=PROVIDER,
                provider_message_id=f"{self.campaign_id}:{message.recipient.linkedin_url}",
                already_delivered=already,
                detail={"campaign_id": self.campaign_id},
            )
        if message.kind == "linkedin_message":
            body = self._post("inbox/SendMessage", self.message_body(message), message.idempotency_key)
            vendor_id = (body.get("messageId") or body.get("id")) if isinstance(body, Mapping) else None
            return DeliveryResult(
                provider=PROVIDER, provider_message_id=str(vendor_id or f"message:{message.idempotency_key}")
            )
        raise InvalidInput(f"kind {message.kind!r} is not a LinkedIn action", provider=PROVIDER)

    def repeatable(self, message: OutboundMessage) -> bool:
        """An invitation may be re-sent by key (a lead already in the campaign is updated,
        not invited again); a direct message may not (SendMessage does not deduplicate)."""
        return message.kind == "linkedin_connect"

    def lookup(self, idempotency_key: str) -> DeliveryResult | None:
        return None
