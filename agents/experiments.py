"""Experiments: a playbook step with `variants` (template names) sends each prospect one
of them, and learns which one earns more positive replies.

Assignment is a pure function of (workspace, step, prospect, the arm statistics at the
moment of drafting, the `[experiments]` config): the same inputs always give the same
variant, and every input is written to the decision log with the draft, so replay
recomputes every assignment and names any that differs.

- ``hash`` allocator (default): an even split by a hash of the prospect.
- ``thompson`` allocator (opt-in): a fixed ``holdout`` share of prospects (chosen by hash)
  is always split evenly, so there is an unbiased comparison; until every variant has
  ``min_sample`` sends everyone else is split evenly too; after that each prospect gets
  the variant with the highest draw from Beta(1 + positives, 1 + sends - positives),
  drawn from a generator seeded by (seed, workspace, step, prospect).

A prospect keeps the variant of a draft it already has for the step (a re-draft after a
rejection does not switch arms). A positive reply is a reply classified ``interested`` or
``meeting`` after the send.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from core.timeutil import to_utc
from core.webconfig import ExperimentsConfig
from core.workspace import PlaybookStep, Workspace
from state.decision_log import iter_records, load_body
from state.models import Draft, EngagementEventRow, OutboxMessage

POSITIVE_KINDS = ("interested", "meeting")
REPLY_TYPES = ("replied", "linkedin_replied")


def _unit(*parts: object) -> float:
    """A number in [0, 1) from a hash of the parts: stable across processes and versions."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()
    return int(digest[:13], 16) / float(16**13)


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()
    return random.Random(int(digest[:16], 16))


@dataclass(frozen=True)
class Assignment:
    variant: str
    method: str  # single | hash | holdout | warmup | thompson | sticky
    stats: dict[str, list[int]]  # variant -> [sends, positives] at assignment time
    draws: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {"variant": self.variant, "method": self.method, "stats": self.stats, "draws": self.draws}


def assign(
    *,
    workspace: str,
    step_id: str,
    prospect_id: str,
    variants: Sequence[str],
    stats: Mapping[str, Sequence[int]],
    config: ExperimentsConfig,
) -> Assignment:
    """The variant for one prospect: pure and deterministic (see the module docstring)."""
    arms = list(variants)
    snap = {v: [int(stats.get(v, (0, 0))[0]), int(stats.get(v, (0, 0))[1])] for v in arms}
    if len(arms) == 1:
        return Assignment(arms[0], "single", snap, {})
    even = arms[int(_unit(config.seed, workspace, step_id, prospect_id, "arm") * len(arms))]
    if config.allocator == "hash":
        return Assignment(even, "hash", snap, {})
    if _unit(config.seed, workspace, step_id, prospect_id, "holdout") < config.holdout:
        return Assignment(even, "holdout", snap, {})
    if any(snap[v][0] < config.min_sample for v in arms):
        return Assignment(even, "warmup", snap, {})
    rng = _rng(config.seed, workspace, step_id, prospect_id, "thompson")
    draws = {v: round(rng.betavariate(1 + snap[v][1], 1 + snap[v][0] - snap[v][1]), 12) for v in arms}
    best = max(arms, key=lambda v: (draws[v], -arms.index(v)))
    return Assignment(best, "thompson", snap, draws)


def variant_of(template_version: str) -> str:
    """The template name of a version string ``name@hash``."""
    return template_version.split("@", 1)[0]


def arm_stats(
    session: Session, *, workspace: str, step_id: str, variants: Sequence[str], before: datetime
) -> dict[str, list[int]]:
    """[sends, positive replies] per variant of a step, counting sends before ``before``."""
    out = {v: [0, 0] for v in variants}
    sends = session.exec(
        select(OutboxMessage.prospect_id, OutboxMessage.payload, OutboxMessage.sent_at).where(
            OutboxMessage.workspace == workspace,
            OutboxMessage.step_id == step_id,
            OutboxMessage.status == "sent",
            col(OutboxMessage.sent_at) < before,
        )
    ).all()
    sent_at: dict[str, tuple[str, datetime]] = {}
    for pid, payload, at in sends:
        v = variant_of(str((payload or {}).get("template_version", "")))
        if v in out and at is not None:
            out[v][0] += 1
            sent_at[pid] = (v, to_utc(at))
    if not sent_at:
        return out
    replies = session.exec(
        select(EngagementEventRow.prospect_id, EngagementEventRow.raw, EngagementEventRow.occurred_at).where(
            EngagementEventRow.workspace == workspace,
            EngagementEventRow.type.in_(REPLY_TYPES),  # type: ignore[attr-defined]
            EngagementEventRow.occurred_at < before,
        )
    ).all()
    positive: set[str] = set()
    for rpid, raw, occurred in replies:
        if rpid and rpid in sent_at and (raw or {}).get("reply_kind") in POSITIVE_KINDS:
            if to_utc(occurred) >= sent_at[rpid][1]:
                positive.add(rpid)
    for pid in positive:
        out[sent_at[pid][0]][1] += 1
    return out


