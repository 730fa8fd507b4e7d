"""What the next run would do and cost, before it runs.

`preview` walks every due prospect, highest score first, through the real planner and
policy engine without side effects: research (free when the company is cached or already
researched earlier in the same preview), enrichment (the expected cost from the configured
price, the cache and observed hit rates), drafting (free with templates), and the step it
would send or hand to review, with the verdicts that decide it. Spend and mailbox use are
accumulated as it goes, so caps bite in the preview where they would bite in the run.
Content checks need the written draft, so a predicted send is judged on everything else.

`forecast` sums a preview into calls, credits, tokens and dollars; the daily run stores it
and reports it next to the actual spend from the ledger.
"""

from __future__ import annotations

import copy
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from agents.context import AgentContext, build_context
from agents.nodes.guard import evaluate
from agents.observation import ChunkFacts, event_facts
from agents.planner import plan as plan_next
from agents.scoring import annotate_signals, ranked, rescore
from core.timeutil import iso, parse_instant
from core.workspace import Workspace
from policies.observation import Observation
from policies.types import OUTCOME_RANK, PolicyInput, Proposal
from state import repo
from state.models import Prospect
from tools.channels.email_mime import list_unsubscribe
from tools.drafting import TemplateDrafter
from tools.enrichment.providers import Person
from tools.enrichment.store import DbWaterfallStore
from tools.enrichment.waterfall import Waterfall

CAP_RULES = (
    "mailbox_daily_cap",
    "linkedin_weekly_invites",
    "linkedin_weekly_messages",
    "direct_mail_monthly",
    "budget_run",
    "budget_month",
    "budget_prospect",
)
SEND_COUNTERS = {
    "email": "mailbox_sent_today",
    "linkedin_connect": "linkedin_invites_week",
    "linkedin_message": "linkedin_messages_week",
    "direct_mail": "direct_mail_sends_month",
}
DRAFT_RULES = ("content_", "draft_present", "review_low_grounding")
PAID = ("research", "enrich")
MAX_STEPS = 6


@dataclass(slots=True)  # one per due prospect, all held until the run is split: no __dict__
class ProspectPreview:
    prospect_id: str
    name: str
    score: float
    tier: int | None
    steps: list[dict[str, Any]] = field(default_factory=list)  # action, outcome, est credits
    action: str = ""  # the last action it would reach today
    outcome: str = ""  # allow | review | deny | defer
    channel: str = ""
    step_id: str = ""
    recipient: str = ""
    verdicts: list[dict[str, str]] = field(default_factory=list)  # the ones that decide it
    credits: float = 0.0
    usd: float = 0.0
    calls: Counter[str] = field(default_factory=Counter)
    carry_over: str = ""  # the cap or pause rule that keeps it from acting today

    def to_dict(self) -> dict[str, Any]:
        return {
            "prospect_id": self.prospect_id,
            "name": self.name,
            "score": self.score,
            "tier": self.tier,
            "action": self.action,
            "outcome": self.outcome,
            "channel": self.channel,
            "step": self.step_id,
            "recipient": self.recipient,
            "verdicts": self.verdicts,
            "est_credits": round(self.credits, 4),
            "est_usd": round(self.usd, 4),
            "calls": dict(self.calls),
            "carry_over": self.carry_over,
            "path": self.steps,
        }


@dataclass
class _Tally:
    credits: float = 0.0
    usd: float = 0.0
    sends: Counter[str] = field(default_factory=Counter)  # usage counter -> sure sends so far
    all_sends: Counter[str] = field(default_factory=Counter)  # ... and every predicted send
    researched: set[str] = field(default_factory=set)


