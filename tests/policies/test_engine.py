"""The engine: combining verdicts, running the catalogue, explaining, and configuration."""

from __future__ import annotations

from datetime import UTC

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from policies.check import NOT_APPLICABLE, deciding_rows, explain
from policies.config import PolicyConfig
from policies.engine import PolicyEngine, combine
from policies.rules import DEFAULT_RULES, RULE_FAMILIES
from policies.types import Verdict
from tests.policies.factories import make_input

INSTANTS = st.datetimes(timezones=st.just(UTC)).map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ"))
VERDICTS = st.one_of(
    st.builds(
        Verdict,
        rule=st.text(min_size=1, max_size=8),
        outcome=st.sampled_from(["allow", "deny", "review"]),
        reason=st.just("r"),
    ),
    st.builds(
        Verdict,
        rule=st.text(min_size=1, max_size=8),
        outcome=st.just("defer"),
        reason=st.just("r"),
        until=INSTANTS,
    ),
)


@given(st.lists(VERDICTS, max_size=12), st.lists(VERDICTS, max_size=12))
def test_deny_always_wins(before, after):
    """Any set of verdicts containing a deny combines to deny, whatever else is there."""
    verdicts = before + [Verdict("x", "deny", "no")] + after
    assert combine(verdicts).outcome == "deny"


@given(st.lists(VERDICTS, max_size=16))
def test_combine_order_and_latest_defer(verdicts):
    """deny > review > defer > allow, and a defer waits until the latest deferral."""
    got = combine(verdicts)
    outcomes = {v.outcome for v in verdicts}
    expected = next((o for o in ("deny", "review", "defer") if o in outcomes), "allow")
    assert got.outcome == expected
    assert got.verdicts == tuple(verdicts)
    if expected == "defer":
        assert got.until == max(v.until for v in verdicts if v.outcome == "defer")
    else:
        assert got.until is None


def test_rule_ids_unique_and_match_verdicts():
    """Every registered rule id is unique, has a family, and its verdicts carry that id."""
    ids = [rid for rid, _ in DEFAULT_RULES]
    assert len(ids) == len(set(ids)) == len(RULE_FAMILIES)
    inp = make_input()
    for rid, fn in DEFAULT_RULES:
        v = fn(inp, PolicyConfig())
        assert v is None or v.rule == rid


@pytest.mark.parametrize(
    "action", ["research", "enrich", "draft", "request_review", "send", "call_task", "wait", "stop"]
)
def test_clean_prospect_allowed(action):
    """A clean, consented prospect in the window is allowed every action."""
    assert PolicyEngine(PolicyConfig()).evaluate(make_input(proposal={"action": action})).outcome == "allow"


def test_disabled_rules_are_skipped():
    """A rule id in disabled_rules is not run."""
    cfg = PolicyConfig(disabled_rules=("send_window",))
    inp = make_input(now="2024-03-09T15:00:00Z")
    assert PolicyEngine(PolicyConfig()).evaluate(inp).outcome == "defer"
    assert PolicyEngine(cfg).evaluate(inp).outcome == "allow"


def test_engine_defer_takes_latest_until():
    """Two defers (window and mailbox cap) combine to the later instant."""
    inp = make_input(now="2024-03-08T22:30:00Z", counters={"mailbox_sent_today": 40})
    decision = PolicyEngine(PolicyConfig()).evaluate(inp)
    assert decision.outcome == "defer"
    assert {v.rule for v in decision.deciding} == {"send_window", "mailbox_daily_cap"}
    assert decision.until == "2024-03-11T12:00:00Z"


def test_explain_lists_every_rule():
    """explain() gives one row per rule, marking the ones that do not apply."""
    engine = PolicyEngine(PolicyConfig())
    rows = explain(engine, make_input(prospect={"country": "DE"}))
    assert [r["rule"] for r in rows] == engine.rule_ids
    by_rule = {r["rule"]: r for r in rows}
    assert by_rule["prior_consent_email"]["outcome"] == "deny"
    assert by_rule["ca_casl"]["outcome"] == NOT_APPLICABLE
    assert by_rule["prior_consent_email"]["family"] == "jurisdiction"
    assert [r["rule"] for r in deciding_rows(rows)] == ["prior_consent_email"]


@pytest.mark.parametrize(
    "data",
    [
        {"frequency": {"min_business_days_between_touches": 0}},
        {"window": {"unknown": 1}},
        {"unknown_timezone": "guess"},
        {"review": {"min_grounding": 1.5}},
        {"jurisdiction": {"unknown_country": "allow"}},
    ],
    ids=["gap-zero", "unknown-key", "guess-zone", "grounding-over-1", "unknown-country-allow"],
)
def test_config_rejects_unsafe_values(data):
    """The policy config refuses unknown keys and values outside the careful range."""
    with pytest.raises(ValidationError):
        PolicyConfig.model_validate(data)


def test_config_reads_demo_style_toml():
    """The [policy.window] section of a workspace still loads as before."""
    cfg = PolicyConfig.model_validate(
        {"window": {"days": ["mon", "tue"], "start": "08:00:00", "end": "18:00:00"}}
    )
    assert cfg.window.end.hour == 18 and cfg.capacity.mailbox_daily_cap == 40
