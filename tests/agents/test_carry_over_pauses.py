"""A prospect that can take no action today because every action open to it is held all day
(the kill switch; a send window that stays closed for at least a day: a weekend, a public
holiday) is carried over to the next run without running its graph: one run-level record
per rule, each prospect's own reason kept, and `prospects show` says why. Running the graph
anyway would only have made it wait: the test runs it on a copy of the workspace and checks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlmodel import Session, select

from agents.context import build_context
from agents.runner import _process_chunk, carried_over_in, run_daily
from agents.services import init_workspace
from core.workspace import load_workspace
from state.db import engine_for
from state.decision_log import load_body
from state.models import DecisionRecord, OutboxMessage
from tests.conftest import at, copy_demo

SATURDAY = at("2026-11-28T15:00:00Z")


@pytest.mark.slow
def test_closed_window_all_day_carries_over_and_the_graph_would_only_wait(tmp_path: Path) -> None:
    path = copy_demo(tmp_path / "demo")
    init_workspace(load_workspace(path), now=at("2026-11-23T14:00:00Z"))
    run_daily(load_workspace(path), now=at("2026-11-23T15:00:00Z"))
    twin = tmp_path / "twin"
    shutil.copytree(path, twin)

    ws = load_workspace(path)
    summary = run_daily(ws, now=SATURDAY)
    carried_n = summary.carried_over.get("send_window", 0)
    assert carried_n > 0, summary.carried_over
    engine = engine_for(ws.database_url)
    with Session(engine) as s:
        recs = s.exec(
            select(DecisionRecord).where(
                DecisionRecord.run_id == summary.run_id, DecisionRecord.action == "carry_over"
            )
        ).all()
        info = next(i for i in (load_body(r)["carry_over"] for r in recs) if i["rule"] == "send_window")
        carried = [p["id"] for p in info["prospects"]]
        assert info["count"] == carried_n == len(carried)
        own = set(
            s.exec(
                select(DecisionRecord.prospect_id).where(
                    DecisionRecord.run_id == summary.run_id, DecisionRecord.prospect_id != ""
                )
            ).all()
        )
        assert not own & set(carried)  # no graph ran for them: no decision of their own
        reasons = []
        for p in info["prospects"]:
            why = carried_over_in(s, ws.id, p["id"])
            assert why is not None and why["rule"] == "send_window" and why["reason"] == p["reason"]
            reasons.append(why["reason"])
        # each its own: a weekend in the recipient's zone, or a zone still unknown for a day
        weekend = [r for r in reasons if "outside the sending window" in r and r[:3] in ("Sat", "Sun")]
        assert weekend and all(r in weekend or "time zone" in r for r in reasons), reasons
        assert s.exec(select(OutboxMessage).where(OutboxMessage.created_at >= SATURDAY)).first() is None

    # The same prospects through their graphs on the copy: each only waits, nothing goes out.
    tws = load_workspace(twin)
    assert tws.database_url != ws.database_url
    teng = engine_for(tws.database_url)
    ctx = build_context(tws, teng)
    outcomes = _process_chunk(tws, ctx, carried, run_id="run_twin", now=SATURDAY)
    assert [o["kind"] for o in outcomes] == ["wait"] * len(carried)
    assert all(o["sent"] == [] for o in outcomes)
    with Session(teng) as s:
        assert s.exec(select(OutboxMessage).where(OutboxMessage.created_at >= SATURDAY)).first() is None
        defers = [
            v
            for r in s.exec(select(DecisionRecord).where(DecisionRecord.run_id == "run_twin")).all()
            for v in load_body(r).get("verdicts", [])
            if v["outcome"] != "allow"
        ]
        assert defers and {v["rule"] for v in defers} == {"send_window"}

    # On Monday the carried-over prospects are worked again and some are sent.
    monday = run_daily(load_workspace(path), now=at("2026-11-30T15:00:00Z"))
    assert sum(monday.sent.values()) > 0
