"""Exactly-once sends: a process killed between the send decision and the delivery (or
between delivery and acknowledgement) sends each message once after resume."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import Session, select

from state.db import engine_for
from state.models import OutboxMessage
from tests.conftest import ROOT

NOW = "2026-11-23T15:00:00Z"


def _daily(ws_root: Path, crash_at: str | None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("OUTBOUND_CRASH_AT", None)
    if crash_at:
        env["OUTBOUND_CRASH_AT"] = crash_at
    return subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "daily", "-w", str(ws_root), "--now", NOW, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
@pytest.mark.parametrize("crash_at", ["after_send_decision", "after_deliver"])
def test_kill_then_resume_sends_once(ready_ws, crash_at: str) -> None:  # noqa: ANN001
    """The killed run leaves a pending/sending outbox row; the next run delivers it once."""
    killed = _daily(ready_ws.root, crash_at)
    assert killed.returncode == 137, killed.stderr[-2000:]
    engine = engine_for(ready_ws.database_url)
    with Session(engine) as s:
        rows = s.exec(select(OutboxMessage).where(OutboxMessage.workspace == ready_ws.id)).all()
    assert len(rows) == 1 and rows[0].status in ("pending", "sending")
    key = rows[0].idempotency_key
    resumed = _daily(ready_ws.root, None)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    with Session(engine) as s:
        rows = s.exec(select(OutboxMessage).where(OutboxMessage.idempotency_key == key)).all()
    assert len(rows) == 1 and rows[0].status == "sent"
    files = list((ready_ws.outbox_dir / rows[0].channel).glob(f"*__{key[:16]}.*"))
    assert len(files) == 1
    all_files = [p for p in ready_ws.outbox_dir.rglob("*") if p.is_file()]
    assert not [p for p in all_files if p.name.endswith(".tmp")]
    with Session(engine) as s:
        sent = s.exec(
            select(OutboxMessage).where(
                OutboxMessage.workspace == ready_ws.id, OutboxMessage.status == "sent"
            )
        ).all()
    assert len(all_files) == len(sent)  # one file per sent row, none twice
