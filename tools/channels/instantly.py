"""Sequencer adapter: enrol the prospect as a lead in a sequencer campaign whose email
step renders our subject and body from custom variables (``{{subject}}``,
``{{body}}``). The vendor sends; we only add the lead.

The vendor differences are data (``SequencerMapping``), so one adapter serves both:

    INSTANTLY  POST {base}/api/v2/leads                           bearer token
               {campaign, email, first_name, ..., custom_variables, skip_if_in_campaign}
    SMARTLEAD  POST {base}/api/v1/campaigns/{campaign_id}/leads?api_key=...
               {lead_list: [{email, first_name, ..., custom_fields}], settings}
               at most 400 leads per request

The idempotency key travels as the custom variable ``idempotency_key`` and as the
``Idempotency-Key`` header; "skip if already in campaign" settings make a repeated
call after a crash harmless. Neither vendor can be searched by our key, so ``lookup``
returns None.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import httpx

from core.errors import InvalidInput, PermanentFailure
from tools.channels.base import DeliveryResult, OutboundMessage
from tools.channels.http import HttpCall


@dataclass(frozen=True)
class SequencerMapping:
    """How one sequencer vendor spells "add these leads to this campaign"."""

    provider: str
    default_base_url: str
    path: str  # may contain {campaign_id}
    auth: Literal["bearer", "query"]
    lead_fields: Mapping[str, str]  # our lead field -> vendor field
    custom_field: str  # where custom variables go in a lead
    campaign_field: str | None = None  # body field for the campaign id, if not in the path
    list_field: str | None = None  # body field holding a list of leads, if batched
    batch_limit: int = 1
    extra: Mapping[str, Any] = field(default_factory=dict)  # constant body fields
    id_field: str | None = None  # response field with the vendor's lead id
    duplicate_field: str | None = None  # response count of leads already in the campaign
    rejected_fields: tuple[str, ...] = ()  # response counts of leads the vendor refused
    query_key_param: str = "api_key"


INSTANTLY = SequencerMapping(
    provider="instantly",
    default_base_url="https://api.instantly.ai",
    path="/api/v2/leads",
    auth="bearer",
    lead_fields={
        "email": "email",
        "first_name": "first_name",
        "last_name": "last_name",
        "company_name": "company_name",
        "job_title": "job_title",
    },
    custom_field="custom_variables",
    campaign_field="campaign",
    extra={"skip_if_in_campaign": True},
    id_field="id",
)

SMARTLEAD = SequencerMapping(
    provider="smartlead",
    default_base_url="https://server.smartlead.ai",
    path="/api/v1/campaigns/{campaign_id}/leads",
    auth="query",
    lead_fields={
        "email": "email",
        "first_name": "first_name",
        "last_name": "last_name",
        "company_name": "company_name",
        "linkedin_url": "linkedin_profile",
    },
    custom_field="custom_fields",
    list_field="lead_list",
    batch_limit=400,
    extra={
        "settings": {
            "ignore_global_block_list": False,
            "ignore_unsubscribe_list": False,
            "ignore_duplicate_leads_in_other_campaign": False,
        }
    },
    duplicate_field="already_added_to_campaign",
    rejected_fields=("invalid_email_count", "unsubscribed_leads"),
)

MAPPINGS: Mapping[str, SequencerMapping] = {m.provider: m for m in (INSTANTLY, SMARTLEAD)}


def split_name(full_name: str) -> tuple[str, str]:
    """("Ada", "Lovelace King") from "Ada Lovelace King"."""
    first, _, last = full_name.strip().partition(" ")
    return first, last.strip()


def custom_variables(message: OutboundMessage) -> dict[str, str]:
    return {
        "subject": message.subject,
        "body": message.body,
        "idempotency_key": message.idempotency_key,
        "step_id": message.step_id,
    }


@dataclass
class SequencerChannel:
    """The Channel for a sequencer API, shaped by ``mapping``."""

    mapping: SequencerMapping
    api_key: str = field(repr=False)
    campaign_id: str
    client: httpx.Client = field(repr=False)
    base_url: str = ""
    timeout_s: float = 30.0
    # The lead is enrolled once per campaign (skip_if_in_campaign / already added), and the
    # vendor sends; adding it again after a crash sends nothing twice.
    idempotent_by_key: ClassVar[bool] = True

    def __post_init__(self) -> None:
        self.name = self.mapping.provider
        self._http = HttpCall(
            client=self.client,
            provider=self.mapping.provider,
            base_url=self.base_url or self.mapping.default_base_url,
            timeout_s=self.timeout_s,
            secrets=(self.api_key,),
        )

    def lead(self, message: OutboundMessage) -> dict[str, Any]:
        """One lead in the vendor's shape."""
        recipient = message.recipient
        if not recipient.email:
            raise InvalidInput("recipient has no email address", provider=self.name)
        first, last = split_name(recipient.name)
        ours = {
            "email": recipient.email,
            "first_name": first,
            "last_name": last,
            "company_name": recipient.company,
            "job_title": recipient.title,
            "linkedin_url": recipient.linkedin_url,
        }
        lead: dict[str, Any] = {
            vendor: ours[key] for key, vendor in self.mapping.lead_fields.items() if ours.get(key)
        }
        lead[self.mapping.custom_field] = custom_variables(message)
        return lead

    def request_body(self, messages: Sequence[OutboundMessage]) -> dict[str, Any]:
        """The JSON body adding ``messages`` (one, unless the vendor takes a list)."""
        leads = [self.lead(m) for m in messages]
        if self.mapping.list_field:
            body: dict[str, Any] = {self.mapping.list_field: leads}
        elif len(leads) == 1:
            body = dict(leads[0])
        else:
            raise ValueError(f"{self.name} takes one lead per request")
        if self.mapping.campaign_field:
            body[self.mapping.campaign_field] = self.campaign_id
        body.update(self.mapping.extra)
        return body

    def _post(self, messages: Sequence[OutboundMessage]) -> Any:
        keys = [m.idempotency_key for m in messages]
        key = keys[0] if len(keys) == 1 else hashlib.sha256("\n".join(keys).encode()).hexdigest()
        headers = {"Idempotency-Key": key}
        params = None
        if self.mapping.auth == "bearer":
            headers["Authorization"] = f"Bearer {self.api_key}"
        else:
            params = {self.mapping.query_key_param: self.api_key}
        path = self.mapping.path.format(campaign_id=self.campaign_id)
        return self._http.request(
            "POST", path, json=self.request_body(messages), params=params, headers=headers
        )

    def _count(self, body: Any, name: str | None) -> int:
        if not name or not isinstance(body, Mapping):
            return 0
        try:
            return int(body.get(name) or 0)
        except (TypeError, ValueError):
            return 0

    def _result(self, message: OutboundMessage, body: Any, *, already: bool) -> DeliveryResult:
        vendor_id = ""
        if self.mapping.id_field and isinstance(body, Mapping):
            vendor_id = str(body.get(self.mapping.id_field) or "")
        return DeliveryResult(
            provider=self.name,
            provider_message_id=vendor_id or f"{self.campaign_id}:{message.recipient.email}",
            already_delivered=already,
            detail={"campaign_id": self.campaign_id},
        )

    def deliver(self, message: OutboundMessage) -> DeliveryResult:
        body = self._post([message])
        rejected = [f for f in self.mapping.rejected_fields if self._count(body, f)]
        if rejected:
            raise PermanentFailure(f"lead refused ({', '.join(rejected)})", provider=self.name)
        already = self._count(body, self.mapping.duplicate_field) > 0
        return self._result(message, body, already=already)

    def deliver_batch(self, messages: Sequence[OutboundMessage]) -> list[DeliveryResult]:
        """Add many leads in as few requests as the vendor allows (``batch_limit``).

        Per-lead outcomes are not reported by batched vendors; the response counts are
        kept in each result's ``detail``. A failing chunk raises its ProviderError.
        """
        results: list[DeliveryResult] = []
        size = max(1, self.mapping.batch_limit)
        for start in range(0, len(messages), size):
            chunk = messages[start : start + size]
            if len(chunk) == 1:
                results.append(self.deliver(chunk[0]))
                continue
            body = self._post(chunk)
            counts = {
                f: self._count(body, f)
                for f in (*self.mapping.rejected_fields, self.mapping.duplicate_field)
                if f
            }
            for message in chunk:
                result = self._result(message, body, already=False)
                results.append(
                    DeliveryResult(
                        result.provider, result.provider_message_id, detail={**result.detail, **counts}
                    )
                )
        return results

    def lookup(self, idempotency_key: str) -> DeliveryResult | None:
        return None