def _deciding(decision: dict[str, Any], predicted_send: bool) -> tuple[str, list[dict[str, str]]]:
    verdicts = [
        v for v in decision.get("verdicts", []) if not (predicted_send and v["rule"].startswith(DRAFT_RULES))
    ]
    if not verdicts:
        return "allow", []
    outcome = max((v["outcome"] for v in verdicts), key=OUTCOME_RANK.__getitem__)
    keep = (
        [v for v in verdicts if v["outcome"] == outcome]
        if outcome != "allow"
        else [v for v in verdicts if v["rule"] in CAP_RULES]
    )
    return outcome, [{"rule": v["rule"], "outcome": v["outcome"], "reason": v["reason"]} for v in keep]


def enrichment_estimate(
    ctx: AgentContext, session: Session, obs: dict[str, Any]
) -> tuple[float, float, list[str]]:
    """(expected credits, chance an email is found, providers called) of the enrich action."""
    p, company = obs["prospect"], obs["company"]
    if isinstance(ctx.enricher, Waterfall):
        wf = ctx.enricher
        person = Person(
            p["first_name"],
            p["last_name"],
            company.get("domain", ""),
            p.get("linkedin_url", ""),
            p.get("country", ""),
        )
        reach, cost, calls = 1.0, 0.0, []
        db = isinstance(wf.store, DbWaterfallStore)
        paused = wf.store.paused(session) if db else wf.store.paused()  # type: ignore[call-arg]
        for name in (
            wf.configured_order("email")
            if not wf.cfg.learned_order
            else wf.order_for("email", person.segment)[0]
        ):
            if name in paused:
                continue
            when = datetime.fromisoformat(obs["now"])
            cached = (
                wf.store.cached(name, person.key, now=when, session=session)  # type: ignore[call-arg]
                if db
                else wf.store.cached(name, person.key, now=when)
            )
            _cph, rate, _n = wf.expected_cost_per_hit(name, "email", person.segment)
            if cached is not None:
                rate = 1.0 if "email" in cached.values else 0.0
            else:
                cost += reach * wf.providers[name].estimate(rate)
                calls.append(name)
            reach *= 1.0 - rate
        return cost, 1.0 - reach, calls
    key = ctx.enricher.lookup_key(p["first_name"], p["last_name"], company.get("domain", ""))
    if repo.cached_lookup(session, workspace=ctx.ws_id, provider=f"enrichment:{ctx.enricher.name}", key=key):
        return 0.0, 0.0, []
    return ctx.workspace.config.costs.enrichment_credits, 0.5, [ctx.enricher.name]


def _render_draft(
    ctx: AgentContext, session: Session, obs: dict[str, Any], prop: dict[str, Any]
) -> dict[str, Any]:
    """The draft the run would write (template drafting is local and free), as the facts the
    content rules read; nothing is stored."""
    step = ctx.workspace.step(prop["step_id"])
    evidence = [
        {"id": e.id, "kind": e.kind, "url": e.source_url, "quote": e.quote, "data": e.data}
        for e in repo.evidence_for(
            session,
            workspace=ctx.ws_id,
            company_id=obs["company"].get("id"),
            prospect_id=obs["prospect"]["id"],
        )
    ]
    annotate_signals(evidence, ctx.workspace.config.scoring, datetime.fromisoformat(obs["now"]))
    sender = {
        "name": ctx.sender.name,
        "title": ctx.sender.title,
        "company": ctx.sender.company,
        "postal_address": ctx.sender.postal_address,
        "unsubscribe_url": ctx.sender.unsubscribe_url,
    }
    # The preview never pays: a model drafter is stood in for by the workspace's templates
    # (its cost is the forecast's LLM estimate), so a dry run or forecast calls no model.
    model_drafting = ctx.workspace.config.providers.drafting != "template"
    drafter = TemplateDrafter(ctx.workspace.templates_dir) if model_drafting else ctx.drafter
    r = drafter.draft(
        template=step.template,
        kind=step.kind,
        prospect=obs["prospect"],
        company=obs["company"],
        evidence=evidence,
        sender=sender,
    )
    headers: dict[str, str] = {}
    if step.channel == "email":
        sc = ctx.workspace.config.sender
        headers["List-Unsubscribe"] = list_unsubscribe(sc.unsubscribe_url, sc.unsubscribe_mailto)
        if sc.unsubscribe_url.startswith("https://"):
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    obs["evidence"] = {
        **obs.get("evidence", {}),
        **{e["id"]: {"quote": e["quote"], "url": e["url"], "kind": e["kind"]} for e in evidence},
    }
    return {
        "id": "preview",
        "channel": step.channel,
        "kind": step.kind,
        "subject": r.subject,
        "body": r.body,
        "sentences": [x.to_dict() for x in r.sentences],
        "template": step.template,
        "template_version": r.template_version,
        "status": "draft",
        "model_written": model_drafting,
        "headers": headers,
        "links": re.findall(r"https?://[^\s<>\")]+", r.body),
        "recipient": obs["prospect"].get("email")
        if step.channel == "email"
        else obs["prospect"].get("linkedin_url"),
    }


