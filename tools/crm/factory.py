"""Build the workspace's CRM from `[crm]` (the token comes from the env var named there)."""

from __future__ import annotations

import os

from core.errors import ConfigError
from core.workspace import Workspace
from tools.crm.base import Crm
from tools.crm.hubspot import HubSpotCrm, hubspot_client
from tools.crm.memory import MemoryCrm


def crm_for(ws: Workspace, *, for_guard: bool = False) -> Crm | None:
    """The configured CRM, or None when `[crm] provider = "none"`; `for_guard` (facts read
    before a send) retries once, quickly, since an unreachable CRM only defers the send."""
    cfg = ws.config.crm
    if cfg.provider == "none":
        return None
    if cfg.provider == "memory":
        return MemoryCrm()
    token = os.environ.get(cfg.token_env, "")
    if not token:
        raise ConfigError(
            f"[crm] provider is hubspot but the env var {cfg.token_env} is empty",
            file=str(ws.root / "workspace.toml"),
            key="crm.token_env",
        )
    if for_guard:
        return HubSpotCrm(hubspot_client(token=token, host=cfg.host), max_retries=1, max_wait_s=1.0)
    return HubSpotCrm(hubspot_client(token=token, host=cfg.host), max_retries=cfg.max_retries)
