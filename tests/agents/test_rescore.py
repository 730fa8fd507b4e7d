"""`agents.scoring.rescore` on a stored workspace: the same scores as scoring each prospect from
its ORM objects, and a row is written only when what it says changed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlmodel import Session, col, select

from agents.scoring import compute_score, facts_of, ranked, rescore
from core.timeutil import iso
from state.db import engine_for
from state.models import Company, Prospect, Signal
from state.models_scoring import ProspectScore
from tests.conftest import at

NOW = at("2026-11-23T15:00:00Z")


def _writes(engine: Any) -> tuple[list[tuple[str, int]], Any]:
    """(statement kind, parameter sets) of every INSERT/UPDATE on prospect_scores."""
    seen: list[tuple[str, int]] = []

    def listener(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        head = statement.lstrip().split(None, 1)[0].upper()
        if head in ("INSERT", "UPDATE") and "prospect_scores" in statement:
            seen.append((head, len(params) if many else 1))

    event.listen(engine, "before_cursor_execute", listener)
    return seen, listener


def _reference(session: Session, ws: Any, ids: list[str]) -> dict[str, tuple[float, int | None, bool]]:
    """Each prospect scored from its ORM objects, one at a time (what rescore used to do)."""
    cfg, icp = ws.config.scoring, ws.config.icp
    out = {}
    for pid in ids:
        p = session.get(Prospect, pid)
        assert p is not None
        c = session.get(Company, p.company_id) if p.company_id else None
        sigs = session.exec(
            select(Signal).where(
                Signal.workspace == ws.id,
                (col(Signal.prospect_id) == pid) | (col(Signal.company_id) == (p.company_id or "")),
            )
        ).all()
        mine = list(
            {
                s.id: {
                    "id": s.id,
                    "type": s.type,
                    "detail": s.detail,
                    "url": s.url,
                    "occurred_at": s.occurred_at,
                }
                for s in sigs
            }.values()
        )
        r = compute_score(facts_of(p, c), mine, icp, cfg, NOW)
        out[pid] = (r.score, r.tier, r.excluded)
    return out


def test_rescore_matches_reference_and_writes_only_changed_rows(ready_ws: Any) -> None:
    """First rescoring inserts one row per prospect with the scores of the per-prospect ORM
    reference; a second one at the same instant with nothing changed issues no INSERT or UPDATE
    and returns the same scores and order; changing one prospect's title rewrites that row only."""
    ws = ready_ws
    engine = engine_for(ws.database_url)
    with Session(engine) as s:
        ids = list(s.exec(select(Prospect.id).where(Prospect.workspace == ws.id)).all())
    assert len(ids) >= 5
    seen, listener = _writes(engine)
    try:
        with Session(engine) as s:
            first = rescore(s, ws, ids, NOW)
            s.commit()
        assert sum(n for kind, n in seen if kind == "INSERT") == len(ids)
        with Session(engine) as s:
            ref = _reference(s, ws, ids)
            stored = {
                r.prospect_id: r
                for r in s.exec(select(ProspectScore).where(ProspectScore.workspace == ws.id))
            }
        assert {p: (r.score, r.tier, r.excluded) for p, r in first.items()} == ref
        assert {p: (r.score, r.tier, r.excluded) for p, r in stored.items()} == ref
        assert all(r.breakdown["scored_at"] == iso(NOW) for r in stored.values())

        seen.clear()
        with Session(engine) as s:
            again = rescore(s, ws, ids, NOW)
            s.commit()
        assert seen == []  # nothing changed: no row written
        assert {p: (r.score, r.tier, r.breakdown) for p, r in again.items()} == {
            p: (r.score, r.tier, r.breakdown) for p, r in first.items()
        }
        assert ranked(ids, {p: r.score for p, r in again.items()}) == ranked(
            ids, {p: r.score for p, r in first.items()}
        )

        # Later, only the rows whose breakdown moved (the signals' ages) are rewritten; a
        # prospect without signals keeps the row (and the instant) it was scored at.
        later = at("2026-11-23T15:30:00Z")
        with Session(engine) as s:
            moved = rescore(s, ws, ids, later)
            s.commit()
        unsignalled = {p for p, r in first.items() if not r.breakdown["signals"]}
        assert unsignalled and all(moved[p].scored_at == first[p].scored_at for p in unsignalled)
        assert sum(n for _kind, n in seen) == sum(
            1 for p in ids if moved[p].breakdown["scored_at"] == iso(later)
        )
        assert sum(n for _kind, n in seen) <= len(ids) - len(unsignalled)
        seen.clear()

        target = sorted(ids)[0]
        with Session(engine) as s:
            p = s.get(Prospect, target)
            assert p is not None
            p.title = title = "Intern" if p.title != "Intern" else "Chief Executive"
            s.add(p)
            s.commit()
        with Session(engine) as s:
            third = rescore(s, ws, ids, later)
            s.commit()
        assert seen == [("UPDATE", 1)]
        with Session(engine) as s:
            row = s.get(ProspectScore, (ws.id, target))
            assert row is not None
            assert row.breakdown["scored_at"] == iso(later) and row.score == third[target].score
            assert any(r["field"] == "title" and r["value"] == title for r in row.breakdown["fit_rules"])
    finally:
        event.remove(engine, "before_cursor_execute", listener)
