"""What `run.py serve` tells the operator before it starts: where it listens, which routes
each workspace serves, and what is not configured (Slack token and signing secret,
webhook secrets per provider). Only the names of the environment variables are shown,
never their values."""

from __future__ import annotations

import os
from collections.abc import Sequence

from core.workspace import Workspace
from service.sites import bot_token_env, signing_secret_env, webhook_secret_env
from tools.events import PROVIDERS

WEBHOOK_SOURCES = (*PROVIDERS, "inbound")


def startup_report(workspaces: Sequence[Workspace], *, host: str, port: int) -> tuple[list[str], list[str]]:
    """(info lines, warning lines) for the operator."""
    shown_host = f"[{host}]" if ":" in host else host
    base = f"http://{shown_host}:{port}"
    info = [f"listening on {base} (Slack: {base}/slack/interactions, health: {base}/healthz)"]
    warnings: list[str] = []
    many = len(workspaces) > 1
    for ws in workspaces:
        suffix = f"?workspace={ws.id}" if many else ""
        info.append(f"workspace {ws.id}: webhooks at {base}/webhooks/events/<provider>{suffix}")
        token_env = bot_token_env(ws)
        if not os.environ.get(signing_secret_env(ws)):
            warnings.append(
                f"workspace {ws.id}: {signing_secret_env(ws)} is not set: Slack button clicks will be refused (401)"
            )
        if not os.environ.get(token_env):
            warnings.append(
                f"workspace {ws.id}: {token_env} is not set: review cards are not posted to Slack"
            )
        missing = [p for p in WEBHOOK_SOURCES if not os.environ.get(webhook_secret_env(ws, p))]
        if missing:
            names = ", ".join(webhook_secret_env(ws, p) for p in missing)
            warnings.append(
                f"workspace {ws.id}: no webhook secret for {', '.join(missing)} "
                f"(set {names}): those webhooks are refused (401)"
            )
    return info, warnings
