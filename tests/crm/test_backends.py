"""The CRM and Clay tables on both backends (SQLite and, when configured, PostgreSQL)."""

from __future__ import annotations

import httpx
import pytest
from sqlmodel import Session, select

from agents.runner import run_daily
from state.db import engine_for
from state.models_crm import ClayPush, CrmFacts, CrmLink
from tests.conftest import at
from tests.fakes.clay_webhook import FakeClayWebhook
from tools.clay import push_changed
from tools.crm.facts import read_facts
from tools.crm.sync import sync_workspace


@pytest.mark.slow
def test_links_facts_and_pushes_persist_on_each_backend(ready_ws, hubspot, fake_hubspot) -> None:  # noqa: ANN001
    """Sync links, the facts cache and Clay push digests are stored and make re-runs no-ops."""
    ws = ready_ws
    run_daily(ws, now=at("2026-11-23T15:00:00Z"))
    later = at("2026-11-23T18:00:00Z")
    assert sync_workspace(ws, now=later, crm=hubspot).writes > 0
    assert sync_workspace(ws, now=later, crm=hubspot).writes == 0
    engine = engine_for(ws.database_url)
    with Session(engine) as s:
        links = s.exec(select(CrmLink).where(CrmLink.workspace == ws.id)).all()
        assert {link.kind for link in links} >= {"contact", "company", "touch"}
        email = next(iter(fake_hubspot.objects["contacts"].values())).get("email", "")
        assert read_facts(s, ws, hubspot, email, later)["cached"] is False
        assert read_facts(s, ws, hubspot, email, later)["cached"] is True
    with Session(engine) as s:
        assert s.get(CrmFacts, (ws.id, "hubspot", email)) is not None
        with FakeClayWebhook() as fake, httpx.Client() as client:
            first = push_changed(s, ws, url=fake.url, client=client, now=later)
            again = push_changed(s, ws, url=fake.url, client=client, now=later)
        assert first.pushed == len(fake.rows) > 0 and again.pushed == 0
        assert len(s.exec(select(ClayPush).where(ClayPush.workspace == ws.id)).all()) == first.pushed
