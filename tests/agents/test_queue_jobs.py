"""The daily run on the PostgreSQL job queue (procrastinate): chunk jobs taken by
`run.py worker` processes decide exactly like the in-process run, and a worker killed with
SIGKILL mid-job loses no prospect and sends no email twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text
from sqlmodel import Session, select

from agents import jobs
from agents.allocation import Allocation, Allotment
from agents.runner import run_daily
from agents.services import init_workspace
from core.errors import ConfigError
from core.workspace import Workspace, load_workspace
from state.db import engine_for
from state.models import OutboxMessage, Run
from state.models_queue import RunOutcome
from tests.agents.test_parallel import outcomes
from tests.conftest import PG_URL, ROOT, at, purge_postgres_workspace
from tools.synthetic import write_synthetic_workspace

INIT, DAY = at("2026-11-23T14:00:00Z"), at("2026-11-23T16:00:00Z")
PROSPECTS = 40
SMTP_USER, SMTP_PASSWORD, SMTP_ENV = "mailer", "smtp-pass-9d1e", "OUTBOUND_TEST_SMTP_PASSWORD"
needs_pg = pytest.mark.skipif(not PG_URL, reason="needs TEST_DATABASE_URL (PostgreSQL)")


def pg_workspace(dest: Path, *, queue: bool, chunk_size: int = 10, extra: str = "") -> Workspace:
    """A fresh 40-prospect synthetic workspace on the test PostgreSQL database (its old rows
    and queued jobs purged), initialised at INIT."""
    if not dest.exists():
        write_synthetic_workspace(dest, PROSPECTS, seed=7)
    toml = dest / "workspace.toml"
    body = toml.read_text(encoding="utf-8") + extra
    if queue:
        body += f'\n[scale]\nqueue = "procrastinate"\nchunk_size = {chunk_size}\n'
    toml.write_text(f'database_url = "{PG_URL}"\n' + body, encoding="utf-8")
    ws = load_workspace(dest)
    purge_postgres_workspace(ws.id)
    engine = engine_for(PG_URL)
    if "procrastinate_jobs" in inspect(engine).get_table_names():
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM procrastinate_jobs WHERE args->>'workspace' = :w"), {"w": ws.id})
    init_workspace(ws, now=INIT)
    return ws


def start_worker(ws: Workspace, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """A `run.py worker` process with a fast heartbeat; returns once it has started."""
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "run.py"),
            "worker",
            "-w",
            str(ws.root),
            "--json",
            "--heartbeat",
            "1",
            "--stalled-after",
            "4",
            "--poll",
            "0.5",
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert '"worker_started"' in first, (first, proc.stderr.read() if proc.poll() is not None else "")
    return proc


def stop(procs: list[subprocess.Popen[str]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


@pytest.mark.slow
@pytest.mark.postgres
@needs_pg
def test_queued_run_on_two_workers_decides_like_the_in_process_run(tmp_path: Path) -> None:
    """The same workspace and --now: in process, and as chunk jobs taken by two worker
    processes, give the same final action, step, channel and stop reason for every
    prospect and the same totals; both workers took jobs."""
    local = pg_workspace(tmp_path / "local", queue=False)
    here = run_daily(local, now=DAY).to_dict()
    by_local = outcomes(local, here["run_id"])

    queued = pg_workspace(tmp_path / "queued", queue=True)
    workers = [start_worker(queued), start_worker(queued)]
    try:
        there = run_daily(queued, now=DAY).to_dict()
    finally:
        stop(workers)
    by_queue = outcomes(queued, there["run_id"])

    assert here["sent"]["email"] > 0 and here["review_requested"] > 0  # caps and reviews in play
    assert there["queue"]["status"] == "finished" and there["queue"]["unprocessed"] == 0
    assert len(there["queue"]["workers"]) == 2, there["queue"]
    assert len(by_local) == here["processed"] == PROSPECTS - sum(here["carried_over"].values())
    differ = {p: (by_local.get(p), by_queue.get(p)) for p in by_local.keys() | by_queue.keys()}
    assert {p: d for p, d in differ.items() if d[0] != d[1]} == {}
    for key in ("processed", "sent", "review_requested", "deferred", "stopped", "errors", "carried_over"):
        assert here[key] == there[key], key
    with Session(engine_for(PG_URL)) as s:
        run = s.get(Run, there["run_id"])
        assert run is not None and run.status == "finished"


SMTP_TOML = """
[channels.email]
provider = "smtp"

