"""One served workspace and what the service needs for it: its engine, its Slack client
(or none) and the names of the environment variables holding its secrets.

Secrets are read from the environment when needed and never logged; a workspace whose
signing secret is unset cannot be acted on from Slack, and a provider whose webhook
secret is unset is refused.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from core.workspace import Workspace
from state.db import engine_for

SlackClientFactory = Callable[[Workspace], Any]


def env_suffix(ws: Workspace) -> str:
    """The workspace id as it appears in env var names: upper case, [A-Z0-9_]."""
    return re.sub(r"[^A-Z0-9]+", "_", ws.id.upper()).strip("_")


def bot_token_env(ws: Workspace) -> str:
    return ws.config.slack.bot_token_env or f"SLACK_BOT_TOKEN_{env_suffix(ws)}"


def signing_secret_env(ws: Workspace) -> str:
    return ws.config.slack.signing_secret_env or f"SLACK_SIGNING_SECRET_{env_suffix(ws)}"


def webhook_secret_env(ws: Workspace, provider: str) -> str:
    configured = ws.config.webhooks.secret_env.get(provider)
    return configured or f"OUTBOUND_WEBHOOK_SECRET_{env_suffix(ws)}_{provider.upper()}"


def default_slack_client(ws: Workspace) -> Any:
    """A WebClient with the workspace's bot token, or None when Slack is not set up."""
    token = os.environ.get(bot_token_env(ws), "")
    if not (token and ws.config.slack.channel):
        return None
    from slack_sdk import WebClient

    return WebClient(token=token, timeout=10)


@dataclass
class Site:
    """A workspace as served: shared by the routes, the worker and the scheduler jobs."""

    ws: Workspace
    slack: Any = None  # a slack_sdk.WebClient, or None when Slack is off for this workspace

    @property
    def id(self) -> str:
        return self.ws.id

    @property
    def engine(self) -> Engine:
        return engine_for(self.ws.database_url)

    @property
    def signing_secret(self) -> str:
        return os.environ.get(signing_secret_env(self.ws), "")

    def webhook_secret(self, provider: str) -> str:
        return os.environ.get(webhook_secret_env(self.ws, provider), "")


def make_sites(workspaces: list[Workspace], factory: SlackClientFactory) -> dict[str, Site]:
    sites: dict[str, Site] = {}
    for ws in workspaces:
        if ws.id in sites:
            from core.errors import ConfigError

            raise ConfigError(f"two workspaces share the id {ws.id!r}", file=str(ws.root), key="client.id")
        sites[ws.id] = Site(ws=ws, slack=factory(ws))
    return sites
