"""What `act` does for each allowed action. Every function writes its decision record in
the same transaction as its effect on the database, and is safe to run again after a
crash (cached lookups, drafts keyed by step, outbox rows keyed by idempotency key)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from agents import allocation, batching
from agents.context import AgentContext
from agents.delivery import deliver
from agents.experiments import choose_template
from agents.observation import postal_address_of
from agents.records import append, record
from agents.scoring import annotate_signals
from agents.state import ProspectState
from core import faults
from core.errors import BudgetExceeded, InputError, NotFound, OutboundError
from core.timeutil import iso, parse_instant
from state import repo
from state.db import session_scope
from state.ledger import caps_from, record_cost, release, reserve
from state.models import Company, Draft, Evidence, LookupCache, OutboxMessage, Prospect
from tools.channels.base import OutboundMessage, Recipient
from tools.enrichment.providers import Person
from tools.enrichment.waterfall import Waterfall


def idempotency_key(workspace: str, prospect_id: str, step_id: str, channel: str) -> str:
    return hashlib.sha256(f"{workspace}|{prospect_id}|{step_id}|{channel}".encode()).hexdigest()


def _now(state: ProspectState) -> datetime:
    return parse_instant(state["now"])


def _prospect(session: Session, state: ProspectState) -> Prospect:
    p = session.get(Prospect, state["prospect_id"])
    if p is None:
        raise InputError(f"prospect {state['prospect_id']} is no longer in the database")
    return p


def _company(session: Session, company_id: str) -> Company:
    c = session.get(Company, company_id)
    if c is None:
        raise InputError(f"company {company_id} is no longer in the database")
    return c


def _record_paid_lookup(
    session: Session,
    ctx: AgentContext,
    state: ProspectState,
    *,
    kind: str,
    provider: str,
    key: str,
    status: str,
    result: dict[str, Any],
    credits: float,
    usd: float,
    now: datetime,
) -> None:
    """A paid lookup, once: its cached result (so it is never paid again, misses included)
    and its row in the cost ledger (keyed by provider and lookup key)."""
    session.add(
        LookupCache(
            workspace=ctx.ws_id,
            provider=provider,
            key=key,
            status=status,
            result=result,
            credits=credits,
            usd=usd,
            created_at=now,
        )
    )
    record_cost(
        session,
        workspace=ctx.ws_id,
        key=f"{provider}:{key}",
        at=now,
        kind=kind,
        provider=provider,
        credits=credits,
        usd=usd,
        run_id=state["run_id"],
        prospect_id=state["prospect_id"],
        detail={"status": status, "key": key},
    )


def research(state: ProspectState, ctx: AgentContext) -> dict[str, Any]:
    """Research the company once; later prospects at the same company reuse the evidence."""
    company_id = state["observation"]["company"]["id"]
    with Session(ctx.engine) as session:
        company = _company(session, company_id)
        cached = repo.cached_lookup(
            session, workspace=ctx.ws_id, provider=f"research:{ctx.researcher.name}", key=company.domain
        )
    tool = {"name": f"research:{ctx.researcher.name}", "input": {"domain": company.domain}}
    if cached is not None:
        return _finish_research(
            state,
            ctx,
            company_id,
            cached.status,
            [],
            0.0,
            {**tool, "result": {"cache": "hit", "status": cached.status}},
        )
    ledger_key = f"{tool['name']}:{company.domain}"
    try:
        _reserve(
            ctx,
            state,
            key=ledger_key,
            kind="research",
            provider=f"research:{ctx.researcher.name}",
            credits=ctx.workspace.config.costs.research_credits,
        )
    except BudgetExceeded as exc:
        return _budget_wait(state, ctx, "research", tool, exc)
    batched = batching.research_via_batch(
        ctx, state, step_id=state["plan"]["proposal"].get("step_id") or "research", domain=company.domain
    )
    if batched.waiting is not None:  # the daily run's batch answers it; the credits stay held
        return batched.waiting
    try:
        extra = {"scope": llm_scope(state), **batched.kwargs} if ctx.researcher.name == "claude" else {}
        result = ctx.researcher.research(company.domain, **extra)
    except NotFound as exc:
        return _finish_research(
            state,
            ctx,
            company_id,
            "not_found",
            [],
            ctx.workspace.config.costs.research_credits,
            {**tool, "result": {"status": "not_found", **batched.info}},
            error=exc,
        )
    except OutboundError:
        with session_scope(ctx.engine) as session:
            release(session, workspace=ctx.ws_id, key=ledger_key)
        raise
    items = [e.to_dict() for e in result.evidence]
    return _finish_research(
        state,
        ctx,
        company_id,
        "found",
        items,
        result.credits,
        {
            **tool,
            "result": {
                "status": "found",
                "pages": list(result.pages),
                "evidence_ids": [e["id"] for e in items],
                # Untrusted page text that was flagged (never used in drafts), per flag.
                "flags": [
                    {"evidence_id": e["id"], "url": e["url"], "rule": f["rule"], "reason": f["reason"]}
                    for e in items
                    for f in e["data"].get("flags", ())
                ],
                **({"skipped": [list(x) for x in result.skipped]} if result.skipped else {}),
                **batched.info,  # answered by a batch, or its fallback to a synchronous call
            },
        },
    )


def _finish_research(
    state: ProspectState,
    ctx: AgentContext,
    company_id: str,
    status: str,
    items: list[dict[str, Any]],
    credits: float,
    tool: dict[str, Any],
    error: OutboundError | None = None,
) -> dict[str, Any]:
    now = _now(state)
    usd = credits * ctx.workspace.config.costs.credit_usd
    try:
        with session_scope(ctx.engine) as session:
            company = _company(session, company_id)
            if tool["result"].get("cache") != "hit":
                _record_paid_lookup(
                    session,
                    ctx,
                    state,
                    kind="research",
                    provider=tool["name"],
                    key=company.domain,
                    status=status,
                    result={"evidence": len(items)},
                    credits=credits,
                    usd=usd,
                    now=now,
                )
            known = set(
                session.exec(
                    select(Evidence.id).where(
                        Evidence.workspace == ctx.ws_id,
                        col(Evidence.id).in_([i["id"] for i in items] or [""]),
                    )
                ).all()
            )
            for item in items:
                if item["id"] not in known:
                    session.add(
                        Evidence(
                            id=item["id"],
                            workspace=ctx.ws_id,
                            company_id=company_id,
                            kind=item["kind"],
                            source_url=item["url"],
                            quote=item["quote"],
                            data=item["data"],
                            collected_at=now,
                        )
                    )
            company.research_status = "done" if status == "found" else "not_found"
            company.researched_at = now
            company.research_error = error.message if error else ""
            session.add(company)
            append(
                session,
                ctx.ws_id,
                record(
                    state,
                    node="act",
                    action="research",
                    final_action="research",
                    tool=tool,
                    cost={
                        "credits": credits if tool["result"].get("cache") != "hit" else 0.0,
                        "usd": usd if tool["result"].get("cache") != "hit" else 0.0,
                    },
                    error=error.to_dict() if error else None,
                ),
            )
    except IntegrityError:
        # Another worker researched this company at the same moment: use its result.
        return research(state, ctx)
    return {}


def _reserve(
    ctx: AgentContext, state: ProspectState, *, key: str, kind: str, provider: str, credits: float
) -> None:
    """Hold the estimate against the run, month and prospect caps before a paid call."""
    now = _now(state)
    caps = caps_from(
        ctx.workspace.config.policy.budget, now=now, run_id=state["run_id"], prospect_id=state["prospect_id"]
    )
    with session_scope(ctx.engine) as session:
        reserve(
            session,
            workspace=ctx.ws_id,
            key=key,
            at=now,
            kind=kind,
            provider=provider,
            credits=credits,
            usd=credits * ctx.workspace.config.costs.credit_usd,
            caps=caps,
            run_id=state["run_id"],
            prospect_id=state["prospect_id"],
        )


def _budget_wait(
    state: ProspectState, ctx: AgentContext, action: str, tool: dict[str, Any], exc: BudgetExceeded
) -> dict[str, Any]:
    """A cap is spent (another worker may have reserved the last of it): the paid call is not
    made, the decision says so, and the prospect stays due for the next run."""
    with session_scope(ctx.engine) as session:
        append(
            session,
            ctx.ws_id,
            record(
                state,
                node="act",
                action=action,
                final_action="defer",
                tool={**tool, "result": {"status": "budget"}},
                error=exc.to_dict(),
            ),
        )
    return {"outcome": {"kind": "wait", "until": None, "reason": f"budget: {exc.message}"}}


def enrich(state: ProspectState, ctx: AgentContext) -> dict[str, Any]:
    """Look the contact up once; hit or miss is cached, so it is never paid twice."""
    if isinstance(ctx.enricher, Waterfall):
        return _enrich_waterfall(state, ctx, ctx.enricher)
    obs = state["observation"]
    p, domain = obs["prospect"], obs["company"].get("domain", "")
    key = ctx.enricher.lookup_key(p["first_name"], p["last_name"], domain)
    provider = f"enrichment:{ctx.enricher.name}"
    tool: dict[str, Any] = {"name": provider, "input": {"key": key}}
    with Session(ctx.engine) as session:
        cached = repo.cached_lookup(session, workspace=ctx.ws_id, provider=provider, key=key)
    error: OutboundError | None = None
    credits = 0.0
    if cached is not None:
        status, found = cached.status, dict(cached.result)
        tool["result"] = {"cache": "hit", "status": status}
    else:
        try:
            _reserve(
                ctx,
                state,
                key=f"{provider}:{key}",
                kind="enrichment",
                provider=provider,
                credits=ctx.workspace.config.costs.enrichment_credits,
            )
        except BudgetExceeded as exc:
            return _budget_wait(state, ctx, "enrich", tool, exc)
        try:
            res = ctx.enricher.enrich(p["first_name"], p["last_name"], domain)
            status, credits = "found", res.credits
            found = {"email": res.email, "linkedin_url": res.linkedin_url, "phone": res.phone}
        except NotFound as exc:
            status, found, error = "not_found", {}, exc
            credits = ctx.workspace.config.costs.enrichment_credits
        tool["result"] = {"status": status, "fields": sorted(k for k, v in found.items() if v)}
    usd = credits * ctx.workspace.config.costs.credit_usd
    now = _now(state)
    with session_scope(ctx.engine) as session:
        if cached is None:
            _record_paid_lookup(
                session,
                ctx,
                state,
                kind="enrichment",
                provider=provider,
                key=key,
                status=status,
                result=found,
                credits=credits,
                usd=usd,
                now=now,
            )
        prospect = _prospect(session, state)
        prospect.enrichment_status = status
        if found.get("email") and not prospect.email_norm:
            prospect.email = prospect.email_norm = found["email"]
            prospect.email_status = "valid"
        if found.get("linkedin_url") and not prospect.linkedin_url:
            prospect.linkedin_url = found["linkedin_url"]
        if found.get("phone") and not prospect.phone:
            prospect.phone = found["phone"]
        prospect.updated_at = now
        session.add(prospect)
        append(
            session,
            ctx.ws_id,
            record(
                state,
                node="act",
                action="enrich",
                final_action="enrich",
                tool=tool,
                cost={"credits": credits, "usd": usd},
                error=error.to_dict() if error else None,
            ),
        )
    return {}


def _enrich_waterfall(state: ProspectState, ctx: AgentContext, waterfall: Waterfall) -> dict[str, Any]:
    """The waterfall over the configured providers: each provider call is cached, reserved
    and charged by the waterfall's store; this records the decision and fills the prospect."""
    obs = state["observation"]
    p = obs["prospect"]
    now = _now(state)
    with Session(ctx.engine) as session:
        company = session.get(Company, obs["company"]["id"]) if obs["company"].get("id") else None
    person = Person(
        p["first_name"],
        p["last_name"],
        company.domain if company else obs["prospect"].get("email_domain", ""),
        p.get("linkedin_url", ""),
        p.get("country", ""),
        company.employee_count if company else None,
    )
    fields = ["email", *[f for f in ctx.workspace.config.enrichment.order if f != "email"]]
    res = waterfall.enrich(person, fields, now=now, run_id=state["run_id"], prospect_id=state["prospect_id"])
    tool = {
        "name": "enrichment:waterfall",
        "input": {"key": person.key, "segment": person.segment, "fields": fields},
    }
    if res.budget_stopped and not res.values:
        return _budget_wait(
            state, ctx, "enrich", {**tool, "result": res.to_dict()}, BudgetExceeded(res.calls[-1].message)
        )
    credits = res.credits
    with session_scope(ctx.engine) as session:
        prospect = _prospect(session, state)
        prospect.enrichment_status = "found" if res.values else res.status
        v = res.values
        if v.get("email") and not prospect.email_norm:
            prospect.email = prospect.email_norm = str(v["email"]).strip().lower()
            prospect.email_status = "valid" if res.verified.get("email") else "unknown"
        if v.get("phone") and not prospect.phone:
            prospect.phone = str(v["phone"])
        if v.get("title") and not prospect.title:
            prospect.title = str(v["title"])
        if v.get("tech_stack"):
            prospect.attributes = {**(prospect.attributes or {}), "tech_stack": v["tech_stack"]}
        if company is not None and v.get("employee_count") and company.employee_count is None:
            c = session.get(Company, company.id)
            if c is not None:
                c.employee_count = int(float(v["employee_count"]))
                session.add(c)
        prospect.updated_at = now
        session.add(prospect)
        errors = [c for c in res.calls if c.status == "error"]
        append(
            session,
            ctx.ws_id,
            record(
                state,
                node="act",
                action="enrich",
                final_action="enrich",
                tool={**tool, "result": res.to_dict()},
                cost={"credits": credits, "usd": credits * ctx.workspace.config.costs.credit_usd},
                error=(
                    {
                        "error_class": errors[-1].error_class,
                        "message": errors[-1].message,
                        "type": "ProviderError",
                        "next_step": "See the calls in this record; paused providers are listed as operator tasks.",
                    }
                    if errors and not res.values
                    else None
                ),
            ),
        )
    return {}


