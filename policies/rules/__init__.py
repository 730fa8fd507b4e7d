"""The rule catalogue. DEFAULT_RULES is the ordered list every workspace runs, minus
`policy.disabled_rules`. One module per family; docs/policies.md describes each rule,
its defaults and the public rule or practice behind them. RULE_FAMILIES maps each rule
id to its family."""

from __future__ import annotations

from policies.rules import (
    budget,
    capacity,
    content,
    crm,
    frequency,
    jurisdiction,
    review,
    safety,
    suppression,
    timing,
)

_FAMILIES = {
    "safety": [
        ("kill_switch", safety.kill_switch),
        ("workspace_mode", safety.workspace_mode),
        ("step_cap", safety.step_cap),
    ],
    "suppression": [
        ("suppression", suppression.suppression),
        ("unsubscribed", suppression.unsubscribed),
        ("complained", suppression.complained),
        ("bounced", suppression.bounced),
        ("do_not_contact", suppression.do_not_contact),
        ("customer_or_competitor", suppression.customer_or_competitor),
        ("open_opportunity", suppression.open_opportunity),
        ("personal_mailbox", suppression.personal_mailbox),
        ("role_account", suppression.role_account),
        ("crm_reachable", crm.crm_reachable),
    ],
    "jurisdiction": [
        ("jurisdiction_known", jurisdiction.jurisdiction_known),
        ("us_can_spam", jurisdiction.us_can_spam),
        ("gdpr_lawful_basis", jurisdiction.gdpr_lawful_basis),
        ("gdpr_business_address", jurisdiction.gdpr_business_address),
        ("gdpr_right_to_object", jurisdiction.gdpr_right_to_object),
        ("uk_pecr_sole_trader", jurisdiction.uk_pecr_sole_trader),
        ("prior_consent_email", jurisdiction.prior_consent_email),
        ("ca_casl", jurisdiction.ca_casl),
    ],
    "frequency": [
        ("stop_after_reply", frequency.stop_after_reply),
        ("reply_cooldown", frequency.reply_cooldown),
        ("one_touch_per_day", frequency.one_touch_per_day),
        ("max_touches_per_sequence", frequency.max_touches_per_sequence),
        ("account_weekly_contacts", frequency.account_weekly_contacts),
        ("account_pause", frequency.account_pause),
    ],
    "timing": [("send_window", timing.send_window)],
    "capacity": [
        ("mailbox_daily_cap", capacity.mailbox_daily_cap),
        ("linkedin_weekly_invites", capacity.linkedin_weekly_invites),
        ("linkedin_weekly_messages", capacity.linkedin_weekly_messages),
        ("direct_mail_monthly", capacity.direct_mail_monthly),
    ],
    "budget": [
        ("budget_run", budget.budget_run),
        ("budget_month", budget.budget_month),
        ("budget_prospect", budget.budget_prospect),
    ],
    "content": [
        ("draft_present", content.draft_present),
        ("content_opt_out", content.content_opt_out),
        ("content_list_unsubscribe", content.content_list_unsubscribe),
        ("content_honest_subject", content.content_honest_subject),
        ("content_banned_phrases", content.content_banned_phrases),
        ("content_grounding", content.content_grounding),
        ("content_placeholders", content.content_placeholders),
        ("content_length", content.content_length),
        ("content_links", content.content_links),
        ("content_recipient", content.content_recipient),
    ],
    "review": [
        ("review_decision", review.review_decision),
        ("review_tier_1", review.review_tier_1),
        ("review_direct_mail", review.review_direct_mail),
        ("review_new_template", review.review_new_template),
        ("review_low_grounding", review.review_low_grounding),
        ("review_model_written", review.review_model_written),
        ("review_near_cap", review.review_near_cap),
    ],
}

DEFAULT_RULES = [pair for rules in _FAMILIES.values() for pair in rules]
RULE_FAMILIES: dict[str, str] = {rid: family for family, rules in _FAMILIES.items() for rid, _ in rules}
