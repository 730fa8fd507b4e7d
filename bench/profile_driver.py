"""Small driver for profiling one daily run of N synthetic prospects in a single process.

    .venv/bin/python -m cProfile -s cumtime bench/profile_driver.py [N] > bench/out/profile_1000.txt

Writes + initialises a fresh workspace under bench/out/profile_<N>/ (not profiled: the
profile is dominated by the run), then runs `run_daily(ws, now=2026-11-23T16:00Z, workers=1)`
so that every prospect's graph runs in this process, where cProfile can see it.
"""

from __future__ import annotations

import shutil
import sys
from datetime import datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from agents.runner import run_daily  # noqa: E402
from agents.services import init_workspace  # noqa: E402
from core.logging import configure_logging  # noqa: E402
from core.workspace import load_workspace  # noqa: E402
from tools.synthetic import write_synthetic_workspace  # noqa: E402

NOW = datetime.fromisoformat("2026-11-23T16:00:00+00:00")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    configure_logging(verbose=False)
    out = REPO_ROOT / "bench" / "out" / f"profile_{n}"
    if out.exists():
        shutil.rmtree(out)
    write_synthetic_workspace(out, n)
    ws = load_workspace(out)
    init_workspace(ws, now=NOW)
    summary = run_daily(ws, now=NOW, workers=1)
    print(f"processed={summary.processed} sent={summary.sent}", file=sys.stderr)


if __name__ == "__main__":
    main()
