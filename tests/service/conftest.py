"""Fixtures for the service: a demo workspace with real pending reviews (made once by
the daily run and copied per test), a local fake Slack Web API, and the app."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from slack_sdk import WebClient

from core.workspace import Workspace, load_workspace
from tests.conftest import at, copy_demo
from tests.fakes.slack_api import FakeSlackApi, signed_request

SECRET = "test-signing-secret-0123456789abcdef"
SLACK_TOML = """
[slack]
channel = "#reviews"
approvers = ["U0ALICE"]
owner_slack_ids = { "tom@agency.example" = "U0TOM" }

[review]
remind_after_hours = 4
expire_after_hours = 48
"""


@dataclass
class MutableClock:
    at: datetime

    def now(self) -> datetime:
        return self.at


@pytest.fixture(scope="session")
def reviewed_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo workspace after init and one daily run: seven tier-1 reviews pending."""
    from agents.runner import run_daily
    from agents.services import init_workspace

    root = copy_demo(tmp_path_factory.mktemp("tpl") / "demo", relaxed=True)
    with (root / "workspace.toml").open("a", encoding="utf-8") as fh:
        fh.write(SLACK_TOML)
    ws = load_workspace(root)
    init_workspace(ws, now=at("2026-11-23T14:00:00Z"))
    run_daily(ws, now=at("2026-11-23T15:00:00Z"))
    return root


@pytest.fixture
def ws(reviewed_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    dest = tmp_path / "demo"
    shutil.copytree(reviewed_template, dest)
    monkeypatch.setenv("SLACK_SIGNING_SECRET_DEMO", SECRET)
    return load_workspace(dest)


@pytest.fixture
def fake_slack() -> Iterator[FakeSlackApi]:
    with FakeSlackApi() as fake:
        yield fake


@pytest.fixture
def clock() -> MutableClock:
    return MutableClock(at("2026-11-23T16:30:00Z"))


def make_app(ws: Workspace, fake: FakeSlackApi, clock: MutableClock, *, run_worker: bool = False) -> Any:
    from service.app import create_app

    return create_app(
        [ws],
        clock=clock,
        run_scheduler=False,
        run_worker=run_worker,
        slack_client_factory=lambda w: WebClient(token=fake.token, base_url=fake.base_url),
    )


@pytest.fixture
def app(ws: Workspace, fake_slack: FakeSlackApi, clock: MutableClock) -> Any:
    return make_app(ws, fake_slack, clock)


@pytest.fixture
def client(app: Any) -> TestClient:
    return TestClient(app)


def sign(
    payload: dict[str, Any], clock: MutableClock, *, secret: str = SECRET, skew: int = 0
) -> tuple[bytes, dict[str, str]]:
    return signed_request(secret, payload, timestamp=int(clock.now().timestamp()) + skew)
