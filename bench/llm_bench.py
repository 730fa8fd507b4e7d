"""Benchmarks of the Claude path against the local fake Messages API (no network).

(a) throughput: N calls (one per prospect) through `LlmClient` with bounded concurrency,
    the fake answering after a fixed latency and enforcing a requests-per-minute limit;
    reports the share of the rate-limit bound reached and any unhandled 429.
(b) cost per drafted message: the same N first drafts written by the grounded drafter
    synchronously without prompt caching, then through the Message Batches API with the
    shared prefix cached (1-hour TTL); tokens and dollars per message from the usage fields.

    .venv/bin/python bench/llm_bench.py throughput --prospects 2000 --latency 2 --rpm 1000
    .venv/bin/python bench/llm_bench.py cost --prospects 200

(c) daily: the *daily run* itself (`agents.runner.run_daily`) of a synthetic workspace
    (`tools.synthetic`) with Claude drafting against the fake, once with `[llm]
    run_concurrency = 1` (one prospect after another) and once with `--concurrency` lanes;
    reports the share of the rate-limit bound each reaches (model calls made, paced at the
    limit, plus one latency) and whether both runs decided the same.

    .venv/bin/python bench/llm_bench.py daily --prospects 300 --latency 0.5 --rpm 300
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import anthropic  # noqa: E402

from core.errors import ProviderError  # noqa: E402
from core.workspace import LlmConfig, WorkspaceConfig, load_workspace  # noqa: E402
from tests.fakes.anthropic_api import FakeAnthropic  # noqa: E402
from tools.llm.client import BatchRequest, CallScope, LlmClient, LlmResult  # noqa: E402
from tools.llm.drafter import ClaudeDrafter  # noqa: E402
from tools.llm.prompts import prompt  # noqa: E402

NOW = datetime(2026, 11, 23, 15, tzinfo=UTC)
HOUSE_STYLE = " ".join(
    [
        "Write like a thoughtful peer, not a vendor. Short sentences. No hype, no exclamation marks.",
        "Open with the most recent dated fact about the company, cited. One idea per message.",
        "Name the problem the finance team likely has in their own words; never guess numbers.",
        "Ask one low-friction question at the end. Never ask for 30 minutes in the first message.",
        "Avoid: 'I hope this finds you well', 'quick question', 'circle back', 'synergy', 'touch base'.",
    ]
    * 12
)
OFFER = " ".join(
    [
        "Ledgerly automates the month-end close for finance teams of 50 to 2,000 people:",
        "reconciliations, accruals, intercompany eliminations and flux analysis, on top of NetSuite,",
        "Sage Intacct, QuickBooks and Xero. Customers typically close in 4 days instead of 10.",
    ]
    * 10
)


def _config(base: WorkspaceConfig, **llm: object) -> WorkspaceConfig:
    fast = {
        "requests_per_minute": 100_000,
        "input_tokens_per_minute": 10**9,
        "output_tokens_per_minute": 10**9,
    }
    merged = LlmConfig.model_validate(
        {**base.llm.model_dump(), "offer": OFFER, "house_style": HOUSE_STYLE, **fast, **llm}
    )
    return base.model_copy(update={"llm": merged})


def throughput(args: argparse.Namespace) -> dict[str, object]:
    ws = load_workspace(ROOT / "examples" / "demo")
    with FakeAnthropic(latency_s=args.latency, requests_per_minute=args.rpm) as fake:
        cfg = _config(
            ws.config,
            requests_per_minute=args.rpm,
            input_tokens_per_minute=10**9,
            output_tokens_per_minute=10**9,
            max_concurrency=args.concurrency,
            max_retries=5,
        )
        sdk = anthropic.Anthropic(base_url=fake.base_url, api_key="bench", max_retries=0, timeout=60)
        client = LlmClient(sdk=sdk, config=cfg, engine=None, workspace="bench")
        errors: list[str] = []

        def one(i: int) -> None:
            msg = [{"role": "user", "content": f"<reply>Sounds good, tell me more about it ({i}).</reply>"}]
            try:
                client.create(
                    "reply", prompt("reply"), messages=msg, scope=CallScope(at=NOW, prospect_id=str(i))
                )
            except ProviderError as exc:
                errors.append(exc.message)

        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            list(pool.map(one, range(args.prospects)))
        elapsed = time.monotonic() - start
        ideal = (args.prospects - 1) * 60.0 / args.rpm + args.latency
        return {
            "prospects": args.prospects,
            "latency_s": args.latency,
            "rpm_limit": args.rpm,
            "concurrency": args.concurrency,
            "elapsed_s": round(elapsed, 2),
            "achieved_rpm": round(args.prospects / elapsed * 60, 1),
            "bound_s": round(ideal, 2),
            "share_of_bound": round(ideal / elapsed, 4),
            "http_429_seen": fake.rate_limited,
            "unhandled_errors": len(errors),
            "network_calls": client.network_calls,
        }


def _prospects(n: int) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for i in range(n):
        name = f"Company{i:04d}"
        evidence = [
            {
                "id": f"ev_{i}_f",
                "kind": "funding",
                "url": f"https://c{i}.example/blog",
                "quote": f"{name} raised USD {10 + i % 40}M in a Series B in October 2026.",
                "data": {"date": "2026-10-14"},
            },
            {
                "id": f"ev_{i}_h",
                "kind": "hiring",
                "url": f"https://c{i}.example/careers",
                "quote": f"{name} is hiring a Senior Revenue Accountant in Austin.",
                "data": {},
            },
            {
                "id": f"ev_{i}_a",
                "kind": "about",
                "url": f"https://c{i}.example/about",
                "quote": f"{name} serves {200 + i} mid-market retailers across North America.",
                "data": {},
            },
        ]
        out.append(
            {
                "prospect": {
                    "first_name": "Alex",
                    "last_name": "Kim",
                    "full_name": "Alex Kim",
                    "title": "CFO",
                },
                "company": {"name": f"{name} Inc.", "short_name": name, "domain": f"c{i}.example"},
                "evidence": evidence,
            }
        )
    return out


SENDER = {
    "name": "Maya Lindqvist",
    "title": "AE",
    "company": "Ledgerly Inc.",
    "email": "maya@ledgerly.example",
    "postal_address": "Ledgerly Inc., 548 Market St #41200, San Francisco, CA 94104, USA",
    "unsubscribe_url": "https://ledgerly.example/unsubscribe",
}


def _totals(results: list[LlmResult], n: int) -> dict[str, float]:
    tokens = {k: sum(r.usage.get(k, 0) for r in results) for k in results[0].usage}
    usd = sum(r.usd for r in results)
    return {
        **{f"{k}_per_msg": round(v / n, 1) for k, v in tokens.items()},
        "tokens_per_msg": round(sum(tokens.values()) / n, 1),
        "usd_per_msg": round(usd / n, 6),
        "usd_total": round(usd, 4),
    }


def cost(args: argparse.Namespace) -> dict[str, object]:
    ws = load_workspace(ROOT / "examples" / "demo")
    people = _prospects(args.prospects)
    out: dict[str, object] = {"prospects": args.prospects}
    with FakeAnthropic(min_cache_tokens=1024, batch_polls_until_done=1) as fake:
        sdk = anthropic.Anthropic(base_url=fake.base_url, api_key="bench", max_retries=0)
        plain = LlmClient(
            sdk=sdk, config=_config(ws.config, prompt_cache=False), engine=None, workspace="bench"
        )
        drafter = ClaudeDrafter(plain, ws.config.policy.content)
        results = []
        for p in people:
            msgs = drafter.first_request(kind="email", sender=SENDER, **p)  # type: ignore[arg-type]
            results.append(plain.create("draft", drafter.prompt, messages=msgs, scope=CallScope(at=NOW)))
        out["sync_no_cache"] = _totals(results, len(people))
        out["prefix_tokens"] = len(plain.prefix) // 4
        cached = LlmClient(
            sdk=sdk, config=_config(ws.config, prompt_cache=True), engine=None, workspace="bench"
        )
        drafter2 = ClaudeDrafter(cached, ws.config.policy.content)
        items = [
            BatchRequest(
                "draft",
                drafter2.prompt,
                drafter2.first_request(kind="email", sender=SENDER, **p),  # type: ignore[arg-type]
                CallScope(at=NOW),
            )
            for p in people
        ]
        batch = [r for r in cached.run_batch(items, poll_s=0.05) if isinstance(r, LlmResult)]
        out["batch_with_cache"] = _totals(batch, len(people))
        sync_cached = [
            cached.create("draft", drafter2.prompt, messages=i.messages, scope=i.scope) for i in items
        ]
        out["sync_with_cache"] = _totals(sync_cached, len(people))
    a, b = out["sync_no_cache"], out["batch_with_cache"]
    out["usd_ratio_batch_cache_vs_plain"] = round(b["usd_per_msg"] / a["usd_per_msg"], 3)  # type: ignore[index]
    return out


def _daily_copy(src: Path, dest: Path, base_url: str, args: argparse.Namespace, lanes: int) -> Path:
    import shutil

    from tests.llm.conftest import claude_toml

    shutil.copytree(src, dest)
    toml = dest / "workspace.toml"
    text = toml.read_text(encoding="utf-8")
    text = re.sub(r"mailbox_daily_cap = \d+", "mailbox_daily_cap = 100000", text)
    text = re.sub(
        r"\[policy\.budget\.run\]\ncredits = [\d.]+", "[policy.budget.run]\ncredits = 1000000", text
    )
    limits = (
        f"requests_per_minute = {args.rpm}\ninput_tokens_per_minute = 1000000000\n"
        f"output_tokens_per_minute = 1000000000\nmax_concurrency = {max(lanes, 1)}\n"
        f"run_concurrency = {lanes}\nmax_retries = 5"
    )
    toml.write_text(claude_toml(text, base_url, llm=limits), encoding="utf-8")
    return dest


def daily(args: argparse.Namespace) -> dict[str, object]:
    import os
    import tempfile

    from agents.runner import run_daily
    from agents.services import init_workspace
    from tests.llm import conftest  # noqa: F401  (its import clears provider keys from the env)
    from tools.synthetic import write_synthetic_workspace

    os.environ["ANTHROPIC_API_KEY"] = "bench-key-not-secret"  # only the local fake is called
    init_at, day = datetime(2026, 11, 23, 14, tzinfo=UTC), NOW
    tmp = Path(tempfile.mkdtemp(prefix="llm_daily_"))
    write_synthetic_workspace(tmp / "src", args.prospects, seed=11)
    out: dict[str, object] = {
        "prospects": args.prospects,
        "latency_s": args.latency,
        "rpm_limit": args.rpm,
    }
    decided: dict[int, object] = {}
    for lanes in ((1,) if args.sequential else ()) + (args.concurrency,):
        with FakeAnthropic(latency_s=args.latency, requests_per_minute=args.rpm) as fake:
            ws = load_workspace(_daily_copy(tmp / "src", tmp / f"lanes{lanes}", fake.base_url, args, lanes))
            init_workspace(ws, now=init_at)
            marks: list[float] = []

            def progress(done: int, total: int, marks: list[float] = marks) -> None:
                marks.append(time.monotonic())  # the first: processing starts (after the preview)

            start = time.monotonic()
            summary = run_daily(
                ws, now=day, workers=args.workers, chunk_size=args.chunk_size, progress=progress
            )
            elapsed = time.monotonic() - start
            processing = (marks[-1] - marks[0]) if len(marks) > 1 else elapsed
            calls = len(fake.calls())
            bound = max(calls - 1, 0) * 60.0 / args.rpm + args.latency
            report = summary.to_dict()
            decided[lanes] = {
                k: report[k] for k in ("processed", "sent", "review_requested", "deferred", "stopped")
            }
            out[f"run_concurrency_{lanes}"] = {
                "elapsed_s": round(elapsed, 2),
                "model_calls": calls,
                "achieved_rpm": round(calls / elapsed * 60, 1) if elapsed else 0.0,
                "bound_s": round(bound, 2),
                "share_of_bound": round(bound / elapsed, 4) if elapsed else 0.0,
                "processing_s": round(processing, 2),  # without the preview and allocation before it
                "share_of_bound_processing": round(bound / processing, 4) if processing else 0.0,
                "http_429_seen": fake.rate_limited,
                "errors": summary.errors,
                **decided[lanes],  # type: ignore[dict-item]
            }
    out["workers"] = args.workers
    if args.sequential:
        out["same_outcomes"] = decided[1] == decided[args.concurrency]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="which", required=True)
    t = sub.add_parser("throughput", help="Share of the rate-limit bound reached.")
    t.add_argument("--prospects", type=int, default=2000, help="Calls to make (one per prospect).")
    t.add_argument("--latency", type=float, default=2.0, help="Fake latency per call, seconds.")
    t.add_argument(
        "--rpm", type=int, default=1000, help="Requests-per-minute limit of the fake and the client."
    )
    t.add_argument("--concurrency", type=int, default=64, help="Synchronous calls in flight at once.")
    c = sub.add_parser("cost", help="Tokens and dollars per drafted message.")
    c.add_argument("--prospects", type=int, default=200, help="Drafts to write per mode.")
    d = sub.add_parser("daily", help="Share of the bound the daily run reaches, sequential vs concurrent.")
    d.add_argument("--prospects", type=int, default=300, help="Prospects in the synthetic workspace.")
    d.add_argument("--latency", type=float, default=0.5, help="Fake latency per call, seconds.")
    d.add_argument(
        "--rpm", type=int, default=300, help="Requests-per-minute limit of the fake and the client."
    )
    d.add_argument("--concurrency", type=int, default=8, help="[llm] run_concurrency of the concurrent run.")
    d.add_argument("--workers", type=int, default=1, help="Worker processes (run_daily workers).")
    d.add_argument("--chunk-size", type=int, default=250, help="Prospects per worker chunk.")
    d.add_argument(
        "--sequential",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Also run with run_concurrency = 1 and compare.",
    )
    args = parser.parse_args()
    runs = {"throughput": throughput, "cost": cost, "daily": daily}
    result = runs[args.which](args)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
