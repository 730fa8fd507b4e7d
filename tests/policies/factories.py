"""Factories for policy tests: a default observation of a clean, sendable US prospect
(every rule allows a send of its first email), and `make_input(**overrides)` that
deep-merges overrides into it and builds the PolicyInput."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from policies.types import PolicyInput, Proposal

BODY = (
    "Hi Dana,\n\n"
    "Saw that Acme Corp opened a Boston office in January.\n"
    "Ledgerly helps finance teams close the books in days, not weeks.\n"
    "Worth a short call next week?\n\n"
    "Maya Lindqvist, Ledgerly Inc.\n"
    "Ledgerly Inc., 548 Market St #41200, San Francisco, CA 94104, USA\n"
    "Not interested? Unsubscribe here: https://ledgerly.example/unsubscribe"
)


def default_observation() -> dict[str, Any]:
    """A Tuesday 10:00 New York time, a clean prospect, a valid first email draft."""
    return {
        "now": "2024-03-05T15:00:00Z",
        "workspace": "demo",
        "mode": "send",
        "kill_switch": False,
        "sender": {
            "name": "Maya Lindqvist",
            "email": "maya@ledgerly.example",
            "company": "Ledgerly Inc.",
            "postal_address": "Ledgerly Inc., 548 Market St #41200, San Francisco, CA 94104, USA",
            "unsubscribe_url": "https://ledgerly.example/unsubscribe",
            "unsubscribe_mailto": "unsubscribe@ledgerly.example",
            "timezone": "UTC",
        },
        "prospect": {
            "id": "p1",
            "first_name": "Dana",
            "last_name": "Reyes",
            "full_name": "Dana Reyes",
            "email": "dana@acme.com",
            "email_status": "valid",
            "email_domain": "acme.com",
            "linkedin_url": "https://www.linkedin.com/in/danareyes",
            "title": "VP Finance",
            "country": "US",
            "timezone": "America/New_York",
            "tier": 2,
            "owner": "sam",
            "status": "active",
            "is_sole_trader": False,
            "consent": {
                "basis": "legitimate_interest",
                "recorded_at": "2024-02-01T00:00:00Z",
                "published_address": True,
                "no_solicitation": False,
            },
            "has_postal_address": True,
            "postal_address_kind": "business",
            "open_opportunity": False,
            "do_not_contact": False,
        },
        "company": {
            "id": "c1",
            "name": "Acme Corp",
            "domain": "acme.com",
            "researched": True,
            "evidence_count": 1,
        },
        "suppressions": [],
        "touches": [],
        "events": {
            "replied_at": None,
            "reply_kind": None,
            "account_replied_at": None,
            "bounced_at": None,
            "opened_at": None,
            "connection_accepted_at": None,
            "unsubscribed_at": None,
            "complained_at": None,
        },
        "drafts": {
            "email_intro": {
                "id": "d1",
                "channel": "email",
                "kind": "email",
                "subject": "Closing faster at Acme",
                "body": BODY,
                "sentences": [
                    {
                        "text": "Saw that Acme Corp opened a Boston office in January.",
                        "evidence_ids": ["ev1"],
                        "personal": True,
                    }
                ],
                "template": "email_intro",
                "template_version": "email_intro@v3",
                "model_written": False,
                "links": ["https://ledgerly.example/unsubscribe"],
                "headers": {
                    "List-Unsubscribe": "<https://ledgerly.example/u/abc>, "
                    "<mailto:unsubscribe@ledgerly.example>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                },
                "recipient": "dana@acme.com",
                "fingerprint": "fp1",
            },
        },
        "evidence": {
            "ev1": {
                "quote": "Acme Corp opened its new Boston office in January 2024.",
                "url": "https://acme.com/news",
                "kind": "news",
            }
        },
        "counters": {
            "account_contacts_touched_week": 0,
            "account_touches": {},
            "mailbox_sent_today": 5,
            "mailbox_first_send_date": "2024-01-01",
            "linkedin_invites_week": 10,
            "linkedin_messages_week": 10,
            "direct_mail_sends_month": 1,
            "direct_mail_usd_month": 40.0,
            "template_sends": {"email_intro@v3": 100},
            "spend": {
                "run": {"credits": 0, "llm_usd": 0.0, "usd": 0.0},
                "month": {"credits": 100, "llm_usd": 10.0, "usd": 200.0},
                "prospect": {"credits": 2, "llm_usd": 0.05, "usd": 0.2},
            },
        },
        "reviews": {},
    }


DEFAULT_PROPOSAL: dict[str, Any] = {
    "action": "send",
    "reason": "next playbook step",
    "channel": "email",
    "kind": "email",
    "step_id": "email_intro",
    "template": "email_intro",
}


class Replace:
    """Wrap an override to replace a mapping instead of merging into it."""

    def __init__(self, value: Any):
        self.value = value


def merge(base: Any, override: Any) -> Any:
    """Deep-merge mappings; any other value (lists included) or a `Replace` replaces the
    base value."""
    if isinstance(override, Replace):
        return copy.deepcopy(override.value)
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        out = dict(base)
        for key, value in override.items():
            out[key] = merge(base.get(key), value) if key in base else copy.deepcopy(value)
        return out
    return copy.deepcopy(override)


def make_observation(**overrides: Any) -> dict[str, Any]:
    return merge(default_observation(), overrides)


def make_input(
    *, proposal: Mapping[str, Any] | None = None, steps_this_run: int = 0, **overrides: Any
) -> PolicyInput:
    """PolicyInput from the default observation deep-merged with `overrides`; `proposal`
    entries replace fields of the default proposal (send of the first email)."""
    obs = make_observation(**overrides)
    prop = Proposal.from_dict({**DEFAULT_PROPOSAL, **(proposal or {})})
    return PolicyInput.from_observation(obs, prop, steps_this_run=steps_this_run)
