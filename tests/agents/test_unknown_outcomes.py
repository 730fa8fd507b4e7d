"""At most once per attempt, never silently twice: with 20% of provider requests failing
AFTER the provider acted (SMTP connection dropped after DATA; HTTP 500, reset or timeout
after processing), delivery through the outbox never acts twice on one message, and every
unknown outcome is a visible `unknown` row with a decision and one operator task."""

from __future__ import annotations

import hashlib
import json
import warnings
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from agents.context import build_context
from agents.delivery import deliver, reconcile_unknown, resolve_unknown
from agents.state import initial_state
from core.errors import InputError
from state.db import engine_for, session_scope
from state.decision_log import load_body
from state.models import DecisionRecord, OutboxMessage, Prospect, Task
from tests.conftest import at
from tests.fakes.faults import AfterProcessingFaults
from tests.fakes.smtp_server import FakeSmtpServer
from tests.fakes.vendor_api import FakeVendorApi
from tools.channels.base import DeliveryResult, OutboundMessage, Recipient
from tools.channels.heyreach import HeyReachChannel
from tools.channels.resilience import ResilientChannel, RetryPolicy
from tools.channels.sendoso import SendosoChannel
from tools.channels.smtp import SmtpChannel

NOW = at("2026-11-23T15:00:00Z")
N = 150
SECRET = "sk-fake-after-processing"
POLICY = RetryPolicy(max_attempts=4, base_delay=0.0, max_delay=0.0, jitter=0.0)


def _no_sleep(seconds: float) -> None:
    return None


def _key(i: int) -> str:
    return hashlib.sha256(f"unknown-outcomes-{i}".encode()).hexdigest()


def _prospect(ws) -> str:  # noqa: ANN001
    with Session(engine_for(ws.database_url)) as s:
        return s.exec(select(Prospect.id).where(Prospect.workspace == ws.id)).first()


def _deliver_all(ws, channel_name: str, kind: str, inner: Any) -> list[str]:  # noqa: ANN001
    """Create N outbox rows and deliver each once through the retrying channel."""
    engine = engine_for(ws.database_url)
    pid = _prospect(ws)
    channel = ResilientChannel(inner, POLICY, _no_sleep)
    ctx = build_context(ws, engine, channels={channel_name: channel})
    keys = [_key(i) for i in range(N)]
    with session_scope(engine) as s:
        for key in keys:
            s.add(
                OutboxMessage(
                    workspace=ws.id,
                    prospect_id=pid,
                    idempotency_key=key,
                    step_id="step",
                    channel=channel_name,
                    kind=kind,
                    draft_id="d_none",
                    provider=inner.name,
                    status="pending",
                    created_at=NOW,
                )
            )
    for run in range(2):  # a second run must not re-send anything, unknown rows included
        state = initial_state(prospect_id=pid, thread_id="t", run_id=f"run_{run}", now=NOW.isoformat())
        for i, key in enumerate(keys):
            deliver(ctx, state, key, _message(ctx, key, channel_name, kind, pid, i))
    return keys


def _message(ctx, key: str, channel: str, kind: str, pid: str, i: int) -> OutboundMessage:  # noqa: ANN001
    return OutboundMessage(
        idempotency_key=key,
        channel=channel,
        kind=kind,
        sender=ctx.sender,
        recipient=Recipient(
            prospect_id=pid,
            name=f"Person {i}",
            email=f"person{i}@example.com",
            linkedin_url=f"https://www.linkedin.com/in/person-{i}",
        ),
        subject="Hello",
        body=f"Hi person {i}, a short note.",
        step_id="step",
    )


def _rows(ws) -> list[OutboxMessage]:  # noqa: ANN001
    with Session(engine_for(ws.database_url)) as s:
        return list(s.exec(select(OutboxMessage).where(OutboxMessage.workspace == ws.id)).all())


def _decisions(ws, action: str) -> list[dict[str, Any]]:  # noqa: ANN001
    with Session(engine_for(ws.database_url)) as s:
        found = s.exec(
            select(DecisionRecord).where(DecisionRecord.workspace == ws.id, DecisionRecord.action == action)
        ).all()
        return [load_body(d) for d in found]


def _tasks(ws) -> list[Task]:  # noqa: ANN001
    with Session(engine_for(ws.database_url)) as s:
        return list(
            s.exec(select(Task).where(Task.workspace == ws.id, Task.kind == "delivery_unknown")).all()
        )


