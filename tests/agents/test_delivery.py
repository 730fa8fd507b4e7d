"""Outbox delivery through the real channel adapters: the demo workspace sends email to a
local SMTP server (aiosmtpd) and LinkedIn actions to a local HeyReach-shaped API, and
every failure class (transient, permanent, configuration, crash) ends as documented in
docs/channels.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from agents.actions import idempotency_key
from agents.checkpoint import open_checkpointer
from agents.context import build_context
from agents.delivery import deliver
from agents.graph import build_graph
from agents.runner import new_run_id, process_prospect, run_daily
from agents.state import initial_state
from cli.channels import channels_app
from core.workspace import Workspace, load_workspace
from state.db import engine_for, session_scope
from state.decision_log import load_body
from state.models import ChannelState, DecisionRecord, OutboxMessage, Prospect, Task
from tests.conftest import ROOT, at, relax_demo_caps
from tests.fakes.smtp_server import FakeSmtpServer
from tests.fakes.vendor_api import FakeVendorApi, Scripted
from tools.channels.base import DeliveryResult, OutboundMessage, Recipient

DAY0 = at("2026-11-23T15:00:00Z")
LATER = at("2026-11-23T17:00:00Z")
SMTP_USER, SMTP_PASSWORD = "mailer", "smtp-pass-7f3a"
HEYREACH_KEY, WRONG_KEY = "hr-key-1c9e", "hr-wrong-5d2b"
SMTP_ENV, HEYREACH_ENV = "OUTBOUND_TEST_SMTP_PASSWORD", "OUTBOUND_TEST_HEYREACH_KEY"
CAMPAIGN = "4242"

CHANNELS_TOML = """
[channels.email]
provider = "smtp"

[channels.email.settings]
host = "127.0.0.1"
port = "{smtp_port}"
domain = "ledgerly.example"
username = "{smtp_user}"
password_env = "{smtp_env}"
starttls = "false"
timeout_s = "5"

[channels.linkedin]
provider = "heyreach"

[channels.linkedin.settings]
api_key_env = "{heyreach_env}"
campaign_id = "{campaign}"
base_url = "{heyreach_url}"
timeout_s = "5"
{linkedin_extra}
"""


class RecordingSleep:
    """An injected sleep that records the delays instead of waiting."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def wire(ws: Workspace, smtp: FakeSmtpServer, heyreach: FakeVendorApi, **linkedin: str) -> Workspace:
    """The workspace with email over the local SMTP server and LinkedIn over the fake API."""
    toml = ws.root / "workspace.toml"
    text = toml.read_text(encoding="utf-8")
    for name in ("email", "linkedin"):
        text = text.replace(f'[channels.{name}]\nprovider = "file"\n', "")
    text = relax_demo_caps(text)  # delivery is under test here, not the demo's caps
    text += CHANNELS_TOML.format(
        smtp_port=smtp.port,
        smtp_user=SMTP_USER,
        smtp_env=SMTP_ENV,
        heyreach_env=HEYREACH_ENV,
        campaign=CAMPAIGN,
        heyreach_url=heyreach.base_url,
        linkedin_extra="".join(f'{k} = "{v}"\n' for k, v in linkedin.items()),
    )
    toml.write_text(text, encoding="utf-8")
    return load_workspace(ws.root)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SMTP_ENV, SMTP_PASSWORD)
    monkeypatch.setenv(HEYREACH_ENV, HEYREACH_KEY)


@pytest.fixture
def smtp_factory() -> Iterator[Callable[..., FakeSmtpServer]]:
    started: list[FakeSmtpServer] = []

    def start(refuse: set[str] = frozenset()) -> FakeSmtpServer:  # type: ignore[assignment]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = FakeSmtpServer(users={SMTP_USER: SMTP_PASSWORD}, refuse=refuse).__enter__()
        started.append(server)
        return server

    yield start
    for server in started:
        server.__exit__(None, None, None)


@pytest.fixture
def heyreach() -> Iterator[FakeVendorApi]:
    with FakeVendorApi("heyreach", secret=HEYREACH_KEY) as api:
        yield api


@pytest.fixture
def http_client() -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False) as client:
        yield client


