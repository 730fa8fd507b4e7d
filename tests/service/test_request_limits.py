"""The HTTP service against malformed, oversized and deeply nested requests (issue 15):
every one answers 4xx with a reason and changes nothing; blocking work runs off the
event loop; `serve` says where it listens and what is not configured."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, func, select

from agents.services import init_workspace
from core.workspace import load_workspace
from state.db import engine_for
from state.models import DecisionRecord, EngagementEventRow, InboundLead
from tests.conftest import at, copy_demo
from tests.fakes.slack_api import signed_request

SLACK_SECRET = "slack-secret-for-limits-0123456789"
SECRETS = {
    p: f"{p}-secret-0001" for p in ("generic", "instantly", "smartlead", "heyreach", "sendoso", "inbound")
}
NOW = at("2026-11-24T16:00:00Z")
DANA = "dana.whitfield@northwindfreight.example"


class Clock:
    def now(self):  # noqa: ANN201
        return NOW


@pytest.fixture(scope="module")
def ready_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_demo(tmp_path_factory.mktemp("limits") / "demo")
    init_workspace(load_workspace(root), now=at("2026-11-23T14:00:00Z"))
    return root


@pytest.fixture
def service(ready_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    import shutil

    from service.app import create_app

    root = tmp_path / "demo"
    shutil.copytree(ready_root, root)
    monkeypatch.setenv("SLACK_SIGNING_SECRET_DEMO", SLACK_SECRET)
    for provider, secret in SECRETS.items():
        monkeypatch.setenv(f"OUTBOUND_WEBHOOK_SECRET_DEMO_{provider.upper()}", secret)
    ws = load_workspace(root)
    app = create_app(
        [ws], clock=Clock(), run_scheduler=False, run_worker=False, slack_client_factory=lambda w: None
    )
    return ws, TestClient(app)


def signed(provider: str, body: bytes) -> dict[str, str]:
    sig = hmac.new(SECRETS[provider].encode(), body, hashlib.sha256).hexdigest()
    return {"X-Signature": f"sha256={sig}", "Content-Type": "application/json"}


def counts(ws) -> tuple[int, int, int]:  # noqa: ANN001
    with Session(engine_for(ws.database_url)) as s:
        return tuple(  # type: ignore[return-value]
            s.exec(select(func.count()).select_from(m).where(m.workspace == ws.id)).one()
            for m in (EngagementEventRow, DecisionRecord, InboundLead)
        )


def slack_body(raw_payload: str) -> tuple[bytes, dict[str, str]]:
    body = urlencode({"payload": raw_payload}).encode()
    ts = str(int(NOW.timestamp()))
    digest = hmac.new(SLACK_SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return body, {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
    }


def test_signed_slack_payload_nested_thousands_deep_is_400(service) -> None:  # noqa: ANN001
    """A signed Slack payload nested 3,000 levels deep answers 400 with the reason."""
    ws, client = service
    body, headers = slack_body('{"type":"block_actions","x":' + "[" * 3000 + "]" * 3000 + "}")
    resp = client.post("/slack/interactions", content=body, headers=headers)
    assert resp.status_code == 400 and "nested 3001 levels deep" in resp.json()["error"]


@pytest.mark.parametrize(
    "route", ["/webhooks/events/generic", "/webhooks/events/instantly", "/webhooks/inbound"]
)
def test_signed_deeply_nested_bodies_are_400_and_change_nothing(service, route: str) -> None:  # noqa: ANN001
    """Webhook and inbound bodies nested deeply answer 400 (not 500) and store nothing."""
    ws, client = service
    provider = route.rsplit("/", 1)[-1]
    body = ('{"a":' + "[" * 5000 + "]" * 5000 + "}").encode()
    before = counts(ws)
    resp = client.post(route, content=body, headers=signed(provider, body))
    assert resp.status_code == 400 and "nested" in resp.json()["error"]
    assert counts(ws) == before


def test_bracket_in_url_of_an_inbound_lead_is_422(service) -> None:  # noqa: ANN001
    """A '[' in a lead's website or LinkedIn URL is a 422 naming the field, not a 500."""
    ws, client = service
    body = json.dumps({"email": "new.lead@acme.com", "Website": "http://[acme.com/"}).encode()
    resp = client.post("/webhooks/inbound", content=body, headers=signed("inbound", body))
    assert resp.status_code == 422 and resp.json()["field"] == "company_domain"
    body = json.dumps({"email": "new.lead@acme.com", "LinkedIn": "https://[linkedin.com/in/x"}).encode()
    resp = client.post("/webhooks/inbound", content=body, headers=signed("inbound", body))
    assert resp.status_code == 422 and resp.json()["field"] == "linkedin_url"


