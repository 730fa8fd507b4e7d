"""Builds the observation: everything the planner and the policies may look at for one
prospect at one instant, as plain JSON. It is recorded with each decision, so replay
feeds the planner and rules exactly what they saw."""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from core.canonical import digest
from core.timeutil import iso, local_instant, to_utc, zone
from core.workspace import Workspace
from policies.rules.common import week_start
from state import repo
from state.models import Prospect, Review
from state.models_reviews import ReviewBinding
from tools.channels.email_mime import list_unsubscribe
from tools.crm.facts import apply_crm_facts
from tools.normalize import COMPANY_SUFFIXES, email_domain

REPLY_TYPES = ("replied", "linkedin_replied")


def build_observation(session: Session, ws: Workspace, prospect: Prospect, now: datetime) -> dict[str, Any]:
    wid = ws.id
    company = session.get(repo.Company, prospect.company_id) if prospect.company_id else None
    domain = company.domain if company else email_domain(prospect.email_norm)
    outbox = repo.outbox_for(session, workspace=wid, prospect_id=prospect.id)
    events = repo.events_for(session, workspace=wid, prospect_id=prospect.id)
    drafts = repo.drafts_for(session, workspace=wid, prospect_id=prospect.id)
    reviews = repo.reviews_for(session, workspace=wid, prospect_id=prospect.id)
    attrs = prospect.attributes or {}
    obs: dict[str, Any] = {
        "now": iso(now),
        "workspace": wid,
        "mode": ws.config.mode,
        "kill_switch": ws.kill_switch,
        "prospect": {
            "id": prospect.id,
            "first_name": prospect.first_name,
            "last_name": prospect.last_name,
            "full_name": prospect.full_name,
            "email": prospect.email_norm,
            "email_status": prospect.email_status,
            "email_domain": email_domain(prospect.email_norm),
            "linkedin_url": prospect.linkedin_url,
            "title": prospect.title,
            "country": prospect.country,
            "timezone": prospect.timezone,
            "tier": prospect.tier,
            "owner": prospect.owner,
            "status": prospect.status,
            "stop_reason": prospect.stop_reason,
            "has_postal_address": bool(postal_address_of(attrs)),
            "is_sole_trader": str(attrs.get("sole_trader", "")).lower() in ("1", "true", "yes"),
            "open_opportunity": str(attrs.get("open_opportunity", "")).lower() in ("1", "true", "yes"),
            "consent": consent_of(ws, attrs),
        },
        "company": (
            {
                "id": company.id,
                "name": company.name,
                "short_name": short_name(company.name),
                "domain": company.domain,
                "research_status": company.research_status,
                "researched": company.research_status == "done",
            }
            if company
            else {}
        ),
        "enrichment": {"attempted": bool(prospect.enrichment_status), "status": prospect.enrichment_status},
        "suppressions": repo.suppression_hits(
            session, workspace=wid, email=prospect.email_norm, domain=domain
        ),
        "touches": [
            {
                "step_id": o.step_id,
                "channel": o.channel,
                "kind": o.kind,
                "at": iso(o.sent_at),
                "template": o.payload.get("template_version", ""),
            }
            for o in outbox
            if o.status == "sent" and o.sent_at is not None
        ],
        "pending_sends": [
            {"step_id": o.step_id, "channel": o.channel, "status": o.status}
            for o in outbox
            if o.status in ("pending", "sending")
        ],
        "events": _events(events),
        "drafts": {
            d.step_id: draft_facts(ws, prospect, d, outbox) for d in drafts if d.status not in ("rejected",)
        },
        **review_facts(session, reviews),
        "sender": {
            "name": ws.config.sender.name,
            "email": ws.config.sender.email,
            "company": ws.config.sender.company,
            "postal_address": ws.config.sender.postal_address,
            "unsubscribe_url": ws.config.sender.unsubscribe_url,
            "unsubscribe_mailto": ws.config.sender.unsubscribe_mailto,
            "timezone": ws.config.sender.timezone,
        },
        "costs": {
            "credit_usd": ws.config.costs.credit_usd,
            "research_credits": ws.config.costs.research_credits,
            "enrichment_credits": ws.config.costs.enrichment_credits,
            "llm_draft_usd": ws.config.llm.est_draft_usd if ws.config.providers.drafting == "claude" else 0.0,
        },
    }
    obs["events"]["account_replied_at"] = iso(
        repo.account_replied_at(
            session,
            workspace=wid,
            company_id=prospect.company_id,
            exclude=prospect.id,
            ignore_kinds=ws.config.policy.frequency.pause_reply_kinds,
        )
    )
    cited = sorted(
        {i for d in obs["drafts"].values() for sen in d["sentences"] for i in sen.get("evidence_ids", [])}
    )
    obs["evidence"] = {
        e.id: {"quote": e.quote, "url": e.source_url, "kind": e.kind}
        for e in repo.evidence_by_ids(session, workspace=wid, ids=cited)
    }
    obs["counters"] = usage_counters(session, ws, prospect, drafts, now)
    from agents.scoring import score_of  # the score the run ranked this prospect by

    obs["score"] = score_of(session, wid, prospect.id)
    apply_crm_facts(session, ws, prospect, obs, now)  # CRM customer / deals / opt-outs (docs/crm.md)
    return obs


