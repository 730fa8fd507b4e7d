"""build_channel: provider settings, secrets from named environment variables."""

from __future__ import annotations

import httpx
import pytest

from core.errors import ConfigError, ProviderConfigError
from tests.tools.channels.factories import SECRET, make_message
from tools.channels.heyreach import HeyReachChannel
from tools.channels.instantly import INSTANTLY, SMARTLEAD, SequencerChannel
from tools.channels.registry import build_channel
from tools.channels.sendoso import SendosoChannel
from tools.channels.smtp import SmtpChannel

ENV = {
    "INSTANTLY_API_KEY": SECRET,
    "SMARTLEAD_API_KEY": SECRET,
    "HEYREACH_API_KEY": SECRET,
    "SENDOSO_TOKEN": SECRET,
    "SMTP_PASSWORD": SECRET,
}
CASES = [
    (
        "email",
        "smtp",
        {
            "host": "smtp.acme.example",
            "port": "2525",
            "username": "ada",
            "password_env": "SMTP_PASSWORD",
            "starttls": "false",
            "domain": "acme.example",
        },
        SmtpChannel,
    ),
    ("email", "instantly", {"api_key_env": "INSTANTLY_API_KEY", "campaign_id": "c1"}, SequencerChannel),
    ("email", "smartlead", {"api_key_env": "SMARTLEAD_API_KEY", "campaign_id": "c1"}, SequencerChannel),
    (
        "linkedin",
        "heyreach",
        {"api_key_env": "HEYREACH_API_KEY", "campaign_id": "7", "linkedin_account_id": "99"},
        HeyReachChannel,
    ),
    (
        "direct_mail",
        "sendoso",
        {"access_token_env": "SENDOSO_TOKEN", "touch_id": "t1", "cost_per_send_usd": "35.5"},
        SendosoChannel,
    ),
]


def _factory():
    clients: list[httpx.Client] = []

    def make() -> httpx.Client:
        clients.append(httpx.Client(trust_env=False))
        return clients[-1]

    return make, clients


@pytest.mark.parametrize(("channel_name", "provider", "settings", "kind"), CASES)
def test_each_provider_builds_its_adapter(channel_name, provider, settings, kind):
    """Every provider builds its adapter type, named after the provider."""
    make, clients = _factory()
    channel = build_channel(channel_name, provider, settings, env=ENV, http_client_factory=make)
    assert isinstance(channel, kind)
    assert channel.name == provider
    assert len(clients) == (0 if provider == "smtp" else 1)
    for client in clients:
        client.close()


def test_settings_are_typed_and_defaults_applied():
    """String settings become numbers and flags, and the vendor default URL is used."""
    make, clients = _factory()
    smtp = build_channel("email", "smtp", CASES[0][2], env=ENV, http_client_factory=make)
    assert (smtp.port, smtp.starttls, smtp.password) == (2525, False, SECRET)
    lead = build_channel("email", "smartlead", CASES[2][2], env=ENV, http_client_factory=make)
    assert lead.mapping is SMARTLEAD
    assert lead._http.base_url == SMARTLEAD.default_base_url
    gift = build_channel("direct_mail", "sendoso", CASES[4][2], env=ENV, http_client_factory=make)
    assert gift.cost_per_send_usd == 35.5 and gift.expire_after_days == 5
    for client in clients:
        client.close()


def test_missing_secret_names_the_variable():
    """An unset secret is ProviderConfigError naming the variable, not a value."""
    make, _ = _factory()
    with pytest.raises(ProviderConfigError, match="HEYREACH_API_KEY") as caught:
        build_channel("linkedin", "heyreach", CASES[3][2], env={}, http_client_factory=make)
    assert caught.value.error_class == "configuration"


def test_secret_value_is_not_shown_in_the_channel_repr():
    """The built adapter's repr carries no secret."""
    make, clients = _factory()
    channel = build_channel("email", "instantly", CASES[1][2], env=ENV, http_client_factory=make)
    assert SECRET not in repr(channel)
    clients[0].close()


def test_smtp_without_username_needs_no_password():
    """An unauthenticated relay needs no password variable."""
    channel = build_channel(
        "email", "smtp", {"host": "relay", "domain": "acme.example"}, env={}, http_client_factory=httpx.Client
    )
    assert channel.username == "" and channel.password == ""


@pytest.mark.parametrize(
    ("channel_name", "provider", "settings", "key"),
    [
        ("email", "instantly", {"api_key_env": "INSTANTLY_API_KEY"}, "email.campaign_id"),
        ("email", "smtp", {"host": "h", "domain": "d", "port": "five"}, "email.port"),
        ("email", "smtp", {"host": "h", "domain": "d", "starttls": "maybe"}, "email.starttls"),
        (
            "direct_mail",
            "sendoso",
            {"access_token_env": "SENDOSO_TOKEN", "touch_id": "t", "expire_after_days": "30"},
            "direct_mail.expire_after_days",
        ),
        ("linkedin", "sendoso", CASES[4][2], "linkedin.provider"),
        ("email", "carrier-pigeon", {}, "email.provider"),
    ],
)
def test_bad_settings_name_the_key(channel_name, provider, settings, key):
    """A missing, malformed or mismatched setting is ConfigError naming channel.key."""
    with pytest.raises(ConfigError) as caught:
        build_channel(channel_name, provider, settings, env=ENV, http_client_factory=httpx.Client)
    assert caught.value.key == key


def test_built_channel_delivers_to_the_configured_base_url(vendor_api):
    """A registry-built Instantly channel talks to the base_url from settings."""
    api = vendor_api("instantly")
    make, clients = _factory()
    channel = build_channel(
        "email",
        "instantly",
        {**CASES[1][2], "base_url": api.base_url, "timeout_s": "2"},
        env=ENV,
        http_client_factory=make,
    )
    assert channel.mapping is INSTANTLY
    assert channel.deliver(make_message()).provider == "instantly"
    assert api.requests[0].body["campaign"] == "c1"
    clients[0].close()
