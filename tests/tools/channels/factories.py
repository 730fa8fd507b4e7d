"""Factories for channel tests: messages per kind and adapters pointed at local fakes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx

from tests.fakes.vendor_api import FakeVendorApi
from tools.channels.base import OutboundMessage, Recipient, Sender
from tools.channels.heyreach import HeyReachChannel
from tools.channels.instantly import INSTANTLY, SMARTLEAD, SequencerChannel
from tools.channels.sendoso import SendosoChannel

POSTAL_ADDRESS = "Acme Robotics, 500 Market St, San Francisco, CA 94105"
UNSUBSCRIBE_URL = "https://acme.example/u/abc123"
BODY = (
    "Hi Grace,\n\nSaw that Example Corp is hiring three SREs & a platform lead.\n"
    "Worth a 15-minute call?\n\nAda\n\n"
    f"Unsubscribe: {UNSUBSCRIBE_URL}\n{POSTAL_ADDRESS}\n"
)
KEY = "0123456789abcdef0123456789abcdef-step1-extra"
SECRET = "sk-test-9f8e7d6c5b4a"

KIND_FOR_VENDOR = {
    "instantly": "email",
    "smartlead": "email",
    "heyreach": "linkedin_connect",
    "sendoso": "direct_mail",
    "smtp": "email",
}
CHANNEL_FOR_KIND = {
    "email": "email",
    "linkedin_connect": "linkedin",
    "linkedin_message": "linkedin",
    "direct_mail": "direct_mail",
}


def make_sender(**overrides: Any) -> Sender:
    values: dict[str, Any] = dict(
        name="Ada Lovelace",
        email="ada@acme.example",
        company="Acme Robotics",
        postal_address=POSTAL_ADDRESS,
        unsubscribe_url=UNSUBSCRIBE_URL,
        unsubscribe_mailto="mailto:unsubscribe@acme.example?subject=unsubscribe",
        linkedin_account_id="4242",
    )
    values.update(overrides)
    return Sender(**values)


def make_recipient(**overrides: Any) -> Recipient:
    values: dict[str, Any] = dict(
        prospect_id="p-1",
        name="Grace Hopper",
        email="grace@example.com",
        linkedin_url="https://www.linkedin.com/in/grace-hopper",
        company="Example Corp",
        title="VP Engineering",
    )
    values.update(overrides)
    return Recipient(**values)


def make_message(kind: str = "email", **overrides: Any) -> OutboundMessage:
    body = (
        "Hi Grace, enjoyed your talk on compilers. Would love to connect."
        if kind.startswith("linkedin")
        else BODY
    )
    values: dict[str, Any] = dict(
        idempotency_key=KEY,
        channel=CHANNEL_FOR_KIND[kind],
        kind=kind,
        sender=make_sender(),
        recipient=make_recipient(),
        subject="Platform hiring at Example Corp",
        body=body,
        step_id="step1",
        metadata={"date": "2025-03-04T15:30:00+00:00"},
    )
    values.update(overrides)
    return OutboundMessage(**values)


def with_key(message: OutboundMessage, key: str) -> OutboundMessage:
    return replace(message, idempotency_key=key)


def make_adapter(
    vendor: str, api: FakeVendorApi, client: httpx.Client, *, secret: str = SECRET, timeout_s: float = 2.0
) -> Any:
    """The adapter for ``vendor`` configured against the local fake ``api``."""
    if vendor in ("instantly", "smartlead"):
        return SequencerChannel(
            mapping=INSTANTLY if vendor == "instantly" else SMARTLEAD,
            api_key=secret,
            campaign_id="camp-1",
            client=client,
            base_url=api.base_url,
            timeout_s=timeout_s,
        )
    if vendor == "heyreach":
        return HeyReachChannel(
            api_key=secret, campaign_id="77", client=client, base_url=api.base_url, timeout_s=timeout_s
        )
    if vendor == "sendoso":
        return SendosoChannel(
            access_token=secret,
            touch_id="touch-9",
            client=client,
            cost_per_send_usd=42.5,
            base_url=api.base_url,
            timeout_s=timeout_s,
        )
    raise ValueError(vendor)