def _simulate(
    ctx: AgentContext, session: Session, obs: dict[str, Any], pv: ProspectPreview, tally: _Tally
) -> None:
    ws, costs = ctx.workspace, ctx.workspace.config.costs
    playbook, policy = ws.config.playbook, ws.config.policy
    spend = obs["counters"]["spend"]
    for scope in ("run", "month"):
        spend[scope] = {
            **spend[scope],
            "credits": spend[scope]["credits"] + tally.credits,
            "usd": spend[scope]["usd"] + tally.usd,
        }
    base = {c: obs["counters"].get(c, 0) for c in SEND_COUNTERS.values()}
    for counter, n in tally.all_sends.items():
        obs["counters"][counter] = base[counter] + n
    for i in range(1, MAX_STEPS + 1):
        result = plan_next(obs, playbook, policy)
        prop = result.proposal.to_dict()
        action = prop["action"]
        est = 0.0
        if action == "research":
            domain = obs["company"].get("domain", "")
            cached = repo.cached_lookup(
                session, workspace=ctx.ws_id, provider=f"research:{ctx.researcher.name}", key=domain
            )
            est = 0.0 if (cached or domain in tally.researched) else costs.research_credits
            prop["est_credits"], prop["est_usd"] = est, est * costs.credit_usd
        elif action == "enrich":
            est, p_found, calls = enrichment_estimate(ctx, session, obs)
            prop["est_credits"], prop["est_usd"] = est, est * costs.credit_usd
        decision = evaluate(ctx.policy, obs, prop, i)
        outcome, verdicts = _deciding(decision, False)
        pv.steps.append(
            {"action": action, "outcome": outcome, "step": prop.get("step_id"), "est_credits": round(est, 4)}
        )
        pv.action, pv.outcome, pv.verdicts = action, outcome, verdicts
        pv.channel, pv.step_id = prop.get("channel") or "", prop.get("step_id") or ""
        if outcome != "allow":
            capped = [v["rule"] for v in verdicts if v["rule"] in CAP_RULES]
            if outcome in ("deny", "defer") and capped and action in PAID:
                pv.carry_over = capped[0]
            elif outcome in ("deny", "defer") and capped and action == "send":
                # Held back only if the sends already sure to happen fill the channel too
                # (a predicted send after a lookup may not happen, so it does not count).
                sure = {**obs["counters"], **{c: base[c] + tally.sends.get(c, 0) for c in base}}
                again = evaluate(ctx.policy, {**obs, "counters": sure}, prop, i)
                if any(v["rule"] in capped and v["outcome"] in ("deny", "defer") for v in again["verdicts"]):
                    pv.carry_over = capped[0]
            elif i == 1 and outcome in ("deny", "defer"):
                pv.carry_over = paused_all_day(ctx, obs, prop, decision, verdicts)
            return
        if action == "research":
            tally.researched.add(obs["company"].get("domain", ""))
            obs["company"] = {**obs["company"], "research_status": "done", "researched": True}
        elif action == "enrich":
            obs["enrichment"] = {"attempted": True, "status": "found" if p_found >= 0.5 else "not_found"}
            pv.calls.update(f"enrichment:{c}" for c in calls)
            if p_found >= 0.5:
                obs["prospect"] = {
                    **obs["prospect"],
                    "email": "predicted@" + obs["company"].get("domain", "x"),
                    "email_status": "valid",
                }
        elif action == "draft":
            obs["drafts"] = {**obs["drafts"], prop["step_id"]: _render_draft(ctx, session, obs, prop)}
            continue
        else:
            counter = SEND_COUNTERS.get(prop.get("kind") or "", "")
            if action == "send" and counter:
                tally.all_sends[counter] += 1
                if not any(st["action"] in PAID for st in pv.steps):
                    tally.sends[counter] += 1
            return
        if est:
            if action == "research":
                pv.calls[f"research:{ctx.researcher.name}"] += 1
            pv.credits += est
            pv.usd += est * costs.credit_usd
            tally.credits += est
            tally.usd += est * costs.credit_usd
            for scope in ("run", "month", "prospect"):
                spend[scope] = {
                    **spend[scope],
                    "credits": spend[scope]["credits"] + est,
                    "usd": spend[scope]["usd"] + est * costs.credit_usd,
                }