def context(ws: Workspace, client: httpx.Client, sleep: Callable[[float], None] | None = None):  # noqa: ANN201
    return build_context(
        ws, engine_for(ws.database_url), sleep=sleep or RecordingSleep(), http_client_factory=lambda: client
    )


def run_one(ws: Workspace, ctx: Any, prospect_id: str, now: datetime) -> dict[str, Any]:
    """One prospect's graph run at ``now`` (a later run for that prospect only)."""
    with open_checkpointer(ws) as saver:
        return process_prospect(build_graph(saver), ctx, prospect_id, run_id=new_run_id(now), now=now)


def rows(ws: Workspace, **where: str) -> list[OutboxMessage]:
    with Session(engine_for(ws.database_url)) as s:
        q = select(OutboxMessage).where(OutboxMessage.workspace == ws.id)
        for k, v in where.items():
            q = q.where(getattr(OutboxMessage, k) == v)
        return list(s.exec(q.order_by(OutboxMessage.id)).all())


def tasks(ws: Workspace, kind: str) -> list[Task]:
    with Session(engine_for(ws.database_url)) as s:
        return list(s.exec(select(Task).where(Task.workspace == ws.id, Task.kind == kind)).all())


def decisions(ws: Workspace, action: str) -> list[dict[str, Any]]:
    with Session(engine_for(ws.database_url)) as s:
        return [
            load_body(d)
            for d in s.exec(
                select(DecisionRecord).where(
                    DecisionRecord.workspace == ws.id, DecisionRecord.action == action
                )
            ).all()
        ]


def accepted(api: FakeVendorApi, key: str) -> list[Any]:
    """Requests for one idempotency key that carried the right credential."""
    return [
        r
        for r in api.requests
        if r.headers.get("x-api-key") == HEYREACH_KEY and r.headers.get("idempotency-key") == key
    ]


def message_ids(smtp: FakeSmtpServer) -> list[str]:
    return [smtp.parsed(i)["Message-ID"] for i in range(len(smtp.messages))]


def test_sends_arrive_at_the_smtp_server_and_the_linkedin_api(
    ready_ws, env, smtp_factory, heyreach, http_client
):
    """A day's sends reach the SMTP server as complete RFC 5322 messages and the HeyReach API
    as campaign leads, one each per sent outbox row."""
    smtp = smtp_factory()
    ws = wire(ready_ws, smtp, heyreach)
    summary = run_daily(ws, now=DAY0, context=context(ws, http_client))
    assert summary.errors == 0, summary.error_details
    email_rows, li_rows = rows(ws, channel="email"), rows(ws, channel="linkedin")
    assert email_rows and li_rows
    assert {r.status for r in email_rows + li_rows} == {"sent"}
    assert summary.sent["email"] == len(email_rows) == len(smtp.messages)
    assert summary.sent["linkedin"] == len(li_rows) == len(heyreach.requests)

    ids = message_ids(smtp)
    assert len(set(ids)) == len(ids)
    row = email_rows[0]
    mail = smtp.parsed(ids.index(row.provider_message_id))
    assert mail["Message-ID"] == f"<{row.idempotency_key[:32]}@ledgerly.example>"
    assert mail["List-Unsubscribe"].strip() == (
        "<https://ledgerly.example/unsubscribe>, <mailto:unsubscribe@ledgerly.example>"
    )
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail["In-Reply-To"] is None
    plain = mail.get_body(("plain",)).get_content()
    assert "https://ledgerly.example/unsubscribe" in plain
    assert ws.config.sender.postal_address in plain
    assert mail.get_body(("html",)) is not None
    assert all(m.login == SMTP_USER for m in smtp.messages)

    li = li_rows[0]
    (request,) = accepted(heyreach, li.idempotency_key)
    assert request.path == "/api/public/campaign/AddLeadsToCampaignV2"
    assert request.body["campaignId"] == int(CAMPAIGN)
    pair = request.body["accountLeadPairs"][0]
    assert pair["linkedInAccountId"] == "li-acct-001"
    fields = {f["name"]: f["value"] for f in pair["lead"]["customUserFields"]}
    assert fields["idempotency_key"] == li.idempotency_key and fields["connection_note"]
    assert li.provider == "heyreach" and li.provider_message_id.startswith(f"{CAMPAIGN}:")