def usage_counters(
    session: Session, ws: Workspace, prospect: Prospect, drafts: Any, now: datetime
) -> dict[str, Any]:
    """Usage the capacity, frequency and budget rules compare with their caps. Days,
    weeks (from Monday) and months are the sender's, in the sender's time zone."""
    wid = ws.id
    stz = zone(ws.config.sender.timezone) or ZoneInfo("UTC")
    day, week, month = day_start(now, stz), week_start(now, stz), month_start(now, stz)
    sends = repo.sends_by_period(session, workspace=wid, day=day, week=week, month=month)

    def count(channel: str, period: int, kind: str | None = None) -> int:
        return sum(v[period] for (c, k), v in sends.items() if c == channel and kind in (None, k))

    first_send = ws.config.sender.mailbox_warm_since or iso(
        repo.first_sent_at(session, workspace=wid, channel="email")
    )
    mail_month = count("direct_mail", 2)
    spend = repo.spend_by_period(session, workspace=wid, run_since=now, month=month)
    return {
        "template_sends": repo.template_sends(
            session, workspace=wid, versions={d.template_version for d in drafts}
        ),
        "account_contacts_touched_week": repo.account_contacts_touched(
            session, workspace=wid, company_id=prospect.company_id, since=week
        ),
        "mailbox_sent_today": count("email", 0),
        "mailbox_first_send_date": (first_send or "")[:10] or None,
        "linkedin_invites_week": count("linkedin", 1, "linkedin_connect"),
        "linkedin_messages_week": count("linkedin", 1, "linkedin_message"),
        "direct_mail_sends_month": mail_month,
        "direct_mail_usd_month": (
            repo.direct_mail_usd(session, workspace=wid, since=month) if mail_month else 0.0
        ),
        "spend": {
            "run": _spend(spend["run"]),
            "month": _spend(spend["month"]),
            "prospect": _spend(repo.spend_for_prospect(session, workspace=wid, prospect_id=prospect.id)),
        },
    }


def _spend(raw: dict[str, float]) -> dict[str, float]:
    return {"credits": raw["credits"], "llm_usd": raw.get("llm_usd", 0.0), "usd": raw["usd"]}


def day_start(now: datetime, tz: Any) -> datetime:
    return local_instant(to_utc(now).astimezone(tz).date(), time(0), tz)


def month_start(now: datetime, tz: Any) -> datetime:
    return local_instant(to_utc(now).astimezone(tz).date().replace(day=1), time(0), tz)


def postal_address_of(attrs: dict[str, Any]) -> str:
    """The prospect's postal address from the import (column "postal_address" or "Postal Address")."""
    return str(attrs.get("postal_address") or attrs.get("Postal Address") or "").strip()


def short_name(name: str) -> str:
    """'Acme Robotics, Inc.' -> 'Acme Robotics' (how people write it in a sentence)."""
    words = name.replace(",", " ").split()
    while len(words) > 1 and words[-1].strip(".").lower() in COMPANY_SUFFIXES:
        words.pop()
    return " ".join(words)


def consent_of(ws: Workspace, attrs: dict[str, Any]) -> dict[str, Any]:
    """The prospect's recorded basis (import columns consent_basis / consent_recorded_at),
    else the workspace's legitimate-interest assessment."""
    truthy = lambda k: str(attrs.get(k, "")).lower() in ("1", "true", "yes")  # noqa: E731
    basis = str(attrs.get("consent_basis", "")).strip().lower()
    recorded = str(attrs.get("consent_recorded_at", "")).strip() or None
    lia = ws.config.compliance.legitimate_interest_assessed_at
    if not basis and lia:
        basis, recorded = "legitimate_interest", lia
    return {
        "basis": basis,
        "recorded_at": recorded,
        "published_address": truthy("published_address"),
        "no_solicitation": truthy("no_solicitation"),
    }