[channels.email.settings]
host = "127.0.0.1"
port = "{port}"
domain = "ledgerly.example"
username = "{user}"
password_env = "{env}"
starttls = "false"
timeout_s = "5"
"""


@pytest.mark.slow
@pytest.mark.postgres
@needs_pg
def test_worker_killed_mid_job_loses_nothing_and_sends_nothing_twice(tmp_path: Path) -> None:
    """Two workers take a queued run's chunks (email over a local SMTP server). One is
    killed with SIGKILL after it finished part of a chunk: the other worker puts the stalled
    job back in the queue and finishes it, every prospect has its outcome, and the SMTP
    server received each message once."""
    from tests.fakes.smtp_server import FakeSmtpServer

    with FakeSmtpServer(users={SMTP_USER: SMTP_PASSWORD}) as smtp:
        src = tmp_path / "ws"
        write_synthetic_workspace(src, PROSPECTS, seed=7)
        toml = src / "workspace.toml"
        toml.write_text(
            toml.read_text(encoding="utf-8").replace('[channels.email]\nprovider = "file"\n', ""),
            encoding="utf-8",
        )
        ws = pg_workspace(
            src,
            queue=True,
            chunk_size=10,
            extra=SMTP_TOML.format(port=smtp.port, user=SMTP_USER, env=SMTP_ENV),
        )
        env = {SMTP_ENV: SMTP_PASSWORD}
        os.environ[SMTP_ENV] = SMTP_PASSWORD
        engine = engine_for(PG_URL)
        workers = [start_worker(ws, env), start_worker(ws, env)]
        try:
            queued = run_daily(ws, now=DAY, wait=False).to_dict()
            run_id, total = queued["run_id"], queued["queue"]["total"]
            victim, chunk = _kill_mid_chunk(engine, run_id, workers)
            data = jobs.wait_for_run(ws, engine, run_id, timeout=120)
        finally:
            stop(workers)
            os.environ.pop(SMTP_ENV, None)
        with Session(engine) as s:
            rows = s.exec(select(RunOutcome).where(RunOutcome.run_id == run_id)).all()
            emails = s.exec(
                select(OutboxMessage).where(
                    OutboxMessage.workspace == ws.id,
                    OutboxMessage.channel == "email",
                    OutboxMessage.status == "sent",
                )
            ).all()
        states = jobs.job_states(engine, queued["queue"]["jobs"])
        received = [smtp.parsed(i)["Message-ID"] for i in range(len(smtp.messages))]

    assert data["status"] == "finished", data
    assert data["processed"] == total == len(rows) and data["queue"]["unprocessed"] == 0  # none lost
    assert sorted(r.prospect_id for r in rows) == sorted({r.prospect_id for r in rows})
    killed_chunk = [r for r in rows if r.chunk == chunk]
    by_worker = Counter(r.worker.rsplit(":", 1)[1] for r in killed_chunk)
    assert str(victim) in by_worker and len(by_worker) == 2, by_worker  # finished by another worker
    assert set(states.values()) == {"succeeded"}, states
    dupes = {m: n for m, n in Counter(received).items() if n > 1}
    assert dupes == {}  # no message reached the SMTP server twice
    assert len(received) == len(emails) == data["sent"]["email"] > 0


def _kill_mid_chunk(engine: Any, run_id: str, workers: list[subprocess.Popen[str]]) -> tuple[int, int]:
    """SIGKILL the worker that is part-way through a chunk (at least one and at most four of
    its prospects done); returns (its pid, the chunk)."""
    pids = {p.pid for p in workers}
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        with Session(engine) as s:
            rows = s.exec(
                select(RunOutcome.chunk, RunOutcome.worker).where(RunOutcome.run_id == run_id)
            ).all()
        per_chunk: dict[int, list[str]] = {}
        for chunk, worker in rows:
            per_chunk.setdefault(chunk, []).append(worker)
        for chunk, done in per_chunk.items():
            pid = int(done[0].rsplit(":", 1)[1])
            if 1 <= len(done) <= 4 and pid in pids:
                os.kill(pid, signal.SIGKILL)
                return pid, chunk
        time.sleep(0.02)
    raise AssertionError("no chunk was seen part-way done")


# -- fast checks


class FixedClock:
    def __init__(self, at: Any) -> None:
        self.at = at

    def now(self) -> Any:
        return self.at


def test_allocation_survives_the_job_payload() -> None:
    """A chunk job carries the allotments of its prospects as JSON and the worker gets the
    same allocation table back (only the chunk's prospects)."""
    import json

    start = {"mailbox_sent_today": 3, "mailbox_first_send_date": "2026-11-23", "spend_run": {"credits": 1.5}}
    plan = Allocation(
        start=start,
        by_prospect={
            "p1": Allotment({"mailbox_sent_today": 3}, 1.5, 0.01, 2.0, 0.02, False),
            "p2": Allotment({"mailbox_sent_today": 4}, 2.5, 0.02, 3.0, 0.03, True),
        },
    )
    payload = json.loads(json.dumps(jobs.allocation_to_json(plan, ["p2"])))
    back = jobs.allocation_from_json(payload)
    assert back is not None
    assert back.start == start and list(back.by_prospect) == ["p2"]
    assert back.by_prospect["p2"] == plan.by_prospect["p2"]
    assert jobs.allocation_from_json(jobs.allocation_to_json(None, ["p1"])) is None


def test_queue_on_sqlite_is_a_config_error(tmp_path: Path) -> None:
    """The queue needs PostgreSQL: a SQLite workspace asking for it gets a ConfigError that
    names the key, from the runner and from the worker command (exit 2, no traceback)."""
    from typer.testing import CliRunner

    from run import app

    src = tmp_path / "ws"
    write_synthetic_workspace(src, 5, seed=1)
    toml = src / "workspace.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8") + '\n[scale]\nqueue = "procrastinate"\n', encoding="utf-8"
    )
    ws = load_workspace(src)
    with pytest.raises(ConfigError) as err:
        jobs.uses_queue(ws)
    assert "scale.queue" in str(err.value)
    assert jobs.uses_queue(ws, override=False) is False
    result = CliRunner().invoke(app, ["worker", "-w", str(src)])
    assert result.exit_code == 2, result.output
    assert "PostgreSQL" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(app, ["daily", "-w", str(src), "--queue", "--json"])
    assert result.exit_code == 2 and "scale.queue" in result.output, result.output
    result = CliRunner().invoke(app, ["worker", "-w", str(src), "--queues", "nightly"])
    assert result.exit_code == 2 and "nightly" in result.output


