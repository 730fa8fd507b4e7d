"""The web view in a real browser: the system's headless Chromium (installed by .ci/run),
driven by playwright, against the service on 127.0.0.1. Screenshots of the dashboard and a
prospect page go to test-output/."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.workspace import Workspace
from tests.conftest import ROOT
from tests.web.conftest import APPROVER, pending_review, review_status

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OUT = ROOT / "test-output"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (installed by .ci/run)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(ws: Workspace) -> Iterator[str]:
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "OUTBOUND_WEB_SECRET": "browser-test-secret-0123456789abcdef",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.web.serve_fixed", str(ws.root), str(port), "2026-11-23T16:30:00Z"],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise RuntimeError("the service did not start")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def test_sign_in_browse_every_page_and_approve_a_review(server: str, browser, ws: Workspace) -> None:  # noqa: ANN001
    """A user signs in, every page loads without console errors, and an approval from the browser sends the message."""
    OUT.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    page.goto(f"{server}/web/demo/")
    assert "/web/login" in page.url
    page.fill("#user", APPROVER[0])
    page.fill("#password", APPROVER[1])
    page.click("#sign-in")
    page.wait_for_url(f"{server}/web/demo/")
    assert page.locator("#funnel-chart svg").count() == 1
    assert page.locator("#spend-chart svg").count() >= 1
    page.screenshot(path=str(OUT / "dashboard.png"), full_page=True)

    review = pending_review(ws)
    run_id = review.requested_run_id
    for path in [
        "/web/demo/prospects",
        f"/web/demo/prospects/{review.prospect_id}",
        f"/web/demo/runs/{run_id}",
        "/web/demo/reviews",
        f"/web/demo/reviews/{review.id}",
        "/web/demo/replay",
        "/web/demo/report.html",
    ]:
        response = page.goto(server + path)
        assert response is not None and response.status == 200, path
    page.goto(f"{server}/web/demo/prospects/{review.prospect_id}")
    assert page.locator("text=Why each decision was taken").count() == 1
    page.screenshot(path=str(OUT / "prospect.png"), full_page=True)

    page.goto(f"{server}/web/demo/reviews/{review.id}")
    page.click("#approve")
    page.wait_for_selector("#flash")
    assert "approve recorded; sent: 1" in page.locator("#flash").inner_text()
    assert review_status(ws, review.id) == "approved"
    page.goto(f"{server}/web/demo/prospects/{review.prospect_id}")
    assert page.locator(".card .pill.sent").count() >= 1
    assert errors == []


def test_report_html_renders_offline(ws: Workspace, browser, tmp_path: Path) -> None:  # noqa: ANN001
    """The report file written by `report --html` renders its charts with the browser offline and fetches nothing."""
    from typer.testing import CliRunner

    from run import app

    OUT.mkdir(exist_ok=True)
    out = OUT / "report.html"
    r = CliRunner().invoke(
        app, ["report", "-w", str(ws.root), "--from", "2026-11-01", "--to", "2026-11-30", "--html", str(out)]
    )
    assert r.exit_code == 0, r.output
    local = tmp_path / "report.html"
    shutil.copy(out, local)
    context = browser.new_context(offline=True)
    requests: list[str] = []
    context.on("request", lambda req: requests.append(req.url))
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(local.as_uri())
    charts = page.locator("svg.chart")
    assert charts.count() >= 6
    for i in range(charts.count()):
        box = charts.nth(i).bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 40
    assert page.locator("svg.chart rect").count() > 5
    page.screenshot(path=str(OUT / "report.png"), full_page=True)
    assert errors == []
    assert [u for u in requests if not u.startswith("file:")] == []
    context.close()
