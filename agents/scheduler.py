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
from core.timeutil import Clock
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
    ) -> None:
        self.clock = clock
        self.daily_fn = daily
        self.leader = leader or SingleProcessLeader()
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
        if not result.leader or self.stopping.is_set():
            return result
        for ws_id, d in self._daily.items():
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
                    self._locked, self._locks[ws_id], f"daily:{ws_id}", self.daily_fn, d.ws, now
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