def _check_visible(ws, acted: Counter, faults: AfterProcessingFaults) -> list[OutboxMessage]:  # noqa: ANN001
    """Nothing acted on twice; every row sent or unknown; each unknown row has its decision
    (with the call's outcome) and exactly one open operator task."""
    assert faults.injected, "the fault plan injected nothing"
    assert max(acted.values()) == 1, [k for k, n in acted.items() if n > 1]
    rows = _rows(ws)
    assert len(rows) == N and sum(acted.values()) == N
    by_status = Counter(r.status for r in rows)
    unknown = [r for r in rows if r.status == "unknown"]
    assert by_status == {"sent": N - len(unknown), "unknown": len(unknown)}
    assert len(unknown) == len(faults.injected)
    decided = {d["tool"]["input"]["idempotency_key"]: d for d in _decisions(ws, "send_unknown")}
    assert set(decided) == {r.idempotency_key for r in unknown}
    assert all(d["tool"]["result"]["attempts"][-1]["outcome"] == "unknown" for d in decided.values())
    tasks = _tasks(ws)
    assert sorted(t.dedupe_key for t in tasks) == sorted(
        f"delivery_unknown:{r.idempotency_key}" for r in unknown
    )
    assert {t.status for t in tasks} == {"open"}
    return unknown


@pytest.fixture
def http_client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False) as client:
        yield client


