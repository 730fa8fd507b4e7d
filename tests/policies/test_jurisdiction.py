"""Jurisdiction family: consent and content duties by the prospect's country."""

from __future__ import annotations

import pytest

from policies.config import PolicyConfig
from policies.rules import jurisdiction as j
from tests.policies.factories import BODY, make_input

CFG = PolicyConfig()
NO_BASIS = {"basis": "", "recorded_at": None, "published_address": False, "no_solicitation": False}
LI = {"basis": "legitimate_interest", "recorded_at": "2024-02-01T00:00:00Z"}
CONSENT = {"basis": "consent", "recorded_at": "2024-02-01T00:00:00Z"}
LINKEDIN_MSG = {"channel": "linkedin", "kind": "linkedin_message", "step_id": None}
DIRECT_MAIL = {"channel": "direct_mail", "kind": "direct_mail", "step_id": None}
NO_OBJECTION_BODY = BODY.replace("Not interested? Unsubscribe here: ", "More: ")


def outcome(fn, cfg=CFG, **kw):
    v = fn(make_input(**kw), cfg)
    return v.outcome if v else None


@pytest.mark.parametrize(
    "country, proposal, expected",
    [
        ("US", {}, "allow"),
        ("uk", {}, "allow"),
        ("", {}, "review"),
        ("Germany", {}, "review"),
        ("", {"action": "draft"}, None),
        ("", {"channel": "direct_mail", "kind": "direct_mail"}, "review"),
    ],
    ids=["known", "uk-alias-lowercase", "empty", "not-a-code", "draft-not-checked", "direct-mail-too"],
)
def test_jurisdiction_known(country, proposal, expected):
    """A send to a prospect with no usable ISO country goes to review."""
    assert outcome(j.jurisdiction_known, prospect={"country": country}, proposal=proposal) == expected


def test_unknown_country_can_deny():
    """The unknown-country outcome is configurable to deny."""
    cfg = PolicyConfig(jurisdiction={"unknown_country": "deny"})
    assert outcome(j.jurisdiction_known, cfg, prospect={"country": ""}) == "deny"


@pytest.mark.parametrize(
    "sender, drafts, proposal, expected",
    [
        ({}, {}, {}, "allow"),
        ({"postal_address": ""}, {}, {}, "deny"),
        ({"unsubscribe_url": "", "unsubscribe_mailto": ""}, {}, {}, "deny"),
        ({"name": ""}, {}, {}, "deny"),
        ({}, {"email_intro": {"body": "Hi Dana, quick question. Unsubscribe: reply stop"}}, {}, "deny"),
        ({}, {"email_intro": {"body": NO_OBJECTION_BODY.replace("Not interested?", "")}}, {}, "deny"),
        ({}, {}, LINKEDIN_MSG, None),
        ({"postal_address": ""}, {}, {"action": "draft"}, "deny"),
    ],
    ids=[
        "compliant",
        "no-postal-address",
        "no-opt-out",
        "no-sender-name",
        "address-missing-in-body",
        "opt-out-missing-in-body",
        "linkedin-not-can-spam",
        "checked-at-draft-time",
    ],
)
def test_us_can_spam(sender, drafts, proposal, expected):
    """CAN-SPAM: US email needs sender identity, a postal address and a working opt-out."""
    assert outcome(j.us_can_spam, sender=sender, drafts=drafts, proposal=proposal) == expected


@pytest.mark.parametrize(
    "country, consent, proposal, expected",
    [
        ("FR", LI, {}, "allow"),
        ("FR", NO_BASIS, {}, "deny"),
        ("FR", {"basis": "legitimate_interest", "recorded_at": None}, {}, "deny"),
        ("FR", {"basis": "implied", "recorded_at": "2024-02-01T00:00:00Z"}, {}, "deny"),
        ("NO", NO_BASIS, LINKEDIN_MSG, "deny"),
        ("GB", NO_BASIS, DIRECT_MAIL, "deny"),
        ("GB", CONSENT, {}, "allow"),
        ("US", NO_BASIS, {}, None),
    ],
    ids=[
        "fr-li-recorded",
        "fr-none",
        "fr-li-undated",
        "fr-implied-is-not-gdpr",
        "eea-norway-linkedin",
        "uk-direct-mail",
        "uk-consent",
        "us-not-gdpr",
    ],
)
def test_gdpr_lawful_basis(country, consent, proposal, expected):
    """EU/EEA/UK outreach on any channel needs a recorded legitimate interest or consent."""
    got = outcome(j.gdpr_lawful_basis, prospect={"country": country, "consent": consent}, proposal=proposal)
    assert got == expected


