"""Read-only data for the web pages: a prospect's story, a run, the prospect list, and the
web actions written to the decision log. Plain dicts for the templates."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, or_, select

from core.timeutil import iso, to_utc
from state import decision_log, repo
from state.db import session_scope
from state.models import Company, DecisionRecord, Draft, Evidence, Prospect

SAFE_SCHEMES = ("https://", "http://")
PAGE = 50


def safe_url(url: str) -> str:
    """A link target only when it is http(s): evidence URLs come from the web and imports."""
    return url if url.lower().startswith(SAFE_SCHEMES) else ""


def _name(p: Prospect) -> str:
    return p.full_name or " ".join(x for x in (p.first_name, p.last_name) if x) or p.email or p.id


def decision_row(body: dict[str, Any]) -> dict[str, Any]:
    tool = body.get("tool") or {}
    return {
        "seq": body.get("seq"),
        "at": body.get("at", ""),
        "run_id": body.get("run_id", ""),
        "node": body.get("node", ""),
        "action": body.get("action", ""),
        "final_action": body.get("final_action", ""),
        "outcome": body.get("outcome", ""),
        "rationale": body.get("rationale", ""),
        "proposal_reason": (body.get("proposal") or {}).get("reason", ""),
        "verdicts": [v for v in body.get("verdicts", []) if v.get("outcome") != "allow"],
        "allowed": sum(1 for v in body.get("verdicts", []) if v.get("outcome") == "allow"),
        "tool": tool.get("name", ""),
        "experiment": (tool.get("input") or {}).get("experiment"),
        "cost": body.get("cost") or {},
        "actor": body.get("actor", ""),
        "error": body.get("error"),
        "prospect_id": body.get("prospect_id", ""),
    }


def prospect_page(engine: Engine, ws_id: str, ref: str) -> dict[str, Any] | None:
    with Session(engine) as session:
        p = repo.get_prospect(session, workspace=ws_id, ref=ref)
        if p is None:
            return None
        c = session.get(Company, p.company_id) if p.company_id else None
        drafts = {d.id: d for d in repo.drafts_for(session, workspace=ws_id, prospect_id=p.id)}
        messages = []
        for m in repo.outbox_for(session, workspace=ws_id, prospect_id=p.id):
            d = drafts.get(m.draft_id) or session.get(Draft, m.draft_id)
            messages.append(
                {
                    "step": m.step_id,
                    "channel": m.channel,
                    "kind": m.kind,
                    "status": m.status,
                    "sent_at": iso(to_utc(m.sent_at)) if m.sent_at else "",
                    "provider": m.provider,
                    "provider_message_id": m.provider_message_id,
                    "subject": d.subject if d else "",
                    "body": d.body if d else "",
                    "template_version": (m.payload or {}).get("template_version", ""),
                    "error": m.error,
                }
            )
        cited = {i for d in drafts.values() for st in d.sentences for i in st.get("evidence_ids", [])}
        evidence = [
            {
                "id": e.id,
                "kind": e.kind,
                "quote": e.quote,
                "url": e.source_url,
                "href": safe_url(e.source_url),
                "suspicious": bool((e.data or {}).get("suspicious")),
            }
            for e in repo.evidence_for(session, workspace=ws_id, company_id=p.company_id, prospect_id=p.id)
        ]
        evidence.sort(key=lambda e: (e["id"] not in cited, e["kind"], e["id"]))
        events = [
            {
                "type": e.type,
                "channel": e.channel,
                "at": iso(to_utc(e.occurred_at)),
                "text": e.text,
                "reply_kind": (e.raw or {}).get("reply_kind", ""),
                "provider": e.provider,
            }
            for e in repo.events_for(session, workspace=ws_id, prospect_id=p.id)
        ]
        reviews = [
            {
                "id": r.id,
                "status": r.status,
                "step": r.step_id,
                "decided_by": r.decided_by,
                "note": r.note,
                "requested_at": iso(to_utc(r.requested_at)),
            }
            for r in repo.reviews_for(session, workspace=ws_id, prospect_id=p.id)
        ]
        timeline = [
            decision_row(decision_log.load_body(r))
            for r in repo.decisions_for(session, workspace=ws_id, prospect_id=p.id)
        ]
        draft_rows = [
            {
                "id": d.id,
                "step": d.step_id,
                "status": d.status,
                "subject": d.subject,
                "template_version": d.template_version,
                "sentences": d.sentences,
            }
            for d in drafts.values()
        ]
        attrs = p.attributes or {}
        return {
            "id": p.id,
            "name": _name(p),
            "email": p.email,
            "title": p.title,
            "linkedin": safe_url(p.linkedin_url),
            "company": c.name if c else "",
            "domain": c.domain if c else "",
            "country": p.country,
            "timezone": p.timezone,
            "tier": p.tier,
            "owner": p.owner,
            "status": p.status,
            "stop_reason": p.stop_reason,
            "next_action": p.next_action,
            "next_action_at": iso(to_utc(p.next_action_at)) if p.next_action_at else "",
            "score": score_of(attrs),
            "messages": messages,
            "evidence": evidence,
            "cited": cited,
            "events": events,
            "reviews": reviews,
            "drafts": draft_rows,
            "timeline": timeline,
        }


def score_of(attributes: dict[str, Any]) -> dict[str, Any] | None:
    """The prospect's score and its breakdown when scoring has stored one (else None)."""
    score = attributes.get("score")
    if score is None:
        return None
    breakdown = attributes.get("score_breakdown") or {}
    return {"total": score, "parts": breakdown if isinstance(breakdown, dict) else {}}