def draft(state: ProspectState, ctx: AgentContext) -> dict[str, Any]:
    """Write the step's message from its template and the evidence on record."""
    obs, prop = state["observation"], state["plan"]["proposal"]
    step = ctx.workspace.step(prop["step_id"])
    with Session(ctx.engine) as session:
        evidence = [
            {"id": e.id, "kind": e.kind, "url": e.source_url, "quote": e.quote, "data": e.data}
            for e in repo.evidence_for(
                session,
                workspace=ctx.ws_id,
                company_id=obs["company"].get("id"),
                prospect_id=state["prospect_id"],
            )
        ]
    annotate_signals(evidence, ctx.workspace.config.scoring, _now(state))
    sender = {
        "name": ctx.sender.name,
        "title": ctx.sender.title,
        "company": ctx.sender.company,
        "postal_address": ctx.sender.postal_address,
        "unsubscribe_url": ctx.sender.unsubscribe_url,
    }
    template, experiment = choose_template(ctx.workspace, ctx.engine, step, state["prospect_id"], _now(state))
    sender = {**sender, "email": ctx.sender.email}
    batched = batching.draft_via_batch(
        ctx,
        state,
        step_id=step.id,
        kind=step.kind,
        prospect=obs["prospect"],
        company=obs["company"],
        evidence=evidence,
        sender=sender,
    )
    if batched.waiting is not None:  # the daily run's batch answers it; the prospect waits
        return batched.waiting
    result = ctx.drafter.draft(
        template=template,
        kind=step.kind,
        prospect=obs["prospect"],
        company=obs["company"],
        evidence=evidence,
        sender=sender,
        scope=llm_scope(state) if ctx.llm is not None else None,  # a template drafter pays nothing
        **batched.kwargs,
    )
    draft_id = (
        "d_"
        + hashlib.sha256(
            f"{ctx.ws_id}|{state['prospect_id']}|{step.id}|{result.template_version}".encode()
        ).hexdigest()[:16]
    )
    tool: dict[str, Any] = {
        "name": f"draft:{ctx.drafter.name}",
        "input": {"template": template, **({"experiment": experiment} if experiment else {})},
        "result": {
            "draft_id": draft_id,
            "template_version": result.template_version,
            "sentences": len(result.sentences),
            "evidence_ids": list(result.used_evidence),
            **{k: result.extra[k] for k in ("llm", "problems", "refused", "asked") if k in result.extra},
            **batched.info,
        },
    }
    with session_scope(ctx.engine) as session:
        existing = session.get(Draft, draft_id)
        if existing is None:
            session.add(
                Draft(
                    id=draft_id,
                    workspace=ctx.ws_id,
                    prospect_id=state["prospect_id"],
                    step_id=step.id,
                    channel=step.channel,
                    kind=step.kind,
                    template=template,
                    template_version=result.template_version,
                    subject=result.subject,
                    body=result.body,
                    sentences=[s.to_dict() for s in result.sentences],
                    status="draft",
                    model_written=bool(result.extra.get("model_written")),
                    created_at=_now(state),
                )
            )
        elif existing.status == "rejected":
            existing.status = "draft"
            session.add(existing)
        append(
            session,
            ctx.ws_id,
            record(
                state,
                node="act",
                action="draft",
                final_action="draft",
                tool=tool,
                cost=result.extra.get("cost"),
            ),
        )
    return {}


