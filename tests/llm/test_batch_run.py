"""The daily run with `[llm] use_batches = true` on the fake Messages API: drafts go out in
one Message Batch, their prospects wait, and a later run resumes them through the same
checks as a synchronous draft; a crash after the submit never submits twice nor pays
twice; errored and expired results fall back to a synchronous call; inbound stays
synchronous; replay needs no network and the chain verifies."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from agents import batching
from agents.replay import replay
from agents.runner import run_daily
from core import faults
from core.workspace import Workspace, load_workspace
from state.db import engine_for
from state.decision_log import load_body, verify
from state.models import CostEntry, DecisionRecord, Draft, Prospect, Review
from state.models_llm import LlmBatch, LlmBatchItem, LlmCall
from tests.conftest import at, copy_demo
from tests.fakes.anthropic_api import FakeAnthropic
from tests.llm.conftest import KEY, claude_toml
from tools.llm.costs import price_for, usage_usd

DAY0 = at("2026-11-23T15:00:00Z")
LATER = DAY0 + timedelta(hours=2)
LIMIT = 6


def _workspace(tmp_path: Path, fake: FakeAnthropic, backend: str, name: str, batches: bool) -> Workspace:
    from agents.services import init_workspace

    d = copy_demo(tmp_path / name, backend=backend, relaxed=True)
    toml = d / "workspace.toml"
    llm = "use_batches = true" if batches else ""
    toml.write_text(claude_toml(toml.read_text(encoding="utf-8"), fake.base_url, llm=llm), encoding="utf-8")
    ws = load_workspace(d)
    init_workspace(ws, now=at("2026-11-23T14:00:00Z"))
    return ws


@pytest.fixture
def batch_ws(tmp_path: Path, fake: FakeAnthropic, monkeypatch: pytest.MonkeyPatch, backend: str) -> Workspace:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    return _workspace(tmp_path, fake, backend, "demo", batches=True)


def _draft_calls(fake: FakeAnthropic) -> int:
    """Synchronous draft requests the fake received."""
    return sum(
        1
        for r in fake.requests
        if r["path"] == "/v1/messages" and "TASK: draft" in json.dumps(r["body"].get("system"))
    )


def _batches_created(fake: FakeAnthropic) -> int:
    return sum(1 for r in fake.requests if r["path"] == "/v1/messages/batches" and r["body"])


def _bodies(ws: Workspace) -> list[dict[str, Any]]:
    with Session(engine_for(ws.database_url)) as s:
        rows = s.exec(select(DecisionRecord).where(DecisionRecord.workspace == ws.id)).all()
        return [load_body(r) for r in sorted(rows, key=lambda r: r.seq)]


def _items(ws: Workspace) -> list[LlmBatchItem]:
    with Session(engine_for(ws.database_url)) as s:
        return list(s.exec(select(LlmBatchItem).where(LlmBatchItem.workspace == ws.id)))


def _outcomes(ws: Workspace) -> dict[str, tuple[str, str, str]]:
    """Per prospect with a draft: (draft body, review status, prospect status)."""
    with Session(engine_for(ws.database_url)) as s:
        drafts = {d.prospect_id: d.body for d in s.exec(select(Draft).where(Draft.workspace == ws.id))}
        reviews = {r.prospect_id: r.status for r in s.exec(select(Review).where(Review.workspace == ws.id))}
        status = {p.id: p.status for p in s.exec(select(Prospect).where(Prospect.workspace == ws.id))}
    return {p: (body, reviews.get(p, ""), status[p]) for p, body in drafts.items()}


@pytest.mark.slow
def test_batch_day_waits_then_resumes_like_sync(
    batch_ws: Workspace, fake: FakeAnthropic, tmp_path: Path, backend: str
) -> None:
    ws = batch_ws
    engine = engine_for(ws.database_url)
    day0 = run_daily(ws, now=DAY0, limit=LIMIT)
    assert day0.errors == 0 and day0.awaiting_batch > 0
    assert _draft_calls(fake) == 0 and _batches_created(fake) == 1  # one batch, no synchronous draft
    items = _items(ws)
    assert len(items) == day0.awaiting_batch and {i.status for i in items} == {"waiting"}
    assert len({i.batch_id for i in items}) == 1 and items[0].batch_id in day0.batches["submitted"]
    assert day0.to_dict()["awaiting_batch"] == day0.awaiting_batch
    waiting = items[0].prospect_id
    with Session(engine) as s:
        p = s.get(Prospect, waiting)
        assert p is not None and p.status == "waiting" and p.next_action_at is not None
        reserved = s.exec(select(CostEntry).where(CostEntry.key == f"llm:{items[0].digest}")).one()
        assert reserved.status == "reserved" and reserved.llm_usd > 0  # the budget rules see it
    import run as cli

    shown = CliRunner().invoke(cli.app, ["prospects", "show", waiting, "-w", str(ws.root), "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["waiting_for_batch"][0]["batch_id"] == items[0].batch_id
    listed = CliRunner().invoke(cli.app, ["batches", "list", "-w", str(ws.root), "--json"])
    assert listed.exit_code == 0, listed.output
    (sub,) = json.loads(listed.output)["batches"]
    assert sub["status"] == "in_progress" and sub["items"] == len(items) and sub["run_id"] == day0.run_id
    timeline = replay(ws, run_id=day0.run_id)
    assert timeline["summary"]["ended"].get("waiting for a batch") == day0.awaiting_batch

    later = run_daily(ws, now=LATER)
    assert later.batches["results"] == {"succeeded": len(items)}
    # Prospects first due in this run queue into a new batch; the first one is never sent again.
    assert later.errors == 0 and _batches_created(fake) == 1 + (1 if later.awaiting_batch else 0)
    assert _draft_calls(fake) == 0
    with Session(engine) as s:
        calls = {c.digest: c for c in s.exec(select(LlmCall).where(LlmCall.workspace == ws.id))}
        for it in items:
            call = calls[it.digest]
            assert call.mode == "batch"
            price = price_for(ws.config.llm.prices, call.model)
            full = usage_usd(price, call.usage, ttl="1h", batch=False)
            assert call.usd == usage_usd(price, call.usage, ttl="1h", batch=True) == round(full * 0.5, 8)
            row = s.exec(select(CostEntry).where(CostEntry.key == f"llm:{it.digest}")).one()
            assert row.status == "committed" and row.llm_usd == call.usd and row.run_id == day0.run_id
    resumed = [
        b
        for b in _bodies(ws)
        if b["run_id"] == later.run_id and b["action"] == "draft" and b["final_action"] == "draft"
    ]
    batch_ids = {i.prospect_id for i in items}
    assert {b["prospect_id"] for b in resumed} >= batch_ids
    assert all(
        b["tool"]["result"]["batch"]["status"] == "succeeded"
        for b in resumed
        if b["prospect_id"] in batch_ids
    )

    # The same prospects drafted synchronously in a twin workspace end the same way.
    sync_ws = _workspace(tmp_path, fake, backend, "twin", batches=False) if backend == "sqlite" else None
    if sync_ws is not None:
        run_daily(sync_ws, now=DAY0, limit=LIMIT)
        batched, direct = _outcomes(ws), _outcomes(sync_ws)
        assert {p: batched[p] for p in batch_ids} == {p: direct[p] for p in batch_ids}
        assert any(v[1] == "pending" for v in direct.values())  # they reached review, as in sync mode

    assert verify(engine, ws.id).ok
    fake.stop()  # replay needs no network
    for run in (day0, later):
        result = replay(ws, run_id=run.run_id)
        assert result["replayed"] > 0 and result["divergences"] == []


@pytest.mark.slow
def test_crash_after_submit_neither_submits_nor_pays_twice(
    batch_ws: Workspace, fake: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = batch_ws
    engine = engine_for(ws.database_url)
    real = faults.crash_point

    def crash(name: str) -> None:
        if name == "batch_after_submit":
            raise RuntimeError("killed after the batch was created")
        real(name)

    monkeypatch.setattr(faults, "crash_point", crash)
    with pytest.raises(RuntimeError, match="killed"):
        run_daily(ws, now=DAY0, limit=LIMIT)
    monkeypatch.setattr(faults, "crash_point", real)
    assert _batches_created(fake) == 1
    with Session(engine) as s:
        (sub,) = s.exec(select(LlmBatch).where(LlmBatch.workspace == ws.id)).all()
    assert sub.status == "submitting" and sub.batch_id == ""  # the id never reached the database

    later = run_daily(ws, now=LATER)
    assert later.batches["in_doubt"][0]["resolved"] == "found"
    assert later.batches["results"] == {"succeeded": sub.item_count}
    first = {i.custom_id for i in _items(ws) if i.submission_id == sub.id}
    assert len(first) == sub.item_count
    sent_in = [
        r
        for r in fake.requests
        if r["path"] == "/v1/messages/batches" and r["body"]
        if first & {q["custom_id"] for q in r["body"]["requests"]}
    ]
    assert len(sent_in) == 1 and _draft_calls(fake) == 0  # submitted once, never asked again
    keys = {f"llm:{i.digest}" for i in _items(ws) if i.submission_id == sub.id}
    with Session(engine) as s:
        calls = list(s.exec(select(LlmCall).where(LlmCall.workspace == ws.id)))
        ledger = [
            e
            for e in s.exec(select(CostEntry).where(CostEntry.workspace == ws.id, CostEntry.kind == "llm"))
            if e.key in keys
        ]
    assert len(calls) == sub.item_count and all(c.mode == "batch" for c in calls)
    assert all(e.status == "committed" for e in ledger)
    assert len(ledger) == len(calls) and round(sum(e.llm_usd for e in ledger), 6) == round(
        sum(c.usd for c in calls), 6
    )
    assert verify(engine, ws.id).ok


def test_a_submit_that_never_reached_the_api_is_sent_again(
    batch_ws: Workspace, fake: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection lost during the create leaves the submission in doubt; when the API's
    batch list has no such batch, the next poll queues its items again and sends them once."""
    from core.errors import Transient
    from tools.llm.client import LlmClient

    ws = batch_ws

    def lost(self: LlmClient, requests: Any) -> str:
        raise Transient("connection reset", provider="anthropic")

    monkeypatch.setattr(LlmClient, "submit_batch", lost)
    day0 = run_daily(ws, now=DAY0, limit=3)
    assert day0.batches["submit_error"]["error_class"] == "transient" and _batches_created(fake) == 0
    monkeypatch.undo()
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    engine = engine_for(ws.database_url)
    from agents.context import build_context

    ctx = batching.for_daily_run(build_context(ws, engine))
    polled = batching.poll(engine, ctx.llm, ws.id, now=LATER)
    assert polled["in_doubt"][0]["resolved"] == "not_created"
    assert polled["resubmitted"]["items"] == day0.awaiting_batch and _batches_created(fake) == 1
    (batch_id,) = polled["resubmitted"]["submitted"]
    assert {i.batch_id for i in _items(ws)} == {batch_id}  # collected in the same poll
    assert {i.status for i in _items(ws)} == {"succeeded"}