def daily(ws: Workspace, *, crash_at: str | None, heyreach_key: str) -> subprocess.CompletedProcess:
    """`run.py daily` in a separate process that reaches the fakes on 127.0.0.1."""
    env = {k: v for k, v in os.environ.items() if k != "OUTBOUND_CRASH_AT" and "proxy" not in k.lower()}
    env.update({"PYTHONPATH": str(ROOT), HEYREACH_ENV: heyreach_key, "NO_PROXY": "127.0.0.1"})
    if crash_at:
        env["OUTBOUND_CRASH_AT"] = crash_at
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "run.py"),
            "daily",
            "-w",
            str(ws.root),
            "--now",
            DAY0.isoformat(),
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_kill_between_send_and_acknowledgement_sends_once(ready_ws, env, smtp_factory, heyreach, http_client):
    """Processes killed right after an SMTP send and right after a HeyReach send leave rows in
    "sending"; the next run marks them sent (unconfirmed) without a second send, and a
    follow-up threads only onto a confirmed message."""
    smtp = smtp_factory()
    ws = wire(ready_ws, smtp, heyreach)
    # The crash points below assume prospects in id order (a LinkedIn send comes before the
    # first email): with every score equal the run's order falls back to the prospect id.
    with (ws.root / "workspace.toml").open("a", encoding="utf-8") as fh:
        fh.write("\n[scoring]\nfit_weight = 0.0\nsignal_weights = {}\n")
    ws = load_workspace(ws.root)
    # Run 1 has a wrong LinkedIn key, so LinkedIn pauses and the first email send is killed.
    first = daily(ws, crash_at="after_deliver", heyreach_key=WRONG_KEY)
    assert first.returncode == 137, first.stderr[-2000:]
    (email_row,) = rows(ws, status="sending")
    assert email_row.channel == "email" and len(smtp.messages) == 1
    resumed = CliRunner().invoke(channels_app, ["resume", "linkedin", "-w", str(ws.root), "--json"])
    assert resumed.exit_code == 0 and json.loads(resumed.stdout)["was_paused"] is True
    # Run 2 has the right key; it is killed right after the first LinkedIn send.
    second = daily(ws, crash_at="after_deliver", heyreach_key=HEYREACH_KEY)
    assert second.returncode == 137, second.stderr[-2000:]
    li_row = next(r for r in rows(ws, status="sending") if r.channel == "linkedin")
    assert len(accepted(heyreach, li_row.idempotency_key)) == 1

    third = daily(ws, crash_at=None, heyreach_key=HEYREACH_KEY)
    assert third.returncode == 0, third.stderr[-2000:]
    ids = message_ids(smtp)
    assert ids.count(f"<{email_row.idempotency_key[:32]}@ledgerly.example>") == 1
    assert len(accepted(heyreach, li_row.idempotency_key)) == 1
    for key in (email_row.idempotency_key, li_row.idempotency_key):
        (row,) = rows(ws, idempotency_key=key)
        assert row.status == "sent" and row.payload["unconfirmed"] is True
    sent = rows(ws, status="sent")
    assert sorted(ids) == sorted(set(ids))
    assert len(ids) == len([r for r in sent if r.channel == "email"])
    assert all(len(accepted(heyreach, r.idempotency_key)) == 1 for r in sent if r.channel == "linkedin")
    assert {d["prospect_id"] for d in decisions(ws, "send_unconfirmed")} == {
        email_row.prospect_id,
        li_row.prospect_id,
    }
    assert len(tasks(ws, "delivery_unconfirmed")) == 2
    assert [t.status for t in tasks(ws, "channel_paused")] == ["done"]

    # Three business days on (Thursday 26 November is US Thanksgiving, a no-send day for
    # these US prospects, so Friday): the follow-up threads onto a confirmed intro, never
    # onto the unconfirmed one.
    confirmed = next(
        r
        for r in sent
        if r.channel == "email" and r.step_id == "email_intro" and not r.payload.get("unconfirmed")
    )
    ctx = context(ws, http_client)
    for pid in (email_row.prospect_id, confirmed.prospect_id):
        run_one(ws, ctx, pid, at("2026-11-27T15:00:00Z"))
    followups = {r.prospect_id: r for r in rows(ws, step_id="email_followup", status="sent")}
    threads = {smtp.parsed(i)["Message-ID"]: smtp.parsed(i)["In-Reply-To"] for i in range(len(smtp.messages))}
    assert threads[followups[confirmed.prospect_id].provider_message_id] == confirmed.provider_message_id
    assert threads[followups[email_row.prospect_id].provider_message_id] is None


