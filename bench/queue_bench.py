"""The daily run on PostgreSQL: in process, and as chunk jobs on the job queue taken by
1, 2 and 4 `run.py worker` processes.

Usage::

    BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/bench \\
        .venv/bin/python bench/queue_bench.py --prospects 300 --workers 1,2,4 --chunk-size 25

For each setting: a fresh synthetic workspace (seed 7, init at 2026-11-23T14:00Z, run at
16:00Z) on the database (its old rows and jobs deleted first), the workers started and
registered before the run, then `run_daily` timed from its start to the aggregated
summary (preview, allocation, deferring, the workers' jobs, aggregation). Worker start-up
is not in the figure. The totals of every run are printed next to the in-process run's so
a difference shows. The load average is recorded: the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def _purge(url: str, workspace: str) -> None:
    from sqlalchemy import inspect, text
    from sqlmodel import SQLModel

    from state.db import engine_for

    engine = engine_for(url)
    existing = set(inspect(engine).get_table_names())
    with engine.begin() as conn:
        for table in reversed(SQLModel.metadata.sorted_tables):
            if "workspace" in table.c and table.name in existing:
                conn.execute(table.delete().where(table.c.workspace == workspace))
        for name in ("checkpoint_writes", "checkpoint_blobs", "checkpoints"):
            if name in existing:
                conn.execute(text(f"DELETE FROM {name} WHERE thread_id LIKE :p"), {"p": f"{workspace}:%"})
        if "procrastinate_jobs" in existing:
            conn.execute(
                text("DELETE FROM procrastinate_jobs WHERE args->>'workspace' = :w"), {"w": workspace}
            )


def _workspace(base: Path, url: str, prospects: int, *, queue: bool, chunk_size: int) -> Any:
    from agents.services import init_workspace
    from core.timeutil import to_utc
    from core.workspace import load_workspace
    from tools.synthetic import write_synthetic_workspace

    write_synthetic_workspace(base, prospects, seed=7)
    toml = base / "workspace.toml"
    body = toml.read_text(encoding="utf-8")
    if queue:
        body += f'\n[scale]\nqueue = "procrastinate"\nchunk_size = {chunk_size}\n'
    toml.write_text(f'database_url = "{url}"\n' + body, encoding="utf-8")
    ws = load_workspace(base)
    _purge(url, ws.id)
    from datetime import datetime

    init_workspace(ws, now=to_utc(datetime.fromisoformat("2026-11-23T14:00:00+00:00")))
    return ws


def _start_workers(ws: Any, n: int) -> list[subprocess.Popen[str]]:
    procs = [
        subprocess.Popen(
            [sys.executable, str(ROOT / "run.py"), "worker", "-w", str(ws.root), "--json", "--poll", "0.5"],
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(n)
    ]
    for p in procs:
        assert p.stdout is not None
        line = p.stdout.readline()
        if "worker_started" not in line:
            raise SystemExit(f"a worker did not start: {line!r}")
    return procs


def _stop(procs: list[subprocess.Popen[str]]) -> None:
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        p.wait(timeout=120)


def measure(url: str, prospects: int, workers: int, chunk_size: int) -> dict[str, Any]:
    """workers = 0: the in-process run (no queue)."""
    from datetime import datetime

    from agents.runner import run_daily
    from core.timeutil import to_utc

    now = to_utc(datetime.fromisoformat("2026-11-23T16:00:00+00:00"))
    with tempfile.TemporaryDirectory() as tmp:
        ws = _workspace(Path(tmp) / "ws", url, prospects, queue=workers > 0, chunk_size=chunk_size)
        procs = _start_workers(ws, workers) if workers else []
        load = _load()
        try:
            start = time.perf_counter()
            summary = run_daily(ws, now=now).to_dict()
            wall = time.perf_counter() - start
        finally:
            _stop(procs)
    return {
        "setting": f"queue, {workers} worker process(es)" if workers else "in process (no queue)",
        "prospects": prospects,
        "wall_s": round(wall, 2),
        "ms_per_processed": round(1000 * wall / max(1, summary["processed"]), 1),
        "processed": summary["processed"],
        "sent": summary["sent"],
        "review_requested": summary["review_requested"],
        "deferred": summary["deferred"],
        "stopped": summary["stopped"],
        "jobs": len((summary.get("queue") or {}).get("jobs") or []),
        "workers_seen": len((summary.get("queue") or {}).get("workers") or []),
        "load_before": load,
        "load_after": _load(),
    }


def main() -> None:
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prospects", type=int, default=300)
    ap.add_argument("--workers", default="1,2,4", help="Worker counts, comma-separated (0: in process).")
    ap.add_argument("--chunk-size", type=int, default=25)
    ap.add_argument("--no-local", action="store_true", help="Skip the in-process reference run.")
    ap.add_argument("--database", default=os.environ.get("BENCH_DATABASE_URL", ""))
    args = ap.parse_args()
    if not args.database.startswith("postgresql"):
        raise SystemExit("pass --database postgresql+psycopg://... (or BENCH_DATABASE_URL)")
    counts = [int(x) for x in args.workers.split(",") if x.strip()]
    rows = [] if args.no_local else [measure(args.database, args.prospects, 0, args.chunk_size)]
    for n in counts:
        rows.append(measure(args.database, args.prospects, n, args.chunk_size))
        print(json.dumps(rows[-1]), flush=True)
    print(
        "| setting | wall s | ms / prospect | processed | sent (email/linkedin) | reviews | deferred | "
        "stopped | jobs | workers that took jobs | load before / after |"
    )
    print("|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(
            f"| {r['setting']} | {r['wall_s']} | {r['ms_per_processed']} | {r['processed']} | "
            f"{r['sent']['email']}/{r['sent']['linkedin']} | {r['review_requested']} | {r['deferred']} | "
            f"{r['stopped']} | {r['jobs']} | {r['workers_seen']} | {r['load_before']} / {r['load_after']} |"
        )


if __name__ == "__main__":
    main()