# Rules that hold every action a prospect could take today, so that it is carried over to
# the next run without running its graph: the kill switch denies every active action, and
# a send whose recipient's window stays closed for a whole day (a weekend, a public
# holiday) cannot go out before the next daily run.
PAUSE_RULES = ("kill_switch", "send_window")
CLOSED_FOR = timedelta(hours=24)


def paused_all_day(
    ctx: AgentContext,
    obs: dict[str, Any],
    proposal: dict[str, Any],
    decision: dict[str, Any],
    deciding: list[dict[str, str]],
) -> str:
    """The pause rule that keeps the prospect from acting today, or "" when it could act.

    Only the first proposal of the prospect's day counts (an allowed step before it would
    run). Every deciding verdict must be a pause: the kill switch, or a send window that
    stays closed for at least a day (`until` at least 24 hours away). The planner, told of
    the denial as the graph would tell it, must then propose to wait: no other action is
    open to the prospect today."""
    if not deciding:
        return ""
    now = parse_instant(obs["now"])
    for v in deciding:
        if v["rule"] == "kill_switch" and v["outcome"] == "deny":
            continue
        if v["rule"] == "send_window" and v["outcome"] == "defer" and proposal.get("action") == "send":
            until = next(
                (u.get("until") for u in decision.get("verdicts", []) if u["rule"] == "send_window"), None
            )
            if until and parse_instant(until) - now >= CLOSED_FOR:
                continue
        return ""
    cfg = ctx.workspace.config
    after = plan_next(obs, cfg.playbook, cfg.policy, [{"proposal": proposal, "decision": decision}])
    return deciding[0]["rule"] if after.proposal.action == "wait" else ""


PREVIEW_CHUNK = 500  # prospects whose facts are loaded together (and one read transaction)