def draft_facts(ws: Workspace, prospect: Prospect, d: Any, outbox: Any) -> dict[str, Any]:
    """The draft as it would go out: text, citations, the headers the channel adds, links
    and the recipient on record."""
    step = next((s for s in ws.config.playbook.steps if s.id == d.step_id), None)
    headers: dict[str, str] = {}
    if d.channel == "email":
        s = ws.config.sender
        headers["List-Unsubscribe"] = list_unsubscribe(s.unsubscribe_url, s.unsubscribe_mailto)
        if s.unsubscribe_url.startswith("https://"):
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        parent = step.follow_up_of if step else ""
        if parent and any(o.step_id == parent and o.status == "sent" for o in outbox):
            headers["In-Reply-To"] = headers["References"] = f"<{parent}>"
    recipient = recipient_of(prospect, d.channel)
    return {
        "id": d.id,
        "channel": d.channel,
        "kind": d.kind,
        "subject": d.subject,
        "body": d.body,
        "sentences": d.sentences,
        "template": d.template,
        "template_version": d.template_version,
        "status": d.status,
        "model_written": bool(getattr(d, "model_written", False)),
        "headers": headers,
        "links": re.findall(r"https?://[^\s<>\")]+", d.body),
        "recipient": recipient,
        "fingerprint": content_fingerprint(
            subject=d.subject,
            body=d.body,
            recipient=recipient_identity(prospect, d.channel),
            channel=d.channel,
        ),
    }


def recipient_of(prospect: Prospect, channel: str) -> str:
    """Who a draft on `channel` is addressed to, from the record: the email address, the
    LinkedIn profile, or for direct mail and call tasks the prospect id (the postal
    identity - name and postal address - is looked up by it when the mail goes out)."""
    if channel == "email":
        return prospect.email_norm
    if channel == "linkedin":
        return prospect.linkedin_url
    return prospect.id


def recipient_identity(prospect: Prospect, channel: str) -> str:
    """Everything that decides where a message lands, for its fingerprint: for direct mail
    the name and postal address on record, for a call the phone number."""
    if channel == "direct_mail":
        return f"{prospect.id}|{prospect.full_name}|{postal_address_of(prospect.attributes or {})}"
    if channel == "phone":
        return f"{prospect.id}|{prospect.phone}"
    return recipient_of(prospect, channel)


def content_fingerprint(*, subject: str, body: str, recipient: str, channel: str) -> str:
    """sha256 of exactly what goes out: an approval holds for this content only."""
    return digest({"subject": subject or "", "body": body or "", "recipient": recipient, "channel": channel})


def review_facts(session: Session, reviews: Any) -> dict[str, Any]:
    """`reviews`: per step, the latest review of a draft (a message review); an approval
    counts only while `approved_fingerprint` equals the draft's current fingerprint.
    `decision_reviews`: per step ("" for none) and action, reviews asked before any draft
    existed; they approve that decision, never a message."""
    rows = list(reviews)
    bindings = (
        {
            b.review_id: b
            for b in session.exec(
                select(ReviewBinding).where(col(ReviewBinding.review_id).in_([r.id for r in rows]))
            )
        }
        if rows
        else {}
    )
    messages: dict[str, dict[str, Any]] = {}
    decisions: dict[str, dict[str, dict[str, Any]]] = {}
    for r in sorted(rows, key=lambda r: (to_utc(r.requested_at), r.status == "pending")):
        b = bindings.get(r.id)
        kind = (
            b.kind if b is not None else ("message" if r.draft_id and ":" not in r.draft_id else "decision")
        )
        fact = review_fact(r, b, kind)
        if kind == "message":
            messages[r.step_id] = fact
        else:
            decisions.setdefault(r.step_id or "", {})[fact["action"]] = fact
    return {"reviews": messages, "decision_reviews": decisions}


def review_fact(r: Review, b: ReviewBinding | None, kind: str) -> dict[str, Any]:
    return {
        "id": r.id,
        "status": r.status,
        "decided_by": r.decided_by,
        "draft_id": r.draft_id,
        "kind": kind,
        "action": (b.action if b is not None else "") or ("send" if kind == "message" else ""),
        "fingerprint": b.fingerprint if b is not None else "",
        "approved_fingerprint": b.approved_fingerprint if b is not None else "",
    }


def _events(rows: list[Any] | Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "replied_at": None,
        "reply_kind": None,
        "bounced_at": None,
        "opened_at": None,
        "connection_accepted_at": None,
        "unsubscribed_at": None,
    }
    key = {
        "bounced": "bounced_at",
        "opened": "opened_at",
        "clicked": "opened_at",
        "connection_accepted": "connection_accepted_at",
        "unsubscribed": "unsubscribed_at",
    }
    out["ooo_until"] = None
    for e in rows:
        at = iso(to_utc(e.occurred_at))
        raw = e.raw or {}
        if e.type in REPLY_TYPES and raw.get("reply_kind") in ("out_of_office", "auto_reply"):
            out["ooo_until"] = raw.get("pause_until") or out["ooo_until"]
        elif e.type in REPLY_TYPES and out["replied_at"] is None:
            out["replied_at"] = at
            out["reply_kind"] = raw.get("reply_kind")
        elif e.type in key and out[key[e.type]] is None:
            out[key[e.type]] = at
    return out
