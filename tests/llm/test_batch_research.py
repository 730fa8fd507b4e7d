"""The daily run with `[llm] use_batches = true` and the Claude research reader, on the fake
Messages API: the reader's requests go out in one Message Batch, their prospects wait, and
a later run resumes them through the reader's citation checks with the same evidence as a
synchronous run; a crash after the submit neither submits nor pays twice; an errored result
falls back to a synchronous call; research then a draft waits twice; replay needs no
network and the chain verifies."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from agents import batching
from agents.replay import replay
from agents.runner import run_daily
from core import faults
from core.workspace import Workspace, load_workspace
from state.db import engine_for
from state.decision_log import load_body, verify
from state.models import Company, CostEntry, DecisionRecord, Evidence, Prospect
from state.models_llm import LlmBatch, LlmBatchItem, LlmCall
from tests.conftest import at, copy_demo
from tests.fakes.anthropic_api import FakeAnthropic
from tests.llm.conftest import KEY, claude_toml

DAY0 = at("2026-11-23T15:00:00Z")
LATER = DAY0 + timedelta(hours=2)
LATEST = DAY0 + timedelta(hours=4)
KEEP = 7  # prospects kept from the demo: three companies with saved pages
QUESTIONS = 'research_questions = ["Which finance roles are they hiring?", "Did they raise funding?"]'


def _workspace(
    tmp_path: Path, fake: FakeAnthropic, backend: str, name: str, *, batches: bool, drafting: str = "template"
) -> Workspace:
    from agents.services import init_workspace

    d = copy_demo(tmp_path / name, backend=backend, relaxed=True)
    rows = (d / "prospects.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (d / "prospects.csv").write_text("".join(rows[: KEEP + 1]), encoding="utf-8")
    toml = d / "workspace.toml"
    providers = f'research = "claude"\ndrafting = "{drafting}"'
    llm = QUESTIONS + ("\nuse_batches = true" if batches else "")
    text = claude_toml(toml.read_text(encoding="utf-8"), fake.base_url, providers=providers, llm=llm)
    toml.write_text(text, encoding="utf-8")
    ws = load_workspace(d)
    init_workspace(ws, now=at("2026-11-23T14:00:00Z"))
    return ws


@pytest.fixture
def research_ws(
    tmp_path: Path, fake: FakeAnthropic, monkeypatch: pytest.MonkeyPatch, backend: str
) -> Workspace:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    return _workspace(tmp_path, fake, backend, "demo", batches=True)


def _sync_calls(fake: FakeAnthropic, task: str) -> int:
    """Synchronous requests of one task the fake received."""
    return sum(
        1
        for r in fake.requests
        if r["path"] == "/v1/messages" and f"TASK: {task}" in json.dumps(r["body"].get("system"))
    )


def _batches_created(fake: FakeAnthropic) -> list[dict[str, Any]]:
    return [r["body"] for r in fake.requests if r["path"] == "/v1/messages/batches" and r["body"]]


def _items(ws: Workspace, task: str = "research") -> list[LlmBatchItem]:
    with Session(engine_for(ws.database_url)) as s:
        rows = s.exec(select(LlmBatchItem).where(LlmBatchItem.workspace == ws.id, LlmBatchItem.task == task))
        return list(rows)


def _bodies(ws: Workspace, run_id: str) -> list[dict[str, Any]]:
    with Session(engine_for(ws.database_url)) as s:
        rows = s.exec(
            select(DecisionRecord).where(DecisionRecord.workspace == ws.id, DecisionRecord.run_id == run_id)
        ).all()
        return [load_body(r) for r in sorted(rows, key=lambda r: r.seq)]


def _evidence(ws: Workspace, prospect_ids: set[str]) -> dict[str, tuple[Any, ...]]:
    """The research evidence of these prospects' companies, by id."""
    with Session(engine_for(ws.database_url)) as s:
        companies = {
            p.company_id
            for p in s.exec(select(Prospect).where(Prospect.workspace == ws.id))
            if p.id in prospect_ids
        }
        rows = s.exec(select(Evidence).where(Evidence.workspace == ws.id, Evidence.kind == "research"))
        return {
            e.id: (e.company_id, e.source_url, e.quote, json.dumps(e.data, sort_keys=True))
            for e in rows
            if e.company_id in companies
        }


