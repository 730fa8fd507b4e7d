"""Slack: the bot token (``auth.test``), the review channel (``conversations.info``, or
``conversations.list`` for a ``#name``; the bot must be a member to post), and the
signing secret.

Slack offers no API to check a signing secret, so doctor does what can be done:
- its form: Slack's signing secrets are 32 lowercase hex characters; a value starting
  with ``xox`` is a token pasted in the wrong place;
- with ``--service-url``, a probe: doctor signs a harmless request with the secret it
  sees and posts it to the running service's ``/slack/interactions``. A 401 means the
  service holds a different secret than this shell (so Slack's real requests, signed with
  the app's secret, are failing against one of them). Any other answer means the
  signature was accepted (the probe names no review, so nothing is changed).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from slack_sdk.errors import SlackApiError

from tools.doctor.findings import Finding, fail, ok, skip, warn

AREA = "slack"
_SECRET_FORM = re.compile(r"^[0-9a-f]{32}$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{6,}$")
_AUTH_ERRORS = ("invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired")


@dataclass(frozen=True)
class SlackSettings:
    channel: str
    token_env: str
    token: str
    secret_env: str
    secret: str


def check_slack(
    s: SlackSettings,
    *,
    client_factory: Callable[[str], Any],
    http: httpx.Client | None = None,
    service_url: str | None = None,
) -> list[Finding]:
    if not s.channel and not s.token:
        return [
            skip(
                AREA,
                "slack",
                "Slack is off (no [slack] channel): reviews stay in `run.py queue`",
                f"To review in Slack: set [slack] channel and {s.token_env} / {s.secret_env}.",
            )
        ]
    out = _check_token_and_channel(s, client_factory)
    out += check_signing_secret(s, http=http, service_url=service_url)
    return out


def _check_token_and_channel(s: SlackSettings, client_factory: Callable[[str], Any]) -> list[Finding]:
    if not s.token:
        return [
            fail(
                AREA,
                "token",
                f"{s.token_env} is not set",
                f"Set {s.token_env} to the app's Bot User OAuth Token (xoxb-..., OAuth & Permissions page).",
            )
        ]
    client = client_factory(s.token)
    try:
        auth = client.auth_test()
    except SlackApiError as exc:
        error = exc.response.get("error", "") if exc.response is not None else ""
        if error in _AUTH_ERRORS:
            return [
                fail(
                    AREA,
                    "token",
                    f"Slack rejected the token in {s.token_env} ({error})",
                    f"Copy the current Bot User OAuth Token into {s.token_env} (reinstall the app if it was revoked).",
                )
            ]
        return [
            warn(
                AREA,
                "token",
                f"auth.test failed ({error})",
                "Run doctor again; check Slack's status if it persists.",
            )
        ]
    except (httpx.HTTPError, OSError) as exc:
        return [
            warn(
                AREA,
                "token",
                f"Slack could not be reached ({type(exc).__name__})",
                "Check the network and run doctor again.",
            )
        ]
    out = [ok(AREA, "token", f"token valid for team {auth.get('team', '')} as {auth.get('user', '')}")]
    if not s.channel:
        out.append(
            fail(
                AREA,
                "channel",
                "no [slack] channel set",
                "Set [slack] channel to the review channel (#name or id).",
            )
        )
        return out
    out.append(_check_channel(client, s.channel))
    return out


def _check_channel(client: Any, channel: str) -> Finding:
    try:
        if _CHANNEL_ID.match(channel):
            info = client.conversations_info(channel=channel)["channel"]
        else:
            name = channel.lstrip("#")
            info = None
            for page in client.conversations_list(types="public_channel,private_channel", limit=200):
                info = next((c for c in page["channels"] if c.get("name") == name), None)
                if info:
                    break
            if info is None:
                return fail(
                    AREA,
                    "channel",
                    f"channel {channel} not found (or private and the bot is not in it)",
                    f"Create {channel} or fix [slack] channel; for a private channel, /invite the bot first.",
                )
    except SlackApiError as exc:
        error = exc.response.get("error", "") if exc.response is not None else ""
        if error == "missing_scope":
            return fail(
                AREA,
                "channel",
                "the token may not read channels (missing_scope)",
                "Add the channels:read (and groups:read) scopes to the app and reinstall it.",
            )
        return fail(
            AREA,
            "channel",
            f"channel {channel}: {error}",
            "Check [slack] channel (a #name or a channel id) and that the bot was invited.",
        )
    if not info.get("is_member", False):
        return fail(
            AREA,
            "channel",
            f"the bot is not a member of {channel}",
            f"In Slack, type /invite @<your app> in {channel}.",
        )
    return ok(AREA, "channel", f"channel {channel} reachable ({info.get('id')}); the bot is a member")


def check_signing_secret(
    s: SlackSettings, *, http: httpx.Client | None = None, service_url: str | None = None
) -> list[Finding]:
    if not s.secret:
        return [
            fail(
                AREA,
                "signing_secret",
                f"{s.secret_env} is not set: the service refuses every Slack click",
                f"Set {s.secret_env} to the app's Signing Secret (Basic Information page).",
            )
        ]
    value = s.secret.strip()
    if value.startswith("xox"):
        return [
            fail(
                AREA,
                "signing_secret",
                f"{s.secret_env} holds a Slack token, not the signing secret",
                f"Put the Signing Secret (Basic Information > App Credentials) in {s.secret_env}.",
            )
        ]
    if not _SECRET_FORM.match(value):
        return [
            fail(
                AREA,
                "signing_secret",
                f"{s.secret_env} does not look like a Slack signing secret (32 hex characters, "
                f"found {len(value)} characters)",
                f"Copy the Signing Secret (not the client secret or verification token) into {s.secret_env}.",
            )
        ]
    out = [ok(AREA, "signing_secret", f"{s.secret_env} is set and has the form of a signing secret")]
    if service_url:
        out.append(probe_service(value, service_url, http=http, secret_env=s.secret_env))
    return out


def signed_probe(secret: str, now: float | None = None) -> tuple[bytes, dict[str, str]]:
    """A Slack-style signed body that names no review (the service answers 400 to it)."""
    body = b"payload=%7B%22type%22%3A%22doctor_probe%22%7D"
    ts = str(int(now if now is not None else time.time()))
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    headers = {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    return body, headers


def probe_service(secret: str, service_url: str, *, http: httpx.Client | None, secret_env: str) -> Finding:
    body, headers = signed_probe(secret)
    url = service_url.rstrip("/") + "/slack/interactions"
    client = http or httpx.Client(timeout=10)
    try:
        response = client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return warn(
            AREA,
            "signing_secret_service",
            f"the service at {service_url} could not be reached ({type(exc).__name__})",
            "Start it (run.py serve -w ...) or fix --service-url, then run doctor again.",
        )
    finally:
        if http is None:
            client.close()
    if response.status_code == 401:
        return fail(
            AREA,
            "signing_secret_service",
            f"the service at {service_url} rejected a request signed with {secret_env}: "
            "it holds a different signing secret",
            f"Give the service and Slack's app the same Signing Secret in {secret_env}, then restart the service.",
        )
    return ok(
        AREA,
        "signing_secret_service",
        f"the service at {service_url} accepted a request signed with {secret_env} (HTTP {response.status_code})",
    )