@pytest.mark.slow
def test_smtp_drop_after_data_is_never_sent_twice(ready_ws):
    """SMTP: 20% of connections drop after the server queued the message; every Message-ID
    arrives once and each dropped one is an unknown row with one operator task."""
    faults = AfterProcessingFaults(0.2, ("drop",), seed=11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with FakeSmtpServer(faults=faults) as server:
            inner = SmtpChannel(
                host=server.host, port=server.port, starttls=False, timeout=5, domain="x.example"
            )
            _deliver_all(ready_ws, "email", "email", inner)
            message_ids = Counter(server.parsed(i)["Message-ID"] for i in range(len(server.messages)))
    unknown = _check_visible(ready_ws, message_ids, faults)
    assert all("after the message was sent" in r.error for r in unknown)


@pytest.mark.slow
def test_sendoso_failures_after_processing_are_never_sent_twice(ready_ws, http_client):
    """Sendoso: 20% of sends fail after the vendor created them (500, reset, timeout); no
    send is created twice and each unknown one is visible."""
    faults = AfterProcessingFaults(0.2, ("500", "reset", "timeout"), seed=5)
    with FakeVendorApi("sendoso", secret=SECRET, faults=faults, fault_delay_s=1.0) as api:
        inner = SendosoChannel(
            access_token=SECRET, touch_id="t-1", client=http_client, base_url=api.base_url, timeout_s=0.3
        )
        _deliver_all(ready_ws, "direct_mail", "direct_mail", inner)
        acted = Counter(a["key"] for a in api.actions)
    assert set(faults.injected) == {"500", "reset", "timeout"}
    _check_visible(ready_ws, acted, faults)


@pytest.mark.slow
def test_heyreach_messages_failing_after_processing_are_never_sent_twice(ready_ws, http_client):
    """HeyReach: 20% of SendMessage calls fail after the message went out; none is sent
    twice and each unknown one is visible."""
    faults = AfterProcessingFaults(0.2, ("500", "reset", "timeout"), seed=3)
    with FakeVendorApi("heyreach", secret=SECRET, faults=faults, fault_delay_s=1.0) as api:
        inner = HeyReachChannel(
            api_key=SECRET,
            campaign_id="77",
            client=http_client,
            linkedin_account_id="9",
            base_url=api.base_url,
            timeout_s=0.3,
        )
        _deliver_all(ready_ws, "linkedin", "linkedin_message", inner)
        acted = Counter(a["key"] for a in api.actions if a["kind"] == "message")
    _check_visible(ready_ws, acted, faults)


@pytest.mark.slow
def test_heyreach_invitations_are_retried_with_the_key_and_invite_once(ready_ws, http_client):
    """HeyReach invitations may be repeated (a lead already in the campaign is updated, not
    invited again): unknown outcomes are retried with the same key, every row ends sent and
    every profile is invited once."""
    faults = AfterProcessingFaults(0.2, ("500", "reset"), seed=9)
    with FakeVendorApi("heyreach", secret=SECRET, faults=faults) as api:
        inner = HeyReachChannel(
            api_key=SECRET,
            campaign_id="77",
            client=http_client,
            linkedin_account_id="9",
            base_url=api.base_url,
        )
        _deliver_all(ready_ws, "linkedin", "linkedin_connect", inner)
        invites = Counter(a["target"] for a in api.actions if a["kind"] == "invite")
        retried = len(api.requests) - N
    assert faults.injected and retried >= len(faults.injected)
    assert len(invites) == N and max(invites.values()) == 1
    assert {r.status for r in _rows(ready_ws)} == {"sent"}
    delivered = _decisions(ready_ws, "send_delivered")
    assert any(len(d["tool"]["result"]["attempts"]) > 1 for d in delivered)


class LookupChannel:
    """A provider that can be asked about a message by our key."""

    name = "lookup"
    idempotent_by_key = False

    def __init__(self, known: set[str]) -> None:
        self.known = known

    def deliver(self, message: OutboundMessage) -> DeliveryResult:
        raise AssertionError("reconcile must never deliver")

    def lookup(self, idempotency_key: str) -> DeliveryResult | None:
        return (
            DeliveryResult(self.name, f"msg-{idempotency_key[:6]}") if idempotency_key in self.known else None
        )


def _unknown_rows(ws, count: int) -> list[str]:  # noqa: ANN001
    pid = _prospect(ws)
    keys = [_key(1000 + i) for i in range(count)]
    with session_scope(engine_for(ws.database_url)) as s:
        for key in keys:
            s.add(
                OutboxMessage(
                    workspace=ws.id,
                    prospect_id=pid,
                    idempotency_key=key,
                    step_id="step",
                    channel="email",
                    kind="email",
                    draft_id="d_none",
                    provider="lookup",
                    status="unknown",
                    created_at=NOW,
                )
            )
            s.add(
                Task(
                    workspace=ws.id,
                    dedupe_key=f"delivery_unknown:{key}",
                    prospect_id=pid,
                    kind="delivery_unknown",
                    title="t",
                    body="b",
                    created_at=NOW,
                )
            )
    return keys


def test_reconcile_confirms_what_the_provider_knows_and_leaves_the_rest(ready_ws):
    """`reconcile_unknown` marks a row the provider confirms as sent (decision, task closed)
    and leaves an unconfirmable one unknown with its task open; nothing is delivered."""
    confirmed, open_key = _unknown_rows(ready_ws, 2)
    result = reconcile_unknown(
        engine_for(ready_ws.database_url),
        workspace=ready_ws.id,
        channels={"email": LookupChannel({confirmed})},
        now=NOW,
    )
    assert [(r["idempotency_key"], r["status"]) for r in result] == [
        (confirmed, "sent"),
        (open_key, "unknown"),
    ]
    rows = {r.idempotency_key: r for r in _rows(ready_ws)}
    assert rows[confirmed].status == "sent" and rows[confirmed].provider_message_id == f"msg-{confirmed[:6]}"
    assert rows[open_key].status == "unknown"
    assert {t.dedupe_key.split(":")[1]: t.status for t in _tasks(ready_ws)} == {
        confirmed: "done",
        open_key: "open",
    }
    assert [d["tool"]["input"]["idempotency_key"] for d in _decisions(ready_ws, "send_reconciled")] == [
        confirmed
    ]


def test_an_operator_settles_unknown_rows_once(ready_ws):
    """`resolve_unknown` turns an unknown row into sent (unconfirmed) or back to pending,
    logs who did it, closes the task, and refuses a row that is not unknown."""
    went_out, did_not = _unknown_rows(ready_ws, 2)
    engine = engine_for(ready_ws.database_url)
    a = resolve_unknown(engine, workspace=ready_ws.id, key=went_out, delivered=True, actor="ops@x", now=NOW)
    b = resolve_unknown(engine, workspace=ready_ws.id, key=did_not, delivered=False, actor="ops@x", now=NOW)
    assert (a["status"], b["status"]) == ("sent", "pending")
    rows = {r.idempotency_key: r for r in _rows(ready_ws)}
    assert rows[went_out].payload["unconfirmed"] is True and rows[went_out].provider_message_id == ""
    assert {t.status for t in _tasks(ready_ws)} == {"done"}
    assert [d["actor"] for d in _decisions(ready_ws, "send_resolved")] == ["ops@x", "ops@x"]
    with pytest.raises(InputError, match="not 'unknown'"):
        resolve_unknown(engine, workspace=ready_ws.id, key=went_out, delivered=False, actor="ops@x", now=NOW)


def test_the_cli_shows_reconciles_and_resolves_unknown_sends(ready_ws):
    """`outbox list` and `channels list` show unknown sends; `outbox reconcile` confirms the
    one the file outbox holds (exit 1 while one remains); `outbox resolve` settles the other."""
    from run import app

    in_outbox, lost = _unknown_rows(ready_ws, 2)
    folder = ready_ws.outbox_dir / "email"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"2026-11-23__{in_outbox[:16]}.eml").write_text("Subject: hi\n\nhello\n", encoding="utf-8")
    runner, ws = CliRunner(), str(ready_ws.root)

    listed = json.loads(
        runner.invoke(app, ["outbox", "list", "-w", ws, "--status", "unknown", "--json"]).stdout
    )
    assert sorted(r["idempotency_key"] for r in listed) == sorted([in_outbox, lost])
    channels = json.loads(runner.invoke(app, ["channels", "list", "-w", ws, "--json"]).stdout)
    assert {c["channel"]: c["unknown"] for c in channels}["email"] == 2
    table = runner.invoke(app, ["outbox", "list", "-w", ws])
    assert "unknown outcome" in table.stdout and table.exit_code == 0

    reconciled = runner.invoke(app, ["outbox", "reconcile", "-w", ws, "--now", NOW.isoformat(), "--json"])
    assert reconciled.exit_code == 1
    assert {r["idempotency_key"]: r["status"] for r in json.loads(reconciled.stdout)} == {
        in_outbox: "sent",
        lost: "unknown",
    }
    resolved = runner.invoke(
        app, ["outbox", "resolve", lost, "--not-sent", "--as", "ops", "-w", ws, "--json"]
    )
    assert json.loads(resolved.stdout)["status"] == "pending"
    again = runner.invoke(app, ["outbox", "resolve", lost, "--sent", "-w", ws])
    assert again.exit_code == 2 and "not 'unknown'" in again.stderr
    assert runner.invoke(app, ["outbox", "reconcile", "-w", ws, "--json"]).exit_code == 0


