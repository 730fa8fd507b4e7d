"""Review family: triggers, approvals of the current draft, rejections, near-cap sends."""

from __future__ import annotations

import pytest

from policies.config import PolicyConfig
from policies.rules import review as r
from tests.policies.factories import Replace, make_input

CFG = PolicyConfig()
APPROVED = {
    "email_intro": {
        "id": "r1",
        "status": "approved",
        "decided_by": "sam",
        "draft_id": "d1",
        "kind": "message",
        "approved_fingerprint": "fp1",
    }
}
STALE = {"email_intro": {**APPROVED["email_intro"], "draft_id": "d0"}}
# The same draft, but its subject, body, recipient or channel changed after the approval.
CHANGED = {"email_intro": {**APPROVED["email_intro"], "approved_fingerprint": "fp0"}}
# An approval given before any draft existed (a decision, not this message).
DECISION = {"email_intro": {**APPROVED["email_intro"], "kind": "decision", "draft_id": ""}}
MAIL = {"channel": "direct_mail", "kind": "direct_mail", "step_id": None, "est_usd": 40.0}


def outcome(fn, **kw):
    v = fn(make_input(**kw), CFG)
    return v.outcome if v else None


@pytest.mark.parametrize(
    "fn, kw, expected",
    [
        (r.review_tier_1, {"prospect": {"tier": 1}}, "review"),
        (r.review_tier_1, {"prospect": {"tier": 1}, "reviews": APPROVED}, "allow"),
        (r.review_tier_1, {"prospect": {"tier": 1}, "reviews": STALE}, "review"),
        (r.review_tier_1, {"prospect": {"tier": 1}, "reviews": CHANGED}, "review"),
        (r.review_tier_1, {"prospect": {"tier": 1}, "reviews": DECISION}, "review"),
        (
            r.review_direct_mail,
            {"proposal": {**MAIL, "step_id": "email_intro"}, "reviews": DECISION},
            "review",
        ),
        (r.review_tier_1, {"prospect": {"tier": 2}}, None),
        (r.review_tier_1, {"prospect": {"tier": 1}, "proposal": {"action": "draft"}}, None),
        (r.review_direct_mail, {"proposal": MAIL}, "review"),
        (r.review_direct_mail, {}, None),
        (r.review_new_template, {"counters": {"template_sends": {"email_intro@v3": 9}}}, "review"),
        (r.review_new_template, {"counters": {"template_sends": {"email_intro@v3": 10}}}, None),
        (r.review_new_template, {"counters": {"template_sends": Replace({})}}, "review"),
        (r.review_model_written, {"drafts": {"email_intro": {"model_written": True}}}, "review"),
        (r.review_model_written, {}, None),
        (
            r.review_low_grounding,
            {
                "drafts": {
                    "email_intro": {
                        "sentences": [
                            {"text": "Saw the Denver news.", "evidence_ids": ["ev1"], "personal": True}
                        ]
                    }
                }
            },
            "review",
        ),
        (r.review_low_grounding, {}, None),
    ],
    ids=[
        "tier1",
        "tier1-approved",
        "tier1-approval-of-older-draft",
        "tier1-approval-of-other-content",
        "tier1-decision-approval-is-not-a-message-approval",
        "direct-mail-decision-approval-is-not-a-message-approval",
        "tier2",
        "tier1-draft-action",
        "direct-mail",
        "email-not-mail",
        "template-9th-send",
        "template-10th-send-done",
        "template-never-sent",
        "model-written",
        "template-written",
        "low-grounding",
        "grounded",
    ],
)
def test_review_triggers(fn, kw, expected):
    """Each trigger sends the draft to a human unless the current draft is already approved."""
    assert outcome(fn, **kw) == expected


@pytest.mark.parametrize(
    "status, action, expected",
    [
        ("approved", "send", "allow"),
        ("edited", "send", "allow"),
        ("rejected", "send", "deny"),
        ("rejected", "request_review", "deny"),
        ("pending", "send", "review"),
        ("pending", "request_review", None),
    ],
    ids=[
        "approved",
        "edited-counts-as-approved",
        "rejected-never-sent",
        "rejected-not-requeued",
        "pending-holds",
        "pending-request-is-fine",
    ],
)
def test_review_decision(status, action, expected):
    """A rejected draft is never sent; a pending review holds the send."""
    reviews = {"email_intro": {**APPROVED["email_intro"], "status": status}}
    assert outcome(r.review_decision, reviews=reviews, proposal={"action": action}) == expected


def test_approval_of_other_content_goes_back_to_review():
    """An approval whose fingerprint differs from the draft's current content holds the send."""
    v = r.review_decision(make_input(reviews=CHANGED), CFG)
    assert v is not None and v.outcome == "review" and "changed" in v.reason


@pytest.mark.parametrize(
    "kw, expected",
    [
        ({"counters": {"mailbox_sent_today": 34}}, None),
        ({"counters": {"mailbox_sent_today": 35}}, "review"),
        ({"counters": {"mailbox_sent_today": 35}, "reviews": APPROVED}, "allow"),
        ({"counters": {"spend": {"month": {"usd": 1340.0}}}, "proposal": {"est_usd": 9.99}}, None),
        ({"counters": {"spend": {"month": {"usd": 1340.0}}}, "proposal": {"est_usd": 10.0}}, "review"),
        ({"counters": {"direct_mail_usd_month": 860.0}, "proposal": MAIL}, "review"),
        (
            {
                "counters": {"linkedin_invites_week": 71},
                "proposal": {"channel": "linkedin", "kind": "linkedin_connect", "step_id": None},
            },
            "review",
        ),
    ],
    ids=[
        "mailbox-35-of-40",
        "mailbox-36-of-40",
        "near-cap-approved",
        "month-budget-just-below-90pct",
        "month-budget-at-90pct",
        "direct-mail-budget",
        "linkedin-invites-72-of-80",
    ],
)
def test_review_near_cap(kw, expected):
    """A send bringing a capacity or budget to >= 90% of its cap goes to review."""
    assert outcome(r.review_near_cap, **kw) == expected
