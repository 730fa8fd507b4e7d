"""Inbound leads and webhooks over HTTP: stored before 202, processed by the worker,
tier-1 owners notified, clear 4xx errors, and nothing lost when the service is killed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from state.db import engine_for
from state.models import InboundLead, Prospect

from .conftest import make_app

ROOT = Path(__file__).resolve().parents[2]
INBOUND_SECRET = "inbound-secret-for-tests-0001"
HEADERS = {"X-Webhook-Secret": INBOUND_SECRET}


def lead(i: int, **extra: str) -> dict[str, str]:
    return {
        "First Name": "Ines",
        "Last Name": f"Lead{i}",
        "Work Email": f"ines.lead{i}@acmerobotics.example",
        "Job Title": "CFO",
        "Company Name": "Acme Robotics",
        "Company Domain": "acmerobotics.example",
        "Country": "US",
        "Timezone": "America/New_York",
        "Owner": "tom@agency.example",
        "Tier": "2",
        **extra,
    }


def leads(ws: Any) -> list[InboundLead]:
    with Session(engine_for(ws.database_url)) as s:
        return list(s.exec(select(InboundLead).order_by(InboundLead.id)))


def wait_for(predicate: Any, timeout: float = 20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_lead_is_stored_processed_and_owner_notified(
    ws: Any, fake_slack: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tier-1 lead gets 202, becomes a processed prospect and its owner gets a Slack DM."""
    monkeypatch.setenv("OUTBOUND_WEBHOOK_SECRET_DEMO_INBOUND", INBOUND_SECRET)
    app = make_app(ws, fake_slack, clock, run_worker=True)
    with TestClient(app) as client:
        resp = client.post("/webhooks/inbound", json={"data": lead(1, Tier="1")}, headers=HEADERS)
        assert resp.status_code == 202 and resp.json()["duplicate"] is False
        again = client.post("/webhooks/inbound", json={"data": lead(1, Tier="1")}, headers=HEADERS)
        assert again.json() == {**resp.json(), "duplicate": True}
        assert wait_for(lambda: leads(ws)[0].status == "processed")
        metrics = client.get("/metrics").text
    row = leads(ws)[0]
    with Session(engine_for(ws.database_url)) as s:
        p = s.get(Prospect, row.prospect_id)
    assert p.email == "ines.lead1@acmerobotics.example" and p.tier == 1
    dms = [c for c in fake_slack.calls_to("chat.postMessage") if c.body.get("channel") == "U0TOM"]
    assert len(dms) == 1 and "tier-1 inbound lead" in dms[0].body["text"]
    assert 'outbound_inbound_queue_latency_seconds_count{workspace="demo"} 1.0' in metrics


def test_bad_requests_get_clear_errors(
    ws: Any, fake_slack: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Wrong secret 401, unusable lead 422 naming the problem, oversized body 413; nothing stored."""
    monkeypatch.setenv("OUTBOUND_WEBHOOK_SECRET_DEMO_INBOUND", INBOUND_SECRET)
    client = TestClient(make_app(ws, fake_slack, clock))
    assert (
        client.post("/webhooks/inbound", json=lead(1), headers={"X-Webhook-Secret": "nope"}).status_code
        == 401
    )
    bad = client.post("/webhooks/inbound", json={"First Name": "Anon"}, headers=HEADERS)
    assert bad.status_code == 422 and "cannot be identified" in bad.json()["error"]
    form = client.post(
        "/webhooks/inbound",
        content=b"email=not-an-address",
        headers={**HEADERS, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 422 and form.json()["field"] == "email"
    big = client.post("/webhooks/inbound", content=b"x" * 300_000, headers=HEADERS)
    assert big.status_code == 413
    assert client.post("/webhooks/events/instantly", json={}, headers=HEADERS).status_code == 401
    assert leads(ws) == []
    assert client.get("/healthz").json()["workspaces"]["demo"]["inbound_backlog"] == 0


def test_events_webhook_ingests_mapped_events(
    ws: Any, fake_slack: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signed provider webhook is mapped and handed to the events service."""
    pytest.importorskip("agents.events_service")
    import hashlib
    import hmac
    import json

    monkeypatch.setenv("OUTBOUND_WEBHOOK_SECRET_DEMO_INSTANTLY", "instantly-secret-0001")
    client = TestClient(make_app(ws, fake_slack, clock))
    body = json.dumps(
        {
            "event_type": "email_opened",
            "lead_email": "dana.whitfield@northwindfreight.example",
            "timestamp": "2026-11-23T16:00:00Z",
        }
    ).encode()
    sig = hmac.new(b"instantly-secret-0001", body, hashlib.sha256).hexdigest()
    resp = client.post(
        "/webhooks/events/instantly",
        content=body,
        headers={"X-Signature": f"sha256={sig}", "Content-Type": "application/json"},
    )
    assert resp.status_code == 200 and resp.json()["stored"] == 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_service(ws: Any, port: int) -> subprocess.Popen:
    env = {**os.environ, "OUTBOUND_WEBHOOK_SECRET_DEMO_INBOUND": INBOUND_SECRET}
    env.pop("SLACK_SIGNING_SECRET_DEMO", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "service", "-w", str(ws.root), "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ok = wait_for(lambda: _healthy(port), timeout=30)
    assert ok, "the service did not start"
    return proc


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.slow
def test_killed_mid_burst_loses_no_lead(ws: Any) -> None:
    """Every lead acknowledged before a SIGKILL is processed after the restart."""
    port = free_port()
    proc = start_service(ws, port)
    accepted = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=HEADERS, timeout=5) as http:
            for i in range(40):
                if i == 25:
                    proc.send_signal(signal.SIGKILL)
                try:
                    resp = http.post("/webhooks/inbound", json=lead(i))
                except httpx.HTTPError:
                    break
                assert resp.status_code == 202
                accepted.append(resp.json()["lead_id"])
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert 0 < len(accepted) <= 26
    assert any(row.status != "processed" for row in leads(ws)) or len(accepted) == len(leads(ws))
    proc = start_service(ws, port)
    try:
        assert wait_for(lambda: all(r.status == "processed" for r in leads(ws)), timeout=30)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    rows = leads(ws)
    assert {r.id for r in rows} >= set(accepted)
    assert all(r.prospect_id for r in rows)