@pytest.mark.parametrize(
    "country, prospect, proposal, expected",
    [
        ("IE", {"email": "dana@gmail.com"}, {}, "deny"),
        ("IE", {}, {}, "allow"),
        ("DE", {"postal_address_kind": "home"}, DIRECT_MAIL, "deny"),
        ("DE", {"postal_address_kind": "business"}, DIRECT_MAIL, "allow"),
        ("DE", {"postal_address_kind": ""}, DIRECT_MAIL, "review"),
        ("DE", {"has_postal_address": False}, DIRECT_MAIL, "deny"),
        ("US", {"postal_address_kind": "home"}, DIRECT_MAIL, None),
        ("GB", {}, LINKEDIN_MSG, None),
    ],
    ids=[
        "ie-gmail",
        "ie-business",
        "de-mail-home",
        "de-mail-business",
        "de-mail-unknown",
        "de-mail-no-address",
        "us-home-mail-ok",
        "linkedin-not-address-based",
    ],
)
def test_gdpr_business_address(country, prospect, proposal, expected):
    """Legitimate interest covers business addresses only; US direct mail differs."""
    got = outcome(j.gdpr_business_address, prospect={"country": country, **prospect}, proposal=proposal)
    assert got == expected


FIRST_EMAIL = [
    {
        "step_id": "linkedin_connect",
        "channel": "linkedin",
        "kind": "linkedin_connect",
        "at": "2024-03-01T15:00:00Z",
    }
]
EARLIER_EMAIL = [
    {"step_id": "email_intro", "channel": "email", "kind": "email", "at": "2024-03-01T15:00:00Z"}
]


@pytest.mark.parametrize(
    "country, body, touches, expected",
    [
        ("FR", BODY, [], "allow"),
        ("FR", NO_OBJECTION_BODY, [], "deny"),
        ("GB", NO_OBJECTION_BODY, FIRST_EMAIL, "deny"),
        ("FR", NO_OBJECTION_BODY, EARLIER_EMAIL, "allow"),
        ("DE", "Sie können der Werbung jederzeit widersprechen.", [], "allow"),
        ("US", NO_OBJECTION_BODY, [], None),
    ],
    ids=[
        "stated",
        "missing-first-message",
        "connect-does-not-count",
        "follow-up",
        "german-phrase",
        "not-gdpr",
    ],
)
def test_gdpr_right_to_object(country, body, touches, expected):
    """GDPR Art. 21: the first message states the right to object."""
    got = outcome(
        j.gdpr_right_to_object,
        prospect={"country": country},
        drafts={"email_intro": {"body": body}},
        touches=touches,
    )
    assert got == expected


@pytest.mark.parametrize(
    "sole, consent, proposal, expected",
    [
        (True, LI, {}, "deny"),
        (True, CONSENT, {}, "allow"),
        (False, LI, {}, "allow"),
        (True, LI, LINKEDIN_MSG, None),
    ],
    ids=["sole-trader-li", "sole-trader-consent", "corporate", "linkedin-out-of-scope"],
)
def test_uk_pecr_sole_trader(sole, consent, proposal, expected):
    """PECR: UK sole traders are individuals and need consent for marketing email."""
    got = outcome(
        j.uk_pecr_sole_trader,
        proposal=proposal,
        prospect={"country": "GB", "is_sole_trader": sole, "consent": consent},
    )
    assert got == expected


@pytest.mark.parametrize(
    "country, consent, proposal, expected",
    [
        ("DE", LI, {}, "deny"),
        ("DE", LI, {"action": "draft"}, "deny"),
        ("DE", CONSENT, {}, "allow"),
        ("DE", {"basis": "consent", "recorded_at": None}, {}, "deny"),
        ("DE", LI, LINKEDIN_MSG, None),
        ("AT", LI, {}, None),
    ],
    ids=[
        "de-cold-email",
        "de-draft-saves-effort",
        "de-consent",
        "de-consent-unrecorded",
        "de-linkedin-not-covered",
        "other-eea",
    ],
)
def test_prior_consent_email(country, consent, proposal, expected):
    """Germany (UWG §7(2)): no cold email without recorded prior consent, B2B included."""
    got = outcome(j.prior_consent_email, proposal=proposal, prospect={"country": country, "consent": consent})
    assert got == expected


@pytest.mark.parametrize(
    "consent, proposal, expected",
    [
        ({"basis": "implied", "published_address": True, "no_solicitation": False}, {}, "allow"),
        ({"basis": "", "published_address": True, "no_solicitation": True}, {}, "deny"),
        ({"basis": "", "published_address": False, "no_solicitation": False}, {}, "deny"),
        ({**CONSENT, "published_address": False, "no_solicitation": True}, {}, "allow"),
        ({"basis": "", "published_address": False}, LINKEDIN_MSG, "deny"),
        ({"basis": "", "published_address": False}, DIRECT_MAIL, None),
    ],
    ids=[
        "implied-published",
        "no-solicitation",
        "not-published",
        "express",
        "linkedin-is-a-cem",
        "direct-mail-not-casl",
    ],
)
def test_ca_casl(consent, proposal, expected):
    """CASL: implied consent only for a published address without 'no solicitation'."""
    got = outcome(j.ca_casl, proposal=proposal, prospect={"country": "CA", "consent": consent})
    assert got == expected
