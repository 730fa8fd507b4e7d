"""The daily digest: yesterday's figures posted once to the workspace's Slack channel."""

from __future__ import annotations

from pathlib import Path

from slack_sdk import WebClient

from core.workspace import load_workspace
from service.metrics import Metrics
from service.sites import Site
from service.web.digest import post_digest
from tests.conftest import at
from tests.fakes.slack_api import FakeSlackApi


def test_digest_posts_yesterdays_figures_once(ws, tmp_path: Path) -> None:  # noqa: ANN001
    """After the run hour the digest is posted with the day's sends and reviews; a second tick posts nothing."""
    with (ws.root / "workspace.toml").open("a", encoding="utf-8") as fh:
        fh.write('\n[slack]\nchannel = "#reviews"\n')
    ws = load_workspace(ws.root)
    with FakeSlackApi() as fake:
        site = Site(ws=ws, slack=WebClient(token=fake.token, base_url=fake.base_url))
        metrics = Metrics()
        assert (
            post_digest(site, metrics, now=at("2026-11-24T13:00:00Z")) is False
        )  # 08:00 New York: not yet due
        assert post_digest(site, metrics, now=at("2026-11-24T15:00:00Z")) is True
        assert post_digest(site, metrics, now=at("2026-11-24T15:01:00Z")) is False
        posts = fake.calls_to("chat.postMessage")
        assert len(posts) == 1
        text = posts[0].body["text"]
        assert "Ledgerly: outbound, 2026-11-23" in text
        assert "email" in text and "Reviews waiting: 7" in text
