"""Daily-run benchmark: one LangGraph run per due prospect, measured per subprocess.

Usage::

    .venv/bin/python bench/daily_bench.py                       # sizes 1000,10000
    .venv/bin/python bench/daily_bench.py --sizes 1000,10000,100000 --modes optimized

For every size N it writes a synthetic workspace under bench/out/ws_<N>/base, initialises it
(migrations + import of the bundled files), copies the initialised folder (var/ included)
once per mode, and measures ONE daily run at --now in a fresh subprocess per measurement, so
that peak RSS and CPU time are per measurement:

* ``optimized``: ``agents.runner.run_daily(ws, now=..., workers=W)`` (durability="exit",
  chunked worker processes), then a second day at --now2 on the same copy.
* ``naive``: a single-process loop of ``graph.invoke(initial_state(...), config,
  context=ctx)`` with the default durability on SqliteSaver.

Results are printed as a table and written to bench/out/results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
OUT_DIR = BENCH_DIR / "out"
DEFAULT_NOW = "2026-11-23T16:00:00+00:00"  # a Monday
DEFAULT_NOW2 = "2026-11-26T16:00:00+00:00"  # +3 business days (Thursday)

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


# ----------------------------------------------------------------------------- measurement
def _rusage() -> dict[str, float]:
    s = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "self_cpu": s.ru_utime + s.ru_stime,
        "children_cpu": c.ru_utime + c.ru_stime,
        "self_maxrss_kb": s.ru_maxrss,
        "children_maxrss_kb": c.ru_maxrss,
    }


def _naive_run(ws: Any, now: datetime) -> dict[str, Any]:
    """The per-prospect loop with the default durability (a checkpoint per step)."""
    import structlog
    from sqlmodel import Session

    from agents.checkpoint import open_checkpointer, thread_id
    from agents.context import build_context
    from agents.graph import build_graph
    from agents.runner import RunSummary, new_run_id
    from agents.state import initial_state
    from core.timeutil import iso
    from state import repo
    from state.db import engine_for, session_scope
    from state.models import Run

    engine = engine_for(ws.database_url)
    run_id = new_run_id(now)
    summary = RunSummary(run_id=run_id, now=iso(now))
    with Session(engine) as session:
        ids = repo.due_prospect_ids(session, workspace=ws.id, now=now)
    with session_scope(engine) as session:
        session.add(
            Run(id=run_id, workspace=ws.id, now=now, started_at=datetime.now(now.tzinfo), dry_run=False)
        )
    ctx = build_context(ws, engine)
    with open_checkpointer(ws) as saver:
        graph = build_graph(saver)
        for pid in ids:
            tid = thread_id(ctx.ws_id, pid)
            state = initial_state(prospect_id=pid, thread_id=tid, run_id=run_id, now=iso(now))
            with structlog.contextvars.bound_contextvars(run_id=run_id, prospect_id=pid):
                try:
                    result = graph.invoke(state, {"configurable": {"thread_id": tid}}, context=ctx)
                except Exception as exc:  # counted, as the shipped runner does
                    summary.add(
                        {
                            "kind": "error",
                            "sent": [],
                            "error": {"prospect_id": pid, "type": type(exc).__name__, "message": str(exc)},
                        }
                    )
                    continue
            sent = result.get("sent") or []
            if result.get("__interrupt__"):
                summary.add({"kind": "review", "sent": sent})
                continue
            outcome = result.get("outcome") or {}
            if outcome.get("kind") == "error":
                summary.add(
                    {
                        "kind": "error",
                        "sent": sent,
                        "error": {
                            "prospect_id": pid,
                            "error_class": outcome.get("error_class"),
                            "message": outcome.get("reason"),
                        },
                    }
                )
            else:
                summary.add({"kind": outcome.get("kind", "wait"), "sent": sent})
    with session_scope(engine) as session:
        run = session.get(Run, run_id)
        run.finished_at, run.status = datetime.now(now.tzinfo), "finished"
        run.summary = summary.to_dict()
        session.add(run)
    return summary.to_dict()


def measure(mode: str, ws_path: str, now_iso: str, workers: int, out_file: str) -> None:
    """Runs inside a fresh subprocess: one daily run, written as JSON to out_file."""
    from core.logging import configure_logging
    from core.workspace import load_workspace

    configure_logging(verbose=False)
    ws = load_workspace(ws_path)
    now = datetime.fromisoformat(now_iso)
    before_import_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if mode == "optimized":
        from agents.runner import run_daily
    r0 = _rusage()
    t0 = time.perf_counter()
    if mode == "optimized":
        summary = run_daily(ws, now=now, workers=workers).to_dict()
    elif mode == "naive":
        summary = _naive_run(ws, now)
    else:
        raise SystemExit(f"unknown mode {mode}")
    wall = time.perf_counter() - t0
    r1 = _rusage()
    summary.pop("error_details", None)
    cpu_self = r1["self_cpu"] - r0["self_cpu"]
    cpu_children = r1["children_cpu"] - r0["children_cpu"]
    processed = summary["processed"]
    result = {
        "mode": mode,
        "workspace": ws_path,
        "now": now_iso,
        "workers": workers if mode == "optimized" else 1,
        "wall_s": round(wall, 3),
        "cpu_self_s": round(cpu_self, 3),
        "cpu_children_s": round(cpu_children, 3),
        "cpu_total_s": round(cpu_self + cpu_children, 3),
        "cpu_ms_per_processed": round(1000 * (cpu_self + cpu_children) / processed, 3) if processed else None,
        "processed": processed,
        "sends": sum(summary["sent"].values()),
        "sent": summary["sent"],
        "review_requested": summary["review_requested"],
        "deferred": summary["deferred"],
        "stopped": summary["stopped"],
        "errors": summary["errors"],
        "call_tasks": summary["call_tasks"],
        "peak_rss_parent_mb": round(r1["self_maxrss_kb"] / 1024, 1),
        "peak_rss_children_max_mb": round(r1["children_maxrss_kb"] / 1024, 1),
        "rss_after_imports_mb": round(before_import_rss / 1024, 1),
    }
    Path(out_file).write_text(json.dumps(result, indent=2))


# ----------------------------------------------------------------------------- orchestration
def _sub(args: list[str], log: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OUTBOUND_DATABASE_URL"}
    with log.open("a") as fh:
        subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), *args],
            cwd=str(REPO_ROOT),
            env=env,
            check=True,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )


def setup(ws_path: str, n: int, now_iso: str, out_file: str) -> None:
    """Runs inside a subprocess: write + initialise the synthetic workspace."""
    from agents.services import init_workspace
    from core.logging import configure_logging
    from core.workspace import load_workspace
    from tools.synthetic import write_synthetic_workspace

    configure_logging(verbose=False)
    t0 = time.perf_counter()
    write_synthetic_workspace(Path(ws_path), n)
    t1 = time.perf_counter()
    ws = load_workspace(ws_path)
    info = init_workspace(ws, now=datetime.fromisoformat(now_iso))
    # Pre-create the checkpoint database (WAL mode + LangGraph tables). Without this the
    # first parallel run can fail: two worker processes both run `PRAGMA journal_mode=WAL`
    # on a not-yet-existing checkpoints.db and one gets `sqlite3.OperationalError: database
    # is locked` (agents/checkpoint.py; seen on the first 1000-prospect attempt).
    from agents.checkpoint import open_checkpointer

    with open_checkpointer(ws) as saver:
        saver.setup()
    t2 = time.perf_counter()
    Path(out_file).write_text(
        json.dumps({"generate_s": round(t1 - t0, 2), "init_s": round(t2 - t1, 2), "init": info}, default=str)
    )


def _measure_sub(mode: str, ws: Path, now_iso: str, workers: int, tag: str, log: Path) -> dict:
    out = ws.parent / f"{tag}.json"
    t0 = time.perf_counter()
    _sub(["_measure", mode, str(ws), now_iso, str(workers), str(out)], log)
    res = json.loads(out.read_text())
    res["subprocess_wall_s"] = round(time.perf_counter() - t0, 2)
    res["day"] = tag
    return res


def run_size(
    n: int, modes: list[str], now: str, now2: str, workers: int, optimized_only_above: int | None, log: Path
) -> dict:
    root = OUT_DIR / f"ws_{n}"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    base = root / "base"
    print(f"[N={n}] generating + initialising workspace ...", flush=True)
    _sub(["_setup", str(base), str(n), now, str(root / "setup.json")], log)
    out: dict[str, Any] = {"n": n, "setup": json.loads((root / "setup.json").read_text()), "runs": []}
    for mode in modes:
        if optimized_only_above and n > optimized_only_above and mode != "optimized":
            continue
        ws = root / mode
        shutil.copytree(base, ws)
        print(f"[N={n}] {mode}: day 1 ...", flush=True)
        r1 = _measure_sub(mode, ws, now, workers, f"{mode}_day1", log)
        out["runs"].append(r1)
        _print_row(n, r1)
        if mode == "optimized":
            print(f"[N={n}] {mode}: day 2 ...", flush=True)
            r2 = _measure_sub(mode, ws, now2, workers, f"{mode}_day2", log)
            out["runs"].append(r2)
            _print_row(n, r2)
            out["optimized_cpu_ms_per_prospect_day"] = round(
                1000 * (r1["cpu_total_s"] + r2["cpu_total_s"]) / (n * 2), 3
            )
    return out


HEADER = (
    f"{'N':>7} {'mode':<10} {'day':<5} {'wall s':>8} {'CPU ms/proc':>11} {'processed':>9} "
    f"{'sends':>6} {'RSS par MB':>10} {'RSS chld MB':>11}"
)


def _print_row(n: int, r: dict) -> None:
    print(
        f"{n:>7} {r['mode']:<10} {r['day'][-4:]:<5} {r['wall_s']:>8.2f} "
        f"{(r['cpu_ms_per_processed'] or 0):>11.2f} {r['processed']:>9} {r['sends']:>6} "
        f"{r['peak_rss_parent_mb']:>10.1f} {r['peak_rss_children_max_mb']:>11.1f}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_measure":
        _, mode, ws, now_iso, workers, out_file = argv
        return measure(mode, ws, now_iso, int(workers), out_file)
    if argv and argv[0] == "_setup":
        _, ws, n, now_iso, out_file = argv
        return setup(ws, int(n), now_iso, out_file)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--modes", default="optimized,naive")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--now", default=DEFAULT_NOW)
    ap.add_argument("--now2", default=DEFAULT_NOW2)
    ap.add_argument(
        "--optimized-only-above",
        type=int,
        default=10000,
        help="sizes above this run only the optimized mode (default 10000)",
    )
    ap.add_argument("--results", default=str(OUT_DIR / "results.json"))
    a = ap.parse_args(argv)
    sizes = [int(s) for s in a.sizes.split(",") if s]
    modes = [m for m in a.modes.split(",") if m]
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    log = OUT_DIR / "bench.log"
    results_path = Path(a.results)
    existing: dict[str, Any] = {}
    if results_path.exists():
        try:
            existing = json.loads(results_path.read_text())
        except ValueError:
            existing = {}
    existing.setdefault("sizes", {})
    existing["meta"] = {
        "now": a.now,
        "now2": a.now2,
        "workers": a.workers,
        "python": sys.version,
        "nproc": os.cpu_count(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
    }
    print(HEADER, flush=True)
    for n in sizes:
        res = run_size(n, modes, a.now, a.now2, a.workers, a.optimized_only_above, log)
        existing["sizes"][str(n)] = res
        results_path.write_text(json.dumps(existing, indent=2, default=str))
        if "optimized_cpu_ms_per_prospect_day" in res:
            print(
                f"[N={n}] optimized CPU per prospect-day over both days: "
                f"{res['optimized_cpu_ms_per_prospect_day']:.3f} ms",
                flush=True,
            )
        naive = next((r for r in res["runs"] if r["mode"] == "naive"), None)
        opt = next((r for r in res["runs"] if r["day"] == "optimized_day1"), None)
        if naive and opt:
            print(
                f"[N={n}] naive/optimized: wall x{naive['wall_s'] / opt['wall_s']:.2f}, "
                f"CPU x{naive['cpu_total_s'] / opt['cpu_total_s']:.2f}",
                flush=True,
            )
    print(f"results: {results_path}")


if __name__ == "__main__":
    main()
