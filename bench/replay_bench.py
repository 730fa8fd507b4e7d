"""Replay, `audit verify` and storage per decision, measured on a synthetic workspace.

Usage::

    .venv/bin/python bench/replay_bench.py --prospects 2000 --days 2026-11-23,2026-11-24
    .venv/bin/python bench/replay_bench.py --workspace PATH   # measure an existing workspace

Builds a synthetic workspace (seed 7, init at 2026-11-23T14:00Z) and runs the daily run at
16:00Z on each day given (workers=1), unless --workspace names one already run. Then, each
in a fresh subprocess:

- replay: start-up (imports, engine, workspace) is timed apart; every daily run is replayed
  twice in the same process, cold (the first replay also pays one-off imports the policies
  make on first use, e.g. the public-holiday tables) and warm. Decisions per second are
  decisions / wall seconds and decisions / CPU seconds of the replays alone.
- verify: `state.decision_log.verify` of the whole chain, after start-up.
- storage: bytes per decision = (decision bodies as stored, plain or packed + stored
  observations + observation and body dictionaries) / decisions; the canonical body text
  split per field; and the SQLite pages of the decisions, observations and dictionary
  tables and their indexes (dbstat) per decision.

The load average is recorded next to every figure: the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
INIT = "2026-11-23T14:00:00+00:00"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def child(kind: str, path: str) -> dict[str, Any]:
    t0, c0 = time.perf_counter(), time.process_time()
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    from sqlmodel import Session, col, select

    from agents.replay import replay
    from core.workspace import load_workspace
    from state.db import engine_for
    from state.decision_log import verify
    from state.models import Run

    ws = load_workspace(path)
    engine = engine_for(ws.database_url)
    with Session(engine) as s:
        runs = list(s.exec(select(Run.id).where(Run.kind == "daily").order_by(col(Run.started_at))).all())
    out: dict[str, Any] = {
        "load_before": _load(),
        "startup_wall": time.perf_counter() - t0,
        "startup_cpu": time.process_time() - c0,
    }
    if kind == "replay":
        for label in ("cold", "warm"):
            t1, c1, n, replayed, div = time.perf_counter(), time.process_time(), 0, 0, 0
            for run_id in runs:
                r = replay(ws, run_id=run_id)
                n, replayed, div = n + r["decisions"], replayed + r["replayed"], div + len(r["divergences"])
            wall, cpu = time.perf_counter() - t1, time.process_time() - c1
            out[label] = {
                "runs": len(runs),
                "decisions": n,
                "replayed": replayed,
                "divergences": div,
                "wall": round(wall, 3),
                "cpu": round(cpu, 3),
                "per_s_wall": round(n / wall),
                "per_s_cpu": round(n / cpu),
            }
    else:
        t1, c1 = time.perf_counter(), time.process_time()
        v = verify(engine, ws.id)
        wall, cpu = time.perf_counter() - t1, time.process_time() - c1
        out.update(
            decisions=v.records,
            ok=v.ok,
            wall=round(wall, 3),
            cpu=round(cpu, 3),
            per_s_wall=round(v.records / wall),
            per_s_cpu=round(v.records / cpu),
        )
    out["load_after"] = _load()
    return out


def run_child(kind: str, path: Path) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", kind, "--workspace", str(path)]
    p = subprocess.run(
        cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    if p.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def storage(ws_dir: Path) -> dict[str, Any]:
    from core.workspace import load_workspace
    from state.db import engine_for

    ws = load_workspace(ws_dir)
    engine_for(ws.database_url)  # migrated to the current schema
    db = ws.database_url.removeprefix("sqlite:///")
    fields: Counter[str] = Counter()
    from state.decision_log import decode_text

    with sqlite3.connect(str(db)) as c:
        n, body = c.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(COALESCE(packed, body))), 0) FROM decisions"
        ).fetchone()
        codecs = dict(
            c.execute(
                "SELECT CASE WHEN codec LIKE 'zd:%' THEN 'zd' ELSE codec END, COUNT(*) FROM decisions GROUP BY 1"
            )
        )
        obs = c.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(COALESCE(packed, body))), 0) FROM observations"
        ).fetchone()
        dicts = c.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(data)), 0) FROM observation_dicts").fetchone()
        body_dicts = {
            (w, i): bytes(d) for w, i, d in c.execute("SELECT workspace, id, data FROM decision_dicts")
        }
        plain = 0
        for ws_id, text, packed, name in c.execute("SELECT workspace, body, packed, codec FROM decisions"):
            canonical = decode_text(text, packed, name, lambda did, w=ws_id: body_dicts[(w, did)])
            plain += len(canonical.encode("utf-8"))
            for k, v in json.loads(canonical).items():
                fields[k] += len(json.dumps(v, separators=(",", ":"), ensure_ascii=False)) + len(k) + 4
        try:
            pages = dict(
                c.execute(
                    "SELECT name, SUM(pgsize) FROM dbstat WHERE name IN "
                    "(SELECT name FROM sqlite_master WHERE tbl_name IN "
                    "('decisions', 'observations', 'observation_dicts', 'decision_dicts')) GROUP BY name"
                ).fetchall()
            )
        except sqlite3.OperationalError:  # SQLite built without dbstat
            pages = {}
    n = max(n, 1)
    return {
        "decisions": n,
        "observations": obs[0],
        "body_codecs": codecs,
        "body_bytes_per_decision": round(body / n),
        "canonical_body_bytes_per_decision": round(plain / n),
        "observation_bytes_per_decision": round(obs[1] / n),
        "dictionary_bytes_per_decision": round((dicts[1] + sum(map(len, body_dicts.values()))) / n),
        "body_dictionaries": len(body_dicts),
        "bytes_per_decision": round((body + obs[1] + dicts[1] + sum(map(len, body_dicts.values()))) / n),
        "pages_bytes_per_decision": round(sum(pages.values()) / n) if pages else None,
        "pages": pages,
        "body_fields_per_decision": {k: round(v / n) for k, v in fields.most_common()},
    }


def build(out: Path, prospects: int, days: list[str]) -> None:
    import logging

    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    from agents.runner import run_daily
    from agents.services import init_workspace
    from core.workspace import load_workspace
    from tests.conftest import at
    from tools.synthetic import write_synthetic_workspace

    shutil.rmtree(out, ignore_errors=True)
    write_synthetic_workspace(out, prospects, seed=7)
    init_workspace(load_workspace(out), now=at(INIT))
    for day in days:
        t = time.perf_counter()
        s = run_daily(load_workspace(out), now=at(f"{day}T16:00:00+00:00"), workers=1, chunk_size=250)
        print(f"daily {day}: {s.run_id} in {time.perf_counter() - t:.1f}s (load {_load()})", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prospects", type=int, default=2000, help="Prospects in the synthetic workspace.")
    ap.add_argument("--days", default="2026-11-23", help="Days to run (16:00Z), comma-separated.")
    ap.add_argument("--workspace", default="", help="Measure this workspace instead of building one.")
    ap.add_argument("--child", default="", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child, a.workspace)))
        return
    if a.workspace:
        ws_dir = Path(a.workspace)
    else:
        ws_dir = BENCH / "out" / f"replay_{a.prospects}"
        build(ws_dir, a.prospects, a.days.split(","))
    results: dict[str, Any] = {
        "workspace": str(ws_dir),
        "machine": f"{os.cpu_count()} cores, {os.uname().sysname}",
        "storage": storage(ws_dir),
        "replay": run_child("replay", ws_dir),
        "verify": run_child("verify", ws_dir),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
