"""A daily run missed while the service was down runs once when it comes back: the
scheduler remembers the fire times it started runs for in the workspace's database."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from agents.scheduler import MemoryMarks, ServiceScheduler
from tests.conftest import at

from .conftest import MutableClock


def _wait_for(predicate: Any, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def _started(ws: Any, clock: MutableClock, ran: list[datetime]) -> ServiceScheduler:
    s = ServiceScheduler([ws], clock=clock, daily=lambda _ws, now: ran.append(now), tick_seconds=0.05)
    s.start()
    return s


def test_missed_daily_run_catches_up_once_across_restarts(demo_ws: Any) -> None:
    """Stop the service after a daily run, move the clock past the next two fire times,
    start it: exactly one catch-up run; start it again: none; the next fire time still runs."""
    clock = MutableClock(at("2026-11-23T12:00:00Z"))  # the demo runs daily at 08:30 New York
    ran: list[datetime] = []
    first = ServiceScheduler([demo_ws], clock=clock, daily=lambda _ws, now: ran.append(now))
    clock.at = at("2026-11-23T13:31:00Z")
    assert first.tick(wait=True).daily == [(demo_ws.id, at("2026-11-23T13:30:00Z"), 1)]
    first.shutdown()

    clock.at = at("2026-11-25T14:00:00Z")  # down over the 24th's and the 25th's fire times
    second = _started(demo_ws, clock, ran)
    assert _wait_for(lambda: len(ran) == 2)
    time.sleep(0.3)  # a few more ticks: nothing else runs
    second.shutdown()
    assert ran == [at("2026-11-23T13:31:00Z"), at("2026-11-25T14:00:00Z")]
    assert second.next_daily(demo_ws.id) == at("2026-11-26T13:30:00Z")

    third = _started(demo_ws, clock, ran)
    time.sleep(0.3)
    third.shutdown()
    assert len(ran) == 2

    clock.at = at("2026-11-26T13:31:00Z")
    fourth = ServiceScheduler([demo_ws], clock=clock, daily=lambda _ws, now: ran.append(now))
    assert fourth.tick(wait=True).daily == [(demo_ws.id, at("2026-11-26T13:30:00Z"), 1)]
    fourth.shutdown()
    assert len(ran) == 3


def test_a_workspace_that_never_ran_does_not_catch_up(demo_ws: Any) -> None:
    """With no mark and no run on record, the first start waits for the next fire time."""
    clock = MutableClock(at("2026-11-25T14:00:00Z"))
    ran: list[datetime] = []
    s = ServiceScheduler([demo_ws], clock=clock, daily=lambda _ws, now: ran.append(now))
    assert s.tick(wait=True).daily == [] and ran == []
    s.shutdown()


def test_workspace_with_runs_but_no_marks_catches_up(ready_ws: Any) -> None:
    """A workspace upgraded from before the marks uses its latest run: a run on the 23rd
    and a restart on the 25th after the fire time give one catch-up run."""
    from agents.runner import run_daily

    run_daily(ready_ws, now=at("2026-11-23T15:00:00Z"))
    clock = MutableClock(at("2026-11-25T14:00:00Z"))
    ran: list[datetime] = []
    s = ServiceScheduler([ready_ws], clock=clock, daily=lambda _ws, now: ran.append(now))
    assert s.tick(wait=True).daily == [(ready_ws.id, at("2026-11-25T13:30:00Z"), 2)]
    assert s.tick(wait=True).daily == []
    s.shutdown()
    assert ran == [clock.at]


def test_a_fire_time_already_marked_is_not_run_again(demo_ws: Any) -> None:
    """Two schedulers sharing marks (a new leader after a failover): the fire time the
    first one ran is skipped by the second."""
    marks = MemoryMarks()
    clock = MutableClock(at("2026-11-23T12:00:00Z"))
    ran: list[str] = []
    first = ServiceScheduler([demo_ws], clock=clock, daily=lambda _ws, now: ran.append("first"), marks=marks)
    second = ServiceScheduler(
        [demo_ws], clock=clock, daily=lambda _ws, now: ran.append("second"), marks=marks
    )
    clock.at = at("2026-11-23T13:31:00Z")
    first.tick(wait=True)
    second.tick(wait=True)
    first.shutdown()
    second.shutdown()
    assert ran == ["first"]


def test_a_manual_run_after_the_missed_fire_counts_as_the_days_run(demo_ws: Any) -> None:
    """An operator's `daily` run made while the service was down (after the missed fire
    time) is that day's run: no catch-up on restart."""
    from sqlmodel import Session

    from state.db import engine_for
    from state.models import Run

    clock = MutableClock(at("2026-11-23T12:00:00Z"))
    ran: list[datetime] = []
    first = ServiceScheduler([demo_ws], clock=clock, daily=lambda _ws, now: ran.append(now))
    clock.at = at("2026-11-23T13:31:00Z")
    first.tick(wait=True)
    first.shutdown()
    with Session(engine_for(demo_ws.database_url)) as s:
        s.add(
            Run(
                id="manual",
                workspace=demo_ws.id,
                now=at("2026-11-24T15:00:00Z"),
                started_at=at("2026-11-24T15:00:00Z"),
            )
        )
        s.commit()
    clock.at = at("2026-11-24T16:00:00Z")
    second = ServiceScheduler([demo_ws], clock=clock, daily=lambda _ws, now: ran.append(now))
    assert second.tick(wait=True).daily == []
    second.shutdown()
    assert len(ran) == 1
