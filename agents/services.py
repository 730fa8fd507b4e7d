"""Service functions behind the CLI and the HTTP routes (imports, workspace set-up,
event ingestion). Thin wrappers that pick the engine and the workspace's folders."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from core.workspace import Workspace
from state.db import engine_for
from tools.importer import ImportResult, import_prospects
from tools.lists import import_signals, import_suppressions

BUNDLED = (("prospects.csv", "prospects"), ("signals.csv", "signals"), ("suppressions.csv", "suppressions"))


def import_file(
    ws: Workspace, path: Path, *, now: datetime, progress: Callable[[int], None] | None = None
) -> ImportResult:
    return import_prospects(
        engine_for(ws.database_url), ws.id, path, rejects_dir=ws.root / "rejects", now=now, progress=progress
    )


def signals_file(ws: Workspace, path: Path, *, now: datetime) -> dict[str, Any]:
    return import_signals(engine_for(ws.database_url), ws.id, path, rejects_dir=ws.root / "rejects", now=now)


def suppressions_file(ws: Workspace, path: Path, *, now: datetime) -> dict[str, Any]:
    return import_suppressions(
        engine_for(ws.database_url), ws.id, path, rejects_dir=ws.root / "rejects", now=now
    )


def init_workspace(ws: Workspace, *, now: datetime) -> dict[str, Any]:
    """Migrate the database and import the workspace's bundled files (idempotent)."""
    engine_for(ws.database_url)
    files: dict[str, Any] = {}
    for name, kind in BUNDLED:
        path = ws.root / name
        if not path.exists():
            continue
        if kind == "prospects":
            files[name] = import_file(ws, path, now=now).to_dict()
        elif kind == "signals":
            files[name] = {k: v for k, v in signals_file(ws, path, now=now).items() if k != "rejects"}
        else:
            files[name] = {k: v for k, v in suppressions_file(ws, path, now=now).items() if k != "rejects"}
    db = "sqlite" if ws.is_sqlite else "postgresql"
    return {"workspace": ws.id, "database": db, "files": files}
