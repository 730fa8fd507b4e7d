"""Shared fixtures: demo workspace copies on SQLite and (when TEST_DATABASE_URL is set)
PostgreSQL. No test reaches the network: a global guard refuses model API keys."""

from __future__ import annotations

import os
import shutil
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo"
PG_URL = os.environ.get("TEST_DATABASE_URL", "")


def _per_worker_database(url: str, worker: str) -> str:
    """Under pytest-xdist each worker gets its own PostgreSQL database (`<name>_<worker>`,
    created when missing), so workers never share workspace rows or checkpoints."""
    import psycopg
    from sqlalchemy.engine import make_url

    base = make_url(url)
    if str(base.database).endswith(f"_{worker}"):
        return url  # a process started by a test inherits the worker's own database already
    name = f"{base.database}_{worker}"
    admin = base.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not found:
            try:
                conn.execute(f'CREATE DATABASE "{name}"')
            except (psycopg.errors.DuplicateDatabase, psycopg.errors.UniqueViolation):
                pass  # created by another process at the same moment
    return base.set(database=name).render_as_string(hide_password=False)


if PG_URL and os.environ.get("PYTEST_XDIST_WORKER"):
    PG_URL = _per_worker_database(PG_URL, os.environ["PYTEST_XDIST_WORKER"])
    os.environ["TEST_DATABASE_URL"] = PG_URL  # subprocesses started by tests use it too

# Model calls are impossible by accident: no key, and an unroutable base URL.
os.environ.pop("ANTHROPIC_API_KEY", None)
os.environ["ANTHROPIC_BASE_URL"] = "http://127.0.0.1:9/"
# Loggers are not cached, so structlog.testing.capture_logs sees every event (core/logging.py).
os.environ["OUTBOUND_LOG_CACHE"] = "0"

# ...and no test reaches a host other than this machine: a connection anywhere else is
# refused and fails the test that tried it (see `_no_outside_hosts`).
_OUTSIDE_ATTEMPTS: list[str] = []
_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        host = str(address[0])
        if not (host.startswith("127.") or host in ("::1", "localhost")):
            _OUTSIDE_ATTEMPTS.append(host)
            raise ConnectionRefusedError(f"tests may not reach {host}: only 127.0.0.1 is allowed")
    return _real_connect(self, address)


socket.socket.connect = _loopback_only  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _no_outside_hosts() -> Any:
    """Fails any test during which code tried to connect to a host other than loopback."""
    start = len(_OUTSIDE_ATTEMPTS)
    yield
    tried = _OUTSIDE_ATTEMPTS[start:]
    assert not tried, f"the test tried to reach outside hosts: {sorted(set(tried))}"


BACKENDS = ["sqlite"] + (["postgres"] if PG_URL else [])


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def relax_demo_caps(text: str) -> str:
    """The demo's workspace.toml without its deliberately tight mailbox and budget caps, for
    tests about something else (delivery, Slack) that must not hit them."""
    return text.replace("mailbox_daily_cap = 18", "mailbox_daily_cap = 40").replace(
        "[policy.budget.run]\ncredits = 40", "[policy.budget.run]\ncredits = 1000"
    )


def copy_demo(dest: Path, *, backend: str = "sqlite", relaxed: bool = False) -> Path:
    """A fresh copy of the demo workspace; on PostgreSQL it gets a unique workspace id.
    `relaxed` lifts the demo's tight capacity and budget caps."""
    shutil.copytree(DEMO, dest, ignore=shutil.ignore_patterns("var", "outbox", "rejects"))
    toml = dest / "workspace.toml"
    text = toml.read_text(encoding="utf-8")
    if relaxed:
        text = relax_demo_caps(text)
    if backend == "postgres":
        # The same workspace id as on SQLite keeps prospect ids, and so the order prospects
        # are processed in, identical on both backends; its old rows are purged first.
        purge_postgres_workspace("demo")
        text = f'database_url = "{PG_URL}"\n' + text
    toml.write_text(text, encoding="utf-8")
    return dest


def purge_postgres_workspace(workspace: str) -> None:
    """Delete every row and checkpoint of one workspace from the test PostgreSQL database."""
    from sqlalchemy import inspect, text
    from sqlmodel import SQLModel

    from state.db import engine_for

    engine = engine_for(PG_URL)
    existing = set(inspect(engine).get_table_names())
    with engine.begin() as conn:
        for table in reversed(SQLModel.metadata.sorted_tables):
            if "workspace" in table.c and table.name in existing:
                conn.execute(table.delete().where(table.c.workspace == workspace))
        for name in ("checkpoint_writes", "checkpoint_blobs", "checkpoints"):
            if name in existing:
                conn.execute(text(f"DELETE FROM {name} WHERE thread_id LIKE :p"), {"p": f"{workspace}:%"})


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
