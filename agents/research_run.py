"""`research DOMAIN`: run the workspace's researcher (or the live one) on one company and
show the pages read, the pages skipped and why, and the evidence; live pages are kept in
the page store like in a run."""

from __future__ import annotations

from typing import Any

from core.workspace import Workspace
from state.db import engine_for


def research_domain(
    ws: Workspace, domain: str, *, live: bool = False, scheme: str | None = None, port: int | None = None
) -> dict[str, Any]:
    from agents.context import build_researcher

    cfg = ws.config
    if live or scheme or port:
        research = cfg.research.model_copy(
            update={k: v for k, v in (("scheme", scheme), ("port", port)) if v is not None}
        )
        providers = cfg.providers.model_copy(update={"research": "http"})
        ws = Workspace(ws.root, cfg.model_copy(update={"research": research, "providers": providers}))
    researcher = build_researcher(ws, engine_for(ws.database_url))
    result = researcher.research(domain)
    return {
        "domain": domain,
        "researcher": researcher.name,
        "pages": list(result.pages),
        "skipped": [{"url": u, "why": w} for u, w in result.skipped],
        "evidence": [e.to_dict() for e in result.evidence],
        "credits": result.credits,
    }
