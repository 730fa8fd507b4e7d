"""The scheduler inside the service: each workspace's daily run at its local time, and
periodic jobs (Slack review posting, reminders and expiry, wake-ups for deferred
prospects).

Time comes from an injected clock. APScheduler (``BackgroundScheduler``) drives
:meth:`ServiceScheduler.tick` every ``tick_seconds`` with ``max_instances=1`` and
``coalesce=True``; each tick reads the clock and asks every workspace's
``CronTrigger(hour, minute, timezone=ZoneInfo([run] timezone))`` which fire times have
passed. Several missed fire times (the service was down, the machine slept) are
coalesced into one run. The fire-time arithmetic is APScheduler's, so DST changes
follow the tz database; the tick on the injected clock is what makes it testable.

A daily run missed while the service was down runs when it comes back, once: each run
started for a fire time is marked in the workspace's database (:class:`DatabaseMarks`,
table ``daily_run_marks``) before it starts. On its first tick as leader the scheduler
compares the latest mark or run in ``runs`` (a manual or wake-up run counts) with the
trigger: if a fire time has passed since, that run is due now (several missed fire
times give one run). A fire time that already has a mark is not run again, so a restart
or a new leader never repeats a day.

Never two runs of one workspace at once: daily runs and workspace jobs take the
workspace's lock without waiting and are skipped (logged) while it is held.

Only the leader runs jobs. On PostgreSQL the leader holds ``pg_try_advisory_lock`` on a
dedicated connection; a second service on the same database ticks but runs nothing
until the leader's connection goes away. On SQLite there is no cross-host lock: run one
service per workspace folder (:class:`SingleProcessLeader`).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import structlog
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core.errors import ConfigError
from core.timeutil import Clock, iso, to_utc
from core.workspace import Workspace

log = structlog.get_logger(__name__)
DailyFn = Callable[[Workspace, datetime], Any]
JobFn = Callable[[datetime], Any]


class LeaderLock(Protocol):
    def acquire(self) -> bool: ...

    def release(self) -> None: ...


class SingleProcessLeader:
    """Always the leader: SQLite deployments run one service per workspace."""

    def acquire(self) -> bool:
        return True

    def release(self) -> None:
        return None


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for pg_try_advisory_lock."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class PgAdvisoryLeader:
    """Leader while this process holds a session-level advisory lock on its own connection."""

    def __init__(self, url: str, *, key: int | None = None) -> None:
        self.dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
        self.key = advisory_key("outbound-agent:scheduler") if key is None else key
        self._conn: Any = None
        self._held = False

    def acquire(self) -> bool:
        import psycopg

        try:
            if self._conn is None or self._conn.closed:
                self._held = False
                self._conn = psycopg.connect(self.dsn, autocommit=True, connect_timeout=5)
            if self._held:
                self._conn.execute("SELECT 1")  # still connected, so still the holder
                return True
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
            self._held = bool(row and row[0])
        except psycopg.Error as exc:
            log.warning("leader_check_failed", error=type(exc).__name__)
            self._held = False
            self._close()
        return self._held

    def release(self) -> None:
        if self._conn is not None and self._held:
            try:
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
            except Exception:  # the connection is closed below either way
                log.warning("leader_unlock_failed")
        self._held = False
        self._close()

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


class DailyMarks(Protocol):
    """Where the scheduler remembers which daily fire times it started runs for."""

    def last(self, ws: Workspace) -> datetime | None: ...

    def record(self, ws: Workspace, fire: datetime, started: datetime) -> bool:
        """Mark a run for `fire`; False when one was already marked (skip it)."""
        ...


class DatabaseMarks:
    """Marks in the workspace's own database (they survive restarts and are shared by
    every service on that database)."""

    def last(self, ws: Workspace) -> datetime | None:
        from sqlmodel import Session

        from state import repo
        from state.db import engine_for

        with Session(engine_for(ws.database_url)) as session:
            value = repo.last_daily_fire(session, workspace=ws.id)
        return None if value is None else to_utc(value)

    def record(self, ws: Workspace, fire: datetime, started: datetime) -> bool:
        from sqlmodel import Session

        from state import repo
        from state.db import engine_for

        with Session(engine_for(ws.database_url)) as session:
            return repo.mark_daily_fire(
                session, workspace=ws.id, fire_at=to_utc(fire), started_at=to_utc(started)
            )


class MemoryMarks:
    """Marks kept in this process only (no catch-up across restarts); for tests."""

    def __init__(self) -> None:
        self.fires: dict[str, set[datetime]] = {}

    def last(self, ws: Workspace) -> datetime | None:
        return max(self.fires.get(ws.id, ()), default=None)

    def record(self, ws: Workspace, fire: datetime, started: datetime) -> bool:
        seen = self.fires.setdefault(ws.id, set())
        if to_utc(fire) in seen:
            return False
        seen.add(to_utc(fire))
        return True


def leader_for(workspaces: Sequence[Workspace]) -> LeaderLock:
    urls = {ws.database_url for ws in workspaces}
    pg = [u for u in urls if u.startswith("postgresql")]
    if pg:
        return PgAdvisoryLeader(sorted(pg)[0])
    return SingleProcessLeader()


def daily_trigger(ws: Workspace) -> CronTrigger:
    run = ws.config.run
    try:
        tz = ZoneInfo(run.timezone)
    except (KeyError, ValueError) as exc:
        raise ConfigError(
            f"unknown time zone {run.timezone!r}", file=str(ws.root / "workspace.toml"), key="run.timezone"
        ) from exc
    hour, minute = (int(x) for x in run.daily_at.split(":"))
    return CronTrigger(hour=hour, minute=minute, timezone=tz)


@dataclass
class _Daily:
    ws: Workspace
    trigger: CronTrigger
    next_run: datetime | None


@dataclass
class _Periodic:
    name: str
    every: timedelta
    fn: JobFn
    workspace: str | None
    last_run: datetime | None = None


@dataclass
class TickResult:
    """What one tick started (for logs and tests)."""

    leader: bool
    daily: list[tuple[str, datetime, int]] = field(default_factory=list)  # ws, fire time, coalesced
    periodic: list[str] = field(default_factory=list)
    futures: list[Future] = field(default_factory=list)


class ServiceScheduler:
    def __init__(
        self,
        workspaces: Sequence[Workspace],
        *,
        clock: Clock,
        daily: DailyFn,
        leader: LeaderLock | None = None,
        tick_seconds: float = 20.0,
        marks: DailyMarks | None = None,
    ) -> None:
        self.clock = clock
        self.daily_fn = daily
        self.leader = leader or SingleProcessLeader()
        self.marks: DailyMarks = marks if marks is not None else DatabaseMarks()
        self._caught_up: set[str] = set()  # workspaces checked for a missed run as leader
        self.tick_seconds = tick_seconds
        self.stopping = threading.Event()
        now = clock.now()
        self._daily: dict[str, _Daily] = {}
        self._locks: dict[str, threading.Lock] = {}
        for ws in workspaces:
            trigger = daily_trigger(ws)
            self._daily[ws.id] = _Daily(ws, trigger, trigger.get_next_fire_time(None, now))
            self._locks[ws.id] = threading.Lock()
        self._periodic: list[_Periodic] = []
        self._job_locks: dict[str, threading.Lock] = {}
        self._pool = ThreadPoolExecutor(max_workers=max(2, len(self._daily) + 2), thread_name_prefix="sched")
        self._aps: BackgroundScheduler | None = None

    # -- configuration

    def every(self, name: str, every: timedelta, fn: JobFn, *, workspace: str | None = None) -> None:
        """A periodic job; with ``workspace`` it shares that workspace's run lock."""
        self._periodic.append(_Periodic(name, every, fn, workspace))
        self._job_locks[name] = threading.Lock()

    def next_daily(self, workspace: str) -> datetime | None:
        return self._daily[workspace].next_run

    def lock_for(self, workspace: str) -> threading.Lock:
        return self._locks[workspace]

    # -- running

    def tick(self, *, wait: bool = False) -> TickResult:
        """Run whatever is due at the clock's now (only when this process is the leader)."""
        now = self.clock.now()
        result = TickResult(leader=self.leader.acquire())
        if not result.leader:
            self._caught_up.clear()  # a later leadership checks for missed runs again
        if not result.leader or self.stopping.is_set():
            return result
        for ws_id, d in self._daily.items():
            if ws_id not in self._caught_up:
                self._caught_up.add(ws_id)
                self._catch_up(ws_id, d, now)
            if d.next_run is None or d.next_run > now:
                continue
            fire, missed = d.next_run, 0
            while True:
                following = d.trigger.get_next_fire_time(fire, now)
                if following is None or following > now:
                    d.next_run = following
                    break
                fire, missed = following, missed + 1
            if missed:
                log.info("daily_run_coalesced", workspace=ws_id, missed=missed)
            result.daily.append((ws_id, fire, missed + 1))
            result.futures.append(
                self._pool.submit(
                    self._locked, self._locks[ws_id], f"daily:{ws_id}", self._daily_run, d.ws, fire, now
                )
            )
        for job in self._periodic:
            if job.last_run is not None and now - job.last_run < job.every:
                continue
            job.last_run = now
            lock = self._locks[job.workspace] if job.workspace else self._job_locks[job.name]
            result.periodic.append(job.name)
            result.futures.append(self._pool.submit(self._locked, lock, job.name, job.fn, now))
        if wait:
            for fut in result.futures:
                fut.result()
        return result

    def _catch_up(self, ws_id: str, d: _Daily, now: datetime) -> None:
        """Make a daily fire time that passed since the last marked run due now."""
        try:
            last = self.marks.last(d.ws)
        except Exception:  # no marks readable: no catch-up, the schedule goes on
            log.exception("daily_marks_unreadable", workspace=ws_id)
            return
        if last is None:
            return  # a workspace that never ran: start with the next fire time
        missed = d.trigger.get_next_fire_time(None, to_utc(last) + timedelta(microseconds=1))
        if missed is not None and missed <= now and (d.next_run is None or missed < d.next_run):
            log.info("daily_run_catch_up", workspace=ws_id, missed=iso(missed), last=iso(last))
            d.next_run = missed

    def _daily_run(self, ws: Workspace, fire: datetime, now: datetime) -> Any:
        """Mark the fire time, then run; a fire time already marked is not run again."""
        try:
            fresh = self.marks.record(ws, fire, now)
        except Exception:  # the run is idempotent (outbox keys): better run than skip a day
            log.exception("daily_mark_failed", workspace=ws.id)
            fresh = True
        if not fresh:
            log.info("daily_run_already_done", workspace=ws.id, fire=iso(fire))
            return None
        return self.daily_fn(ws, now)

    def _locked(self, lock: threading.Lock, name: str, fn: Callable[..., Any], *args: Any) -> Any:
        if not lock.acquire(blocking=False):
            log.info("job_skipped_running", job=name)
            return None
        try:
            return fn(*args)
        except Exception:  # a failing job must not stop the scheduler; it runs again later
            log.exception("job_failed", job=name)
            return None
        finally:
            lock.release()

    def start(self) -> None:
        self._aps = BackgroundScheduler(timezone=ZoneInfo("UTC"))
        self._aps.add_job(
            self.tick,
            IntervalTrigger(seconds=self.tick_seconds),
            id="tick",
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            replace_existing=True,
        )
        self._aps.start()

    def shutdown(self, *, wait: bool = True) -> None:
        """Stop ticking; running jobs see ``stopping`` and finish their current prospect."""
        self.stopping.set()
        if self._aps is not None:
            self._aps.shutdown(wait=wait)
            self._aps = None
        self._pool.shutdown(wait=wait)
        self.leader.release()


ANCHOR_EVERY = timedelta(days=1)


def schedule_anchors(scheduler: ServiceScheduler, jobs: dict[str, JobFn]) -> None:
    """Anchor each workspace's decision log once a day (first at start-up). Not under the
    workspace's run lock: the head is consistent at any moment (appends are transactional),
    and a skipped anchor would wait a whole day."""
    for ws_id, fn in jobs.items():
        scheduler.every(f"anchor:{ws_id}", ANCHOR_EVERY, fn)
