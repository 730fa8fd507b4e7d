"""Jurisdiction and consent by the prospect's country: CAN-SPAM (US), GDPR and PECR
(EU/EEA, UK), UWG §7(2) (Germany: prior consent for email), CASL (Canada); an unknown
country is never guessed. Each rule names the law in its reason."""

from __future__ import annotations

from policies.config import PolicyConfig
from policies.observation import Consent
from policies.rules.common import (
    MESSAGE_ACTIONS,
    OUTREACH_ACTIONS,
    applies_to,
    country,
    email_parts,
    says_any,
    squash,
)
from policies.rules.suppression import free_mail_provider
from policies.types import TOUCH_ACTIONS, PolicyInput, Verdict

_CHANNEL_KIND = {
    "email": "email",
    "linkedin": "linkedin_message",
    "direct_mail": "direct_mail",
    "phone": "call",
}


def _consent(inp: PolicyInput) -> Consent:
    return inp.prospect.consent


def _express_consent(inp: PolicyInput) -> bool:
    return inp.prospect.consent.express


def _in_gdpr(inp: PolicyInput, cfg: PolicyConfig) -> str:
    """ "EU/EEA" or "UK" when GDPR applies to the prospect's country, else ""."""
    cc, j = country(inp), cfg.jurisdiction
    if cc in j.uk_countries:
        return "UK"
    if cc in j.eea_countries:
        return "EU/EEA"
    return ""