def _research_status(ws: Workspace) -> dict[str, str]:
    with Session(engine_for(ws.database_url)) as s:
        return {c.id: c.research_status for c in s.exec(select(Company).where(Company.workspace == ws.id))}


@pytest.mark.slow
def test_research_waits_for_a_batch_then_resumes_with_the_sync_evidence(
    research_ws: Workspace, fake: FakeAnthropic, tmp_path: Path, backend: str
) -> None:
    ws = research_ws
    engine = engine_for(ws.database_url)
    assert batching.enabled(batching.for_daily_run(_ctx(ws)), "research")
    assert not batching.enabled(batching.for_daily_run(_ctx(ws)), "draft")  # drafts use templates
    day0 = run_daily(ws, now=DAY0)
    assert day0.errors == 0 and day0.awaiting_batch > len(_items(ws)) > 1  # colleagues share a request
    items = _items(ws)
    assert items and {i.status for i in items} == {"waiting"} and len({i.batch_id for i in items}) == 1
    assert _sync_calls(fake, "research") == 0 and len(_batches_created(fake)) == 1
    waiting = {b["prospect_id"] for b in _bodies(ws, day0.run_id) if b["final_action"] == "await_batch"}
    assert len(waiting) == day0.awaiting_batch
    assert all(
        b["action"] == "research" and b["tool"]["name"] == "research:claude"
        for b in _bodies(ws, day0.run_id)
        if b["final_action"] == "await_batch"
    )
    assert _evidence(ws, waiting) == {}  # nothing read yet
    owners = {i.prospect_id for i in items}
    colleague = sorted(waiting - owners)[0]  # shares its company's request with an owner
    with Session(engine) as s:
        (shown,) = batching.waiting_for(s, ws.id, colleague)
        (own,) = batching.waiting_for(s, ws.id, sorted(owners)[0])
    assert shown["task"] == "research" and shown["for"] in owners and shown["batch_id"] == items[0].batch_id
    assert own["status"] == "in batch" and "for" not in own
    with Session(engine) as s:  # the research credits stay held while the prospects wait
        held = list(
            s.exec(select(CostEntry).where(CostEntry.workspace == ws.id, CostEntry.kind == "research"))
        )
    assert held and {e.status for e in held} == {"reserved"}

    later = run_daily(ws, now=LATER)
    assert later.batches["results"] == {"succeeded": len(items)} and later.errors == 0
    assert _sync_calls(fake, "research") == 0  # every answer came from the batch
    resumed = [
        b for b in _bodies(ws, later.run_id) if b["action"] == "research" and b["final_action"] == "research"
    ]
    assert {b["prospect_id"] for b in resumed} <= waiting and resumed
    assert all(
        b["tool"]["result"]["batch"]["status"] in ("succeeded",)
        for b in resumed
        if "batch" in b["tool"]["result"]
    )
    with Session(engine) as s:
        calls = list(s.exec(select(LlmCall).where(LlmCall.workspace == ws.id, LlmCall.task == "research")))
        research_costs = list(
            s.exec(select(CostEntry).where(CostEntry.workspace == ws.id, CostEntry.kind == "research"))
        )
    assert len(calls) == len(items) and all(c.mode == "batch" for c in calls)  # paid once, batch price
    assert {e.status for e in research_costs} == {"committed"}
    batched = _evidence(ws, waiting)
    with Session(engine) as s:  # researched: nobody waits for a batch any more
        assert all(batching.waiting_for(s, ws.id, p) == [] for p in waiting)
    assert batched and all(json.loads(v[3])["model_read"] for v in batched.values())

    if backend == "sqlite":  # the same prospects researched synchronously read the same evidence
        twin = _workspace(tmp_path, fake, backend, "twin", batches=False)
        run_daily(twin, now=DAY0)
        assert _evidence(twin, waiting) == batched

    assert verify(engine, ws.id).ok
    fake.stop()  # replay needs no network
    for run in (day0, later):
        result = replay(ws, run_id=run.run_id)
        assert result["replayed"] > 0 and result["divergences"] == []


def _ctx(ws: Workspace) -> Any:
    from agents.context import build_context

    return build_context(ws, engine_for(ws.database_url))


