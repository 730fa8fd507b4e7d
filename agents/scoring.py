"""Who works first: each prospect's score is ICP fit (firmographic rules with weights and
exclusions, from `[scoring]` or derived from `[icp]`) plus intent from signals whose weight
halves every `half_life_days`, combined as ``100 * (fit_weight * fit + (1 - fit_weight) *
intent)``. The tier is the imported one or comes from the score (config). `compute_score`
is pure; `rescore` loads facts, scores and stores them (`prospect_scores`)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Text, bindparam, cast, insert, literal, update
from sqlalchemy import select as core_select
from sqlmodel import Session

from core.spend_config import IcpRule, ScoringConfig
from core.timeutil import iso, to_utc
from core.workspace import IcpConfig, Workspace
from state.models import Company, Prospect, Signal
from state.models_scoring import ProspectScore


def icp_rules(icp: IcpConfig, cfg: ScoringConfig) -> tuple[IcpRule, ...]:
    """The configured fit rules, or rules derived from `[icp]` (title counts 1.5, the rest 1)."""
    if cfg.rules:
        return cfg.rules
    rules = []
    if icp.industries:
        rules.append(IcpRule(field="industry", op="in", values=icp.industries))
    if icp.countries:
        rules.append(IcpRule(field="country", op="in", values=icp.countries))
    if icp.titles:
        rules.append(IcpRule(field="title", op="contains", values=icp.titles, weight=1.5))
    if icp.min_employees is not None or icp.max_employees is not None:
        rules.append(
            IcpRule(
                field="employee_count",
                op="between",
                min=None if icp.min_employees is None else float(icp.min_employees),
                max=None if icp.max_employees is None else float(icp.max_employees),
            )
        )
    return tuple(rules)


def _matches(rule: IcpRule, value: Any) -> bool:
    if value in (None, ""):
        return False
    if rule.op == "between":
        try:
            n = float(value)
        except (TypeError, ValueError):
            return False
        return (rule.min is None or n >= rule.min) and (rule.max is None or n <= rule.max)
    text = str(value).casefold()
    if rule.op == "contains":
        return _any_of(rule.values).search(text) is not None
    return text in _folded(rule.values)


@lru_cache(maxsize=256)
def _folded(values: tuple[str, ...]) -> frozenset[str]:
    return frozenset(v.casefold() for v in values)


@lru_cache(maxsize=256)
def _any_of(values: tuple[str, ...]) -> re.Pattern[str]:
    """One pattern that finds any of the casefolded values as a substring (never matches when
    there are none, like `any` over an empty list)."""
    if not values:
        return re.compile(r"(?!)")
    return re.compile("|".join(re.escape(v.casefold()) for v in values))


@dataclass(frozen=True)
class ScoreResult:
    score: float
    fit: float
    intent: float
    tier: int | None
    excluded: bool
    breakdown: dict[str, Any] = field(default_factory=dict)


def signal_decay(age_days: float, half_life: float) -> float:
    return 0.5 ** (max(age_days, 0.0) / half_life) if half_life > 0 else 0.0


def compute_score(
    facts: Mapping[str, Any],
    signals: Sequence[Mapping[str, Any]],
    icp: IcpConfig,
    cfg: ScoringConfig,
    now: datetime,
    rules: tuple[IcpRule, ...] | None = None,
) -> ScoreResult:
    """Score one prospect from plain facts (industry, country, title, employee_count, tier,
    attributes) and its signals (type, detail, url, occurred_at). `rules` are
    `icp_rules(icp, cfg)` when the caller scores many prospects with the same config."""
    attrs = facts.get("attributes") or {}

    def value(name: str) -> Any:
        return facts.get(name) if name in facts else attrs.get(name)

    for rule in cfg.exclusions:
        if _matches(rule, value(rule.field)):
            why = f"excluded: {rule.field} {value(rule.field)!r} matches {rule.op} {list(rule.values) or [rule.min, rule.max]}"
            return ScoreResult(0.0, 0.0, 0.0, _tier(0.0, facts, cfg), True, {"excluded": why, "score": 0.0})
    fit_rows, total, got = [], 0.0, 0.0
    for rule in icp_rules(icp, cfg) if rules is None else rules:
        ok = _matches(rule, value(rule.field))
        total += rule.weight
        got += rule.weight if ok else 0.0
        fit_rows.append(
            {"field": rule.field, "value": value(rule.field), "matched": ok, "weight": rule.weight}
        )
    fit = got / total if total else 0.0
    remaining, sig_rows = 1.0, []
    for s in signals:
        kind = str(s.get("type", ""))
        occurred = s.get("occurred_at")
        age = (to_utc(now) - to_utc(occurred)).total_seconds() / 86400 if occurred else 0.0
        if age < 0:
            continue  # a signal from the future (clock skew, replay at an earlier now) does not count
        weight = cfg.signal_weights.get(kind, 0.0)
        decay = signal_decay(age, cfg.half_life_days.get(kind, 30.0))
        contribution = weight * decay
        remaining *= 1.0 - min(contribution, 1.0)
        sig_rows.append(
            {
                "type": kind,
                "detail": s.get("detail", ""),
                "url": s.get("url", ""),
                "age_days": round(age, 1),
                "decay": round(decay, 4),
                "weight": weight,
                "contribution": round(contribution, 4),
            }
        )
    intent = 1.0 - remaining
    ours = 100.0 * (cfg.fit_weight * fit + (1.0 - cfg.fit_weight) * intent)
    imported = _imported(facts, cfg)
    if imported is not None and cfg.imported_score == "keep":
        score = imported
    elif imported is not None and cfg.imported_score == "blend":
        score = (ours + imported) / 2
    else:
        score = ours
    score = round(score, 2)
    breakdown = {
        "score": score,
        "fit": round(fit, 4),
        "intent": round(intent, 4),
        "fit_weight": cfg.fit_weight,
        "fit_rules": fit_rows,
        "signals": sorted(sig_rows, key=lambda r: -r["contribution"]),
        "imported_score": imported,
        "imported_score_use": cfg.imported_score,
        "tier_source": "imported" if cfg.tier == "imported" and facts.get("tier") is not None else "score",
    }
    return ScoreResult(score, round(fit, 4), round(intent, 4), _tier(score, facts, cfg), False, breakdown)


def _imported(facts: Mapping[str, Any], cfg: ScoringConfig) -> float | None:
    if not cfg.imported_score_field or cfg.imported_score == "ignore":
        return None
    raw = (facts.get("attributes") or {}).get(cfg.imported_score_field)
    try:
        return max(0.0, min(100.0, float(str(raw))))
    except (TypeError, ValueError):
        return None


def _tier(score: float, facts: Mapping[str, Any], cfg: ScoringConfig) -> int | None:
    if cfg.tier == "imported" and facts.get("tier") is not None:
        return int(facts["tier"])
    t1, t2 = cfg.tier_thresholds
    return 1 if score >= t1 else 2 if score >= t2 else 3


def explain(breakdown: Mapping[str, Any]) -> str:
    """One line saying why a prospect scored what it did."""
    if breakdown.get("excluded"):
        return str(breakdown["excluded"])
    fits = [r for r in breakdown.get("fit_rules", [])]
    matched = ", ".join(r["field"] for r in fits if r["matched"]) or "none"
    missed = ", ".join(r["field"] for r in fits if not r["matched"]) or "none"
    sigs = (
        "; ".join(
            f"{s['type']} {s['age_days']:g}d old x{s['decay']:.2f} = {s['contribution']:.2f}"
            for s in breakdown.get("signals", [])[:3]
        )
        or "no signals"
    )
    return (
        f"score {breakdown.get('score')}: fit {breakdown.get('fit', 0):.2f} (matched {matched}; missed {missed}) x "
        f"{breakdown.get('fit_weight')}, intent {breakdown.get('intent', 0):.2f} ({sigs})"
    )


def facts_of(p: Any, c: Any) -> dict[str, Any]:
    """The facts a score reads, from a prospect and its company (ORM objects or rows)."""
    return {
        "industry": c.industry if c else "",
        "country": p.country or (c.country if c else ""),
        "title": p.title,
        "employee_count": c.employee_count if c else None,
        "tier": p.tier,
        "attributes": p.attributes or {},
    }


@dataclass(frozen=True, slots=True)
class StoredScore:
    """A prospect's score as stored in `prospect_scores` (plain values, not an ORM row)."""

    score: float
    fit: float
    intent: float
    tier: int | None
    excluded: bool
    breakdown: dict[str, Any]
    scored_at: datetime