def prospects_page(
    engine: Engine, ws_id: str, *, q: str = "", status: str = "", page: int = 1
) -> dict[str, Any]:
    with Session(engine) as session:
        stmt = select(Prospect).where(Prospect.workspace == ws_id)
        if status:
            stmt = stmt.where(Prospect.status == status)
        if q:
            like = f"%{q.strip().lower()}%"
            stmt = stmt.where(
                or_(
                    col(Prospect.full_name).ilike(like),
                    col(Prospect.email_norm).like(like),
                    col(Prospect.title).ilike(like),
                )
            )
        rows = session.exec(
            stmt.order_by(Prospect.full_name, Prospect.id).offset((page - 1) * PAGE).limit(PAGE + 1)
        ).all()
        companies = repo.companies_by_id(
            session, workspace=ws_id, ids={p.company_id for p in rows if p.company_id}
        )
        out = [
            {
                "id": p.id,
                "name": _name(p),
                "title": p.title,
                "company": companies[p.company_id].name if p.company_id in companies else "",
                "status": p.status,
                "next_action": p.next_action,
                "tier": p.tier,
            }
            for p in rows[:PAGE]
        ]
    return {"rows": out, "page": page, "more": len(rows) > PAGE, "q": q, "status": status}


def run_page(engine: Engine, ws_id: str, run_id: str, *, limit: int = 2000) -> dict[str, Any] | None:
    with Session(engine) as session:
        run = repo.get_run(session, workspace=ws_id, run_id=run_id)
        records = session.exec(
            select(DecisionRecord)
            .where(DecisionRecord.workspace == ws_id, DecisionRecord.run_id == run_id)
            .order_by(col(DecisionRecord.seq))
            .limit(limit + 1)
        ).all()
        if run is None and not records:
            return None
        ids = {r.prospect_id for r in records if r.prospect_id}
        names = {
            p.id: _name(p)
            for p in session.exec(
                select(Prospect).where(Prospect.workspace == ws_id, col(Prospect.id).in_(ids))
            )
        }
        rows = [decision_row(decision_log.load_body(r)) for r in records[:limit]]
    by_prospect: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_prospect.setdefault(row["prospect_id"], []).append(row)
    return {
        "id": run_id,
        "kind": run.kind if run else "",
        "now": iso(to_utc(run.now)) if run else "",
        "status": run.status if run else "",
        "summary": run.summary if run else {},
        "groups": [
            {"prospect_id": pid, "name": names.get(pid, pid or "(workspace)"), "rows": rs}
            for pid, rs in by_prospect.items()
        ],
        "truncated": len(records) > limit,
        "decisions": len(rows),
    }


def evidence_map(engine: Engine, ws_id: str, ids: list[str]) -> dict[str, dict[str, str]]:
    with Session(engine) as session:
        return {
            e.id: {"quote": e.quote, "url": e.source_url, "href": safe_url(e.source_url)}
            for e in session.exec(
                select(Evidence).where(Evidence.workspace == ws_id, col(Evidence.id).in_(ids))
            )
        }


def log_web_action(
    engine: Engine,
    ws_id: str,
    *,
    actor: str,
    action: str,
    at: datetime,
    prospect_id: str = "",
    rationale: str = "",
    outcome: str = "done",
    detail: dict[str, Any] | None = None,
    run_id: str = "web",
) -> None:
    """One decision record for a web action, with its actor (hash-chained like every other)."""
    with session_scope(engine) as session:
        decision_log.append(
            session,
            ws_id,
            [
                {
                    "at": at,
                    "run_id": run_id,
                    "prospect_id": prospect_id,
                    "thread_id": "",
                    "node": "web",
                    "action": action,
                    "final_action": action,
                    "outcome": outcome,
                    "actor": actor,
                    "rationale": rationale,
                    "verdicts": [],
                    "tool": {"name": "web", "input": json.loads(json.dumps(detail or {}, default=str))},
                    "cost": {"credits": 0.0, "tokens": 0, "usd": 0.0},
                }
            ],
        )