@pytest.mark.postgres
@needs_pg
def test_chunk_of_a_run_no_longer_running_is_skipped(tmp_path: Path) -> None:
    """A chunk job left in the queue for a run that was purged or given up on processes
    nothing (its prospects stay due for the next run)."""
    ws = pg_workspace(tmp_path / "ws", queue=True)
    result = jobs.run_chunk(
        ws, run_id="run_gone", now="2026-11-23T16:00:00+00:00", chunk=0, ids=["x"], ranks=[0], allocation=None
    )
    assert result["processed"] == 0 and result["skipped"] == 1
    with Session(engine_for(PG_URL)) as s:
        assert s.exec(select(RunOutcome).where(RunOutcome.run_id == "run_gone")).first() is None


@pytest.mark.postgres
@needs_pg
def test_inbound_lead_is_queued_once_and_processed_by_the_job(tmp_path: Path) -> None:
    """With the queue, a stored lead becomes one job (queueing it again while it waits is
    refused), and the job's task imports the lead and runs its graph."""
    from service.inbound import InboundWorker, process_queued_lead, receive_lead
    from service.metrics import Metrics
    from service.sites import make_sites
    from state.models import InboundLead

    ws = pg_workspace(tmp_path / "ws", queue=True)
    sites = make_sites([ws], lambda _ws: None)
    clock = FixedClock(DAY)
    lead = {
        "First Name": "Ana",
        "Last Name": "Queued",
        "Work Email": "ana.queued@acmerobotics.example",
        "Job Title": "CFO",
        "Company Name": "Acme Robotics",
        "Company Domain": "acmerobotics.example",
        "Country": "US",
        "Tier": "2",
    }
    lead_id, _ = receive_lead(sites[ws.id], lead, clock=clock)
    worker = InboundWorker(sites, clock=clock, metrics=Metrics())
    worker.submit(ws.id, lead_id)
    worker.submit(ws.id, lead_id)  # e.g. a restart while it waits: still one job
    engine = engine_for(PG_URL)
    with engine.connect() as conn:
        waiting = conn.execute(
            text(
                "SELECT count(*) FROM procrastinate_jobs WHERE task_name = :t AND status = 'todo' "
                "AND (args->>'lead_id')::int = :id AND args->>'workspace' = :w"
            ),
            {"t": jobs.TASK_INBOUND, "id": lead_id, "w": ws.id},
        ).scalar_one()
    assert waiting == 1
    assert process_queued_lead(ws, lead_id) == "processed"
    with Session(engine) as s:
        lead = s.get(InboundLead, lead_id)
        assert lead is not None and lead.status == "processed" and lead.prospect_id


