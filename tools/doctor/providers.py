"""Each configured channel provider's credentials, tried with one cheap authenticated
read (nothing is created or sent), and the answer classified like every provider call
(``tools.channels.http.classify_response``).

The read per provider (vendor endpoints from public docs, not verified live):

    instantly  GET  {base}/api/v2/campaigns/{campaign_id}          Authorization: Bearer
    smartlead  GET  {base}/api/v1/campaigns/{campaign_id}?api_key=  query parameter
    heyreach   GET  {base}auth/CheckApiKey                          X-API-KEY
    sendoso    GET  {base}/api/v3/touches/{touch_id}                Authorization: Bearer
    smtp       connect, EHLO, STARTTLS (when on) and LOGIN (when a username is set)

A 401/403 is "credentials rejected"; a 404 means the key was accepted but the campaign
or touch id (or base_url) is wrong; 429 and 5xx are "try again"; a connection error is
"unreachable". Secrets never appear in a finding.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from core.errors import ConfigError, NotFound, ProviderConfigError, ProviderError, Transient
from core.workspace import Workspace
from tools.channels.heyreach import DEFAULT_BASE_URL as HEYREACH_BASE_URL
from tools.channels.http import classify_response, redact
from tools.channels.instantly import MAPPINGS
from tools.channels.registry import build_channel
from tools.channels.sendoso import DEFAULT_BASE_URL as SENDOSO_BASE_URL
from tools.doctor.findings import Finding, fail, ok, warn

AREA = "providers"
SECRET_KEYS = ("api_key_env", "access_token_env", "password_env")


def secret_env_names(ws: Workspace) -> dict[str, str]:
    """env var name -> what needs it, for every enabled channel's provider secret."""
    out = {}
    for name in ("email", "linkedin", "direct_mail"):
        ch = getattr(ws.config.channels, name)
        if not ch.enabled or ch.provider == "file":
            continue
        for key in SECRET_KEYS:
            if ch.settings.get(key):
                if key == "password_env" and not ch.settings.get("username"):
                    continue
                out[ch.settings[key]] = f"{name} ({ch.provider}) {key}"
    return out


def check_providers(
    ws: Workspace,
    *,
    env: Mapping[str, str],
    client: httpx.Client,
    smtp_factory: Callable[..., smtplib.SMTP] = smtplib.SMTP,
) -> list[Finding]:
    out = []
    for name in ("email", "linkedin", "direct_mail"):
        ch = getattr(ws.config.channels, name)
        if not ch.enabled:
            continue
        if ch.provider == "file":
            out.append(ok(AREA, name, f"{name}: file outbox (offline; nothing leaves this machine)"))
            continue
        out.append(_check_one(name, ch.provider, ch.settings, env, client, smtp_factory))
    return out


def _check_one(
    channel: str,
    provider: str,
    settings: Mapping[str, str],
    env: Mapping[str, str],
    client: httpx.Client,
    smtp_factory: Callable[..., smtplib.SMTP],
) -> Finding:
    label = f"{channel} ({provider})"
    try:
        build_channel(channel, provider, settings, env=env, http_client_factory=lambda: client)
    except ProviderConfigError as exc:
        return fail(AREA, channel, f"{label}: {exc.message}", exc.next_step)
    except ConfigError as exc:
        return fail(
            AREA,
            channel,
            f"{label}: {exc.message}",
            "Fix the named setting under [channels.*] in workspace.toml.",
        )
    if provider == "smtp":
        return _check_smtp(channel, settings, env, smtp_factory)
    secret_key = "access_token_env" if provider == "sendoso" else "api_key_env"
    secret = env.get(settings[secret_key], "")
    var = settings[secret_key]
    method, url, kwargs = _probe(provider, settings, secret)
    try:
        response = client.request(method, url, timeout=float(settings.get("timeout_s") or 10), **kwargs)
    except httpx.HTTPError as exc:
        return warn(
            AREA,
            channel,
            f"{label}: could not reach the provider ({type(exc).__name__})",
            "Check the network and [channels] base_url, then run doctor again.",
        )
    error = classify_response(response, provider=provider, secrets=(secret,))
    return _finding(channel, label, var, error, response.status_code)


