"""Fixtures for the web view: the demo workspace after init and one daily run (seven
tier-1 reviews pending), copied per test, served by the real app with a fixed clock;
helpers to sign in and to read a page's CSRF token."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from core.workspace import Workspace, load_workspace
from tests.conftest import at, copy_demo

SECRET = "web-test-secret-0123456789abcdef0123456789"
APPROVER = ("demo", "demo-password-2026")
VIEWER = ("viewer", "viewer-password-2026")


@dataclass
class FixedClock:
    at: datetime

    def now(self) -> datetime:
        return self.at


@pytest.fixture(scope="session")
def web_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from agents.runner import run_daily
    from agents.services import init_workspace

    root = copy_demo(tmp_path_factory.mktemp("webtpl") / "demo", relaxed=True)
    ws = load_workspace(root)
    init_workspace(ws, now=at("2026-11-23T14:00:00Z"))
    run_daily(ws, now=at("2026-11-23T15:00:00Z"))
    return root


@pytest.fixture
def ws(web_template: Path, tmp_path: Path) -> Workspace:
    dest = tmp_path / "demo"
    shutil.copytree(web_template, dest)
    return load_workspace(dest)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(at("2026-11-23T16:30:00Z"))


def make_client(workspaces: list[Workspace], clock: FixedClock) -> TestClient:
    from service.app import create_app

    app = create_app(
        workspaces,
        clock=clock,
        run_scheduler=False,
        run_worker=False,
        slack_client_factory=lambda w: None,
        web_secret=SECRET,
    )
    return TestClient(app)


@pytest.fixture
def client(ws: Workspace, clock: FixedClock) -> Iterator[TestClient]:
    with make_client([ws], clock) as c:
        yield c


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "the page has no CSRF field"
    return m.group(1)


def sign_in(client: TestClient, user: tuple[str, str]) -> None:
    token = csrf_of(client.get("/web/login").text)
    r = client.post(
        "/web/login",
        data={"csrf": token, "user": user[0], "password": user[1], "next": "/web/"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text


def pending_review(ws: Workspace) -> Any:
    from state.db import engine_for
    from state.models import Prospect, Review

    # A pending email review of a prospect in the Americas: at the tests' clock (16:30 UTC on a
    # Monday) that is inside the sending window, so an approval sends at once.
    with Session(engine_for(ws.database_url)) as s:
        return s.exec(
            select(Review)
            .join(Prospect, Prospect.id == Review.prospect_id)
            .where(
                Review.workspace == ws.id,
                Review.status == "pending",
                Review.channel == "email",
                Prospect.timezone.startswith("America/"),  # type: ignore[union-attr]
            )
            .order_by(Review.id)
        ).first()


def review_status(ws: Workspace, review_id: str) -> str:
    from state.db import engine_for
    from state.models import Review

    with Session(engine_for(ws.database_url)) as s:
        return s.get(Review, review_id).status


def web_records(ws: Workspace) -> list[dict[str, Any]]:
    from state.db import engine_for
    from state.decision_log import load_body
    from state.models import DecisionRecord

    with Session(engine_for(ws.database_url)) as s:
        rows = s.exec(
            select(DecisionRecord).where(DecisionRecord.workspace == ws.id).order_by(DecisionRecord.seq)
        ).all()
        return [load_body(r) for r in rows]
