"""agents.concurrency.process_all: outcomes in priority order whichever lane finishes first,
lanes really overlap, a company stays in one lane in order, and a lane's failure reaches
the caller."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
from sqlmodel import Session, select

from agents.concurrency import process_all
from core.workspace import Workspace
from state.db import engine_for
from state.models import Prospect


def _ctx(ws: Workspace) -> Any:
    return SimpleNamespace(engine=engine_for(ws.database_url))


def test_outcomes_come_back_in_priority_order(demo_ws: Workspace) -> None:
    ids = [f"p_{i:02d}" for i in range(12)]  # unknown to the database: each its own unit
    running = {"now": 0, "max": 0}
    lock = threading.Lock()

    def process(_graph: Any, _ctx: Any, pid: str) -> dict[str, Any]:
        with lock:
            running["now"] += 1
            running["max"] = max(running["max"], running["now"])
        time.sleep(0.02 * (12 - int(pid[2:])))  # later prospects finish first
        with lock:
            running["now"] -= 1
        return {"kind": "wait", "pid": pid}

    seen: list[tuple[int, str]] = []
    out = process_all(
        demo_ws, _ctx(demo_ws), ids, process, concurrency=4, on_outcome=lambda i, p, o: seen.append((i, p))
    )
    assert [o["pid"] for o in out] == ids
    assert seen == list(enumerate(ids))
    assert running["max"] > 1


@pytest.mark.slow
def test_a_company_stays_in_one_lane_in_order(demo_ws: Workspace) -> None:
    from agents.services import init_workspace
    from tests.conftest import at

    init_workspace(demo_ws, now=at("2026-11-23T14:00:00Z"))
    with Session(engine_for(demo_ws.database_url)) as s:
        rows = s.exec(select(Prospect.id, Prospect.company_id).where(Prospect.workspace == demo_ws.id)).all()
    ids = sorted(pid for pid, _ in rows)
    company = dict(rows)
    lanes: dict[str, set[str]] = {}
    order: dict[str, list[str]] = {}
    active: set[str] = set()
    overlap: list[str] = []
    lock = threading.Lock()

    def process(_graph: Any, _ctx: Any, pid: str) -> dict[str, Any]:
        c = company[pid] or pid
        with lock:
            if c in active:
                overlap.append(c)
            active.add(c)
            lanes.setdefault(c, set()).add(threading.current_thread().name)
            order.setdefault(c, []).append(pid)
        time.sleep(0.005)
        with lock:
            active.discard(c)
        return {"kind": "wait"}

    process_all(demo_ws, _ctx(demo_ws), ids, process, concurrency=6)
    assert overlap == []
    assert all(len(names) == 1 for names in lanes.values())
    assert all(members == sorted(members) for members in order.values())
    assert len({n for names in lanes.values() for n in names}) > 1


def test_a_lane_failure_reaches_the_caller(demo_ws: Workspace) -> None:
    def process(_graph: Any, _ctx: Any, pid: str) -> dict[str, Any]:
        if pid == "p_03":
            raise RuntimeError("checkpoint store unreachable")
        return {"kind": "wait"}

    with pytest.raises(RuntimeError, match="checkpoint store unreachable"):
        process_all(demo_ws, _ctx(demo_ws), [f"p_{i:02d}" for i in range(8)], process, concurrency=3)