@pytest.mark.slow
def test_errored_and_expired_results_fall_back_to_a_synchronous_draft(
    batch_ws: Workspace, fake: FakeAnthropic
) -> None:
    ws = batch_ws
    run_daily(ws, now=DAY0, limit=LIMIT)
    items = _items(ws)
    assert len(items) >= 3
    fake.batch_outcomes = {items[0].custom_id: "errored", items[1].custom_id: "expired"}
    later = run_daily(ws, now=LATER)
    assert later.batches["results"] == {"errored": 1, "expired": 1, "succeeded": len(items) - 2}
    assert _draft_calls(fake) >= 2  # the two fell back to synchronous calls
    by_prospect = {
        b["prospect_id"]: b["tool"]["result"]
        for b in _bodies(ws)
        if b["run_id"] == later.run_id and b["final_action"] == "draft"
    }
    for it, kind in ((items[0], "errored"), (items[1], "expired")):
        batch = by_prospect[it.prospect_id]["batch"]
        assert batch["status"] == kind and batch["fallback"] == "sync"
        assert by_prospect[it.prospect_id]["llm"]["replayed"] == [False]  # a real synchronous call
    with Session(engine_for(ws.database_url)) as s:
        released = s.exec(select(CostEntry).where(CostEntry.key == f"llm:{items[0].digest}")).one()
        errored = s.exec(select(LlmBatchItem).where(LlmBatchItem.digest == items[0].digest)).one()
        drafts = {d.prospect_id for d in s.exec(select(Draft).where(Draft.workspace == ws.id))}
    assert released.status == "released" and errored.error  # nothing paid for the failed item
    assert {items[0].prospect_id, items[1].prospect_id} <= drafts
    assert verify(engine_for(ws.database_url), ws.id).ok


def test_inbound_and_other_contexts_draft_synchronously(batch_ws: Workspace, fake: FakeAnthropic) -> None:
    """Only the daily run turns batching on: the context inbound speed-to-lead (and review
    resumes) build drafts synchronously, with no batch item."""
    from agents.checkpoint import open_checkpointer
    from agents.context import build_context
    from agents.graph import build_graph
    from agents.runner import process_prospect

    ws = batch_ws
    engine = engine_for(ws.database_url)
    ctx = build_context(ws, engine)  # what service.inbound builds
    assert not batching.enabled(ctx) and batching.enabled(batching.for_daily_run(ctx))
    with Session(engine) as s:
        ids = list(s.exec(select(Prospect.id).where(Prospect.workspace == ws.id).order_by(Prospect.id)))
    kinds = []
    with open_checkpointer(ws) as saver:
        graph = build_graph(saver)
        for pid in ids[:10]:  # until one prospect has been drafted
            kinds.append(process_prospect(graph, ctx, pid, run_id="run_inbound_test", now=DAY0)["kind"])
            if _draft_calls(fake):
                break
    assert "await_batch" not in kinds
    assert _items(ws) == [] and _batches_created(fake) == 0 and _draft_calls(fake) >= 1
