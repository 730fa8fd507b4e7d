"""Daily run at scale, side by side with a plain LangGraph peer, measured in one invocation.

Usage::

    .venv/bin/python bench/scale_bench.py --prospects 10000 --workers 1,2
    .venv/bin/python bench/scale_bench.py --prospects 2000 --workers 1,2 --peer-threads 1000
    .venv/bin/python bench/scale_bench.py --prospects 10000 --workers 1,2 --mix
    .venv/bin/python bench/scale_bench.py --prospects 100000 --workers 2 --only-daily

For N prospects (synthetic workspace, seed 7, init at 2026-11-23T14:00Z, run at 16:00Z) it
initialises one workspace, copies it once per worker count and measures, each in a fresh
subprocess: the run's preview alone (`detail=False`, as the daily run makes it; after imports
and context: its CPU minus the prospects that take the full path, over the carried-over
prospects, is what a prospect that is carried over costs; the cheap decision alone and
rescoring are timed apart), and the daily run (wall, CPU of the process and its workers, SQL
statements per prospect from a SQLAlchemy `before_cursor_execute` counter in the parent, which
covers every statement when workers=1, bytes per decision, checkpoints and their bytes). Then:
replay and `audit verify` of the 1-worker run (decisions per second beyond start-up), and the
peer: a plain LangGraph graph with the same six nodes on SqliteSaver with durability="exit",
--peer-threads threads, CPU per thread. The load average (`os.getloadavg`) is recorded next to
every figure: the machine may be shared.

Per daily run also: lock wait (time spent in `BEGIN IMMEDIATE`, SQLite's write lock, summed
over the process and its workers), peak RSS of the process and of its largest worker, and
database bytes per decision. `--mix` gives the workspace a run budget of N/10 credits (about a
third of due prospects act, the rest are carried over by the cap); `--prescore` stores every
score at init (the steady state of a daily run); `--only-daily` skips everything but the daily
runs (100,000 prospects). See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
INIT, NOW = "2026-11-23T14:00:00+00:00", "2026-11-23T16:00:00+00:00"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _cpu() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def child(kind: str, path: str, workers: int, threads: int) -> dict[str, Any]:
    import logging

    import structlog
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    import multiprocessing

    statements = [0]
    # Lock wait: the time each `BEGIN IMMEDIATE` (SQLite's write lock, taken at BEGIN by
    # write transactions, see state/db.py) takes to return, summed over this process and its
    # forked workers (shared memory created before the fork): [seconds, count, max seconds].
    lock = multiprocessing.Array("d", 3)

    @event.listens_for(Engine, "before_cursor_execute")
    def _count(conn: Any, _cursor: Any, statement: str, *_a: Any) -> None:
        statements[0] += 1
        if statement.startswith("BEGIN IMMEDIATE"):
            conn.info["bench_begin"] = time.perf_counter()

    @event.listens_for(Engine, "after_cursor_execute")
    def _waited(conn: Any, _cursor: Any, statement: str, *_a: Any) -> None:
        if statement.startswith("BEGIN IMMEDIATE"):
            dt = time.perf_counter() - conn.info.pop("bench_begin", time.perf_counter())
            with lock.get_lock():
                lock[0] += dt
                lock[1] += 1
                lock[2] = max(lock[2], dt)

    from core.workspace import load_workspace
    from tests.conftest import at

    load0, cpu0, t0 = _load(), _cpu(), time.perf_counter()
    out: dict[str, Any] = {"load_before": load0}
    if kind == "preview":
        from agents import forecast
        from agents.context import build_context
        from state.db import engine_for

        # The preview the daily run makes (detail=False: carried-over prospects decided from
        # cheap facts). Imports and the context are built before the clock restarts; the CPU
        # of the prospects that take the full path (planner and guard on a whole
        # observation), of the cheap decisions alone and of rescoring are timed apart.
        timers: dict[str, list[float]] = {}

        def timed(name: str, inner: Any) -> Any:
            acc = timers.setdefault(name, [0.0, 0])

            def wrapper(*args: Any, **kwargs: Any) -> Any:
                c0 = time.process_time()
                try:
                    return inner(*args, **kwargs)
                finally:
                    acc[0] += time.process_time() - c0
                    acc[1] += 1

            return wrapper

        forecast._full = timed("full_path", forecast._full)
        forecast._cheap_carry_over = timed("cheap", forecast._cheap_carry_over)
        forecast.rescore = timed("rescore", forecast.rescore)
        ws = load_workspace(path)
        engine = engine_for(ws.database_url)
        ctx = build_context(ws, engine)
        out["setup_cpu"] = _cpu() - cpu0
        load0, cpu0, t0 = _load(), _cpu(), time.perf_counter()
        rows = forecast.preview(ws, engine, now=at(NOW), detail=False, context=ctx)
        out.update(
            due=len(rows),
            carried=sum(1 for r in rows if r.carry_over),
            **{f"{k}_calls": v[1] for k, v in timers.items()},
            **{f"{k}_cpu": v[0] for k, v in timers.items()},
        )
    elif kind == "daily":
        from agents import runner

        # With one worker the graphs run in this process: the CPU spent inside each
        # prospect's graph (process_prospect) is timed apart from the run's fixed costs
        # (imports, context, preview, checkpoint store, pruning).
        graph_cpu = [0.0, 0]
        inner = runner.process_prospect

        def in_graph(*args: Any, **kwargs: Any) -> Any:
            c0 = time.process_time()
            try:
                return inner(*args, **kwargs)
            finally:
                graph_cpu[0] += time.process_time() - c0
                graph_cpu[1] += 1

        runner.process_prospect = in_graph
        ws = load_workspace(path)
        s = runner.run_daily(ws, now=at(NOW), workers=workers, chunk_size=250)
        out.update(summary={k: v for k, v in s.to_dict().items() if k not in ("forecast", "error_details")})
        out["run_id"] = s.run_id
        out.update(graph_cpu=graph_cpu[0], graphs=graph_cpu[1])
    elif kind == "replay":
        from agents.replay import replay

        ws = load_workspace(path)
        from state.db import engine_for

        engine_for(ws.database_url)
        t_start = time.perf_counter()
        from sqlmodel import Session, select

        from state.models import Run

        with Session(engine_for(ws.database_url)) as sess:
            run_id = sess.exec(select(Run.id).where(Run.kind == "daily")).first()
        t1 = time.perf_counter()
        r = replay(ws, run_id=run_id)
        out.update(decisions=r["decisions"], seconds=time.perf_counter() - t1, startup=t1 - t_start)
    elif kind == "verify":
        from state.db import engine_for
        from state.decision_log import verify

        ws = load_workspace(path)
        engine = engine_for(ws.database_url)  # start-up (migrations checked), not verification
        t1 = time.perf_counter()
        v = verify(engine, ws.id)
        out.update(decisions=v.records, ok=v.ok, seconds=time.perf_counter() - t1)
    elif kind == "peer":
        out.update(_peer(Path(path), threads))
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    out.update(
        wall=time.perf_counter() - t0,
        cpu=_cpu() - cpu0,
        statements=statements[0],
        load_after=_load(),
        lock_wait_s=round(lock[0], 4),
        lock_waits=int(lock[1]),
        lock_wait_max_s=round(lock[2], 4),
        # peak RSS (Linux: KiB) of this process and of its largest worker (none with workers=1)
        rss_mb=round(me.ru_maxrss / 1024, 1),
        rss_worker_mb=round(kids.ru_maxrss / 1024, 1),
    )
    return out


def _peer(dir_: Path, threads: int) -> dict[str, Any]:
    """A plain graph of the same six nodes, SqliteSaver, durability="exit": one invoke per
    thread with a small dict state (a few keys written per node)."""
    from typing import TypedDict

    from langgraph.checkpoint.sqlite import SqliteSaver
    from langgraph.graph import END, START, StateGraph

    class S(TypedDict, total=False):
        n: int
        obs: dict
        plan: dict
        verdict: str
        done: bool

    def observe(s: S) -> S:
        return {"obs": {"id": s.get("n", 0), "counters": {"sent": 1}}}

    def plan(s: S) -> S:
        return {"plan": {"action": "send" if s["obs"]["id"] % 3 else "wait"}}

    def guard(s: S) -> S:
        return {"verdict": "allow"}

    def act(s: S) -> S:
        return {"done": True}

    def review(s: S) -> S:
        return {}

    g = StateGraph(S)
    for name, fn in (("observe", observe), ("plan", plan), ("guard", guard), ("act", act)):
        g.add_node(name, fn)  # type: ignore[call-overload]
    g.add_node("request_review", review)  # type: ignore[call-overload]
    g.add_node("await_review", review)  # type: ignore[call-overload]
    g.add_edge(START, "observe")
    g.add_edge("observe", "plan")
    g.add_edge("plan", "guard")
    g.add_conditional_edges("guard", lambda s: "act" if s["verdict"] == "allow" else "request_review")
    g.add_edge("request_review", "await_review")
    g.add_edge("await_review", END)
    g.add_edge("act", END)
    dir_.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(dir_ / "peer.sqlite"), check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    graph = g.compile(checkpointer=SqliteSaver(conn))
    c0 = _cpu()
    for i in range(threads):
        graph.invoke({"n": i}, {"configurable": {"thread_id": f"t{i}"}}, durability="exit")
    cpu = _cpu() - c0
    return {"threads": threads, "peer_cpu": cpu, "peer_ms_per_thread": 1000 * cpu / threads}


def run_child(kind: str, path: Path, workers: int = 1, threads: int = 0) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", kind, "--path", str(path), "--workers", str(workers)]
    cmd += ["--peer-threads", str(threads)]
    p = subprocess.run(
        cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    if p.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def storage(ws_dir: Path) -> dict[str, Any]:
    from core.workspace import load_workspace

    ws = load_workspace(ws_dir)
    db = ws.database_url.removeprefix("sqlite:///")
    cp = ws.checkpoint_path
    with sqlite3.connect(str(db)) as c:
        # decision bodies are stored packed since migration 0012store (plain text before)
        n, body = c.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(COALESCE(packed, body))), 0) FROM decisions"
        ).fetchone()
        carry = c.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(COALESCE(packed, body))), 0) FROM decisions"
            " WHERE action = 'carry_over'"
        ).fetchone()
        body_dicts = c.execute("SELECT COALESCE(SUM(LENGTH(data)), 0) FROM decision_dicts").fetchone()
        # observations are stored compressed (packed) since migration 0011r, with dictionaries
        obs = c.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(COALESCE(packed, body))), 0) FROM observations"
        ).fetchone()
        dicts = c.execute("SELECT COALESCE(SUM(LENGTH(data)), 0) FROM observation_dicts").fetchone()
    with sqlite3.connect(str(cp)) as c:
        cps = c.execute("SELECT COUNT(*), COUNT(DISTINCT thread_id) FROM checkpoints").fetchone()
    size = sum(f.stat().st_size for f in cp.parent.glob(cp.name + "*"))
    dbp = Path(db)
    db_size = sum(f.stat().st_size for f in dbp.parent.glob(dbp.name + "*"))
    return {
        "database_bytes": db_size,
        # the whole database file (WAL included) over the decisions: an upper bound, since
        # it also holds the imported prospects, companies, evidence and the ledger
        "database_bytes_per_decision": round(db_size / max(n, 1)),
        "decisions": n,
        "bytes_per_decision": round((body + obs[1] + dicts[0] + body_dicts[0]) / max(n, 1)),
        # the same without the run-level carry-over records (one per rule, each listing every
        # carried-over prospect: at 100,000 one record holds ~100,000 ids)
        "bytes_per_prospect_decision": round(
            (body - carry[1] + obs[1] + dicts[0] + body_dicts[0]) / max(n - carry[0], 1)
        ),
        "observations": obs[0],
        "checkpoints": cps[0],
        "checkpoint_threads": cps[1],
        "checkpoint_bytes": size,
    }


def _prescore(ws_dir: Path) -> None:
    """Store every prospect's score at init time, as the previous day's run would have."""
    from sqlmodel import Session, select

    from agents.scoring import rescore
    from core.workspace import load_workspace
    from state.db import engine_for
    from state.models import Prospect
    from tests.conftest import at

    ws = load_workspace(ws_dir)
    with Session(engine_for(ws.database_url)) as s:
        ids = list(s.exec(select(Prospect.id).where(Prospect.workspace == ws.id)).all())
        rescore(s, ws, ids, at(INIT))
        s.commit()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prospects", type=int, default=10000, help="Prospects in the synthetic workspace.")
    ap.add_argument("--workers", default="1,2", help="Worker counts to measure, comma-separated.")
    ap.add_argument("--peer-threads", type=int, default=1000, help="Threads the LangGraph peer runs.")
    ap.add_argument(
        "--run-credits",
        type=float,
        default=None,
        help="Per-run credit budget of the synthetic workspace (default: the policy default, 50).",
    )
    ap.add_argument(
        "--mix",
        action="store_true",
        help="Realistic mix: a run budget of prospects/10 credits, which lets about a third of the "
        "due prospects act (the rest are carried over by the budget cap).",
    )
    ap.add_argument(
        "--prescore",
        action="store_true",
        help="Score every prospect at init time, as the previous day's run would have (steady "
        "state: the run rescores rows that exist and rewrites only those that changed).",
    )
    ap.add_argument(
        "--only-daily",
        action="store_true",
        help="Measure only the daily runs (no preview, replay, verify or peer): for 100,000 prospects.",
    )
    ap.add_argument("--child", default="", help=argparse.SUPPRESS)
    ap.add_argument("--path", default="", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.child, a.path, int(a.workers), a.peer_threads)))
        return
    from agents.services import init_workspace
    from core.workspace import load_workspace
    from tests.conftest import at
    from tools.synthetic import write_synthetic_workspace

    credits = a.prospects / 10 if a.mix and a.run_credits is None else a.run_credits
    out = BENCH / "out" / (f"scale_{a.prospects}" + ("_mix" if credits is not None else ""))
    shutil.rmtree(out, ignore_errors=True)
    t0, c0 = time.perf_counter(), _cpu()
    write_synthetic_workspace(out / "base", a.prospects, seed=7, run_credits=credits)
    init_workspace(load_workspace(out / "base"), now=at(INIT))
    if a.prescore:
        _prescore(out / "base")
    results: dict[str, Any] = {
        "prospects": a.prospects,
        "run_credits": credits,
        "prescored": a.prescore,
        "machine": f"{os.cpu_count()} cores, {os.uname().sysname}",
        "setup_wall": round(time.perf_counter() - t0, 1),
        "setup_cpu": round(_cpu() - c0, 1),
    }
    print(f"workspace ready: {results['setup_wall']}s", flush=True)
    if not a.only_daily:
        shutil.copytree(out / "base", out / "preview")
        results["preview"] = run_child("preview", out / "preview")
    for w in [int(x) for x in a.workers.split(",")]:
        shutil.copytree(out / "base", out / f"w{w}")
        r = run_child("daily", out / f"w{w}", workers=w)
        r["storage"] = storage(out / f"w{w}")
        results[f"daily_w{w}"] = r
        print(
            f"workers={w}: wall {r['wall']:.1f}s cpu {r['cpu']:.1f}s lock wait {r['lock_wait_s']:.2f}s "
            f"rss {r['rss_mb']}/{r['rss_worker_mb']} MB load {r['load_before']}",
            flush=True,
        )
        if w != int(a.workers.split(",")[0]):
            shutil.rmtree(out / f"w{w}", ignore_errors=True)  # keep the disk use of big runs down
    first = out / f"w{a.workers.split(',')[0]}"
    d1 = results[f"daily_w{a.workers.split(',')[0]}"]
    results["derived"] = {
        f"daily_w{w}": {
            k: results[f"daily_w{w}"][k]
            for k in ("wall", "cpu", "lock_wait_s", "lock_waits", "rss_mb", "rss_worker_mb")
        }
        | {
            "bytes_per_decision": results[f"daily_w{w}"]["storage"]["bytes_per_decision"],
            "checkpoints": results[f"daily_w{w}"]["storage"]["checkpoints"],
            "checkpoint_threads": results[f"daily_w{w}"]["storage"]["checkpoint_threads"],
            "checkpoint_bytes": results[f"daily_w{w}"]["storage"]["checkpoint_bytes"],
            "database_bytes_per_decision": results[f"daily_w{w}"]["storage"]["database_bytes_per_decision"],
        }
        for w in [int(x) for x in a.workers.split(",")]
    }
    if a.only_daily:
        (out / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
        print(json.dumps(results, indent=2))
        return
    results["replay"] = run_child("replay", first)
    results["verify"] = run_child("verify", first)
    results["peer"] = run_child("peer", out / "peer", threads=a.peer_threads)
    pv = results["preview"]
    acting = max(pv["due"] - pv["carried"], 1)
    results["derived"] |= {
        "acting_share": round((pv["due"] - pv["carried"]) / max(pv["due"], 1), 3),
        "cpu_ms_per_due_in_preview": round(1000 * pv["cpu"] / max(pv["due"], 1), 2),
        # the preview call minus its full-path prospects, all charged to the carried-over
        # ones (rescoring every due prospect and loading the chunks included)
        "cpu_ms_per_carried_over": round(1000 * (pv["cpu"] - pv["full_path_cpu"]) / max(pv["carried"], 1), 3),
        "cpu_ms_per_cheap_decision": round(1000 * pv["cheap_cpu"] / max(pv["cheap_calls"], 1), 3),
        "cpu_ms_rescore_per_due": round(1000 * pv["rescore_cpu"] / max(pv["due"], 1), 3),
        # the run's CPU (imports included) minus the preview process's (imports included)
        "cpu_ms_per_acting": round(1000 * max(d1["cpu"] - pv["cpu"] - pv["setup_cpu"], 0) / acting, 2),
        # CPU inside the prospects' graphs only (workers=1, in-process), per acting prospect
        "cpu_ms_per_acting_in_graph": round(1000 * d1.get("graph_cpu", 0.0) / max(d1.get("graphs", 0), 1), 2),
        "sql_per_prospect": round(d1["statements"] / max(pv["due"], 1), 1),
        "peer_ms_per_thread": round(results["peer"]["peer_ms_per_thread"], 2),
        "replay_decisions_per_s": round(results["replay"]["decisions"] / results["replay"]["seconds"]),
        "verify_decisions_per_s": round(results["verify"]["decisions"] / results["verify"]["seconds"]),
    }
    (out / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
