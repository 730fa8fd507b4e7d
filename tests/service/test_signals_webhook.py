"""POST /webhooks/signals: buying signals pushed by a webhook are validated like a signals
file, stored once, and become citable evidence."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from state.db import engine_for
from state.models import Evidence, Signal

from .conftest import make_app

SECRET = "signals-secret-for-tests-0001"


def test_signals_webhook_stores_validates_and_dedupes(
    ws: Any, fake_slack: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A good signal is stored with its evidence (once, even if posted twice); a bad row is
    reported with its field; a wrong secret is refused with 401."""
    monkeypatch.setenv("OUTBOUND_WEBHOOK_SECRET_DEMO_SIGNALS", SECRET)
    client = TestClient(make_app(ws, fake_slack, clock))
    good = {
        "company_domain": "acmerobotics.example",
        "type": "website_visit",
        "detail": "Visited the pricing page twice",
        "url": "https://ledgerly.example/pricing",
        "occurred_at": "2026-11-23T10:00:00Z",
    }
    headers = {"X-Webhook-Secret": SECRET}
    assert (
        client.post("/webhooks/signals", json=good, headers={"X-Webhook-Secret": "nope"}).status_code == 401
    )
    first = client.post(
        "/webhooks/signals", json={"signals": [good, {**good, "type": "rumour"}]}, headers=headers
    )
    again = client.post("/webhooks/signals", json=[good], headers=headers)
    assert first.status_code == 200 and first.json()["imported"] == 1
    assert first.json()["rejects"] == [
        {"line": 2, "field": "type", "reason": first.json()["rejects"][0]["reason"]}
    ]
    assert again.json()["duplicates"] == 1
    assert client.post("/webhooks/signals", content=b"{nope", headers=headers).status_code == 400
    with Session(engine_for(ws.database_url)) as s:
        assert len(s.exec(select(Signal).where(Signal.detail == good["detail"])).all()) == 1
        ev = s.exec(select(Evidence).where(Evidence.kind == "signal", Evidence.quote == good["detail"])).one()
    assert ev.data["type"] == "website_visit"