def llm_scope(state: ProspectState) -> Any:
    """Whom a paid model call is for: this run, this prospect, now."""
    from tools.llm.client import CallScope

    return CallScope(at=_now(state), run_id=state["run_id"], prospect_id=state["prospect_id"])


def send(state: ProspectState, ctx: AgentContext) -> dict[str, Any]:
    """Outbox row + decision in one transaction, then delivery; a crash in between is
    resumed from the outbox row, never sent twice."""
    obs, prop = state["observation"], state["plan"]["proposal"]
    step = ctx.workspace.step(prop["step_id"])
    channel = ctx.channels[step.channel]
    key = idempotency_key(ctx.ws_id, state["prospect_id"], step.id, step.channel)
    now = _now(state)
    held = None
    with session_scope(ctx.engine) as session:
        row = session.exec(select(OutboxMessage).where(OutboxMessage.idempotency_key == key)).first()
        d = obs["drafts"][step.id]
        if row is None:  # the run's allotment is a plan: the real usage must allow it too
            held = allocation.recheck_send(session, ctx, state, now)
        if row is None and held is None:
            row = OutboxMessage(
                workspace=ctx.ws_id,
                prospect_id=state["prospect_id"],
                idempotency_key=key,
                step_id=step.id,
                channel=step.channel,
                kind=step.kind,
                draft_id=d["id"],
                provider=channel.name,
                status="pending",
                run_id=state["run_id"],
                created_at=now,
                payload={"template_version": d["template_version"]},
            )
            session.add(row)
        already = row is not None and row.status == "sent"
        if row is not None:
            append(
                session,
                ctx.ws_id,
                record(
                    state,
                    node="act",
                    action="send",
                    final_action="noop" if already else "send",
                    tool={
                        "name": f"channel:{step.channel}:{channel.name}",
                        "input": {"idempotency_key": key, "draft_id": d["id"]},
                        "result": {"outbox_status": row.status},
                    },
                ),
            )
    if held is not None:  # nothing was written: the prospect waits for the next run
        reason = f"{held['rule']}: {held['reason']} (real usage, re-checked at send)"
        return finish(
            {**state, "plan": {**state["plan"], "rationale": reason}},
            ctx,
            kind="wait",
            until=held.get("until") or iso(now + timedelta(days=1)),
            reason=reason,
        )
    if already:
        return {}
    faults.crash_point("after_send_decision")
    message = _message(ctx, state=state, step_id=step.id, key=key, draft_id=d["id"])
    return deliver(ctx, state, key, message)