def choose_template(
    ws: Workspace, engine: Engine, step: PlaybookStep, prospect_id: str, now: datetime
) -> tuple[str, dict[str, Any] | None]:
    """The template to draft a step with, and the assignment to record (None: no variants).
    The one call site is the draft action (agents/actions.py)."""
    if not step.variants:
        return step.template, None
    variants = list(dict.fromkeys(step.variants))
    with Session(engine) as session:
        kept = session.exec(
            select(Draft.template).where(
                Draft.workspace == ws.id, Draft.prospect_id == prospect_id, Draft.step_id == step.id
            )
        ).first()
        stats = arm_stats(session, workspace=ws.id, step_id=step.id, variants=variants, before=now)
    if kept is not None and kept in variants:
        a = Assignment(str(kept), "sticky", stats, {})
    else:
        a = assign(
            workspace=ws.id,
            step_id=step.id,
            prospect_id=prospect_id,
            variants=variants,
            stats=stats,
            config=ws.config.experiments,
        )
    return a.variant, {
        "step_id": step.id,
        "variants": variants,
        "config": ws.config.experiments.model_dump(),
        **a.to_dict(),
    }


def replay_assignments(records: Iterable[Mapping[str, Any]], workspace: str) -> dict[str, Any]:
    """Recompute every recorded assignment from its recorded inputs; list any that differ."""
    checked, differ = 0, []
    for body in records:
        exp = ((body.get("tool") or {}).get("input") or {}).get("experiment")
        if not exp or exp.get("method") == "sticky":
            continue
        checked += 1
        again = assign(
            workspace=workspace,
            step_id=exp["step_id"],
            prospect_id=body["prospect_id"],
            variants=exp["variants"],
            stats=exp["stats"],
            config=ExperimentsConfig.model_validate(exp["config"]),
        )
        if again.variant != exp["variant"] or again.method != exp["method"]:
            differ.append(
                {
                    "seq": body.get("seq"),
                    "prospect_id": body["prospect_id"],
                    "recorded": exp["variant"],
                    "replayed": again.variant,
                }
            )
    return {"assignments": checked, "divergences": differ}


def replay_workspace(ws: Workspace, engine: Engine) -> dict[str, Any]:
    """replay_assignments over the workspace's whole decision log."""
    bodies = (load_body(r) for r in iter_records(engine, ws.id) if r.action == "draft" and r.node == "act")
    return replay_assignments(bodies, ws.id)


# ----------------------------------------------------------------- results


def beta_summary(sends: int, positives: int, *, seed: str, draws: int = 4000) -> tuple[float, float, float]:
    """Posterior mean and 95% credible interval of a rate under a uniform prior
    (Beta(1 + positives, 1 + failures)), by seeded sampling."""
    a, b = 1 + positives, 1 + max(0, sends - positives)
    rng = _rng("interval", seed)
    xs = sorted(rng.betavariate(a, b) for _ in range(draws))
    return a / (a + b), xs[int(0.025 * draws)], xs[int(0.975 * draws) - 1]


def variant_results(stats: Mapping[str, Sequence[int]], *, min_sample: int, key: str) -> dict[str, Any]:
    """Each variant's rate with its interval and the chance it is best; and whether the
    difference is meaningful yet (every arm at min_sample and one best with >= 95%)."""
    arms = list(stats)
    rows: list[dict[str, Any]] = []
    for v in arms:
        n, k = int(stats[v][0]), int(stats[v][1])
        mean, low, high = beta_summary(n, k, seed=f"{key}|{v}")
        rows.append({"variant": v, "sends": n, "positives": k, "rate": mean, "low": low, "high": high})
    rng = _rng("best", key)
    wins = dict.fromkeys(arms, 0)
    draws = 4000
    for _ in range(draws):
        sample = {v: rng.betavariate(1 + stats[v][1], 1 + stats[v][0] - stats[v][1]) for v in arms}
        wins[max(arms, key=lambda v: sample[v])] += 1
    for r in rows:
        r["p_best"] = wins[r["variant"]] / draws
    small = [r["variant"] for r in rows if r["sends"] < min_sample]
    leader = max(rows, key=lambda r: r["p_best"]) if rows else None
    if len(rows) < 2:
        verdict = "only one variant"
    elif small:
        verdict = f"not yet meaningful: {', '.join(small)} below {min_sample} sends"
    elif leader and leader["p_best"] >= 0.95:
        verdict = f"{leader['variant']} is ahead ({leader['p_best']:.0%} chance it is best)"
    else:
        verdict = "not yet meaningful: no variant is best with 95% probability"
    return {
        "variants": rows,
        "verdict": verdict,
        "meaningful": len(rows) > 1 and not verdict.startswith("not yet"),
    }
