"""Fuzzed requests to every webhook route and the Slack interaction route, signed and
unsigned: never a 5xx, and an unsigned request never changes anything."""

from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, func, select

from core.workspace import load_workspace
from service.app import SLACK_BODY_LIMIT
from state.db import engine_for
from state.models import EngagementEventRow, InboundLead
from tests.conftest import at
from tests.fuzz.strategies import deep, generic_events, json_values, provider_bodies

pytestmark = pytest.mark.slow  # hypothesis runs dozens of imports/requests per test
NOW = at("2026-11-24T16:00:00Z")
SLACK_SECRET = "slack-fuzz-secret-0123456789abcdef"
PROVIDERS = ("generic", "instantly", "smartlead", "heyreach", "sendoso")
SECRETS = {p: f"{p}-fuzz-secret" for p in (*PROVIDERS, "inbound")}
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class Clock:
    def now(self):  # noqa: ANN201
        return NOW


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    from agents.services import init_workspace
    from service.app import create_app
    from tests.conftest import copy_demo

    root = copy_demo(tmp_path_factory.mktemp("svcfuzz") / "demo")
    mp = pytest.MonkeyPatch()
    mp.setenv("SLACK_SIGNING_SECRET_DEMO", SLACK_SECRET)
    for provider, secret in SECRETS.items():
        mp.setenv(f"OUTBOUND_WEBHOOK_SECRET_DEMO_{provider.upper()}", secret)
    ws = load_workspace(root)
    init_workspace(ws, now=at("2026-11-23T14:00:00Z"))
    app = create_app(
        [ws], clock=Clock(), run_scheduler=False, run_worker=False, slack_client_factory=lambda w: None
    )
    yield ws, TestClient(app)
    mp.undo()


def stored(ws) -> tuple[int, int]:  # noqa: ANN001
    with Session(engine_for(ws.database_url)) as s:
        return (
            s.exec(
                select(func.count())
                .select_from(EngagementEventRow)
                .where(EngagementEventRow.workspace == ws.id)
            ).one(),
            s.exec(select(func.count()).select_from(InboundLead).where(InboundLead.workspace == ws.id)).one(),
        )


def sig(provider: str, body: bytes) -> dict[str, str]:
    digest = hmac.new(SECRETS[provider].encode(), body, hashlib.sha256).hexdigest()
    return {"X-Signature": f"sha256={digest}", "Content-Type": "application/json"}


bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    generic_events().map(lambda e: json.dumps(e).encode()),
    st.sampled_from(PROVIDERS[1:]).flatmap(provider_bodies).map(lambda b: json.dumps(b).encode()),
    st.sampled_from([deep(4000).encode(), b"\xff\xfe", b"", b'{"events": []}', b'{"a": "\\u0000"}']),
    st.binary(max_size=64),
)


@FUZZ
@given(route=st.sampled_from([*PROVIDERS, "inbound"]), body=bodies, signed=st.booleans(), form=st.booleans())
def test_webhook_routes_never_answer_5xx(client, route: str, body: bytes, signed: bool, form: bool) -> None:
    """Any body to any webhook route gets a 2xx or a 4xx with a reason; unsigned ones are
    refused (401) and store nothing."""
    ws, http = client
    url = "/webhooks/inbound" if route == "inbound" else f"/webhooks/events/{route}"
    headers = sig(route, body) if signed else {"Content-Type": "application/json"}
    if form:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    before = stored(ws)
    resp = http.post(url, content=body, headers=headers)
    assert resp.status_code < 500, (resp.status_code, resp.text)
    if resp.status_code >= 400:
        assert resp.json().get("error")
    if not signed:
        assert resp.status_code == 401 and stored(ws) == before


@FUZZ
@given(
    payload=st.one_of(
        json_values, st.dictionaries(st.sampled_from(["type", "actions", "view", "user"]), json_values)
    ),
    signed=st.booleans(),
    depth=st.sampled_from([0, 0, 3000]),
)
def test_slack_route_never_answers_5xx(client, payload, signed: bool, depth: int) -> None:
    """Any payload, signed or not, deep or not, gets a 4xx with a reason (or 2xx), never 5xx."""
    ws, http = client
    raw = json.dumps(payload) if not depth else deep(depth)
    body = urlencode({"payload": raw}).encode()
    ts = str(int(NOW.timestamp()))
    secret = SLACK_SECRET if signed else "wrong-secret"
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
    }
    resp = http.post("/slack/interactions", content=body, headers=headers)
    assert resp.status_code < 500, (resp.status_code, resp.text)
    if len(body) > SLACK_BODY_LIMIT:  # refused by size before the signature is read
        assert resp.status_code == 413
    elif not signed:
        assert resp.status_code == 401
    elif resp.status_code >= 400:
        assert resp.json().get("error")