def call_task(state: ProspectState, ctx: AgentContext) -> dict[str, Any]:
    """A call step becomes a task for the owner (talking points from the draft), written
    through the "phone" outbox exactly once like any send."""
    return send(state, ctx)


def _message(
    ctx: AgentContext, *, state: ProspectState, step_id: str, key: str, draft_id: str
) -> OutboundMessage:
    step = ctx.workspace.step(step_id)
    with Session(ctx.engine) as session:
        p = _prospect(session, state)
        company = session.get(Company, p.company_id) if p.company_id else None
        dr = session.get(Draft, draft_id)
        if dr is None:
            raise InputError(f"draft {draft_id} is no longer in the database")
        thread: dict[str, str] = {}
        if step.follow_up_of and step.channel == "email":
            prev = session.exec(
                select(OutboxMessage).where(
                    OutboxMessage.idempotency_key
                    == idempotency_key(ctx.ws_id, p.id, step.follow_up_of, "email"),
                    OutboxMessage.status == "sent",
                )
            ).first()
            if prev is not None and prev.provider_message_id:
                thread = {"in_reply_to": prev.provider_message_id, "references": prev.provider_message_id}
    recipient = Recipient(
        prospect_id=p.id,
        name=p.full_name,
        email=p.email_norm,
        linkedin_url=p.linkedin_url,
        company=company.name if company else "",
        title=p.title,
        postal_address=postal_address_of(p.attributes or {}),
    )
    subject = dr.subject if step.channel == "email" else ""
    if not thread and subject.lower().startswith(("re:", "fwd:", "fw:")):
        subject = subject.split(":", 1)[1].strip()  # never fake a reply
    return OutboundMessage(
        idempotency_key=key,
        channel=step.channel,
        kind=step.kind,
        sender=ctx.sender,
        recipient=recipient,
        subject=subject,
        body=dr.body,
        step_id=step.id,
        thread=thread,
        metadata={"date": state["now"], "template": dr.template_version, "workspace": ctx.ws_id},
    )


def finish(
    state: ProspectState, ctx: AgentContext, *, kind: str, until: str | None, reason: str
) -> dict[str, Any]:
    """Terminal for today: wait until a time, or stop for good."""
    with session_scope(ctx.engine) as session:
        p = _prospect(session, state)
        if kind == "stop":
            p.status, p.stop_reason, p.next_action, p.next_action_at = "stopped", reason, "", None
        else:
            p.status, p.next_action = "waiting", (state["plan"]["proposal"].get("step_id") or "wait")
            p.next_action_at = parse_instant(until) if until else None
        p.updated_at = _now(state)
        session.add(p)
        append(
            session,
            ctx.ws_id,
            record(
                state, node="act", action=kind, final_action=kind, extra={"until": until} if until else None
            ),
        )
    return {"outcome": {"kind": kind, "until": until, "reason": reason}}