def test_rate_limit_is_waited_out_and_the_send_retried(ready_ws, env, smtp_factory, heyreach, http_client):
    """A 429 with Retry-After is waited out through the injected sleep and the same request
    then succeeds within one delivery attempt."""
    ws = wire(ready_ws, smtp_factory(), heyreach)
    heyreach.script(Scripted(429, {"message": "Too many requests"}, headers={"Retry-After": "7"}))
    sleep = RecordingSleep()
    summary = run_daily(ws, now=DAY0, context=context(ws, http_client, sleep))
    assert summary.errors == 0, summary.error_details
    key = heyreach.requests[0].headers["idempotency-key"]
    assert [r.headers.get("idempotency-key") for r in heyreach.requests[:2]] == [key, key]
    assert sleep.calls == [7.0]
    (row,) = rows(ws, idempotency_key=key)
    assert (row.status, row.attempts, row.error_class) == ("sent", 1, "")
    assert {r.status for r in rows(ws, channel="linkedin")} == {"sent"}


def test_repeated_server_errors_leave_the_row_pending_for_a_later_run(
    ready_ws, env, smtp_factory, heyreach, http_client
):
    """Four 503s exhaust the adapter's retries: the row goes back to pending as transient,
    the prospect's run ends with an error, and a later run delivers it once."""
    ws = wire(ready_ws, smtp_factory(), heyreach)
    heyreach.script(*[Scripted(503, {"message": "upstream unavailable"})] * 4)
    sleep = RecordingSleep()
    summary = run_daily(ws, now=DAY0, context=context(ws, http_client, sleep))
    key = heyreach.requests[0].headers["idempotency-key"]
    (row,) = rows(ws, idempotency_key=key)
    assert (row.status, row.error_class, row.attempts) == ("pending", "transient", 1)
    assert "503" in row.error and len(sleep.calls) == 3
    assert [(e["prospect_id"], e["error_class"]) for e in summary.error_details] == [
        (row.prospect_id, "transient")
    ]
    assert {r.status for r in rows(ws, channel="linkedin") if r.id != row.id} == {"sent"}

    outcome = run_one(ws, context(ws, http_client), row.prospect_id, DAY0)
    assert outcome["sent"] == [{"channel": "linkedin", "step_id": row.step_id}]
    (row,) = rows(ws, idempotency_key=key)
    assert (row.status, row.attempts, row.error_class) == ("sent", 2, "")
    assert len(accepted(heyreach, key)) == 5


def test_transient_failures_give_up_after_the_configured_attempts(
    ready_ws, env, smtp_factory, heyreach, http_client
):
    """With max_delivery_attempts = 2 a row failing twice becomes failed (transient) with one
    operator task, and later runs do not send it again."""
    ws = wire(ready_ws, smtp_factory(), heyreach, max_delivery_attempts="2")
    down = [Scripted(503, {"message": "upstream unavailable"})] * 4
    heyreach.script(*down)
    run_daily(ws, now=DAY0, context=context(ws, http_client))
    key = heyreach.requests[0].headers["idempotency-key"]
    (row,) = rows(ws, idempotency_key=key)
    assert (row.status, row.attempts) == ("pending", 1)
    heyreach.script(*down)
    outcome = run_one(ws, context(ws, http_client), row.prospect_id, DAY0)
    (row,) = rows(ws, idempotency_key=key)
    assert (row.status, row.error_class, row.attempts) == ("failed", "transient", 2)
    assert outcome["kind"] == "error" and "gave up after 2 attempts" in outcome["error"]["message"]
    (task,) = tasks(ws, "delivery_failed")
    assert task.prospect_id == row.prospect_id and task.status == "open"
    requests = len(heyreach.requests)
    again = run_one(ws, context(ws, http_client), row.prospect_id, DAY0)
    assert again["kind"] == "error" and len(heyreach.requests) == requests
    assert [d["prospect_id"] for d in decisions(ws, "send_skipped")] == [row.prospect_id]


