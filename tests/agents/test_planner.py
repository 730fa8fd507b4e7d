"""The playbook planner, table-driven: one observation per row, the action it must propose."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from agents.planner import plan
from core.workspace import load_workspace
from tests.conftest import DEMO

WS = load_workspace(DEMO)
PB, POL = WS.config.playbook, WS.config.policy
NOW = "2026-11-23T15:00:00Z"  # Monday


def obs(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "now": NOW,
        "prospect": {
            "id": "p1",
            "email": "a@acme.example",
            "email_status": "unknown",
            "linkedin_url": "https://www.linkedin.com/in/a",
            "tier": 2,
            "timezone": "America/New_York",
            "status": "active",
            "full_name": "Ann A",
        },
        "company": {"id": "c1", "name": "Acme", "domain": "acme.example", "research_status": "done"},
        "enrichment": {"attempted": False},
        "touches": [],
        "events": {},
        "drafts": {},
        "reviews": {},
        "costs": {"research_credits": 1, "enrichment_credits": 2},
    }
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return copy.deepcopy(base)


DRAFT = {"id": "d1", "template_version": "t@1", "status": "draft", "fingerprint": "fp1"}
APPROVED = {"status": "approved", "kind": "message", "draft_id": "d1", "approved_fingerprint": "fp1"}
SENT_INTRO = [{"step_id": "email_intro", "channel": "email", "at": "2026-11-23T14:00:00Z"}]
DENY_SUPP = {
    "proposal": {"action": "send", "step_id": "email_intro"},
    "decision": {
        "outcome": "deny",
        "verdicts": [{"rule": "suppression", "outcome": "deny", "reason": "unsubscribed"}],
    },
}
DENY_CHANNEL = {
    "proposal": {"action": "draft", "step_id": "email_intro"},
    "decision": {
        "outcome": "deny",
        "verdicts": [{"rule": "prior_consent_email", "outcome": "deny", "reason": "DE"}],
    },
}
DEFER = {
    "proposal": {"action": "send", "step_id": "email_intro"},
    "decision": {
        "outcome": "defer",
        "until": "2026-11-24T13:00:00Z",
        "verdicts": [
            {"rule": "send_window", "outcome": "defer", "reason": "night", "until": "2026-11-24T13:00:00Z"}
        ],
    },
}

CASES = [
    ("research_first", obs(company={"research_status": "pending"}), [], ("research", None)),
    ("enrich_without_email", obs(prospect={"email": "", "linkedin_url": ""}), [], ("enrich", None)),
    (
        "no_channel_after_enrichment",
        obs(prospect={"email": "", "linkedin_url": ""}, enrichment={"attempted": True}),
        [],
        ("stop", None),
    ),
    ("draft_email_intro", obs(), [], ("draft", "email_intro")),
    ("send_when_drafted", obs(drafts={"email_intro": DRAFT}), [], ("send", "email_intro")),
    (
        "linkedin_when_no_email",
        obs(prospect={"email": ""}, enrichment={"attempted": True}),
        [],
        ("draft", "linkedin_connect"),
    ),
    (
        "tier1_needs_review",
        obs(prospect={"tier": 1}, drafts={"email_intro": DRAFT}),
        [],
        ("request_review", "email_intro"),
    ),
    (
        "tier1_approved_sends",
        obs(
            prospect={"tier": 1},
            drafts={"email_intro": DRAFT},
            reviews={"email_intro": APPROVED},
        ),
        [],
        ("send", "email_intro"),
    ),
    (
        "tier1_approved_other_content_reviews_again",
        obs(
            prospect={"tier": 1},
            drafts={"email_intro": DRAFT},
            reviews={"email_intro": {**APPROVED, "approved_fingerprint": "fp0"}},
        ),
        [],
        ("request_review", "email_intro"),
    ),
    (
        "decision_approval_is_not_a_message_approval",
        obs(
            prospect={"tier": 1},
            drafts={"email_intro": DRAFT},
            decision_reviews={"email_intro": {"draft": {"status": "approved", "kind": "decision"}}},
        ),
        [],
        ("request_review", "email_intro"),
    ),
    (
        "rejected_step_escalates",
        obs(reviews={"email_intro": {"status": "rejected"}}),
        [],
        ("draft", "linkedin_escalation"),
    ),
    (
        "waits_for_acceptance",
        obs(
            prospect={"email": ""},
            enrichment={"attempted": True},
            touches=[{"step_id": "linkedin_connect", "channel": "linkedin", "at": "2026-11-20T15:00:00Z"}],
        ),
        [],
        ("wait", None),
    ),
    ("followup_waits_three_days", obs(touches=SENT_INTRO), [], ("wait", "email_followup")),
    (
        "followup_due_after_three_days",
        # Thursday 26 November is US Thanksgiving (the zone's country): due on Friday.
        obs(now="2026-11-27T15:00:00Z", touches=SENT_INTRO),
        [],
        ("draft", "email_followup"),
    ),
    ("reply_stops", obs(events={"replied_at": "2026-11-22T10:00:00Z"}), [], ("stop", None)),
    ("suppression_denial_stops", obs(drafts={"email_intro": DRAFT}), [DENY_SUPP], ("stop", None)),
    ("channel_denial_moves_on", obs(), [DENY_CHANNEL], ("draft", "linkedin_escalation")),
    ("defer_waits_until", obs(drafts={"email_intro": DRAFT}), [DEFER], ("wait", None)),
    ("stopped_stays_stopped", obs(prospect={"status": "stopped"}), [], ("stop", None)),
]


@pytest.mark.parametrize("observation,denials,expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_planner_table(observation: dict, denials: list, expected: tuple) -> None:
    """Each observation leads to exactly the expected action (and step)."""
    result = plan(observation, PB, POL, denials)
    action, step = expected
    assert result.proposal.action == action, result.rationale
    if step is not None:
        assert result.proposal.step_id == step
    assert result.rationale


def test_defer_wait_carries_exact_instant() -> None:
    """A deferral becomes a wait until the instant the guard named."""
    result = plan(obs(drafts={"email_intro": DRAFT}), PB, POL, [DEFER])
    assert result.proposal.until == "2026-11-24T13:00:00Z"


def test_followup_due_at_local_window_opening() -> None:
    """The follow-up waits 3 business days from the last touch, to the window opening in
    the prospect's own zone (08:00 New York = 13:00 UTC in November); Thursday 26
    November is US Thanksgiving, a no-send day, so Friday."""
    result = plan(obs(touches=SENT_INTRO), PB, POL, [])
    assert result.proposal.until == "2026-11-27T13:00:00Z"


def test_planner_is_deterministic() -> None:
    """The same inputs always give the same proposal (replay depends on it)."""
    o = obs(drafts={"email_intro": DRAFT})
    assert plan(o, PB, POL, []).proposal == plan(copy.deepcopy(o), PB, POL, []).proposal


ENGAGED_TIER1 = dict(
    prospect={"tier": 1, "has_postal_address": True},
    events={"opened_at": "2026-11-30T15:00:00Z"},
    reviews={s: APPROVED for s in ("email_intro", "email_followup", "linkedin_escalation")},
    touches=[
        {"step_id": s, "channel": c, "at": "2026-11-30T14:00:00Z"}
        for s, c in (
            ("email_intro", "email"),
            ("email_followup", "email"),
            ("linkedin_escalation", "linkedin"),
        )
    ],
    now="2026-12-03T15:00:00Z",
)


def test_engaged_tier1_escalates_to_reviewed_direct_mail() -> None:
    """A tier-1 prospect who opened but did not reply gets a direct-mail draft, and the
    drafted direct mail always goes to a human first."""
    first = plan(obs(**ENGAGED_TIER1), PB, POL, [])
    assert (first.proposal.action, first.proposal.step_id) == ("draft", "direct_mail_tier1")
    drafted = obs(**ENGAGED_TIER1, drafts={"direct_mail_tier1": DRAFT})
    drafted["reviews"].pop("direct_mail_tier1", None)
    second = plan(drafted, PB, POL, [])
    assert (second.proposal.action, second.proposal.channel) == ("request_review", "direct_mail")


def test_no_direct_mail_without_engagement() -> None:
    """Without an open, the tier-1 prospect is not sent direct mail."""
    quiet = obs(**{**ENGAGED_TIER1, "events": {}})
    result = plan(quiet, PB, POL, [])
    assert result.proposal.step_id != "direct_mail_tier1"


def _cap_denial(rule: str, action: str = "draft") -> dict:
    return {
        "proposal": {"action": action, "step_id": "email_intro", "channel": "email"},
        "decision": {"outcome": "deny", "verdicts": [{"rule": rule, "outcome": "deny", "reason": "capped"}]},
    }


@pytest.mark.parametrize(
    "rule,until",
    [
        ("budget_run", "2026-11-24T13:00:00Z"),  # the next run: next business day, 08:00 New York
        ("budget_prospect", "2026-11-24T13:00:00Z"),
        ("kill_switch", "2026-11-24T13:00:00Z"),
        ("workspace_mode", "2026-11-24T13:00:00Z"),
        ("step_cap", "2026-11-24T13:00:00Z"),
        ("budget_month", "2026-12-01T08:00:00Z"),  # 1 December 00:00 in the sender's zone (Los Angeles)
    ],
)
def test_cap_denial_pauses_never_stops(rule: str, until: str) -> None:
    """A deny from a cap or budget on a draft pauses the prospect until the cap can allow
    it (run budget: next run; month: next month) and never ends the sequence, even when no
    other playbook step applies."""
    o = obs(prospect={"linkedin_url": ""}, sender={"timezone": "America/Los_Angeles"})
    result = plan(o, PB, POL, [_cap_denial(rule)])
    assert result.proposal.action == "wait", result.rationale
    assert result.proposal.until == until
    assert rule in result.proposal.reason


@pytest.mark.parametrize(
    "rule",
    ["mailbox_daily_cap", "linkedin_weekly_invites", "linkedin_weekly_messages", "direct_mail_monthly"],
)
def test_capacity_deferral_pauses_never_stops(rule: str) -> None:
    """A capacity cap defers a send: the prospect waits until the instant the rule named."""
    deferral = {
        "proposal": {"action": "send", "step_id": "email_intro"},
        "decision": {
            "outcome": "defer",
            "until": "2026-11-24T16:00:00Z",
            "verdicts": [
                {"rule": rule, "outcome": "defer", "reason": "cap", "until": "2026-11-24T16:00:00Z"}
            ],
        },
    }
    result = plan(obs(drafts={"email_intro": DRAFT}), PB, POL, [deferral])
    assert (result.proposal.action, result.proposal.until) == ("wait", "2026-11-24T16:00:00Z")


def test_stop_rule_denial_still_stops() -> None:
    """Only rules that mean "never contact" end the sequence, even next to a cap denial."""
    both = _cap_denial("budget_run")
    both["decision"]["verdicts"].append({"rule": "suppression", "outcome": "deny", "reason": "competitor"})
    assert plan(obs(), PB, POL, [both]).proposal.action == "stop"


@pytest.mark.parametrize(
    "events",
    [
        {"replied_at": "2026-11-22T10:00:00Z", "reply_kind": "unsubscribe"},
        {"unsubscribed_at": "2026-11-22T10:00:00Z"},
    ],
)
def test_unsubscribe_is_named_as_the_stop_reason(events: dict) -> None:
    """An unsubscribe (as a reply or as an event) stops with "unsubscribed", not "replied"."""
    result = plan(obs(events=events), PB, POL, [])
    assert result.proposal.action == "stop"
    assert "unsubscribed" in result.proposal.reason and "replied" not in result.proposal.reason