def preview(
    ws: Workspace,
    engine: Engine,
    *,
    now: datetime,
    ids: list[str] | None = None,
    limit: int | None = None,
    context: AgentContext | None = None,
    progress: Any = None,
    detail: bool = True,
) -> list[ProspectPreview]:
    """Per due prospect (highest score first): what it would do today and what it would cost.

    The facts of each chunk of prospects are loaded with a few set-based queries
    (`ChunkFacts`). With `detail=False` (the daily run, which needs only who is carried
    over and why), a prospect whose first action is a paid lookup that a spent budget cap
    denies is decided from those facts without building its observation; its row names
    the cap verdicts only (a dry run shows every deciding verdict)."""
    ctx = context or build_context(ws, engine)
    with Session(engine) as session:
        if ids is None:
            ids = repo.due_prospect_ids(session, workspace=ws.id, now=now, limit=limit)
        # Rescored a chunk at a time, keeping only (score, tier): the breakdowns of 100,000
        # prospects are not held at once.
        scores: dict[str, tuple[float, int | None]] = {}
        for start in range(0, len(ids), PREVIEW_CHUNK):
            scored = rescore(session, ws, ids[start : start + PREVIEW_CHUNK], now)
            scores.update((pid, (r.score, r.tier)) for pid, r in scored.items())
        order = ranked(ids, {pid: s[0] for pid, s in scores.items()})
        session.commit()
        tally = _Tally()
        out = []
        n = 0
        memo: dict[Any, Any] = {}  # cap verdicts of the cheap path, per input
        for start in range(0, len(order), PREVIEW_CHUNK):
            part = order[start : start + PREVIEW_CHUNK]
            facts = ChunkFacts(session, ws, part, now)
            memo.clear()  # the chunk's shared usage is its own
            cached = set() if detail else _cached_research(session, ctx, facts)
            for pid in part:
                n += 1
                p = facts.prospects.get(pid)
                assert p is not None
                s = scores.get(pid)
                pv = ProspectPreview(pid, p.full_name, s[0] if s else 0.0, s[1] if s else p.tier)
                if detail or not _cheap_carry_over(ctx, facts, p, pv, tally, cached, memo):
                    tally = _full(ctx, session, facts.observation(pid), pv, tally)
                out.append(pv)
                if progress:
                    progress(n, len(order))
            session.commit()  # end the read transaction after each chunk: never hold SQLite's lock long
    return out


def _full(
    ctx: AgentContext, session: Session, observation: dict[str, Any], pv: ProspectPreview, tally: _Tally
) -> _Tally:
    """The prospect through the planner and guard on its whole observation; the tally after it."""
    obs = copy.deepcopy(observation)
    pv.recipient = obs["prospect"].get("email") or obs["prospect"].get("linkedin_url") or ""
    before = copy.deepcopy(tally)
    _simulate(ctx, session, obs, pv, tally)
    if pv.carry_over:  # it will not run today: what it would have used stays free
        tally = before
    if pv.channel and pv.channel != "email":
        pv.recipient = obs["prospect"].get("linkedin_url") if pv.channel == "linkedin" else pv.recipient
    return tally


def _cached_research(session: Session, ctx: AgentContext, facts: ChunkFacts) -> set[str]:
    """Domains of the chunk whose research is in the lookup cache (free to research)."""
    from sqlmodel import col, select

    from state.models import LookupCache

    domains = sorted({c.domain for c in facts.companies.values() if c.domain})
    found: set[str] = set()
    for i in range(0, len(domains), 500):
        found.update(
            session.exec(
                select(LookupCache.key).where(
                    LookupCache.workspace == ctx.ws_id,
                    LookupCache.provider == f"research:{ctx.researcher.name}",
                    col(LookupCache.key).in_(domains[i : i + 500]),
                )
            ).all()
        )
    return found