def test_bad_key_pauses_the_channel_with_one_task_across_prospects(
    ready_ws, env, monkeypatch, smtp_factory, heyreach, http_client
):
    """A 401 pauses LinkedIn and opens exactly one operator task; the other LinkedIn sends in
    this and later runs are deferred without a request while email goes on, no secret is
    recorded, and `channels resume` with a fixed key lets them all go out."""
    from structlog.testing import capture_logs

    monkeypatch.setenv(HEYREACH_ENV, WRONG_KEY)
    smtp = smtp_factory()
    ws = wire(ready_ws, smtp, heyreach)
    with capture_logs() as logs:
        summary = run_daily(ws, now=DAY0, context=context(ws, http_client))
    assert [r.headers["x-api-key"] for r in heyreach.requests] == [WRONG_KEY]
    waiting = rows(ws, channel="linkedin")
    assert len(waiting) >= 3 and {r.status for r in waiting} == {"pending"}
    assert [r.error_class for r in waiting if r.error_class] == ["configuration"]
    assert summary.sent["email"] == len(smtp.messages) > 0
    (task,) = tasks(ws, "channel_paused")
    assert "channels resume linkedin" in task.body
    deferred = decisions(ws, "send_deferred")
    assert len(deferred) == len(waiting) - 1
    assert all("linkedin channel is paused" in d["rationale"] for d in deferred)

    ctx = context(ws, http_client)
    for r in waiting:
        run_one(ws, ctx, r.prospect_id, DAY0)
    assert len(heyreach.requests) == 1 and len(tasks(ws, "channel_paused")) == 1
    with Session(engine_for(ws.database_url)) as s:
        state = s.get(ChannelState, (ws.id, "linkedin"))
        recorded = [
            json.dumps(load_body(d))
            for d in s.exec(select(DecisionRecord).where(DecisionRecord.workspace == ws.id)).all()
        ]
    assert state.paused and state.error_class == "configuration" and "401" in state.reason
    assert not [b for b in recorded + [task.body, task.title, state.reason, repr(logs)] if WRONG_KEY in b]

    runner = CliRunner()
    listed = json.loads(runner.invoke(channels_app, ["list", "-w", str(ws.root), "--json"]).stdout)
    assert {c["channel"]: (c["paused"], c["waiting"]) for c in listed}["linkedin"] == (True, len(waiting))
    monkeypatch.setenv(HEYREACH_ENV, HEYREACH_KEY)
    resumed = runner.invoke(channels_app, ["resume", "linkedin", "-w", str(ws.root), "--json"])
    assert json.loads(resumed.stdout) == {
        "channel": "linkedin",
        "was_paused": True,
        "paused": False,
        "tasks_closed": 1,
    }
    ctx = context(ws, http_client)
    for r in waiting:
        run_one(ws, ctx, r.prospect_id, DAY0)
    assert {r.status for r in rows(ws, channel="linkedin")} == {"sent"}
    assert all(len(accepted(heyreach, r.idempotency_key)) == 1 for r in waiting)


