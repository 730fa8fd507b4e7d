"""Scoring (agents/scoring.py): ICP fit rules, exclusions, signal decay, tiers, imported scores."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agents.scoring import compute_score, explain, signal_decay
from core.spend_config import IcpRule, ScoringConfig
from core.workspace import IcpConfig
from tests.conftest import at

NOW = at("2026-11-23T15:00:00Z")
ICP = IcpConfig(
    industries=("Software",),
    countries=("US", "GB"),
    titles=("CFO", "Controller"),
    min_employees=50,
    max_employees=2000,
)
FULL = {
    "industry": "Software",
    "country": "US",
    "title": "CFO",
    "employee_count": 400,
    "tier": None,
    "attributes": {},
}


def sig(kind: str, days: float) -> dict:
    return {"type": kind, "detail": f"{kind} news", "url": "", "occurred_at": NOW - timedelta(days=days)}


@pytest.mark.parametrize(
    ("facts", "fit"),
    [
        (FULL, 1.0),
        ({**FULL, "title": "Engineer"}, 3 / 4.5),
        ({**FULL, "country": "DE", "employee_count": 10}, 2.5 / 4.5),
        ({**FULL, "industry": "", "employee_count": None}, 2.5 / 4.5),
    ],
    ids=["all-match", "title-miss", "country-and-size-miss", "missing-fields-count-as-miss"],
)
def test_fit_from_icp_rules(facts: dict, fit: float) -> None:
    """Fit is the weighted share of matched ICP rules (title weighs 1.5), derived from [icp]."""
    r = compute_score(facts, [], ICP, ScoringConfig(), NOW)
    assert r.fit == pytest.approx(fit, abs=1e-4)
    assert r.score == pytest.approx(60 * fit, abs=0.01)


def test_signal_decay_halves_at_half_life() -> None:
    """A signal counts fully when fresh, half at its half-life, a quarter at twice that."""
    assert signal_decay(0, 30) == 1.0 and signal_decay(30, 30) == 0.5 and signal_decay(60, 30) == 0.25
    cfg = ScoringConfig()
    fresh = compute_score(FULL, [sig("funding", 0)], ICP, cfg, NOW)
    old = compute_score(FULL, [sig("funding", 90)], ICP, cfg, NOW)
    assert fresh.intent == pytest.approx(0.7) and old.intent == pytest.approx(0.35)
    assert fresh.score > old.score > compute_score(FULL, [], ICP, cfg, NOW).score


def test_signals_combine_and_future_ones_do_not_count() -> None:
    """Two signals combine as 1 - (1-a)(1-b); a signal dated after now is ignored."""
    r = compute_score(FULL, [sig("funding", 0), sig("hiring", 0), sig("news", -3)], ICP, ScoringConfig(), NOW)
    assert r.intent == pytest.approx(1 - 0.3 * 0.4)
    assert [s["type"] for s in r.breakdown["signals"]] == ["funding", "hiring"]


def test_exclusion_scores_zero_and_says_why() -> None:
    """A prospect matching an exclusion scores 0 and the breakdown names the rule."""
    cfg = ScoringConfig(exclusions=(IcpRule(field="industry", values=("Software",)),))
    r = compute_score(FULL, [sig("funding", 0)], ICP, cfg, NOW)
    assert (r.score, r.excluded) == (0.0, True)
    assert "excluded: industry 'Software'" in explain(r.breakdown)


@pytest.mark.parametrize(
    ("tier_mode", "imported_tier", "expected"),
    [("imported", 3, 3), ("score", 3, 2), ("imported", None, 2)],
    ids=["keep-imported", "override-by-score", "no-imported-tier"],
)
def test_tier_imported_or_from_score(tier_mode: str, imported_tier: int | None, expected: int) -> None:
    """Imported tiers are kept unless config says tiers come from the score thresholds."""
    r = compute_score({**FULL, "tier": imported_tier}, [], ICP, ScoringConfig(tier=tier_mode), NOW)  # type: ignore[arg-type]
    assert r.score == 60.0 and r.tier == expected


@pytest.mark.parametrize(("use", "expected"), [("ignore", 60.0), ("keep", 90.0), ("blend", 75.0)])
def test_imported_clay_score(use: str, expected: float) -> None:
    """An imported (Clay) score is ignored, kept, or averaged with ours, by config."""
    facts = {**FULL, "attributes": {"clay_score": "90"}}
    cfg = ScoringConfig(imported_score_field="clay_score", imported_score=use)  # type: ignore[arg-type]
    assert compute_score(facts, [], ICP, cfg, NOW).score == expected


def test_explanation_names_matches_misses_and_signals() -> None:
    """The one-line explanation lists matched and missed rules and each signal's decay."""
    r = compute_score({**FULL, "title": "Engineer"}, [sig("hiring", 30)], ICP, ScoringConfig(), NOW)
    line = explain(r.breakdown)
    assert "matched industry, country, employee_count" in line and "missed title" in line
    assert "hiring 30d old x0.50 = 0.30" in line
