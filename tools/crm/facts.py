"""CRM facts as guardrail inputs. Before the policies look at a prospect, the CRM's view of
the person (lifecycle stage, open deals, unsubscribed and do-not-contact flags) is read,
cached per email for `[crm] facts_ttl_minutes` in `crm_facts`, and folded into the
observation the existing rules read:

- lifecycle stage `customer` and the CRM's unsubscribe flag become suppression hits (the
  `suppression` rule denies, citing the CRM);
- the do-not-contact flag sets `prospect.do_not_contact` (the `do_not_contact` rule);
- an open deal sets `prospect.open_opportunity` (the `open_opportunity` rule);
- a CRM that cannot be reached sets `crm.status = "unavailable"`: the `crm_reachable` rule
  defers the send (transient), so nothing goes out unchecked.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from core.timeutil import iso, to_utc
from core.workspace import Workspace
from state.models import Prospect
from state.models_crm import CrmFacts
from tools.crm.base import Crm, CrmError

ACTIVE_STATUSES = ("active", "waiting", "awaiting_review")


def read_facts(session: Session, ws: Workspace, crm: Crm, email: str, now: datetime) -> dict[str, Any]:
    """The CRM facts of `email` (from the cache when younger than the TTL), with `status`
    `ok` or `unavailable` (never cached). The cache is read and written in a session of its
    own on the same database, so the caller's transaction (and its snapshot) is left alone."""
    ttl = timedelta(minutes=ws.config.crm.facts_ttl_minutes)
    with Session(session.get_bind()) as own:
        row = own.get(CrmFacts, (ws.id, crm.name, email))
        if row is not None and ttl and to_utc(now) - to_utc(row.fetched_at) < ttl:
            return {**row.facts, "status": "ok", "fetched_at": iso(row.fetched_at), "cached": True}
        try:
            facts = crm.facts(email).to_dict()
        except CrmError as err:
            return {"status": "unavailable", "cause": err.cause, "message": str(err)}
        if row is None:
            row = CrmFacts(workspace=ws.id, provider=crm.name, email=email, facts=facts, fetched_at=now)
        row.facts, row.fetched_at = facts, now
        own.add(row)
        own.commit()
    return {**facts, "status": "ok", "fetched_at": iso(now), "cached": False}


def apply_crm_facts(
    session: Session,
    ws: Workspace,
    prospect: Prospect,
    obs: dict[str, Any],
    now: datetime,
    crm: Crm | None = None,
) -> None:
    """Fold the CRM facts into the observation (see the module docstring); a no-op when no
    CRM is configured, facts are off, or the prospect has no email or is not active."""
    cfg = ws.config.crm
    if cfg.provider == "none" or not cfg.facts_before_send or not prospect.email_norm:
        return
    if prospect.status not in ACTIVE_STATUSES:
        return
    if crm is None:
        from tools.crm.factory import crm_for

        try:
            crm = crm_for(ws, for_guard=True)
        except Exception as exc:  # a missing token is a configuration error: wait, never send unchecked
            obs["crm"] = {"status": "unavailable", "cause": "auth", "message": str(exc)}
            return
        if crm is None:
            return
    facts = read_facts(session, ws, crm, prospect.email_norm, now)
    obs["crm"] = facts
    if facts["status"] != "ok":
        return
    email = prospect.email_norm
    if str(facts.get("lifecycle_stage", "")).lower() == "customer":
        obs["suppressions"].append(
            {"reason": f"{crm.name} lifecycle stage customer", "match": "crm", "value": email}
        )
    if facts.get("unsubscribed"):
        obs["suppressions"].append({"reason": f"unsubscribed in {crm.name}", "match": "crm", "value": email})
    if facts.get("do_not_contact"):
        obs["prospect"]["do_not_contact"] = True
    if int(facts.get("open_deals") or 0) > 0:
        obs["prospect"]["open_opportunity"] = True
