"""Shared fixtures: demo workspace copies on SQLite and (when TEST_DATABASE_URL is set)
PostgreSQL. No test reaches the network: a global guard refuses model API keys."""

from __future__ import annotations

import os
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo"
PG_URL = os.environ.get("TEST_DATABASE_URL", "")

# Model calls are impossible by accident: no key, and an unroutable base URL.
os.environ.pop("ANTHROPIC_API_KEY", None)
os.environ["ANTHROPIC_BASE_URL"] = "http://127.0.0.1:9/"

BACKENDS = ["sqlite"] + (["postgres"] if PG_URL else [])


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def relax_demo_caps(text: str) -> str:
    """The demo's workspace.toml without its deliberately tight mailbox and budget caps, for
    tests about something else (delivery, Slack) that must not hit them."""
    return (text.replace("mailbox_daily_cap = 18", "mailbox_daily_cap = 40")
            .replace("[policy.budget.run]\ncredits = 40", "[policy.budget.run]\ncredits = 1000"))


def copy_demo(dest: Path, *, backend: str = "sqlite", relaxed: bool = False) -> Path:
    """A fresh copy of the demo workspace; on PostgreSQL it gets a unique workspace id.
    `relaxed` lifts the demo's tight capacity and budget caps."""
    shutil.copytree(DEMO, dest, ignore=shutil.ignore_patterns("var", "outbox", "rejects"))
    toml = dest / "workspace.toml"
    text = toml.read_text(encoding="utf-8")
    if relaxed:
        text = relax_demo_caps(text)
    if backend == "postgres":
        wid = f"t{uuid.uuid4().hex[:10]}"
        text = text.replace('id = "demo"', f'id = "{wid}"', 1)
        text += f'\ndatabase_url = "{PG_URL}"\n'
        # database_url is a top-level key: move it above the first table
        lines = text.splitlines()
        lines = [ln for ln in lines if not ln.startswith("database_url")]
        lines.insert(0, f'database_url = "{PG_URL}"')
        text = "\n".join(lines) + "\n"
    toml.write_text(text, encoding="utf-8")
    return dest


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def demo_ws(tmp_path: Path, backend: str):  # noqa: ANN201
    from core.workspace import load_workspace

    return load_workspace(copy_demo(tmp_path / "demo", backend=backend))


@pytest.fixture
def ready_ws(demo_ws):  # noqa: ANN001, ANN201
    """The demo workspace with its bundled files imported."""
    from agents.services import init_workspace

    init_workspace(demo_ws, now=at("2026-11-23T14:00:00Z"))
    return demo_ws