def _probe(provider: str, settings: Mapping[str, str], secret: str) -> tuple[str, str, dict[str, Any]]:
    if provider in MAPPINGS:
        base = (settings.get("base_url") or MAPPINGS[provider].default_base_url).rstrip("/")
        campaign = settings["campaign_id"]
        if provider == "smartlead":
            return "GET", f"{base}/api/v1/campaigns/{campaign}", {"params": {"api_key": secret}}
        return (
            "GET",
            f"{base}/api/v2/campaigns/{campaign}",
            {"headers": {"Authorization": f"Bearer {secret}"}},
        )
    if provider == "heyreach":
        base = settings.get("base_url") or HEYREACH_BASE_URL
        return "GET", base.rstrip("/") + "/auth/CheckApiKey", {"headers": {"X-API-KEY": secret}}
    base = (settings.get("base_url") or SENDOSO_BASE_URL).rstrip("/")
    return (
        "GET",
        f"{base}/api/v3/touches/{settings['touch_id']}",
        {"headers": {"Authorization": f"Bearer {secret}"}},
    )


def _finding(channel: str, label: str, var: str, error: ProviderError | None, status: int) -> Finding:
    if error is None:
        return ok(AREA, channel, f"{label}: credentials accepted (HTTP {status})", status=status)
    kind = error.error_class
    if isinstance(error, ProviderConfigError):
        return fail(
            AREA,
            channel,
            f"{label}: credentials rejected ({error.message})",
            f"Put a current key in {var} (create one in the provider's API settings) and run doctor again.",
            status=status,
            error_class=kind,
        )
    if isinstance(error, NotFound):
        return fail(
            AREA,
            channel,
            f"{label}: key accepted but the campaign/touch was not found ({error.message})",
            f"Check campaign_id / touch_id and base_url under [channels.{channel}] settings.",
            status=status,
            error_class=kind,
        )
    if isinstance(error, Transient):
        return warn(
            AREA,
            channel,
            f"{label}: provider busy or failing ({error.message})",
            "Try doctor again in a few minutes; check the provider's status page if it persists.",
            status=status,
            error_class=kind,
        )
    return fail(
        AREA,
        channel,
        f"{label}: unexpected answer ({error.message})",
        f"Check the [channels.{channel}] settings against docs/channels.md.",
        status=status,
        error_class=kind,
    )


def _check_smtp(
    channel: str,
    settings: Mapping[str, str],
    env: Mapping[str, str],
    smtp_factory: Callable[..., smtplib.SMTP],
) -> Finding:
    host, port = settings["host"], int(settings.get("port") or 587)
    username = settings.get("username", "")
    password = env.get(settings.get("password_env", ""), "") if username else ""
    label = f"{channel} (smtp {host}:{port})"
    try:
        with smtp_factory(host, port, timeout=float(settings.get("timeout_s") or 10)) as smtp:
            smtp.ehlo()
            if str(settings.get("starttls", "true")).lower() in ("1", "true", "yes", "on"):
                smtp.starttls()
                smtp.ehlo()
            if username:
                smtp.login(username, password)
    except smtplib.SMTPAuthenticationError as exc:
        return fail(
            AREA,
            channel,
            f"{label}: login rejected ({exc.smtp_code})",
            f"Check username and the password in {settings.get('password_env')} (an app password for Google/Microsoft).",
        )
    except (TimeoutError, smtplib.SMTPException, OSError) as exc:
        detail = redact(str(exc), (password,))[:120]
        return warn(
            AREA,
            channel,
            f"{label}: could not complete the SMTP handshake ({type(exc).__name__}: {detail})",
            "Check host, port and starttls in [channels.email] settings and that this machine may connect.",
        )
    return ok(AREA, channel, f"{label}: connected" + (" and logged in" if username else ""))