def test_generic_batch_with_one_bad_event_is_stored_once_and_redelivery_never_fails(service) -> None:  # noqa: ANN001
    """A generic batch with a bad event stores the good ones, reports the bad one by index,
    and a redelivery answers 200 with duplicates and stores nothing twice."""
    ws, client = service
    events = [
        {"type": "replied", "email": DANA, "occurred_at": "2026-11-24T10:00:00Z", "text": "Thanks, not now."},
        {"type": "opened", "email": DANA, "occurred_at": "0001-01-01T00:00:00+05:00"},
    ]
    body = json.dumps({"events": events}).encode()
    first = client.post("/webhooks/events/generic", content=body, headers=signed("generic", body))
    again = client.post("/webhooks/events/generic", content=body, headers=signed("generic", body))
    assert first.status_code == 200 and first.json()["stored"] == 1
    assert first.json()["rejects"][0]["index"] == 1 and "out of range" in first.json()["rejects"][0]["reason"]
    assert again.status_code == 200 and again.json()["stored"] == 0 and again.json()["duplicates"] == 1
    with Session(engine_for(ws.database_url)) as s:
        rows = s.exec(select(EngagementEventRow).where(EngagementEventRow.workspace == ws.id)).all()
    assert len(rows) == 1


def test_out_of_office_until_year_1_is_not_a_500(service) -> None:  # noqa: ANN001
    """A signed reply saying "out of office until 0001-01-01" is stored and answered 200."""
    ws, client = service
    body = json.dumps(
        {
            "type": "replied",
            "email": "aroha.ngata@kauricloud.example",
            "occurred_at": "2026-11-24T10:00:00Z",
            "text": "Out of office until 0001-01-01.",
        }
    ).encode()
    resp = client.post("/webhooks/events/generic", content=body, headers=signed("generic", body))
    assert resp.status_code == 200 and resp.json()["stored"] == 1


def test_nul_characters_and_empty_batches_are_4xx(service) -> None:  # noqa: ANN001
    """A NUL character (PostgreSQL cannot store it) or an empty batch answers 4xx with a reason."""
    ws, client = service
    before = counts(ws)
    body = json.dumps(
        {"type": "opened", "email": DANA, "occurred_at": "2026-11-24T10:00:00Z", "text": "a\x00b"}
    ).encode()
    nul = client.post("/webhooks/events/generic", content=body, headers=signed("generic", body))
    assert nul.status_code == 422 and "NUL" in nul.json()["rejects"][0]["reason"]
    body = b'{"events": []}'
    empty = client.post("/webhooks/events/instantly", content=body, headers=signed("instantly", body))
    assert empty.status_code == 422 and "empty" in empty.json()["error"]
    assert counts(ws) == before


def test_blocking_work_runs_off_the_event_loop(service, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """Event ingestion and Slack interaction handling run in the threadpool, not on the
    event loop (no running loop in the thread that does the database work)."""
    import service.app as app_module
    from service.interactions import Interactions

    seen: dict[str, bool] = {}

    def on_loop() -> bool:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        return True

    real_ingest = app_module.ingest_webhook

    def spy_ingest(*args: Any, **kwargs: Any) -> Any:
        seen["ingest"] = on_loop()
        return real_ingest(*args, **kwargs)

    real_handle = Interactions.handle

    def spy_handle(self: Any, *args: Any) -> Any:
        seen["slack"] = on_loop()
        return real_handle(self, *args)

    monkeypatch.setattr(app_module, "ingest_webhook", spy_ingest)
    monkeypatch.setattr(Interactions, "handle", spy_handle)
    ws, client = service
    body = json.dumps({"type": "opened", "email": DANA, "occurred_at": "2026-11-24T10:00:00Z"}).encode()
    assert (
        client.post("/webhooks/events/generic", content=body, headers=signed("generic", body)).status_code
        == 200
    )
    slack, headers = signed_request(SLACK_SECRET, {"type": "view_closed"}, timestamp=int(NOW.timestamp()))
    assert client.post("/slack/interactions", content=slack, headers=headers).status_code == 400
    assert seen == {"ingest": False, "slack": False}


def test_serve_reports_where_it_listens_and_what_is_missing(
    ready_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The startup report names the address and every unset Slack and webhook secret (by
    variable name only)."""
    from service.startup import startup_report

    for name in ("SLACK_SIGNING_SECRET_DEMO", "SLACK_BOT_TOKEN_DEMO"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OUTBOUND_WEBHOOK_SECRET_DEMO_INSTANTLY", "set-and-never-printed")
    info, warnings = startup_report([load_workspace(ready_root)], host="0.0.0.0", port=9090)
    assert info[0].startswith("listening on http://0.0.0.0:9090")
    text = "\n".join(warnings)
    assert "SLACK_SIGNING_SECRET_DEMO is not set" in text and "SLACK_BOT_TOKEN_DEMO is not set" in text
    assert "OUTBOUND_WEBHOOK_SECRET_DEMO_SMARTLEAD" in text and "set-and-never-printed" not in text
    assert "OUTBOUND_WEBHOOK_SECRET_DEMO_INSTANTLY" not in text