@applies_to(TOUCH_ACTIONS)
def jurisdiction_known(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """A send to a prospect whose country is unknown goes to a human (or is denied)."""
    if inp.proposal.action not in TOUCH_ACTIONS:
        return None
    cc = country(inp)
    if cc:
        return Verdict("jurisdiction_known", "allow", f"prospect country is {cc}")
    raw = inp.prospect.country or "missing"
    outcome = cfg.jurisdiction.unknown_country
    return Verdict(
        "jurisdiction_known",
        outcome,
        f"the prospect's country ({raw!r}) is unknown, so the laws that govern "
        "contacting them cannot be chosen; set the country on the record",
    )


@applies_to(OUTREACH_ACTIONS)
def us_can_spam(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """US email needs sender identity, a postal address and a working opt-out (CAN-SPAM)."""
    if (
        inp.proposal.action not in OUTREACH_ACTIONS
        or inp.channel != "email"
        or country(inp) not in cfg.jurisdiction.us_countries
    ):
        return None
    sender = inp.sender
    missing = []
    if not (sender.name and sender.email):
        missing.append("the sender's name and from address")
    postal = str(sender.postal_address or "").strip()
    if not postal:
        missing.append("the sender's physical postal address")
    if not (sender.unsubscribe_url or sender.unsubscribe_mailto):
        missing.append("a working opt-out (unsubscribe link or address)")
    if inp.draft is not None and inp.proposal.action in MESSAGE_ACTIONS:
        if postal and squash(postal) not in squash(inp.draft.body):
            missing.append("the postal address printed in the message")
        if not says_any(inp.draft.body, cfg.content.opt_out_phrases):
            missing.append("an opt-out line in the message")
    if missing:
        return Verdict(
            "us_can_spam", "deny", "CAN-SPAM: commercial email to a US recipient needs " + "; ".join(missing)
        )
    return Verdict(
        "us_can_spam", "allow", "CAN-SPAM: sender identity, postal address and opt-out are in place"
    )


@applies_to(OUTREACH_ACTIONS)
def gdpr_lawful_basis(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """EU/EEA/UK outreach needs a recorded lawful basis (legitimate interest or consent)."""
    region = _in_gdpr(inp, cfg)
    if (
        not region
        or inp.proposal.action not in OUTREACH_ACTIONS
        or inp.channel not in cfg.jurisdiction.gdpr_channels
    ):
        return None
    c = _consent(inp)
    basis = c.basis or ""
    if basis in ("legitimate_interest", "consent") and c.recorded_at:
        return Verdict(
            "gdpr_lawful_basis",
            "allow",
            f"{region} GDPR: lawful basis '{basis}' recorded on {c.recorded_at}",
        )
    why = (
        "no lawful basis is recorded"
        if not basis
        else (
            f"basis '{basis}' is not a GDPR basis for marketing"
            if basis not in ("legitimate_interest", "consent")
            else f"basis '{basis}' has no recorded date"
        )
    )
    return Verdict(
        "gdpr_lawful_basis",
        "deny",
        f"{region} GDPR: {why}; record a legitimate-interest assessment or consent "
        f"before contacting a prospect in {country(inp)} by {inp.channel}",
    )


@applies_to(OUTREACH_ACTIONS)
def gdpr_business_address(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """EU/EEA/UK outreach under legitimate interest goes to business addresses only."""
    region = _in_gdpr(inp, cfg)
    if not region or inp.proposal.action not in OUTREACH_ACTIONS:
        return None
    if inp.channel == "email":
        _, domain = email_parts(inp)
        hit = free_mail_provider(domain, cfg)
        if hit:
            return Verdict(
                "gdpr_business_address",
                "deny",
                f"{region} GDPR: {domain} is a private mailbox; legitimate interest "
                "covers business addresses only",
            )
        return Verdict("gdpr_business_address", "allow", f"{region}: business email address")
    if inp.channel == "direct_mail" and cfg.jurisdiction.business_postal_address_required:
        if not inp.prospect.has_postal_address:
            return Verdict(
                "gdpr_business_address", "deny", f"{region}: no postal address on record for direct mail"
            )
        kind = inp.prospect.postal_address_kind or ""
        if kind == "business":
            return Verdict("gdpr_business_address", "allow", f"{region}: business postal address")
        if kind == "home":
            return Verdict(
                "gdpr_business_address",
                "deny",
                f"{region} GDPR: the postal address on record is a home address; "
                "direct mail goes to business addresses only",
            )
        return Verdict(
            "gdpr_business_address",
            "review",
            f"{region} GDPR: it is not known whether the postal address is a "
            "business address; a human must confirm before mailing",
        )
    return None


@applies_to(MESSAGE_ACTIONS)
def gdpr_right_to_object(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """The first message to an EU/EEA/UK prospect states the right to object (GDPR Art. 21)."""
    region = _in_gdpr(inp, cfg)
    kinds = cfg.jurisdiction.right_to_object_kinds
    if (
        not region
        or inp.proposal.action not in MESSAGE_ACTIONS
        or inp.draft is None
        or inp.message_kind not in kinds
    ):
        return None
    earlier = [t for t in inp.touches if (t.kind or _CHANNEL_KIND.get(t.channel, "")) in kinds]
    if earlier:
        return Verdict(
            "gdpr_right_to_object",
            "allow",
            f"{region}: not the first message; the right to object was given before",
        )
    if says_any(inp.draft.body, cfg.jurisdiction.right_to_object_phrases):
        return Verdict(
            "gdpr_right_to_object", "allow", f"{region}: the first message states the right to object"
        )
    return Verdict(
        "gdpr_right_to_object",
        "deny",
        f"{region} GDPR Art. 21: the first message must tell the prospect they can "
        "object to direct marketing (e.g. an opt-out line); this draft does not",
    )


@applies_to(OUTREACH_ACTIONS)
def uk_pecr_sole_trader(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """UK sole traders count as individuals under PECR: marketing email needs consent."""
    if (
        inp.proposal.action not in OUTREACH_ACTIONS
        or inp.channel != "email"
        or country(inp) not in cfg.jurisdiction.sole_trader_consent_countries
    ):
        return None
    if not inp.prospect.is_sole_trader:
        return Verdict(
            "uk_pecr_sole_trader",
            "allow",
            "PECR: a corporate subscriber, exempt from the consent requirement",
        )
    if _express_consent(inp):
        return Verdict("uk_pecr_sole_trader", "allow", "PECR: the sole trader gave recorded consent")
    return Verdict(
        "uk_pecr_sole_trader",
        "deny",
        "PECR: sole traders are treated as individuals and no consent to marketing email is recorded",
    )


@applies_to(OUTREACH_ACTIONS)
def prior_consent_email(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """Germany (UWG §7(2)): no cold email without recorded prior consent, B2B included."""
    j = cfg.jurisdiction
    cc = country(inp)
    if (
        inp.proposal.action not in OUTREACH_ACTIONS
        or cc not in j.prior_consent_countries
        or inp.channel not in j.prior_consent_channels
    ):
        return None
    law = "UWG §7(2)" if cc == "DE" else "local law"
    if _express_consent(inp):
        return Verdict(
            "prior_consent_email",
            "allow",
            f"{cc} ({law}): prior consent recorded on {_consent(inp).recorded_at}",
        )
    return Verdict(
        "prior_consent_email",
        "deny",
        f"{cc} ({law}): no {inp.channel} without prior recorded consent, even B2B; "
        "use another channel or obtain consent first",
    )


@applies_to(OUTREACH_ACTIONS)
def ca_casl(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """Canada (CASL): express consent, or implied consent from a published address without
    a "no solicitation" statement; otherwise no commercial electronic message."""
    j = cfg.jurisdiction
    if (
        inp.proposal.action not in OUTREACH_ACTIONS
        or country(inp) not in j.casl_countries
        or inp.channel not in j.casl_channels
    ):
        return None
    if _express_consent(inp):
        return Verdict("ca_casl", "allow", "CASL: express consent recorded")
    c = _consent(inp)
    if c.published_address and not c.no_solicitation:
        return Verdict(
            "ca_casl",
            "allow",
            "CASL: implied consent (address conspicuously published, no 'no solicitation' statement)",
        )
    why = (
        "the published address says it accepts no solicitation"
        if c.no_solicitation
        else "the address is not known to be conspicuously published"
    )
    return Verdict("ca_casl", "deny", f"CASL: no express consent and no implied consent ({why})")
