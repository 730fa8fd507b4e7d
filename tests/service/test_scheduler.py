"""The scheduler on an injected clock: local daily time across DST, coalesced misfires,
one leader per PostgreSQL database."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

import pytest

from agents.scheduler import PgAdvisoryLeader, ServiceScheduler, advisory_key
from tests.conftest import at

from .conftest import MutableClock


def scheduler(demo_ws: Any, clock: MutableClock, ran: list, **kw: Any) -> ServiceScheduler:
    return ServiceScheduler([demo_ws], clock=clock, daily=lambda ws, now: ran.append(now), **kw)


def test_daily_run_at_local_time_across_dst(demo_ws: Any) -> None:
    """08:30 New York fires at 12:30Z before the November DST change and 13:30Z after it."""
    clock = MutableClock(at("2026-10-31T13:00:00Z"))
    ran: list[datetime] = []
    s = scheduler(demo_ws, clock, ran)
    assert s.next_daily(demo_ws.id) == at("2026-11-01T13:30:00Z")  # Nov 1: EST (UTC-5) begins
    clock.at = at("2026-10-31T12:29:00Z")
    s2 = scheduler(demo_ws, clock, ran)
    assert s2.next_daily(demo_ws.id) == at("2026-10-31T12:30:00Z")  # still EDT (UTC-4)
    clock.at = at("2026-10-31T12:30:05Z")
    assert s2.tick(wait=True).daily == [(demo_ws.id, at("2026-10-31T12:30:00Z"), 1)]
    clock.at = at("2026-11-01T13:30:01Z")
    assert s2.tick(wait=True).daily == [(demo_ws.id, at("2026-11-01T13:30:00Z"), 1)]
    assert len(ran) == 2 and s2.next_daily(demo_ws.id) == at("2026-11-02T13:30:00Z")


def test_missed_runs_are_coalesced(demo_ws: Any) -> None:
    """Three missed daily fire times give one run, and the next is scheduled after now."""
    clock = MutableClock(at("2026-11-23T12:00:00Z"))
    ran: list[datetime] = []
    s = scheduler(demo_ws, clock, ran)
    clock.at = at("2026-11-26T14:00:00Z")  # 23rd, 24th, 25th and 26th 13:30Z have passed
    result = s.tick(wait=True)
    assert result.daily == [(demo_ws.id, at("2026-11-26T13:30:00Z"), 4)]
    assert ran == [clock.at]
    assert s.tick(wait=True).daily == []
    assert s.next_daily(demo_ws.id) == at("2026-11-27T13:30:00Z")


def test_never_two_runs_of_one_workspace(demo_ws: Any) -> None:
    """A due run is skipped while the workspace's previous run still holds its lock."""
    clock = MutableClock(at("2026-11-23T12:00:00Z"))
    ran: list[datetime] = []
    s = scheduler(demo_ws, clock, ran)
    clock.at = at("2026-11-23T13:31:00Z")
    with s.lock_for(demo_ws.id):
        s.tick(wait=True)
    assert ran == []


@pytest.mark.postgres
def test_second_scheduler_on_same_postgres_runs_nothing(demo_ws: Any) -> None:
    """Only the holder of the advisory lock runs jobs; the other starts when it lets go."""
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url:
        pytest.skip("TEST_DATABASE_URL is not set")
    key = advisory_key(f"test:{os.getpid()}:{id(demo_ws)}")
    clock = MutableClock(at("2026-11-23T12:00:00Z"))
    first_ran: list[datetime] = []
    second_ran: list[datetime] = []
    first = scheduler(demo_ws, clock, first_ran, leader=PgAdvisoryLeader(url, key=key))
    second = scheduler(demo_ws, clock, second_ran, leader=PgAdvisoryLeader(url, key=key))
    clock.at = at("2026-11-23T13:31:00Z")
    assert first.tick(wait=True).leader is True
    result = second.tick(wait=True)
    assert result.leader is False and result.daily == []
    assert len(first_ran) == 1 and second_ran == []
    first.shutdown()
    clock.at = at("2026-11-24T13:31:00Z")
    assert second.tick(wait=True).leader is True and len(second_ran) == 1
    second.shutdown()