@pytest.mark.slow
def test_crash_after_submit_neither_submits_nor_pays_twice(
    research_ws: Workspace, fake: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = research_ws
    engine = engine_for(ws.database_url)
    real = faults.crash_point

    def crash(name: str) -> None:
        if name == "batch_after_submit":
            raise RuntimeError("killed after the batch was created")
        real(name)

    monkeypatch.setattr(faults, "crash_point", crash)
    with pytest.raises(RuntimeError, match="killed"):
        run_daily(ws, now=DAY0)
    monkeypatch.setattr(faults, "crash_point", real)
    assert len(_batches_created(fake)) == 1
    with Session(engine) as s:
        (sub,) = s.exec(select(LlmBatch).where(LlmBatch.workspace == ws.id)).all()
    assert sub.status == "submitting" and sub.batch_id == ""  # the id never reached the database

    polled = batching.poll(engine, _ctx(ws).llm, ws.id, now=LATER)
    assert polled["in_doubt"][0]["resolved"] == "found" and polled["results"] == {"succeeded": sub.item_count}
    first = {i.custom_id for i in _items(ws)}
    sent_in = [b for b in _batches_created(fake) if first & {q["custom_id"] for q in b["requests"]}]
    assert len(sent_in) == 1  # submitted once
    run_daily(ws, now=LATER)
    assert _sync_calls(fake, "research") == 0  # never asked again
    with Session(engine) as s:
        calls = list(s.exec(select(LlmCall).where(LlmCall.workspace == ws.id, LlmCall.task == "research")))
        ledger = list(s.exec(select(CostEntry).where(CostEntry.workspace == ws.id, CostEntry.kind == "llm")))
    assert len(calls) == sub.item_count and all(c.mode == "batch" for c in calls)
    assert sorted(e.key for e in ledger) == sorted(f"llm:{c.digest}" for c in calls)  # paid once each
    assert all(e.status == "committed" for e in ledger)
    assert "done" in _research_status(ws).values()
    assert verify(engine, ws.id).ok


def test_an_errored_result_falls_back_to_a_synchronous_read(
    research_ws: Workspace, fake: FakeAnthropic
) -> None:
    ws = research_ws
    run_daily(ws, now=DAY0)
    items = _items(ws)
    assert items
    fake.batch_outcomes = {items[0].custom_id: "errored"}
    later = run_daily(ws, now=LATER)
    assert later.batches["results"]["errored"] == 1 and later.errors == 0
    assert _sync_calls(fake, "research") == 1  # only the errored one, once
    records = [
        b["tool"]["result"]
        for b in _bodies(ws, later.run_id)
        if b["prospect_id"] == items[0].prospect_id and b["final_action"] == "research"
    ]
    assert records[0]["batch"]["status"] == "errored" and records[0]["batch"]["fallback"] == "sync"
    assert records[0]["status"] == "found" and records[0]["evidence_ids"]
    with Session(engine_for(ws.database_url)) as s:
        calls = list(s.exec(select(LlmCall).where(LlmCall.workspace == ws.id, LlmCall.task == "research")))
        errored = s.exec(select(LlmBatchItem).where(LlmBatchItem.digest == items[0].digest)).one()
    assert errored.status == "errored" and errored.error
    assert sorted(c.mode for c in calls) == sorted(["sync"] + ["batch"] * (len(items) - 1))
    assert verify(engine_for(ws.database_url), ws.id).ok


@pytest.mark.slow
def test_research_then_a_claude_draft_waits_twice(
    tmp_path: Path, fake: FakeAnthropic, monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    """With both on Claude, a prospect waits for its research batch, then for its draft's."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    ws = _workspace(tmp_path, fake, backend, "both", batches=True, drafting="claude")
    day0 = run_daily(ws, now=DAY0)
    later = run_daily(ws, now=LATER)
    latest = run_daily(ws, now=LATEST)
    pid = _items(ws)[0].prospect_id  # the prospect whose research request went into the batch
    assert pid in {i.prospect_id for i in _items(ws, "draft")}
    ended = [
        [
            (b["action"], b["final_action"])
            for b in _bodies(ws, r.run_id)
            if b["prospect_id"] == pid and b["node"] == "act"
        ]
        for r in (day0, later, latest)
    ]
    assert ended[0][-1] == ("research", "await_batch")
    assert ("research", "research") in ended[1] and ended[1][-1] == ("draft", "await_batch")
    assert ("draft", "draft") in ended[2]
    assert _sync_calls(fake, "research") == 0 and _sync_calls(fake, "draft") == 0
    assert len(_batches_created(fake)) == 2
