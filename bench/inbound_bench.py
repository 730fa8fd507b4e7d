"""Inbound speed-to-lead: 200 leads at 20 per second against the running service
(uvicorn on 127.0.0.1, the demo workspace, offline providers). Reports the time from
each POST to its lead being decided (``processed_at - received_at`` as stored by the
service, plus the client-side POST latency).

    .venv/bin/python bench/inbound_bench.py [--leads 200] [--rate 20]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leads", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0)
    args = parser.parse_args()
    from sqlmodel import Session, select

    from agents.services import init_workspace
    from core.timeutil import SystemClock
    from core.workspace import load_workspace
    from state.db import engine_for
    from state.models import InboundLead

    tmp = Path(tempfile.mkdtemp(prefix="inbound-bench-"))
    shutil.copytree(
        ROOT / "examples" / "demo", tmp / "demo", ignore=shutil.ignore_patterns("var", "outbox", "rejects")
    )
    ws = load_workspace(tmp / "demo")
    init_workspace(ws, now=SystemClock().now())
    secret = os.urandom(16).hex()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OUTBOUND_WEBHOOK_SECRET_DEMO_INBOUND": secret}
    proc = subprocess.Popen(
        [sys.executable, "-m", "service", "-w", str(ws.root), "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        post_ms = []
        with httpx.Client(base_url=base, headers={"X-Webhook-Secret": secret}, timeout=10) as http:
            start = time.monotonic()
            for i in range(args.leads):
                time.sleep(max(0.0, start + i / args.rate - time.monotonic()))
                t = time.monotonic()
                resp = http.post(
                    "/webhooks/inbound",
                    json={
                        "First Name": "Bench",
                        "Last Name": f"Lead{i}",
                        "Work Email": f"bench.lead{i}@acmerobotics.example",
                        "Job Title": "CFO",
                        "Company Name": "Acme Robotics",
                        "Company Domain": "acmerobotics.example",
                        "Country": "US",
                        "Timezone": "America/New_York",
                        "Owner": "sam@agency.example",
                        "Tier": "1" if i % 5 == 0 else "2",
                    },
                )
                post_ms.append((time.monotonic() - t) * 1000)
                assert resp.status_code == 202, resp.text
        engine = engine_for(ws.database_url)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with Session(engine) as s:
                rows = s.exec(select(InboundLead)).all()
            if len(rows) == args.leads and all(r.status == "processed" for r in rows):
                break
            time.sleep(0.2)
        lat = sorted((r.processed_at - r.received_at).total_seconds() * 1000 for r in rows if r.processed_at)
        pct = lambda xs, q: xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]  # noqa: E731
        post_ms.sort()
        out = {
            "leads": args.leads,
            "rate_per_s": args.rate,
            "processed": len(lat),
            "decided_ms": {
                "p50": round(pct(lat, 0.5), 1),
                "p95": round(pct(lat, 0.95), 1),
                "max": round(lat[-1], 1),
            },
            "post_ms": {"p50": round(pct(post_ms, 0.5), 1), "p95": round(pct(post_ms, 0.95), 1)},
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
        }
        print(json.dumps(out, indent=2))
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
