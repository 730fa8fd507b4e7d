"""Runs killed mid-way do not stay "running" forever: the next run marks a run whose
process is gone as killed, and a run started more than a day ago elsewhere as abandoned;
a run whose process is still alive is left alone."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session

from agents.runner import run_daily
from state.db import engine_for, session_scope
from state.models import Run
from tests.conftest import at


def _dead_pid() -> int:
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(proc.stdout)


@pytest.mark.slow
def test_next_run_marks_killed_and_abandoned_runs(ready_ws) -> None:  # noqa: ANN001
    """A dead local process -> killed; 2 days old on another host -> abandoned; alive -> running."""
    ws = ready_ws
    engine = engine_for(ws.database_url)
    host = socket.gethostname()
    now = datetime.now(UTC)
    rows = {
        "run_dead": {"pid": _dead_pid(), "host": host},
        "run_elsewhere": {"pid": 1, "host": "another-host"},
        "run_alive": {"pid": os.getppid(), "host": host},
    }
    with session_scope(engine) as s:
        for rid, info in rows.items():
            started = now - timedelta(days=2) if rid == "run_elsewhere" else now
            s.add(
                Run(id=rid, workspace=ws.id, now=at("2026-11-22T15:00:00Z"), started_at=started, summary=info)
            )
    summary = run_daily(ws, now=at("2026-11-23T15:00:00Z"), limit=1)
    with Session(engine) as s:
        status = {rid: s.get(Run, rid).status for rid in rows}
        assert s.get(Run, summary.run_id).status == "finished"
    assert status == {"run_dead": "killed", "run_elsewhere": "abandoned", "run_alive": "running"}
