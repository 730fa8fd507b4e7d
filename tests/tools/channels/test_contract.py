"""The Channel contract, run against every adapter on its local fake (SMTP included)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest

from tests.fakes.smtp_server import FakeSmtpServer
from tests.fakes.vendor_api import FakeVendorApi
from tests.tools.channels.factories import KEY, KIND_FOR_VENDOR, SECRET, make_adapter, make_message
from tools.channels.base import Channel, DeliveryResult, repeatable
from tools.channels.smtp import SmtpChannel

ADAPTERS = ("smtp", "instantly", "smartlead", "heyreach", "sendoso")


@pytest.fixture(params=ADAPTERS)
def adapter(request) -> Iterator[tuple[str, Channel]]:
    provider = request.param
    with ExitStack() as stack:
        if provider == "smtp":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                server = stack.enter_context(FakeSmtpServer())
            channel: Channel = SmtpChannel(
                host=server.host, port=server.port, starttls=False, timeout=5.0, domain="acme.example"
            )
        else:
            api = stack.enter_context(FakeVendorApi(provider, secret=SECRET))
            client = stack.enter_context(httpx.Client(trust_env=False))
            channel = make_adapter(provider, api, client)
        yield provider, channel


def test_adapter_satisfies_the_protocol(adapter):
    """Every adapter is a runtime Channel named after its provider."""
    provider, channel = adapter
    assert isinstance(channel, Channel)
    assert channel.name == provider


def test_deliver_returns_provider_and_message_id(adapter):
    """deliver returns a DeliveryResult naming the provider and a non-empty message id."""
    provider, channel = adapter
    result = channel.deliver(make_message(KIND_FOR_VENDOR[provider]))
    assert isinstance(result, DeliveryResult)
    assert result.provider == provider
    assert isinstance(result.provider_message_id, str) and result.provider_message_id
    assert result.cost_usd >= 0


def test_a_repeat_with_the_same_key_keeps_the_id_unless_declared_unsafe(adapter):
    """A second deliver with the same key gives the same provider message id, except on a
    provider that declares a repeat unsafe (Sendoso: every call is a new send)."""
    provider, channel = adapter
    message = make_message(KIND_FOR_VENDOR[provider])
    first, second = channel.deliver(message), channel.deliver(message)
    if provider == "sendoso":
        assert not repeatable(channel, message)
        assert first.provider_message_id != second.provider_message_id
    else:
        assert first.provider_message_id == second.provider_message_id


def test_lookup_answers_none_or_a_result(adapter):
    """lookup returns None (unknown) or a DeliveryResult for the provider."""
    provider, channel = adapter
    found = channel.lookup(KEY)
    assert found is None or (isinstance(found, DeliveryResult) and found.provider == provider)
