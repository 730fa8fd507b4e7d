"""Build a Channel from configuration: a provider name, its string settings, and the
environment that holds its secrets.

Settings never hold secrets, only the NAME of the environment variable that does
(``api_key_env = "HEYREACH_API_KEY"``). A missing or empty secret raises
ProviderConfigError naming the variable, never its value. A missing or malformed
ordinary setting raises ConfigError naming ``{channel}.{key}``. The keys per provider
are listed in ``docs/channels.md`` and in ``SETTINGS`` below.

HTTP adapters get their client from ``http_client_factory()``, so the caller owns
connection pooling and tests can hand in a client for a local fake server.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable, Mapping

import httpx

from core.errors import ConfigError, ProviderConfigError
from tools.channels.base import Channel
from tools.channels.heyreach import DEFAULT_BASE_URL as HEYREACH_BASE_URL
from tools.channels.heyreach import HeyReachChannel
from tools.channels.instantly import MAPPINGS, SequencerChannel
from tools.channels.sendoso import DEFAULT_BASE_URL as SENDOSO_BASE_URL
from tools.channels.sendoso import SendosoChannel
from tools.channels.smtp import SmtpChannel

PROVIDER_CHANNELS: Mapping[str, tuple[str, ...]] = {
    "smtp": ("email",),
    "instantly": ("email",),
    "smartlead": ("email",),
    "heyreach": ("linkedin",),
    "sendoso": ("direct_mail",),
}

# provider -> (required keys, optional keys); "*_env" keys name environment variables.
SETTINGS: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "smtp": (("host", "domain"), ("port", "username", "password_env", "starttls", "timeout_s")),
    "instantly": (("api_key_env", "campaign_id"), ("base_url", "timeout_s")),
    "smartlead": (("api_key_env", "campaign_id"), ("base_url", "timeout_s")),
    "heyreach": (("api_key_env", "campaign_id"), ("linkedin_account_id", "base_url", "timeout_s")),
    "sendoso": (
        ("access_token_env", "touch_id"),
        ("cost_per_send_usd", "expire_after_days", "base_url", "timeout_s"),
    ),
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class _Settings:
    """Typed reads of one channel's string settings, with errors naming the key."""

    def __init__(self, channel: str, values: Mapping[str, str], env: Mapping[str, str]):
        self.channel, self.values, self.env = channel, values, env

    def _error(self, key: str, message: str) -> ConfigError:
        return ConfigError(message, key=f"{self.channel}.{key}")

    def text(self, key: str, default: str | None = None) -> str:
        value = str(self.values.get(key, "") or "").strip()
        if value:
            return value
        if default is None:
            raise self._error(key, "required setting is missing")
        return default

    def integer(self, key: str, default: int) -> int:
        raw = self.text(key, str(default))
        try:
            return int(raw)
        except ValueError:
            raise self._error(key, f"expected a whole number, got {raw!r}") from None

    def number(self, key: str, default: float) -> float:
        raw = self.text(key, str(default))
        try:
            value = float(raw)
        except ValueError:
            raise self._error(key, f"expected a number, got {raw!r}") from None
        if value < 0:
            raise self._error(key, "must not be negative")
        return value

    def flag(self, key: str, default: bool) -> bool:
        raw = self.text(key, "true" if default else "false").lower()
        if raw in _TRUE | _FALSE:
            return raw in _TRUE
        raise self._error(key, f"expected true or false, got {raw!r}")

    def secret(self, key: str, *, provider: str) -> str:
        """The value of the environment variable named by setting ``key``."""
        var = self.text(key)
        value = self.env.get(var, "")
        if not value:
            raise ProviderConfigError(
                f"environment variable {var} is not set",
                provider=provider,
                next_step=f"Set {var} in the environment and restart.",
            )
        return value


def build_channel(
    channel_name: str,
    provider: str,
    settings: Mapping[str, str],
    *,
    env: Mapping[str, str],
    http_client_factory: Callable[[], httpx.Client],
    smtp_factory: Callable[..., smtplib.SMTP] = smtplib.SMTP,
) -> Channel:
    """The configured Channel for ``provider`` on ``channel_name``."""
    if provider not in PROVIDER_CHANNELS:
        raise ConfigError(
            f"unknown provider {provider!r}; expected one of {', '.join(PROVIDER_CHANNELS)}",
            key=f"{channel_name}.provider",
        )
    if channel_name not in PROVIDER_CHANNELS[provider]:
        raise ConfigError(
            f"provider {provider!r} cannot send on channel {channel_name!r}", key=f"{channel_name}.provider"
        )
    s = _Settings(channel_name, settings, env)
    if provider == "smtp":
        username = s.text("username", "")
        return SmtpChannel(
            host=s.text("host"),
            port=s.integer("port", 587),
            username=username,
            password=s.secret("password_env", provider=provider) if username else "",
            starttls=s.flag("starttls", True),
            timeout=s.number("timeout_s", 30.0),
            domain=s.text("domain"),
            smtp_factory=smtp_factory,
        )
    timeout = s.number("timeout_s", 30.0)
    if provider in MAPPINGS:
        mapping = MAPPINGS[provider]
        return SequencerChannel(
            mapping=mapping,
            api_key=s.secret("api_key_env", provider=provider),
            campaign_id=s.text("campaign_id"),
            client=http_client_factory(),
            base_url=s.text("base_url", mapping.default_base_url),
            timeout_s=timeout,
        )
    if provider == "heyreach":
        return HeyReachChannel(
            api_key=s.secret("api_key_env", provider=provider),
            campaign_id=s.text("campaign_id"),
            client=http_client_factory(),
            linkedin_account_id=s.text("linkedin_account_id", ""),
            base_url=s.text("base_url", HEYREACH_BASE_URL),
            timeout_s=timeout,
        )
    days = s.integer("expire_after_days", 5)
    if not 2 <= days <= 7:
        raise ConfigError("must be between 2 and 7", key=f"{channel_name}.expire_after_days")
    return SendosoChannel(
        access_token=s.secret("access_token_env", provider=provider),
        touch_id=s.text("touch_id"),
        client=http_client_factory(),
        cost_per_send_usd=s.number("cost_per_send_usd", 0.0),
        expire_after_days=days,
        base_url=s.text("base_url", SENDOSO_BASE_URL),
        timeout_s=timeout,
    )
