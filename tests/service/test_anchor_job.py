"""The service anchors each workspace's decision log once a day, to the anchor file and,
when configured, to the Slack channel."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from agents.audit import anchor_path, generate_key, read_anchors
from core.workspace import load_workspace
from tests.fakes.slack_api import FakeSlackApi

from .conftest import MutableClock, make_app


def _anchors(ws: Any) -> list[dict]:
    path = anchor_path(ws)
    return [a for _, a in read_anchors(path)] if path.exists() else []


def test_the_scheduler_anchors_daily_and_posts_to_slack(
    ws: Any, fake_slack: FakeSlackApi, clock: MutableClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first tick anchors (file and Slack), a tick an hour later does not, and one a day
    later anchors again at the new head."""
    monkeypatch.setenv("OUTBOUND_KEY_DIR", str(tmp_path / "keys"))
    toml = ws.root / "workspace.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + "\n[audit]\nanchor_slack = true\n", encoding="utf-8")
    ws = load_workspace(ws.root)
    generate_key(ws)
    scheduler = make_app(ws, fake_slack, clock).state.scheduler
    assert "anchor:demo" in scheduler.tick(wait=True).periodic
    (first,) = _anchors(ws)
    posts = [
        c for c in fake_slack.calls_to("chat.postMessage") if "Decision log anchor" in c.body.get("text", "")
    ]
    assert len(posts) == 1 and first["seq"] > 0
    clock.at += timedelta(hours=1)
    assert "anchor:demo" not in scheduler.tick(wait=True).periodic
    clock.at += timedelta(hours=23)
    assert "anchor:demo" in scheduler.tick(wait=True).periodic
    assert [a["at"] for a in _anchors(ws)][0] == first["at"] and len(_anchors(ws)) == 2


def test_without_a_key_the_daily_anchor_is_skipped(
    ws: Any, fake_slack: FakeSlackApi, clock: MutableClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A workspace without an anchor key runs the job, writes nothing and fails nothing."""
    monkeypatch.setenv("OUTBOUND_KEY_DIR", str(tmp_path / "no-keys"))
    scheduler = make_app(ws, fake_slack, clock).state.scheduler
    scheduler.tick(wait=True)
    assert _anchors(ws) == []
