"""Two workers racing for the last capped slot: the send transaction locks the counter it
consumes, re-reads the real usage (sends made plus this run's sends on their way) and
defers the second send with the capacity verdict, logged. On SQLite the write transaction
(BEGIN IMMEDIATE) serialises them; on PostgreSQL an advisory transaction lock does."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from langgraph.runtime import Runtime
from sqlmodel import Session, select

from agents import actions, allocation
from agents.checkpoint import thread_id
from agents.context import AgentContext, build_context
from agents.nodes.act import act
from agents.nodes.guard import guard
from agents.nodes.observe import observe
from agents.nodes.plan import plan
from agents.services import init_workspace
from agents.state import initial_state
from core.workspace import load_workspace
from state.db import engine_for
from state.decision_log import load_body
from state.models import DecisionRecord, OutboxMessage, Prospect
from tests.conftest import BACKENDS, PG_URL, at, copy_demo

NOW = "2026-11-23T15:00:00Z"
RACERS = ("camille.laurent@maisonverte.example", "denise.okafor@stratusparcel.example")


def _ready_to_send(ctx: AgentContext, email: str) -> dict[str, Any]:
    """The prospect's state at the moment the guard allowed its email send (before act)."""
    rt = Runtime(context=ctx)
    with Session(ctx.engine) as s:
        p = s.exec(
            select(Prospect).where(Prospect.workspace == ctx.ws_id, Prospect.email_norm == email)
        ).one()
    st: dict[str, Any] = dict(
        initial_state(prospect_id=p.id, thread_id=thread_id(ctx.ws_id, p.id), run_id="run_race", now=NOW)
    )
    for _ in range(6):
        st.update(observe(st, rt))  # type: ignore[arg-type]
        st.update(plan(st, rt))  # type: ignore[arg-type]
        st.update(guard(st, rt))  # type: ignore[arg-type]
        action = st["plan"]["proposal"]["action"]
        assert st["decision"]["outcome"] == "allow", st["decision"]
        if action == "send":
            return st
        st.update(act(st, rt))  # type: ignore[arg-type]
    raise AssertionError(f"{email} never reached a send")


def _race(tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Any], Any]:
    """Both prospects were allowed a send with the mailbox at 0 of 1; their send
    transactions run at the same time, each pausing after its usage read until the other
    has read too (or 3 s passed: the other is held on the lock)."""
    path = copy_demo(tmp_path / "demo", backend=backend, relaxed=True)
    toml = path / "workspace.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace("mailbox_daily_cap = 40", "mailbox_daily_cap = 1")
    )
    ws = load_workspace(path)
    init_workspace(ws, now=at("2026-11-23T14:00:00Z"))
    ctx = build_context(ws, engine_for(ws.database_url))
    states = [_ready_to_send(ctx, e) for e in RACERS]
    assert all(s["observation"]["counters"]["mailbox_sent_today"] == 0 for s in states)

    barrier = threading.Barrier(2, timeout=3)
    read = allocation.real_usage

    def slow_read(*args: Any, **kwargs: Any) -> dict[str, Any]:
        usage = read(*args, **kwargs)
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            pass  # the other send is held on the lock until this one commits
        return usage

    monkeypatch.setattr(allocation, "real_usage", slow_read)
    results: list[Any] = [None, None]

    def run(i: int) -> None:
        try:
            results[i] = actions.send(states[i], ctx)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - reported by the assertions
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results, ws


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_sends_racing_for_the_last_slot_send_one(
    tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exactly one email goes out; the other prospect waits for the next run, and its
    decision names the mailbox cap, re-checked at send."""
    results, ws = _race(tmp_path, backend, monkeypatch)
    assert not any(isinstance(r, Exception) for r in results), results
    with Session(engine_for(ws.database_url)) as s:
        rows = s.exec(
            select(OutboxMessage).where(OutboxMessage.workspace == ws.id, OutboxMessage.channel == "email")
        ).all()
        bodies = [
            load_body(r)
            for r in s.exec(
                select(DecisionRecord).where(
                    DecisionRecord.workspace == ws.id, DecisionRecord.run_id == "run_race"
                )
            ).all()
        ]
        held = [b for b in bodies if "re-checked at send" in json.dumps(b)]
    assert [r.status for r in rows] == ["sent"], [(r.prospect_id, r.status) for r in rows]
    waiting = [r for r in results if (r or {}).get("outcome")]
    assert len(waiting) == 1 and waiting[0]["outcome"]["kind"] == "wait"
    assert "mailbox_daily_cap" in waiting[0]["outcome"]["reason"]
    assert len(held) == 1 and held[0]["final_action"] == "wait"
    assert held[0]["prospect_id"] != rows[0].prospect_id


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="needs TEST_DATABASE_URL")
def test_without_the_lock_postgres_sends_both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The race is real: on PostgreSQL, without the counter lock both transactions read
    0 of 1 and both emails go out (what the lock in the send transaction prevents)."""
    monkeypatch.setattr(allocation, "lock_counter", lambda *a, **k: None)
    results, ws = _race(tmp_path, "postgres", monkeypatch)
    assert not any(isinstance(r, Exception) for r in results), results
    with Session(engine_for(ws.database_url)) as s:
        rows = s.exec(
            select(OutboxMessage).where(OutboxMessage.workspace == ws.id, OutboxMessage.channel == "email")
        ).all()
    assert sorted(r.status for r in rows) == ["sent", "sent"]
