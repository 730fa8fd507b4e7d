"""CRM reachability: when a CRM is configured for pre-send checks and could not be read,
the outreach waits (a transient condition) instead of going out unchecked."""

from __future__ import annotations

from datetime import timedelta

from core.timeutil import iso, to_utc
from policies.config import PolicyConfig
from policies.rules.common import OUTREACH_ACTIONS, applies_to
from policies.types import PolicyInput, Verdict

RETRY_MINUTES = 30


@applies_to(OUTREACH_ACTIONS)
def crm_reachable(inp: PolicyInput, cfg: PolicyConfig) -> Verdict | None:
    """Outreach waits while the CRM's facts (customer, open deals, opt-outs) cannot be read.
    The ``crm`` section is free-form: the connector's answer (status, message)."""
    if inp.proposal.action not in OUTREACH_ACTIONS:
        return None
    crm = inp.fact("crm")
    if not crm:
        return None
    if crm.get("status") != "ok":
        until = iso(to_utc(inp.now) + timedelta(minutes=RETRY_MINUTES))
        why = crm.get("message") or "no answer"
        return Verdict(
            "crm_reachable",
            "defer",
            f"the CRM could not be read ({why}); retry after {RETRY_MINUTES} min",
            until=until,
        )
    return Verdict("crm_reachable", "allow", "CRM facts read")