@pytest.mark.slow
@pytest.mark.postgres
@needs_pg
def test_the_schedulers_daily_run_goes_through_the_queue(tmp_path: Path) -> None:
    """The service's daily job (what the scheduler leader fires) on a queued workspace
    defers chunk jobs and waits; a burst worker process takes them, and the job returns the
    aggregated summary of the finished run."""
    import threading

    from agents.scheduler import MemoryMarks, ServiceScheduler
    from service.metrics import Metrics
    from service.runs import daily_job
    from service.sites import make_sites

    ws = pg_workspace(tmp_path / "ws", queue=True, chunk_size=15)
    site = make_sites([ws], lambda _ws: None)[ws.id]
    scheduler = ServiceScheduler([ws], clock=FixedClock(DAY), daily=lambda _w, _n: None, marks=MemoryMarks())
    result: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: result.update(daily_job(site, scheduler, Metrics(), DAY) or {}))
    thread.start()
    engine = engine_for(PG_URL)
    deadline = time.monotonic() + 60
    waiting, seen = 0, []
    # Jobs are deferred one by one: wait until at least two are there and the count has held
    # for a second (all of the run's chunks deferred, none taken yet).
    while time.monotonic() < deadline and not (waiting >= 2 and seen[-5:] == [waiting] * 5):
        with engine.connect() as conn:
            waiting = conn.execute(
                text(
                    "SELECT count(*) FROM procrastinate_jobs WHERE args->>'workspace' = :w AND status = 'todo'"
                ),
                {"w": ws.id},
            ).scalar_one()
        seen.append(waiting)
        time.sleep(0.2)
    assert waiting >= 2  # 40 prospects in chunks of about 15
    burst = subprocess.run(
        [
            sys.executable,
            str(ROOT / "run.py"),
            "worker",
            "-w",
            str(ws.root),
            "--burst",
            "--json",
            "--poll",
            "0.5",
        ],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    thread.join(timeout=60)
    scheduler.shutdown(wait=False)
    assert burst.returncode == 0, burst.stderr[-2000:]
    assert f'"jobs": {waiting}' in burst.stdout, burst.stdout
    assert result["queue"]["status"] == "finished" and result["queue"]["unprocessed"] == 0, result
    assert result["processed"] == result["queue"]["total"] > 0


def test_queue_names_fit_postgres_channel_names() -> None:
    """Each workspace gets its own queues; a long workspace id is shortened with a digest so
    the channel procrastinate notifies on stays under PostgreSQL's 63-byte limit, and two
    long ids sharing a prefix still get different queues."""
    assert jobs.queue_name("daily", "acme") == "daily.acme"
    long_a, long_b = "client-" + "a" * 80, "client-" + "a" * 79 + "b"
    qa, qb = jobs.queue_name("inbound", long_a), jobs.queue_name("inbound", long_b)
    assert qa != qb
    for q in (qa, qb, jobs.queue_name("daily", "é" * 30)):
        assert len(("procrastinate_queue_v1#" + q).encode()) <= 63, q


@pytest.mark.postgres
@needs_pg
def test_run_whose_jobs_failed_for_good_is_marked_failed_and_its_prospects_stay_due(tmp_path: Path) -> None:
    """When every job of a queued run has ended and some prospects have no outcome (a job
    failed after all its attempts), `runs show` settles the run as failed with the number
    not processed, and those prospects are still due for the next run."""
    from typer.testing import CliRunner

    from run import app
    from state import repo

    ws = pg_workspace(tmp_path / "ws", queue=True)
    queued = run_daily(ws, now=DAY, wait=False).to_dict()
    first = queued["queue"]["jobs"][0]
    engine = engine_for(PG_URL)
    with engine.connect() as conn:
        job = conn.execute(
            text("SELECT args FROM procrastinate_jobs WHERE id = :i"), {"i": first}
        ).scalar_one()
    jobs.run_chunk(ws, **{k: job[k] for k in ("run_id", "now", "chunk", "ids", "ranks", "allocation")})
    show = CliRunner().invoke(app, ["runs", "show", queued["run_id"], "-w", str(ws.root), "--json"])
    assert show.exit_code == 0, show.output
    assert '"status": "running"' in show.output  # other jobs are still waiting
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE procrastinate_jobs SET status = 'failed' WHERE id = ANY(:ids)"),
            {"ids": queued["queue"]["jobs"][1:]},
        )
        conn.execute(text("UPDATE procrastinate_jobs SET status = 'succeeded' WHERE id = :i"), {"i": first})
    show = CliRunner().invoke(app, ["runs", "show", queued["run_id"], "-w", str(ws.root), "--json"])
    data = json.loads(show.output)
    assert data["status"] == "failed"
    assert data["processed"] == len(job["ids"])
    assert data["queue"]["unprocessed"] == queued["queue"]["total"] - len(job["ids"]) > 0
    with engine.connect() as conn:
        rest = conn.execute(
            text("SELECT args->'ids' FROM procrastinate_jobs WHERE id = ANY(:ids)"),
            {"ids": queued["queue"]["jobs"][1:]},
        ).scalars()
        never_run = {p for ids in rest for p in ids}
    with Session(engine) as s:
        due = set(repo.due_prospect_ids(s, workspace=ws.id, now=DAY, limit=None))
    assert len(never_run) == data["queue"]["unprocessed"] and never_run <= due
