"""Small entry points called from other modules' code paths when a provider is "claude"."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from sqlmodel import Session

from core.errors import ProviderConfigError
from core.workspace import Workspace
from tools.llm.client import CallScope, build_client
from tools.llm.reply_judge import judge_reply


def judge_event_reply(
    ws: Workspace,
    session: Session,
    text: str,
    received_at: datetime,
    tz: str | None,
    now: datetime,
    prospect: Any,
) -> dict[str, Any]:
    """The reply judge's fields for one ingested reply (rules first, then Claude, then a human)."""
    try:
        client = build_client(ws.config, engine=session.get_bind(), workspace=ws.id, env=os.environ)  # type: ignore[arg-type]
    except ProviderConfigError:
        client = None
    scope = CallScope(
        at=now, run_id=f"events_{now.strftime('%Y%m%d')}", prospect_id=getattr(prospect, "id", "") or ""
    )
    return judge_reply(
        text, received_at=received_at, tz=tz, client=client, cfg=ws.config.llm, scope=scope, session=session
    ).to_raw()
