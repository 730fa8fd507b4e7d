"""The guard composes verdicts: an approval satisfies review verdicts only, and only for
the exact content (or decision) it approved; denies and defers still hold after it."""

from __future__ import annotations

from agents.nodes.guard import evaluate
from policies.config import PolicyConfig
from policies.engine import PolicyEngine
from tests.policies.factories import make_observation

ENGINE = PolicyEngine(PolicyConfig())
SEND = {"action": "send", "reason": "due", "channel": "email", "kind": "email", "step_id": "email_intro"}
APPROVED = {
    "id": "r1",
    "status": "approved",
    "decided_by": "U1",
    "draft_id": "d1",
    "kind": "message",
    "approved_fingerprint": "fp1",
}
NIGHT = "2024-03-05T07:10:00Z"  # 02:10 in New York


def _verdict(decision: dict, rule: str) -> str:
    return next(v["outcome"] for v in decision["verdicts"] if v["rule"] == rule)


def test_approved_tier1_send_still_waits_for_the_window() -> None:
    """An approved tier-1 send at 02:10 New York time is deferred to the window, not sent."""
    obs = make_observation(now=NIGHT, prospect={"tier": 1}, reviews={"email_intro": APPROVED})
    decision = evaluate(ENGINE, obs, SEND, 1)
    assert decision["outcome"] == "defer"
    assert decision["until"] == "2024-03-05T13:00:00Z"


def test_approval_does_not_drop_a_defer_next_to_an_unsatisfied_review() -> None:
    """A review verdict from another rule (unknown country) next to a window defer: the
    approval satisfies the review, and the send still waits for its window."""
    obs = make_observation(now=NIGHT, prospect={"tier": 1, "country": ""}, reviews={"email_intro": APPROVED})
    assert _verdict(evaluate(ENGINE, obs, SEND, 1), "jurisdiction_known") == "review"
    decision = evaluate(ENGINE, obs, SEND, 1)
    assert decision["outcome"] == "defer"
    assert decision["review_satisfied_by"] == "U1"


def test_unknown_zone_send_is_held_after_approval() -> None:
    """A prospect with an unknown time zone is not emailed at once after an approval."""
    obs = make_observation(
        prospect={"tier": 1, "timezone": "", "country": ""}, reviews={"email_intro": APPROVED}
    )
    assert evaluate(ENGINE, obs, SEND, 1)["outcome"] == "defer"


def test_approval_never_lifts_a_deny() -> None:
    """A deny (here a suppression hit) still denies an approved send."""
    obs = make_observation(
        prospect={"tier": 1, "country": ""},
        reviews={"email_intro": APPROVED},
        suppressions=[{"reason": "competitor", "match": "domain", "value": "acme.com"}],
    )
    assert evaluate(ENGINE, obs, SEND, 1)["outcome"] == "deny"


def test_approval_inside_the_window_allows() -> None:
    """Inside the window, an approval of exactly this content lets the send go."""
    obs = make_observation(prospect={"tier": 1, "country": ""}, reviews={"email_intro": APPROVED})
    assert evaluate(ENGINE, obs, SEND, 1)["outcome"] == "allow"


def test_approval_of_other_content_goes_back_to_review() -> None:
    """When the content changed since the approval (other fingerprint), the send is reviewed."""
    changed = {**APPROVED, "approved_fingerprint": "fp0"}
    obs = make_observation(prospect={"tier": 1, "country": ""}, reviews={"email_intro": changed})
    assert evaluate(ENGINE, obs, SEND, 1)["outcome"] == "review"


def test_decision_approval_does_not_approve_the_message() -> None:
    """An approval given before any draft existed approves that decision (drafting), not
    the later send of the message."""
    decision_review = {"status": "approved", "decided_by": "U1", "kind": "decision", "id": "r0"}
    obs = make_observation(
        prospect={"tier": 1, "country": ""},
        decision_reviews={"email_intro": {"draft": decision_review}},
        reviews={"email_intro": {**decision_review, "draft_id": ""}},
    )
    assert evaluate(ENGINE, obs, SEND, 1)["outcome"] == "review"
    draft = {
        "action": "draft",
        "reason": "due",
        "channel": "email",
        "kind": "email",
        "step_id": "email_intro",
    }
    assert evaluate(ENGINE, obs, draft, 1)["outcome"] == "allow"
