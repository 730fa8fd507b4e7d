"""Review triggers: sends a human must approve first. Tier-1 accounts, every direct mail,
the first sends of a new template version, weakly grounded or model-written drafts, and
sends that bring a budget or capacity near its cap. A trigger is satisfied by an approved
review of the same draft whose approved fingerprint (subject, body, recipient, channel)
equals the draft's current one (`reviews[step_id]`); a rejected draft is never sent, and a
review asked before the draft existed approves a decision, never a message."""

from __future__ import annotations

from policies.config import PolicyConfig
from policies.observation import Review
from policies.rules.budget import budget_ratios
from policies.rules.capacity import capacity_ratios
from policies.rules.common import MESSAGE_ACTIONS, applies_to, number
from policies.rules.content import grounding_allowed, grounding_score
from policies.types import PolicyInput, Verdict

SEND = frozenset({"send"})


def _review_record(inp: PolicyInput) -> Review | None:
    """The review of this step's current draft. A review of an earlier draft is stale, and
    a review asked before any draft existed (a decision review) never stands for a message."""
    step = inp.proposal.step_id
    record = inp.obs.reviews.get(step) if step else None
    if record is None:
        return None
    if record.kind == "decision":
        return None
    draft_id = record.draft_id
    if draft_id and inp.draft is not None and inp.draft.id and draft_id != inp.draft.id:
        return None
    return record


def draft_fingerprint(inp: PolicyInput) -> str:
    """The fingerprint (subject, body, recipient, channel) of this step's current draft."""
    draft = inp.obs.draft(inp.proposal.step_id)
    return str(draft.fingerprint or "") if draft is not None else ""


def content_matches(record: Review, inp: PolicyInput) -> bool:
    """Whether the approved content is exactly the content that would go out now."""
    approved = str(record.approved_fingerprint or "")
    return bool(approved) and approved == draft_fingerprint(inp)


def approved_by(inp: PolicyInput, cfg: PolicyConfig) -> str | None:
    """Who approved exactly this step's current content, or None when it is not approved
    (or the content changed since the approval)."""
    record = _review_record(inp)
    if record and record.status in cfg.review.approved_statuses and content_matches(record, inp):
        return str(record.decided_by or "a reviewer")
    return None


@applies_to(MESSAGE_ACTIONS)
def review_decision(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """A rejected draft is never sent or re-queued; a pending review holds the send; an
    approval of other content (the text, recipient or channel changed since) is void."""
    if inp.proposal.action not in MESSAGE_ACTIONS:
        return None
    record = _review_record(inp)
    if record is None:
        return None
    status = str(record.status or "")
    who = record.decided_by or "a reviewer"
    if status in cfg.review.rejected_statuses:
        return Verdict("review_decision", "deny", f"{who} rejected this draft; redraft it")
    if status in cfg.review.approved_statuses:
        if not content_matches(record, inp):
            if inp.proposal.action != "send":
                return None
            return Verdict(
                "review_decision",
                "review",
                f"{who} {status} other content: the subject, body, recipient or channel changed "
                "since; the message goes back to review",
            )
        return Verdict("review_decision", "allow", f"{who} {status} exactly this content")
    if inp.proposal.action == "send" and status == "pending":
        return Verdict("review_decision", "review", "a review of this draft is still pending")
    return None


def _trigger(rule: str, inp: PolicyInput, cfg: PolicyConfig, why: str) -> Verdict:
    who = approved_by(inp, cfg)
    if who:
        return Verdict(rule, "allow", f"{why}; approved by {who}")
    return Verdict(rule, "review", f"{why}: a human must approve it before it goes out")


@applies_to(SEND)
def review_tier_1(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """Every send to a tier-1 account is reviewed."""
    if inp.proposal.action != "send" or not cfg.review.tier_1:
        return None
    if inp.prospect.tier != 1:
        return None
    return _trigger("review_tier_1", inp, cfg, "the prospect is at a tier-1 account")


@applies_to(SEND)
def review_direct_mail(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """Every direct-mail send is reviewed (it costs real money and cannot be recalled)."""
    if inp.proposal.action != "send" or inp.channel != "direct_mail" or not cfg.review.direct_mail:
        return None
    return _trigger("review_direct_mail", inp, cfg, "direct mail costs money and cannot be recalled")


@applies_to(SEND)
def review_new_template(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """The first N sends of a new template version are reviewed."""
    n = cfg.review.new_template_sends
    if inp.proposal.action != "send" or inp.draft is None or n == 0:
        return None
    version = inp.draft.template_version or inp.draft.template
    if not version:
        return None
    done = int(number(inp.counters.template_sends.get(version)))
    if done >= n:
        return None
    return _trigger(
        "review_new_template",
        inp,
        cfg,
        f"template version {version} has been sent {done} time(s); the first {n} sends are reviewed",
    )


@applies_to(SEND)
def review_low_grounding(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """A draft whose personal sentences are weakly grounded in evidence is reviewed."""
    if inp.proposal.action != "send" or inp.draft is None:
        return None
    score = grounding_score(inp.draft.sentences, inp.obs.evidence_quotes, grounding_allowed(inp, cfg))
    if score >= cfg.review.min_grounding:
        return None
    return _trigger(
        "review_low_grounding",
        inp,
        cfg,
        f"grounding score {score:.2f} is below {cfg.review.min_grounding:.2f}",
    )


@applies_to(SEND)
def review_model_written(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """A draft the model wrote (not a template) is reviewed."""
    if (
        inp.proposal.action != "send"
        or inp.draft is None
        or not inp.draft.model_written
        or not cfg.review.model_written
    ):
        return None
    return _trigger("review_model_written", inp, cfg, "the draft was written by the model")


@applies_to(SEND)
def review_near_cap(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """A send that brings a budget or a capacity to the near-cap share (90%) is reviewed."""
    ratio = cfg.review.near_cap_ratio
    if inp.proposal.action != "send" or ratio is None:
        return None
    near = [
        (r, what)
        for r, what in capacity_ratios(inp, cfg) + budget_ratios(inp, cfg)
        if ratio <= r <= 1.0 + 1e-9
    ]
    if not near:
        return None
    r, what = max(near)
    return _trigger("review_near_cap", inp, cfg, f"this send brings the {what} to {r:.0%} of its cap")