def test_permanent_failures_update_the_prospect_and_the_planner_switches_channel(
    ready_ws, env, smtp_factory, heyreach, http_client
):
    """A 550 recipient fails the email row as permanent and marks the address invalid, after
    which the planner reaches the prospect on LinkedIn; a profile the vendor refuses moves
    the URL to attributes["invalid_linkedin_url"] so LinkedIn is not tried again."""
    engine = engine_for(ready_ws.database_url)
    bad_profile = "https://www.linkedin.com/in/does-not-exist"
    with Session(engine) as s:
        people = s.exec(select(Prospect).where(Prospect.workspace == ready_ws.id)).all()
        both = {p.email_norm: p.id for p in people if p.email_norm and p.linkedin_url}
        li_only = [p for p in people if p.linkedin_url and not p.email_norm]
        for p in li_only:
            p.linkedin_url = bad_profile
            s.add(p)
        s.commit()
    smtp = smtp_factory(refuse=set(both))
    ws = wire(ready_ws, smtp, heyreach)
    run_daily(ws, now=DAY0, context=context(ws, http_client))

    bounced = rows(ws, channel="email", status="failed")
    assert bounced and {r.error_class for r in bounced} == {"permanent"}
    assert all("550" in r.error for r in bounced)
    assert not {a for m in smtp.messages for a in m.rcpt_tos} & set(both)
    linkedin_sent = {r.prospect_id for r in rows(ws, channel="linkedin", status="sent")}
    assert {r.prospect_id for r in bounced} & linkedin_sent
    refused = rows(ws, channel="linkedin", status="failed")
    assert refused and {r.error_class for r in refused} == {"permanent"}
    with Session(engine) as s:
        for r in bounced:
            assert s.get(Prospect, r.prospect_id).email_status == "invalid"
        for r in refused:
            p = s.get(Prospect, r.prospect_id)
            assert p.linkedin_url == "" and p.attributes["invalid_linkedin_url"] == bad_profile
    assert {d["prospect_id"] for d in decisions(ws, "send_failed")} == {
        r.prospect_id for r in bounced + refused
    }


class ReconcileChannel:
    """A channel whose lookup answer and idempotency are set per case; records deliveries."""

    name = "scripted"

    def __init__(self, *, idempotent_by_key: bool, found: bool) -> None:
        self.idempotent_by_key, self.found = idempotent_by_key, found
        self.delivered: list[str] = []

    def deliver(self, message: OutboundMessage) -> DeliveryResult:
        self.delivered.append(message.idempotency_key)
        return DeliveryResult(self.name, f"id-{len(self.delivered)}")

    def lookup(self, idempotency_key: str) -> DeliveryResult | None:
        return DeliveryResult(self.name, "id-found", already_delivered=True) if self.found else None


@pytest.mark.parametrize(
    ("idempotent", "found", "deliveries", "provider_id", "unconfirmed", "action"),
    [
        (False, True, 0, "id-found", False, "send_reconciled"),
        (True, False, 1, "id-1", False, ""),
        (False, False, 0, "", True, "send_unconfirmed"),
    ],
)
def test_a_row_left_sending_is_reconciled_without_a_blind_resend(
    ready_ws, idempotent, found, deliveries, provider_id, unconfirmed, action
):
    """A row in "sending" is confirmed by lookup, re-delivered with the same key only by an
    idempotent channel, and otherwise marked sent-unconfirmed with a decision and a task."""
    engine = engine_for(ready_ws.database_url)
    with Session(engine) as s:
        pid = s.exec(select(Prospect.id).where(Prospect.workspace == ready_ws.id)).first()
    key = idempotency_key(ready_ws.id, pid, "email_intro", "email")
    with session_scope(engine) as s:
        s.add(
            OutboxMessage(
                workspace=ready_ws.id,
                prospect_id=pid,
                idempotency_key=key,
                step_id="email_intro",
                channel="email",
                kind="email",
                draft_id="d_x",
                status="sending",
                attempts=1,
                created_at=DAY0,
            )
        )
    channel = ReconcileChannel(idempotent_by_key=idempotent, found=found)
    ctx = build_context(ready_ws, engine, channels={"email": channel})
    state = initial_state(prospect_id=pid, thread_id="t", run_id="run_x", now=DAY0.isoformat())
    message = OutboundMessage(
        idempotency_key=key,
        channel="email",
        kind="email",
        sender=ctx.sender,
        recipient=Recipient(prospect_id=pid, name="P"),
        subject="Hello",
        body="Hi",
        step_id="email_intro",
    )
    deliver(ctx, state, key, message)
    assert channel.delivered == [key] * deliveries
    (row,) = rows(ready_ws, idempotency_key=key)
    assert (row.status, row.provider_message_id) == ("sent", provider_id)
    assert bool(row.payload.get("unconfirmed")) is unconfirmed
    assert row.attempts == 1 + deliveries
    assert len(tasks(ready_ws, "delivery_unconfirmed")) == int(unconfirmed)
    if action:
        (decision,) = decisions(ready_ws, action)
        assert decision["tool"]["input"]["idempotency_key"] == key
