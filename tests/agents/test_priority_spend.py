"""Who goes first and what it costs: score order under a mailbox cap, forecast vs actual,
carry-over, the dry-run preview, and budget caps that hold with two workers."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from sqlmodel import Session, select

from agents.forecast import forecast, preview
from agents.replay import replay
from agents.runner import run_daily
from agents.services import init_workspace
from core.errors import BudgetExceeded
from core.workspace import load_workspace
from state.db import engine_for, session_scope
from state.decision_log import load_body
from state.ledger import Cap, reserve, spend
from state.models import DecisionRecord, OutboxMessage
from state.models_ledger import CostEntry
from state.models_scoring import ProspectScore
from tests.conftest import BACKENDS, at, copy_demo

DAY0 = at("2026-11-23T15:00:00Z")


def demo(tmp_path: Path, **replace: str):  # noqa: ANN201
    path = copy_demo(tmp_path / "demo", relaxed=True)
    toml = path / "workspace.toml"
    text = toml.read_text(encoding="utf-8")
    for old, new in replace.items():
        text = text.replace(old, new)
    toml.write_text(text, encoding="utf-8")
    ws = load_workspace(path)
    init_workspace(ws, now=at("2026-11-23T14:00:00Z"))
    return ws


def test_mailbox_cap_sends_to_highest_scores_and_replay_explains(tmp_path: Path) -> None:
    """With 6 emails allowed and more due, at most 6 are sent and every prospect emailed scores at
    least as high as every prospect the mailbox cap held back; replay explains each prospect's score."""
    ws = demo(tmp_path, **{"mailbox_daily_cap = 40": "mailbox_daily_cap = 6"})
    summary = run_daily(ws, now=DAY0)
    engine = engine_for(ws.database_url)
    with Session(engine) as s:
        scores = {r.prospect_id: r.score for r in s.exec(select(ProspectScore)).all()}
        sent = {o.prospect_id for o in s.exec(select(OutboxMessage).where(OutboxMessage.channel == "email"))}
        held = set()
        for row in s.exec(select(DecisionRecord).where(DecisionRecord.run_id == summary.run_id)).all():
            body = load_body(row)
            if any(
                v["rule"] == "mailbox_daily_cap" and v["outcome"] != "allow" for v in body.get("verdicts", [])
            ):
                held.add(body["prospect_id"])
    # Slots are allotted once, in priority order, from the preview: a predicted send that does
    # not happen (an enrichment that finds no email) leaves its slot unused, never to a lower rank.
    assert summary.sent["email"] == len(sent) and 4 <= len(sent) <= 6 and held
    assert min(scores[p] for p in sent) >= max(scores[p] for p in held)
    result = replay(ws, run_id=summary.run_id)
    assert result["divergences"] == []
    assert sent <= set(result["scores"]) and all(result["scores"][p].startswith("score ") for p in sent)


def test_forecast_matches_actual_and_carry_over_is_recorded(tmp_path: Path) -> None:
    """On the demo (40 credits a run) the forecast equals the run's ledger spend within 10%, the
    run stays under the cap, and the prospects a spent cap keeps back are carried over in one
    run-level record naming the rule."""
    ws = load_workspace(copy_demo(tmp_path / "demo"))
    init_workspace(ws, now=at("2026-11-23T14:00:00Z"))
    fc = forecast(preview(ws, engine_for(ws.database_url), now=DAY0), ws)
    summary = run_daily(ws, now=DAY0)
    assert fc["credits"] == summary.forecast["credits"]
    assert abs(fc["credits"] - summary.actual["credits"]) <= 0.1 * summary.actual["credits"]
    assert summary.actual["credits"] <= 40
    assert summary.carried_over == fc["carried_over"] == {"budget_run": 2}
    with Session(engine_for(ws.database_url)) as s:
        rec = s.exec(select(DecisionRecord).where(DecisionRecord.action == "carry_over")).one()
    body = load_body(rec)
    assert body["carry_over"]["count"] == 2 and "budget" in body["rationale"]


def test_dry_run_previews_each_prospect_and_changes_nothing(tmp_path: Path) -> None:
    """The dry run lists action, channel, step, recipient, verdicts and cost per due prospect,
    highest score first, and pays or sends nothing."""
    ws = load_workspace(copy_demo(tmp_path / "demo"))
    init_workspace(ws, now=at("2026-11-23T14:00:00Z"))
    summary = run_daily(ws, now=DAY0, dry_run=True)
    rows = summary.to_dict()["preview"]
    assert len(rows) == 56 and [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    first = rows[0]
    assert {"action", "channel", "step", "recipient", "verdicts", "est_credits", "outcome"} <= set(first)
    assert any(r["action"] == "send" and r["outcome"] == "allow" and r["recipient"] for r in rows)
    assert any(r["carry_over"] == "budget_run" for r in rows)
    with Session(engine_for(ws.database_url)) as s:
        assert s.exec(select(OutboxMessage)).all() == []
        assert s.exec(select(CostEntry)).all() == []
        assert s.exec(select(DecisionRecord)).all() == []


@pytest.mark.slow
def test_budget_smaller_than_forecast_stops_at_cap_with_two_workers(tmp_path: Path) -> None:
    """A run whose budget is half its forecast, split over two worker processes, spends no more
    than the cap and reports the prospects carried over because of it."""
    ws = demo(tmp_path, **{"[policy.budget.run]\ncredits = 1000": "[policy.budget.run]\ncredits = 20"})
    fc = forecast(preview(ws, engine_for(ws.database_url), now=DAY0), ws)
    summary = run_daily(ws, now=DAY0, workers=2, chunk_size=8)
    assert fc["credits"] <= 20 < 43  # the preview already holds back what the cap cannot pay
    assert summary.actual["credits"] <= 20
    assert summary.carried_over.get("budget_run", 0) > 0 and summary.errors == 0


def _reserver(url: str, n: int, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    engine = engine_for(url)
    got = 0
    for i in range(n):
        try:
            with session_scope(engine) as s:
                reserve(
                    s,
                    workspace="race",
                    key=f"k:{multiprocessing.current_process().name}:{i}",
                    at=DAY0,
                    kind="enrichment",
                    provider="p",
                    credits=1.0,
                    caps=[Cap("run", "credits", 25.0, run_id="r")],
                    run_id="r",
                )
            got += 1
        except BudgetExceeded:
            pass
    out.put(got)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_reservations_never_overshoot(tmp_path: Path, backend: str) -> None:
    """Two processes reserving 1 credit at a time against a 25-credit cap reserve exactly 25."""
    from tests.conftest import PG_URL, purge_postgres_workspace

    url = f"sqlite:///{tmp_path / 'race.db'}" if backend == "sqlite" else PG_URL
    engine = engine_for(url)
    if backend == "postgres":
        purge_postgres_workspace("race")
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_reserver, args=(url, 20, q), name=f"w{i}") for i in range(2)]
    for p in procs:
        p.start()
    got = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    with Session(engine) as s:
        assert spend(s, workspace="race", run_id="r").credits == 25.0
    assert sum(got) == 25
