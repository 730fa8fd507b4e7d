"""The cost ledger: one row per paid thing, never two, and spend read by any slice."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from core.workspace import Workspace
from state.db import engine_for, session_scope
from state.ledger import entries, record_cost, spend
from state.models_ledger import CostEntry
from tests.conftest import at


def test_same_key_is_recorded_once(demo_ws: Workspace) -> None:
    """Recording the same paid thing twice keeps the first row and its amount."""
    engine = engine_for(demo_ws.database_url)
    t = at("2026-11-23T15:00:00Z")
    with session_scope(engine) as s:
        first = record_cost(
            s,
            workspace=demo_ws.id,
            key="enrichment:x:k1",
            at=t,
            kind="enrichment",
            provider="enrichment:x",
            credits=2,
            usd=0.2,
            run_id="r1",
            prospect_id="p1",
        )
        again = record_cost(
            s,
            workspace=demo_ws.id,
            key="enrichment:x:k1",
            at=t,
            kind="enrichment",
            provider="enrichment:x",
            credits=5,
            usd=0.5,
            run_id="r2",
            prospect_id="p1",
        )
        assert again.id == first.id
    with session_scope(engine) as s:
        rows = s.exec(select(CostEntry).where(CostEntry.workspace == demo_ws.id)).all()
        assert [(r.credits, r.run_id, r.month) for r in rows] == [(2, "r1", "2026-11")]


def test_spend_by_slice(demo_ws: Workspace) -> None:
    """Spend sums committed and reserved rows by time, run and prospect, and skips released ones."""
    engine = engine_for(demo_ws.database_url)
    t = at("2026-11-23T15:00:00Z")
    rows = [
        ("a", t, "r1", "p1", 1.0, 0.1, 0.0, "committed"),
        ("b", t, "r1", "p2", 2.0, 0.2, 0.0, "reserved"),
        ("c", t + timedelta(days=1), "r2", "p1", 0.0, 0.05, 0.05, "committed"),
        ("d", t + timedelta(days=1), "r2", "p1", 9.0, 9.0, 0.0, "released"),
    ]
    with session_scope(engine) as s:
        for key, when, run, pid, credits, usd, llm, status in rows:
            record_cost(
                s,
                workspace=demo_ws.id,
                key=key,
                at=when,
                kind="llm" if llm else "enrichment",
                provider="p",
                credits=credits,
                usd=usd,
                llm_usd=llm,
                run_id=run,
                prospect_id=pid,
                status=status,
            )
    with session_scope(engine) as s:
        total = spend(s, workspace=demo_ws.id)
        assert (total.credits, round(total.usd, 6), round(total.llm_usd, 6)) == (3.0, 0.35, 0.05)
        assert spend(s, workspace=demo_ws.id, run_id="r1").credits == 3.0
        by_p1 = spend(s, workspace=demo_ws.id, prospect_id="p1")
        assert (by_p1.credits, round(by_p1.usd, 6), round(by_p1.llm_usd, 6)) == (1.0, 0.15, 0.05)
        assert round(spend(s, workspace=demo_ws.id, since=t + timedelta(hours=1)).usd, 6) == 0.05
        assert spend(s, workspace=demo_ws.id, until=t + timedelta(hours=1)).credits == 3.0
        assert [e.key for e in entries(s, workspace=demo_ws.id)] == ["a", "b", "c", "d"]
