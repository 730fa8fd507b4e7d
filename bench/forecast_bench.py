"""Benchmark: forecast vs actual spend of a daily run, and a run whose budget is smaller
than the forecast (it must stop at the cap, never above, also with two workers).

    python bench/forecast_bench.py --workspace demo            # a copy of examples/demo
    python bench/forecast_bench.py --prospects 10000 [--workers 2] [--budget-ratio 0.5]

For a synthetic workspace the run and month credit caps are lifted for the accuracy run
(the production default of 50 credits a run would make any forecast trivially right), then
set to `budget-ratio` x forecast for the capped run, on a fresh copy.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agents.forecast import forecast, preview  # noqa: E402
from agents.runner import run_daily  # noqa: E402
from agents.services import init_workspace  # noqa: E402
from core.workspace import load_workspace  # noqa: E402
from state.db import engine_for  # noqa: E402

NOW = datetime(2026, 11, 23, 16, tzinfo=UTC)


def make(out: Path, prospects: int | None, cap: float | None) -> Path:
    if out.exists():
        shutil.rmtree(out)
    if prospects is None:
        shutil.copytree(
            ROOT / "examples" / "demo", out, ignore=shutil.ignore_patterns("var", "outbox", "rejects")
        )
        if cap is not None:
            toml = out / "workspace.toml"
            toml.write_text(
                toml.read_text().replace(
                    "[policy.budget.run]\ncredits = 40", f"[policy.budget.run]\ncredits = {cap}"
                )
            )
    else:
        from tools.synthetic import write_synthetic_workspace

        write_synthetic_workspace(out, prospects, seed=7)
        with (out / "workspace.toml").open("a") as fh:
            fh.write(f"\n[policy.budget.run]\ncredits = {cap if cap is not None else 1e9}\nusd = 1e9\n")
            fh.write("\n[policy.budget.month]\ncredits = 1e9\nusd = 1e9\n")
    ws = load_workspace(out)
    init_workspace(ws, now=datetime(2026, 11, 23, 14, tzinfo=UTC))
    return out


def measure(path: Path, workers: int, chunk_size: int = 250) -> dict:
    ws = load_workspace(path)
    t0 = time.perf_counter()
    rows = preview(ws, engine_for(ws.database_url), now=NOW)
    fc = forecast(rows, ws)
    t1 = time.perf_counter()
    summary = run_daily(ws, now=NOW, workers=workers, chunk_size=chunk_size)
    t2 = time.perf_counter()
    actual = summary.actual["credits"]
    return {
        "forecast_credits": fc["credits"],
        "actual_credits": actual,
        "error": round(abs(fc["credits"] - actual) / actual, 4) if actual else 0.0,
        "run_forecast_credits": summary.forecast["credits"],
        "carried_over": summary.carried_over,
        "cap": ws.config.policy.budget.run.credits,
        "processed": summary.processed,
        "forecast_seconds": round(t1 - t0, 1),
        "run_seconds": round(t2 - t1, 1),
        "workers": workers,
        "chunk_size": chunk_size,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--workspace", choices=["demo", "synthetic"], default="synthetic", help="Which workspace to measure."
    )
    ap.add_argument("--prospects", type=int, default=10000, help="Synthetic workspace size.")
    ap.add_argument("--workers", type=int, default=1, help="Worker processes for the runs.")
    ap.add_argument("--chunk-size", type=int, default=250, help="Prospects per worker job.")
    ap.add_argument("--budget-ratio", type=float, default=0.5, help="Capped run: cap = ratio x forecast.")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "out", help="Where workspaces are written.")
    args = ap.parse_args()
    size = None if args.workspace == "demo" else args.prospects
    name = "demo" if size is None else f"s{size}"
    first = measure(make(args.out / f"forecast_{name}", size, None), args.workers, args.chunk_size)
    cap = round(first["forecast_credits"] * args.budget_ratio, 2)
    capped = measure(make(args.out / f"forecast_{name}_capped", size, cap), args.workers, args.chunk_size)
    out = {
        "workspace": name,
        "accuracy": first,
        "capped": capped,
        "cap": cap,
        "within_10pct": first["error"] <= 0.10,
        "stopped_at_cap": capped["actual_credits"] <= cap + 1e-9,
    }
    print(json.dumps(out, indent=2))
    return 0 if out["within_10pct"] and out["stopped_at_cap"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