def _unchanged(old: Any, r: ScoreResult) -> dict[str, Any] | None:
    """The stored breakdown when a stored row already says what `r` says (its `scored_at`
    aside), else None. The row's breakdown is read as text: equal to the new breakdown
    serialised with the old instant is the common case and needs no parsing (SQLite stores
    the text as written); otherwise (PostgreSQL's JSONB text, or a real change) it is parsed
    and compared as a value."""
    if (old.score, old.fit, old.intent, old.tier, bool(old.excluded)) != (
        r.score,
        r.fit,
        r.intent,
        r.tier,
        r.excluded,
    ):
        return None
    mine = {**r.breakdown, "scored_at": iso(old.scored_at)}
    raw = old.raw
    if isinstance(raw, str) and raw == json.dumps(mine):
        return mine
    stored = dict(json.loads(raw) if isinstance(raw, str) else raw or {})
    stamp = stored.pop("scored_at", None)
    return {**r.breakdown, "scored_at": stamp} if stored == r.breakdown else None


FACT_FIELDS = frozenset(("industry", "country", "title", "employee_count", "tier"))


def rescore(
    session: Session, ws: Workspace, prospect_ids: Iterable[str], now: datetime
) -> dict[str, StoredScore]:
    """Score the prospects, store the scores (one row each) and return them by id.

    Reads and writes are Core statements, per chunk of 500 ids: the prospects, their
    companies and signals, and their stored scores. A row is written only when what it says
    changed (score, fit, intent, tier, exclusion or any part of the breakdown but its
    `scored_at`): an unchanged row keeps the instant it was last scored at, so a daily run
    over prospects whose facts did not move writes nothing."""
    ids = list(prospect_ids)
    if not ids:
        return {}
    cfg, icp = ws.config.scoring, ws.config.icp
    pt, ct, sgt, st = (getattr(m, "__table__") for m in (Prospect, Company, Signal, ProspectScore))  # noqa: B009
    out: dict[str, StoredScore] = {}
    stamp = iso(now)
    rules = icp_rules(icp, cfg)
    # The prospects' attributes (JSON) are read only when a rule or the imported score reads them.
    attrs = bool(cfg.imported_score_field and cfg.imported_score != "ignore") or any(
        r.field not in FACT_FIELDS for r in (*rules, *cfg.exclusions)
    )
    pcols = [pt.c.id, pt.c.company_id, pt.c.country, pt.c.title, pt.c.tier]
    pcols += [pt.c.attributes] if attrs else [literal(None).label("attributes")]
    score_cols = [st.c[n] for n in ("prospect_id", "score", "fit", "intent", "tier", "excluded", "scored_at")]
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        prospects = session.execute(core_select(*pcols).where(pt.c.id.in_(chunk))).all()
        cids = {p.company_id for p in prospects if p.company_id}
        companies = {
            c.id: c
            for c in session.execute(
                core_select(ct.c.id, ct.c.industry, ct.c.country, ct.c.employee_count).where(
                    ct.c.id.in_(cids or {""})
                )
            )
        }
        sigs: dict[str, list[dict[str, Any]]] = {}
        rows = session.execute(
            core_select(sgt).where(
                sgt.c.workspace == ws.id,
                (sgt.c.prospect_id.in_(chunk)) | (sgt.c.company_id.in_(cids or {""})),
            )
        )
        for s in rows:
            d = {"id": s.id, "type": s.type, "detail": s.detail, "url": s.url, "occurred_at": s.occurred_at}
            for key in (s.prospect_id, s.company_id):
                if key:
                    sigs.setdefault(key, []).append(d)
        existing = {
            s.prospect_id: s
            for s in session.execute(
                core_select(*score_cols, cast(st.c.breakdown, Text).label("raw")).where(
                    st.c.workspace == ws.id, st.c.prospect_id.in_(chunk)
                )
            )
        }
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for p in prospects:
            c = companies.get(p.company_id or "")
            both = sigs.get(p.id, []) + (sigs.get(p.company_id, []) if p.company_id else [])
            mine = list({d["id"]: d for d in both}.values())
            r = compute_score(facts_of(p, c), mine, icp, cfg, now, rules)
            old = existing.get(p.id)
            kept = _unchanged(old, r) if old is not None else None
            if old is not None and kept is not None:
                out[p.id] = StoredScore(r.score, r.fit, r.intent, r.tier, r.excluded, kept, old.scored_at)
                continue
            breakdown = {**r.breakdown, "scored_at": stamp}
            out[p.id] = StoredScore(r.score, r.fit, r.intent, r.tier, r.excluded, breakdown, now)
            values = {
                "score": r.score,
                "fit": r.fit,
                "intent": r.intent,
                "tier": r.tier,
                "excluded": r.excluded,
                "breakdown": breakdown,
                "scored_at": now,
            }
            if old is None:
                inserts.append({"workspace": ws.id, "prospect_id": p.id, **values})
            else:
                updates.append(
                    {"k_workspace": ws.id, "k_prospect_id": p.id, **{f"v_{k}": v for k, v in values.items()}}
                )
        if inserts:
            session.execute(insert(st), inserts)
        if updates:
            session.execute(_UPDATE_SCORE, updates)
    return out