def _cheap_carry_over(
    ctx: AgentContext,
    facts: ChunkFacts,
    p: Prospect,
    pv: ProspectPreview,
    tally: _Tally,
    cached: set[str],
    memo: dict[Any, tuple[list[dict[str, str]], list[dict[str, Any]]]] | None = None,
) -> bool:
    """Decide, from cheap facts only, a prospect whose first action is researching its
    company and whose cost a spent budget cap denies: the planner, given the facts it reads
    before any playbook step (status, events, company, costs), proposes research, and the
    first cap rule that denies it decides the carry-over, exactly as in `_simulate`. False
    (nothing decided) in every other case, which then takes the full path."""
    cfg = ctx.workspace.config
    company = facts.company(p)
    if company is None or company.research_status != "pending":
        return False
    light: dict[str, Any] = {  # what the planner reads before it reaches the playbook steps
        "now": iso(facts.now),
        "prospect": {"id": p.id, "status": p.status, "stop_reason": p.stop_reason},
        "company": {"id": company.id, "name": company.name, "domain": company.domain},
        "events": event_facts(facts.events(p.id)),
        "costs": {"credit_usd": cfg.costs.credit_usd, "research_credits": cfg.costs.research_credits},
    }
    light["company"]["research_status"] = company.research_status
    proposal = plan_next(light, cfg.playbook, cfg.policy).proposal
    if proposal.action != "research":
        return False
    domain = company.domain or ""
    if domain in cached or domain in tally.researched:
        return False  # free: no budget can deny it
    est = cfg.costs.research_credits
    prop = proposal.to_dict()
    prop["est_credits"], prop["est_usd"] = est, est * cfg.costs.credit_usd
    shared = facts.shared_usage()
    mine = facts.spend_prospect(p.id)
    # The cap rules read the proposal, the counters and the clock, never the prospect (its
    # input here names only its id): prospects of one chunk with the same proposal and the
    # same spend get the same verdicts, computed once.
    key = (
        tuple(sorted(prop.items())),
        tally.credits,
        tally.usd,
        tuple(sorted(mine.items())),
    )
    found = memo.get(key) if memo is not None else None
    if found is None:  # (verdicts, path): shared, read-only, by every row decided alike
        spend = {
            "run": _plus(shared["spend_run"], tally),
            "month": _plus(shared["spend_month"], tally),
            "prospect": mine,
        }
        inp = PolicyInput(
            proposal=Proposal.from_dict(prop),
            obs=Observation.from_json(
                {"now": iso(facts.now), "prospect": {"id": p.id}, "counters": {**shared, "spend": spend}}
            ),
        )
        verdicts = []
        for rid, rule in ctx.policy.rules:
            if rid not in CAP_RULES:
                continue
            v = rule(inp, ctx.policy.config)
            if v is not None and v.outcome == "deny":
                verdicts.append({"rule": v.rule, "outcome": v.outcome, "reason": v.reason})
        path = [{"action": "research", "outcome": "deny", "step": None, "est_credits": round(est, 4)}]
        found = (verdicts, path)
        if memo is not None:
            memo[key] = found
    denied, path = found
    if not denied:
        return False
    # The row of a carried-over prospect is held until the run is split (100,000 of them):
    # its verdicts and path are the lists shared by every row decided alike, never mutated.
    pv.recipient = p.email_norm or p.linkedin_url or ""
    pv.steps = path
    pv.action, pv.outcome, pv.verdicts = "research", "deny", denied
    pv.carry_over = denied[0]["rule"]
    return True


def _plus(spent: dict[str, float], tally: _Tally) -> dict[str, float]:
    return {**spent, "credits": spent["credits"] + tally.credits, "usd": spent["usd"] + tally.usd}


def forecast(rows: list[ProspectPreview], ws: Workspace) -> dict[str, Any]:
    """Totals of a preview: calls by kind, credits, tokens and dollars; sends by channel."""
    calls: Counter[str] = Counter()
    sends: Counter[str] = Counter()
    acting = [r for r in rows if not r.carry_over]
    for r in acting:
        calls.update(r.calls)
        if r.action in ("send", "draft") and r.outcome == "allow" and r.channel:
            sends[r.channel] += 1
    credits = sum(r.credits for r in acting)
    return {
        "prospects": len(rows),
        "acting": len(acting),
        "calls": dict(calls),
        "credits": round(credits, 4),
        "tokens": 0,  # template drafting uses no model; a model drafter adds its estimate here
        "usd": round(sum(r.usd for r in acting), 4),
        "sends": dict(sends),
        "reviews": sum(1 for r in acting if r.outcome == "review" or r.action == "request_review"),
        "carried_over": dict(Counter(r.carry_over for r in rows if r.carry_over)),
    }
