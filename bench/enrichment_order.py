"""Benchmark: learned enrichment order vs every fixed order.

A synthetic population (people across three countries and two employee bands) and three
simulated providers (tools/enrichment/simulated.py, the same class the demo and tests use)
whose price and coverage differ by segment: each is cheap and thorough in one country and
poor elsewhere. Every order is run through the real `Waterfall` with an in-memory store.
A person found by any provider is found by every order (each provider's answer for a person
is a fixed draw), so the comparison is the cost of finding the same emails.

    python bench/enrichment_order.py [--people 3000] [--seed 7] [--json]

Pass criterion (issue 8): learned order finds >= the emails of the best fixed order at
<= 70% of its credits.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.spend_config import EnrichmentConfig, EnrichmentProviderConfig  # noqa: E402
from tools.enrichment.providers import Person  # noqa: E402
from tools.enrichment.simulated import SimulatedProvider  # noqa: E402
from tools.enrichment.waterfall import MemoryStore, Waterfall  # noqa: E402

COUNTRIES = ("US", "DE", "GB")
SIZES = (40, 600)  # employee counts: bands 11-50 and 201-1000
PROVIDERS = (
    # name, credits per call, credits per hit, hit rate by segment
    ("alpha", 1.0, 0.2, {"US": 0.92, "DE": 0.05, "GB": 0.06}),
    ("beta", 1.2, 0.2, {"DE": 0.92, "US": 0.05, "GB": 0.08, "DE/11-50": 0.85}),
    ("gamma", 1.5, 0.2, {"GB": 0.94, "US": 0.06, "DE": 0.06}),
)


def population(n: int, seed: int) -> tuple[list[Person], dict[str, dict[str, str]]]:
    rng = random.Random(seed)
    people, rows = [], {}
    for i in range(n):
        p = Person(
            f"First{i}",
            f"Last{i}",
            f"co{i % 997}.example",
            country=rng.choice(COUNTRIES),
            employee_count=rng.choice(SIZES),
        )
        people.append(p)
        if rng.random() < 0.95:  # 5% of people exist at no provider
            rows[p.key] = {
                "first_name": p.first_name,
                "last_name": p.last_name,
                "company_domain": p.domain,
                "email": f"{p.first_name}@{p.domain}",
            }
    return people, rows


def providers(rows: dict[str, dict[str, str]], seed: int) -> list[SimulatedProvider]:
    return [
        SimulatedProvider(
            EnrichmentProviderConfig(
                name=n, kind="simulated", cost_per_call=c, cost_per_hit=h, hit_rate=rates, seed=seed
            ),
            Path("."),
            people=rows,
            sleep=lambda s: None,
        )
        for n, c, h, rates in PROVIDERS
    ]


def run(
    order: tuple[str, ...] | None, people: list[Person], rows: dict[str, dict[str, str]], seed: int
) -> dict:
    provs = providers(rows, seed)
    cfg = EnrichmentConfig(
        providers=tuple(p.cfg for p in provs),
        order={"email": order or tuple(p.name for p in provs)},
        learned_order=order is None,
        exploration=0.05,
        seed=seed,
    )
    wf = Waterfall(provs, cfg, MemoryStore(), sleep=lambda s: None)
    found, credits = 0, 0.0
    now = datetime(2026, 11, 23, tzinfo=UTC)
    for p in people:
        res = wf.enrich(p, ["email"], now=now)
        found += int("email" in res.values)
        credits += res.credits
    return {
        "order": "learned" if order is None else ",".join(order),
        "found": found,
        "credits": round(credits, 2),
        "last_explanation": res.explanations.get("email", ""),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=3000, help="Population size.")
    ap.add_argument("--seed", type=int, default=7, help="Random seed (population, draws, exploration).")
    ap.add_argument("--json", action="store_true", help="Print JSON instead of a table.")
    args = ap.parse_args()
    t0 = time.perf_counter()
    people, rows = population(args.people, args.seed)
    fixed = [run(o, people, rows, args.seed) for o in itertools.permutations([n for n, *_ in PROVIDERS])]
    learned = run(None, people, rows, args.seed)
    best = min(fixed, key=lambda r: (-r["found"], r["credits"]))
    ratio = learned["credits"] / best["credits"]
    ok = learned["found"] >= best["found"] and ratio <= 0.70
    out = {
        "people": args.people,
        "seed": args.seed,
        "fixed": fixed,
        "learned": learned,
        "best_fixed": best["order"],
        "cost_ratio": round(ratio, 4),
        "pass": ok,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for r in [*fixed, learned]:
            print(f"{r['order']:<20} found {r['found']:>6}  credits {r['credits']:>10.2f}")
        print(
            f"best fixed: {best['order']}; learned/best cost = {ratio:.1%}; found {learned['found']} vs {best['found']}; {'PASS' if ok else 'FAIL'}"
        )
        print(f"learned order's last explanation: {learned['last_explanation']}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
