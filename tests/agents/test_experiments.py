"""Experiments: deterministic assignment, a Thompson allocator that learns the better
variant after the minimum sample while keeping the holdout, replay of every assignment,
and variants recorded by a real daily run."""

from __future__ import annotations

import random
from pathlib import Path

from agents.experiments import assign, replay_assignments, replay_workspace, variant_results
from core.webconfig import ExperimentsConfig
from core.workspace import load_workspace
from tests.conftest import at, copy_demo

TRUE_RATE = {"opening_a": 0.04, "opening_b": 0.20}


def _simulate(config: ExperimentsConfig, n: int = 600) -> list[dict]:
    """Assign n prospects in turn, each outcome drawn from the variant's true positive rate."""
    stats = {v: [0, 0] for v in TRUE_RATE}
    outcome = random.Random(99)
    bodies = []
    for i in range(n):
        pid = f"p_{i:05d}"
        a = assign(
            workspace="sim",
            step_id="email_intro",
            prospect_id=pid,
            variants=list(TRUE_RATE),
            stats=stats,
            config=config,
        )
        bodies.append(
            {
                "seq": i + 1,
                "prospect_id": pid,
                "tool": {
                    "input": {
                        "experiment": {
                            "step_id": "email_intro",
                            "variants": list(TRUE_RATE),
                            "config": config.model_dump(),
                            **a.to_dict(),
                        }
                    }
                },
            }
        )
        stats[a.variant][0] += 1
        stats[a.variant][1] += outcome.random() < TRUE_RATE[a.variant]
    return bodies


def test_thompson_sends_the_better_variant_to_most_prospects_after_the_minimum_sample() -> None:
    """With one variant five times better, after every arm has min_sample sends most non-holdout prospects get it."""
    config = ExperimentsConfig(allocator="thompson", min_sample=30, holdout=0.2, seed=7)
    bodies = _simulate(config)
    exps = [b["tool"]["input"]["experiment"] for b in bodies]
    learned = [e for e in exps if e["method"] == "thompson"]
    assert len(learned) > 300
    assert sum(e["variant"] == "opening_b" for e in learned) / len(learned) > 0.8
    last = exps[-200:]
    assert sum(e["variant"] == "opening_b" for e in last) / len(last) > 0.7
    holdout = [e for e in exps if e["method"] == "holdout"]
    assert 0.1 < len(holdout) / len(exps) < 0.3
    assert 0.3 < sum(e["variant"] == "opening_a" for e in holdout) / len(holdout) < 0.7
    warmup = [e for e in exps if e["method"] == "warmup"]
    assert all(min(s[0] for s in e["stats"].values()) < 30 for e in warmup)


def test_replay_reproduces_every_assignment_and_names_a_changed_one() -> None:
    """Replaying the recorded inputs gives every recorded variant; an altered record is named."""
    config = ExperimentsConfig(allocator="thompson", min_sample=30, holdout=0.2, seed=7)
    bodies = _simulate(config, n=300)
    result = replay_assignments(bodies, "sim")
    assert result == {"assignments": 300, "divergences": []}
    tampered = bodies[250]["tool"]["input"]["experiment"]
    tampered["variant"] = "opening_a" if tampered["variant"] == "opening_b" else "opening_b"
    again = replay_assignments(bodies, "sim")
    assert [d["seq"] for d in again["divergences"]] == [251]


def test_hash_allocator_is_even_stable_and_seeded() -> None:
    """The default allocator splits evenly by prospect, the same way every time, and another seed reshuffles."""
    config = ExperimentsConfig()
    picks = [
        assign(
            workspace="w", step_id="s", prospect_id=f"p{i}", variants=["a", "b"], stats={}, config=config
        ).variant
        for i in range(2000)
    ]
    assert 0.45 < picks.count("a") / len(picks) < 0.55
    again = [
        assign(
            workspace="w", step_id="s", prospect_id=f"p{i}", variants=["a", "b"], stats={}, config=config
        ).variant
        for i in range(2000)
    ]
    assert picks == again
    other = [
        assign(
            workspace="w",
            step_id="s",
            prospect_id=f"p{i}",
            variants=["a", "b"],
            stats={},
            config=ExperimentsConfig(seed=1),
        ).variant
        for i in range(2000)
    ]
    assert other != picks


def test_results_say_when_a_difference_is_not_yet_meaningful() -> None:
    """Small samples are reported as not yet meaningful; a large clear gap names the leader with intervals."""
    small = variant_results({"a": [10, 1], "b": [12, 3]}, min_sample=20, key="k")
    assert not small["meaningful"] and "below 20 sends" in small["verdict"]
    close = variant_results({"a": [200, 20], "b": [200, 23]}, min_sample=20, key="k")
    assert not close["meaningful"]
    clear = variant_results({"a": [400, 12], "b": [400, 60]}, min_sample=20, key="k")
    assert clear["meaningful"] and clear["verdict"].startswith("b is ahead")
    b = next(v for v in clear["variants"] if v["variant"] == "b")
    assert b["low"] < 60 / 400 < b["high"]


def test_daily_run_records_variants_and_replay_reproduces_them(tmp_path: Path) -> None:
    """A step with variants drafts each prospect with one of them, logs the assignment, and replay agrees."""
    from agents.report import compute_figures
    from agents.runner import run_daily
    from agents.services import init_workspace

    root = copy_demo(tmp_path / "demo", relaxed=True)
    intro = (root / "templates" / "email_intro.j2").read_text(encoding="utf-8")
    (root / "templates" / "email_intro_short.j2").write_text(
        intro.replace("Would a 20-minute walkthrough next week be useful?", "Worth a short call next week?"),
        encoding="utf-8",
    )
    toml = root / "workspace.toml"
    text = toml.read_text(encoding="utf-8")
    text = text.replace(
        'template = "email_intro"\nwhen = ["has_email"]',
        'template = "email_intro"\nvariants = ["email_intro", "email_intro_short"]\nwhen = ["has_email"]',
    )
    toml.write_text(text, encoding="utf-8")
    ws = load_workspace(root)
    init_workspace(ws, now=at("2026-11-23T14:00:00Z"))
    run_daily(ws, now=at("2026-11-23T15:00:00Z"))
    from state.db import engine_for
    from state.decision_log import iter_records, load_body

    engine = engine_for(ws.database_url)
    drafts = [load_body(r) for r in iter_records(engine, ws.id) if r.action == "draft" and r.node == "act"]
    exps = [b["tool"]["input"]["experiment"] for b in drafts if "experiment" in b["tool"]["input"]]
    assert len(exps) >= 10
    assert {e["variant"] for e in exps} == {"email_intro", "email_intro_short"}
    assert all(
        b["tool"]["input"]["template"] == b["tool"]["input"]["experiment"]["variant"]
        for b in drafts
        if "experiment" in b["tool"]["input"]
    )
    assert replay_workspace(ws, engine)["divergences"] == []
    fig = compute_figures(ws, start=at("2026-11-01T00:00:00Z"), end=at("2026-12-01T00:00:00Z"))
    exp = fig["experiments"]["email_intro"]
    assert sum(v["sends"] for v in exp["variants"]) == next(
        r["sent"] for r in fig["funnel"] if r["step"] == "email_intro"
    )
    assert exp["verdict"].startswith("not yet meaningful")
