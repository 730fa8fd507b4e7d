"""The result of a daily run does not depend on the number of workers or on chunk order:
a synthetic workspace run with one worker and, on a copy, with two workers gives the same
decision for every prospect."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from agents.allocation import company_chunks
from agents.runner import run_daily
from agents.services import init_workspace
from core.workspace import load_workspace
from state.db import engine_for
from state.decision_log import load_body
from state.models import DecisionRecord
from tests.conftest import BACKENDS, PG_URL, at, purge_postgres_workspace
from tools.synthetic import write_synthetic_workspace

INIT, DAY = at("2026-11-23T14:00:00Z"), at("2026-11-23T16:00:00Z")


def outcomes(ws: Any, run_id: str) -> dict[str, tuple[str, str, str, str]]:
    """Per prospect: its last decision of the run (final action, step, channel, stop reason)."""
    out: dict[str, tuple[str, str, str, str]] = {}
    with Session(engine_for(ws.database_url)) as s:
        rows = s.exec(
            select(DecisionRecord).where(DecisionRecord.run_id == run_id).order_by(DecisionRecord.seq)  # type: ignore[arg-type]
        ).all()
    for r in rows:
        b = load_body(r)
        if b.get("prospect_id"):
            prop = b.get("proposal") or {}
            stop = b.get("rationale", "") if b.get("final_action") == "stop" else ""
            out[b["prospect_id"]] = (
                b["final_action"],
                prop.get("step_id") or "",
                prop.get("channel") or "",
                stop,
            )
    return out


def run_copy(src: Path, dest: Path, backend: str, workers: int) -> tuple[dict[str, Any], dict[str, Any]]:
    shutil.copytree(src, dest)
    if backend == "postgres":
        toml = dest / "workspace.toml"
        toml.write_text(f'database_url = "{PG_URL}"\n' + toml.read_text(encoding="utf-8"), encoding="utf-8")
    ws = load_workspace(dest)
    if backend == "postgres":
        purge_postgres_workspace(ws.id)
    init_workspace(ws, now=INIT)
    summary = run_daily(ws, now=DAY, workers=workers, chunk_size=30)
    return summary.to_dict(), outcomes(ws, summary.run_id)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_two_workers_decide_exactly_like_one(tmp_path: Path, backend: str) -> None:
    """On a 300-prospect synthetic workspace whose mailbox cap is reached (so capped slots and
    near-cap reviews are at stake), one worker and two workers over chunks of 30 reach the same
    final action, step, channel and stop reason for every prospect, and the same totals."""
    src = tmp_path / "src"
    write_synthetic_workspace(src, 300, seed=7)
    one, by_one = run_copy(src, tmp_path / "one", backend, 1)
    two, by_two = run_copy(src, tmp_path / "two", backend, 2)
    assert one["sent"]["email"] > 0 and one["review_requested"] > 0  # caps are really in play
    assert one["errors"] == two["errors"] == 0
    differ = {
        p: (by_one.get(p), by_two.get(p))
        for p in by_one.keys() | by_two.keys()
        if by_one.get(p) != by_two.get(p)
    }
    assert differ == {}
    for key in ("sent", "review_requested", "stopped", "deferred", "carried_over"):
        assert one[key] == two[key], key


def test_chunks_keep_each_company_whole_and_in_priority_order(tmp_path: Path) -> None:
    """Chunks never split a company's prospects across workers, and each chunk keeps the
    run's priority order, so account-level usage is seen in the same order by any worker count."""
    src = tmp_path / "src"
    write_synthetic_workspace(src, 120, seed=7)
    ws = load_workspace(src)
    init_workspace(ws, now=INIT)
    from state.models import Prospect

    with Session(engine_for(ws.database_url)) as s:
        rows = s.exec(select(Prospect.id, Prospect.company_id).where(Prospect.workspace == ws.id)).all()
        ids = sorted(pid for pid, _ in rows)[::-1]  # any priority order
        chunks = company_chunks(s, ids, 10)
    company = dict(rows)
    rank = {p: i for i, p in enumerate(ids)}
    assert sorted(p for c in chunks for p in c) == sorted(ids)
    seen: dict[str, int] = {}
    for n, chunk in enumerate(chunks):
        assert chunk == sorted(chunk, key=rank.__getitem__)
        for p in chunk:
            assert seen.setdefault(company[p], n) == n
    assert len(chunks) > 1


def test_send_rechecks_real_usage_when_the_plan_is_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even with an allocation that wrongly shows every prospect an empty mailbox, the send
    transaction re-checks the real usage: no more than the cap of 3 emails goes out, and the
    prospects held back wait (not stopped) with the re-check named in their decision."""
    import agents.allocation as slots
    from agents.services import init_workspace
    from state.models import OutboxMessage, Prospect
    from tests.conftest import copy_demo

    real_allocate = slots.allocate

    def blind(ws: Any, rows: Any, start: dict[str, Any]) -> slots.Allocation:
        table = real_allocate(ws, rows, start)
        for pid, a in table.by_prospect.items():  # as if nobody ranked above had sent anything
            table.by_prospect[pid] = slots.Allotment(
                counters=dict(start),
                run_credits=a.run_credits,
                run_usd=a.run_usd,
                month_credits=a.month_credits,
                month_usd=a.month_usd,
                email_before=False,
            )
        return table

    monkeypatch.setattr(slots, "allocate", blind)
    path = copy_demo(tmp_path / "demo", relaxed=True)
    toml = path / "workspace.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8").replace("mailbox_daily_cap = 40", "mailbox_daily_cap = 3")
    )
    ws = load_workspace(path)
    init_workspace(ws, now=INIT)
    summary = run_daily(ws, now=at("2026-11-23T15:00:00Z"))
    with Session(engine_for(ws.database_url)) as s:
        emails = s.exec(select(OutboxMessage).where(OutboxMessage.channel == "email")).all()
        held = [
            load_body(r)
            for r in s.exec(select(DecisionRecord).where(DecisionRecord.run_id == summary.run_id)).all()
            if "re-checked at send" in json.dumps(load_body(r))
        ]
        waiting = {p.id for p in s.exec(select(Prospect).where(Prospect.status == "waiting")).all()}
    assert summary.sent["email"] == len(emails) <= 3, summary.to_dict()
    assert held, (summary.sent, summary.review_requested, summary.deferred, summary.carried_over)
    assert all(b["final_action"] == "wait" and b["prospect_id"] in waiting for b in held)