def _update_score() -> Any:
    st = getattr(ProspectScore, "__table__")  # noqa: B009
    cols = ("score", "fit", "intent", "tier", "excluded", "breakdown", "scored_at")
    return (
        update(st)
        .where(st.c.workspace == bindparam("k_workspace"), st.c.prospect_id == bindparam("k_prospect_id"))
        .values({c: bindparam(f"v_{c}", type_=st.c[c].type) for c in cols})
    )


_UPDATE_SCORE = _update_score()


def ranked(ids: Sequence[str], scores: Mapping[str, float]) -> list[str]:
    """Highest score first, then the prospect id (stable, independent of workers)."""
    return sorted(ids, key=lambda i: (-scores.get(i, 0.0), i))


def score_of(session: Session, workspace: str, prospect_id: str) -> dict[str, Any]:
    """The stored score of a prospect (as of its last rescoring), for the observation."""
    row = session.get(ProspectScore, (workspace, prospect_id))
    if row is None:
        return {}
    return {"score": row.score, "tier": row.tier, "excluded": row.excluded, "breakdown": row.breakdown}


def score_now(session: Session, ws: Workspace, prospect_id: str, now: datetime) -> dict[str, Any]:
    """A prospect's score computed at `now` (stored too), with its one-line explanation."""
    row = rescore(session, ws, [prospect_id], now).get(prospect_id)
    if row is None:
        return {}
    return {
        "score": row.score,
        "fit": row.fit,
        "intent": row.intent,
        "tier": row.tier,
        "excluded": row.excluded,
        "explanation": explain(row.breakdown),
        "breakdown": row.breakdown,
    }


def annotate_signals(evidence: list[dict[str, Any]], cfg: ScoringConfig, now: datetime) -> None:
    """Give each signal item its strength now (weight x decay) and `fresh` (younger than its
    half-life), so the drafter opens with the freshest, strongest signal."""
    for e in evidence:
        if e.get("kind") != "signal":
            continue
        data = dict(e.get("data") or {})
        kind, date = str(data.get("type", "")), str(data.get("date", ""))
        try:
            age = (to_utc(now) - to_utc(datetime.fromisoformat(date[:10] + "T00:00:00+00:00"))).days
        except ValueError:
            continue
        decay = signal_decay(age, cfg.half_life_days.get(kind, 30.0)) if age >= 0 else 0.0
        data["strength"] = round(cfg.signal_weights.get(kind, 0.0) * decay, 4)
        data["fresh"] = age >= 0 and decay >= 0.5
        e["data"] = data