@pytest.mark.slow
def test_daily_runs_with_faults_after_processing_never_act_twice(ready_ws, http_client, monkeypatch):
    """Two daily runs of the demo over SMTP and HeyReach, each failing 20% of requests after
    the provider acted: every Message-ID arrives once, no LinkedIn message or invitation is
    acted on twice, and every unknown outcome is an unknown row with its operator task."""
    from agents.runner import run_daily
    from tests.agents.test_delivery import (
        HEYREACH_ENV,
        HEYREACH_KEY,
        SMTP_ENV,
        SMTP_PASSWORD,
        SMTP_USER,
        context,
        wire,
    )

    monkeypatch.setenv(SMTP_ENV, SMTP_PASSWORD)
    monkeypatch.setenv(HEYREACH_ENV, HEYREACH_KEY)
    smtp_faults = AfterProcessingFaults(0.2, ("drop",), seed=1)
    api_faults = AfterProcessingFaults(0.2, ("500", "reset"), seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with (
            FakeSmtpServer(users={SMTP_USER: SMTP_PASSWORD}, faults=smtp_faults) as smtp,
            FakeVendorApi("heyreach", secret=HEYREACH_KEY, faults=api_faults) as heyreach,
        ):
            ws = wire(ready_ws, smtp, heyreach)
            for now in ("2026-11-23T15:00:00Z", "2026-11-23T17:00:00Z", "2026-11-26T15:00:00Z"):
                run_daily(ws, now=at(now), context=context(ws, http_client))
            message_ids = Counter(smtp.parsed(i)["Message-ID"] for i in range(len(smtp.messages)))
            acted = Counter((a["kind"], a["target"]) for a in heyreach.actions)
    assert smtp_faults.injected and api_faults.injected
    assert max(message_ids.values()) == 1 and max(acted.values()) == 1
    rows = _rows(ws)
    unknown = {r.idempotency_key for r in rows if r.status == "unknown"}
    assert len(unknown) >= len(smtp_faults.injected)  # each SMTP drop is an unknown row
    sent_email = [r for r in rows if r.channel == "email" and r.status == "sent"]
    assert len(sent_email) + len([r for r in rows if r.channel == "email" and r.status == "unknown"]) == len(
        message_ids
    )
    assert {t.dedupe_key for t in _tasks(ws)} == {f"delivery_unknown:{k}" for k in unknown}
