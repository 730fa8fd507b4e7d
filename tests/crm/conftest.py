"""CRM test fixtures: the demo workspace after its first day (run once per session on SQLite,
copied per test) and a fake HubSpot with a real client pointed at it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import at, copy_demo
from tests.fakes.hubspot_api import FakeHubSpot

DAY0 = at("2026-11-23T15:00:00Z")
LATER = at("2026-11-23T18:00:00Z")


@pytest.fixture(scope="session")
def _day0_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from agents.runner import run_daily
    from agents.services import init_workspace
    from core.workspace import load_workspace

    ws = load_workspace(copy_demo(tmp_path_factory.mktemp("crm") / "demo"))
    init_workspace(ws, now=at("2026-11-23T14:00:00Z"))
    run_daily(ws, now=DAY0)
    return ws.root


@pytest.fixture
def day0_ws(_day0_template: Path, tmp_path: Path):  # noqa: ANN201
    """A private copy of the demo workspace after day 0 (emails and LinkedIn sent)."""
    from core.workspace import load_workspace

    dest = tmp_path / "demo"
    shutil.copytree(_day0_template, dest)
    return load_workspace(dest)


@pytest.fixture
def fake_hubspot() -> Iterator[FakeHubSpot]:
    with FakeHubSpot() as fake:
        yield fake


@pytest.fixture
def hubspot(fake_hubspot: FakeHubSpot):  # noqa: ANN201
    """The HubSpot adapter over the real client, pointed at the fake; sleeps are recorded."""
    from tools.crm.hubspot import HubSpotCrm, hubspot_client

    crm = HubSpotCrm(hubspot_client(token=fake_hubspot.token, host=fake_hubspot.base_url), sleep=_Sleeps())
    return crm


class _Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)
