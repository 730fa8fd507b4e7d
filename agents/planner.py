"""The deterministic playbook planner.

A pure function of (observation, playbook, this run's denials): it proposes the next
action and says why. It knows nothing about policy: the guard judges its proposal and,
on a deny or defer, the planner is asked again with the verdicts as context. Replay
calls the same function on the recorded inputs.

The observation may be given as its JSON dict or as the typed view
(`policies.observation.Observation`, parsed once); the planner reads the typed fields.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from core.canonical import digest
from core.timeutil import iso, local_instant, parse_instant, to_utc
from core.workspace import PlaybookConfig, PlaybookStep
from policies.config import PolicyConfig
from policies.observation import DraftFacts, Observation, Review
from policies.types import Proposal

# The observation as recorded (JSON dict) or its typed view.
Obs = Mapping[str, Any] | Observation
UTC_ZONE = ZoneInfo("UTC")

# Deny verdicts from these rules end the sequence; other denials skip the step.
STOP_RULES = frozenset(
    {
        "suppression",
        "unsubscribed",
        "complained",
        "do_not_contact",
        "customer_or_competitor",
        "open_opportunity",
        "stop_after_reply",
        "max_touches_per_sequence",
    }
)
# Deny verdicts from these caps pause the prospect until the cap can allow the action
# again; they never end its sequence (only STOP_RULES do).
PAUSE_RULES = frozenset(
    {"budget_run", "budget_month", "budget_prospect", "kill_switch", "workspace_mode", "step_cap"}
)
APPROVED = ("approved", "edited")
PLANNER_KIND = "playbook"


@dataclass(frozen=True)
class Plan:
    proposal: Proposal
    rationale: str
    # True when the situation leaves no choice (a stop, a cap or a deferral, out of office,
    # an action already denied today): a model planner is not asked.
    forced: bool = False


def planner_version(playbook: PlaybookConfig) -> str:
    return f"playbook:{playbook.name}@{digest(playbook.model_dump(mode='json'))[:10]}"


def conditions(obs: Obs) -> dict[str, bool]:
    """The playbook conditions (``has_email``, ``tier_1``, ``no_reply`` ...) that hold."""
    return dict(_conditions(Observation.of(obs)))


def _conditions(o: Observation) -> Mapping[str, bool]:
    return o.derived("planner.conditions", _compute_conditions)


def _compute_conditions(o: Observation) -> dict[str, bool]:
    p, ev = o.prospect, o.events
    has_email = bool(p.email) and p.email_status != "invalid"
    replied = ev.replied_at is not None
    return {
        "has_email": has_email,
        "no_email": not has_email,
        "has_linkedin": bool(p.linkedin_url),
        "no_linkedin": not p.linkedin_url,
        "tier_1": p.tier == 1,
        "not_tier_1": p.tier != 1,
        "no_reply": not replied,
        "opened_no_reply": bool(ev.opened_at) and not replied,
        "connection_accepted": bool(ev.connection_accepted_at),
        "has_postal_address": bool(p.has_postal_address),
    }


def _step_state(o: Observation) -> tuple[frozenset[str], frozenset[str]]:
    """(steps done, steps rejected) of the prospect, computed once per view."""
    return o.derived("planner.step_state", _compute_step_state)


def _compute_step_state(o: Observation) -> tuple[frozenset[str], frozenset[str]]:
    done = {t.step_id for t in o.touches}
    rejected = {sid for sid, r in o.reviews.items() if r.status == "rejected"}
    rejected |= {
        sid
        for sid, by_action in o.decision_reviews.items()
        if sid and any(r.status == "rejected" for r in by_action.values())
    }
    return frozenset(done), frozenset(rejected)


def approved_content(review: Mapping[str, Any], draft: Mapping[str, Any]) -> bool:
    """An approval counts for a message only while its content is exactly what was
    approved (fingerprint of subject, body, recipient and channel)."""
    return (
        review.get("kind", "message") == "message"
        and review.get("status") in APPROVED
        and bool(review.get("approved_fingerprint"))
        and review.get("approved_fingerprint") == draft.get("fingerprint")
    )


def _approved(review: Review | None, draft: DraftFacts | None) -> bool:
    """`approved_content` on the typed view (an absent review or draft reads as empty)."""
    if review is None:
        return False
    return (
        review.kind == "message"
        and review.status in APPROVED
        and bool(review.approved_fingerprint)
        and review.approved_fingerprint == (draft.fingerprint if draft is not None else None)
    )


def pause_until(rule: str, obs: Obs, policy: PolicyConfig) -> datetime:
    """When a cap that denied an action can allow it again: the monthly budget at the
    start of next month (sender's zone), every other cap (run budget, per-prospect
    budget, kill switch, workspace mode, step cap) at the next business day's opening,
    when the next run finds it again."""
    o = Observation.of(obs)
    if rule == "budget_month":
        tz = o.sender.zone
        day = to_utc(o.now).astimezone(tz).date()
        first = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
        return max(_recheck_at(o, policy, days=1), local_instant(first, time(0), tz))
    return _recheck_at(o, policy, days=1)


def due_at(step: PlaybookStep, obs: Obs, policy: PolicyConfig) -> datetime:
    """When a step may go: `delay_business_days` after the last touch, at the opening of
    the prospect's local sending window (UTC if the zone is unknown)."""
    o = Observation.of(obs)
    now = o.now
    if not o.touches or step.delay_business_days == 0:
        return now
    tz = o.prospect.zone or UTC_ZONE
    last = max(t.at for t in o.touches)
    country = o.prospect.country or ""
    return max(
        now,
        policy.window.opening_after(
            to_utc(last).astimezone(tz).date(), step.delay_business_days, tz, country=country
        ),
    )


def _needs_review(step: PlaybookStep, o: Observation, playbook: PlaybookConfig) -> str:
    draft = o.draft(step.id)
    if step.review:
        return f"playbook step {step.id!r} is always reviewed"
    if step.channel == "direct_mail":
        return "every direct mail is reviewed"
    if playbook.review_tier_1 and o.prospect.tier == 1:
        return "tier-1 account: a human approves every message"
    if draft is not None and draft.model_written:
        return "the draft was written by a model"
    return ""


def plan(
    observation: Obs,
    playbook: PlaybookConfig,
    policy: PolicyConfig,
    denials: Sequence[Mapping[str, Any]] = (),
) -> Plan:
    """Propose the next action for one prospect. An action the guard already denied in
    this run is never proposed again: the prospect waits for the next business day (a
    kill switch, a budget cap or the workspace mode pause it; they do not end it)."""
    obs = Observation.of(observation)
    result = _plan(obs, playbook, policy, denials)
    denied = {
        (d["proposal"]["action"], d["proposal"].get("step_id")): d
        for d in denials
        if d["decision"]["outcome"] == "deny"
    }
    key = (result.proposal.action, result.proposal.step_id)
    if key in denied and result.proposal.action not in ("wait", "stop"):
        verdicts = [v for v in denied[key]["decision"]["verdicts"] if v["outcome"] == "deny"]
        reasons = "; ".join(f"{v['rule']}: {v['reason']}" for v in verdicts)
        until = _recheck_at(obs, policy, days=1)
        return Plan(
            Proposal(action="wait", until=iso(until), reason=f"denied today: {reasons}"),
            f"{result.proposal.action} was denied ({reasons}); try again {iso(until)}.",
            forced=True,
        )
    return result


@dataclass(frozen=True)
class Option:
    """One next action a model planner may pick: a tool name, what it means (code-written)
    and the plan it stands for. The model only chooses among these; their proposals are
    built here, from the observation and config, never from model output."""

    name: str
    description: str
    plan: Plan


STEP_ACTION_VERBS = {"draft": "draft", "send": "send", "request_review": "review", "call_task": "call"}


def option_name(proposal: Proposal) -> str:
    """The tool name of a proposal: research, enrich, wait, stop, or <verb>_<step id>."""
    verb = STEP_ACTION_VERBS.get(proposal.action)
    if verb and proposal.step_id:
        return f"{verb}_{proposal.step_id}"[:64]
    return proposal.action


def describe(proposal: Proposal) -> str:
    """What choosing this action does, in words the model reads as a tool description."""
    p = proposal
    step = f"playbook step {p.step_id!r}" if p.step_id else ""
    kind = (p.kind or "message").replace("_", " ")
    return {
        "research": f"Research the prospect's company from its pages (about {p.est_credits:g} credits) "
        "before anything is written.",
        "enrich": f"Look up the prospect's email address once (about {p.est_credits:g} credits).",
        "draft": f"Write the {kind} for {step} ({p.channel}). Nothing is sent.",
        "send": f"Send the drafted {kind} of {step} by {p.channel} to the prospect on record "
        "(the policy engine still decides).",
        "request_review": f"Ask a human to review the {kind} drafted for {step} before it can go out.",
        "call_task": f"Create a call task for the owner for {step} (no call is dialled).",
        "wait": f"Do nothing now; look at this prospect again at {p.until}.",
        "stop": "End this prospect's sequence now: no further outreach.",
    }[p.action]


def options(
    observation: Obs,
    playbook: PlaybookConfig,
    policy: PolicyConfig,
    denials: Sequence[Mapping[str, Any]] = (),
) -> list[Option]:
    """The actions the graph could take for this prospect now, the playbook's own choice
    first. When the situation leaves no choice (see `Plan.forced`) that is the only one.
    Otherwise: the playbook's choice; the other playbook steps that apply and are due
    (drafting, sending or reviewing them as the playbook would); asking a human to review
    a draft that would go out without review; waiting a business day; stopping. Never an
    action the guard already denied in this run; never a recipient, address, link or
    content (those come from the database and config)."""
    obs = Observation.of(observation)
    first = plan(obs, playbook, policy, denials)
    chosen = [first]
    if not first.forced:
        denied = {
            (d["proposal"]["action"], d["proposal"].get("step_id"))
            for d in denials
            if d["decision"]["outcome"] == "deny"
        }
        blocked = {
            d["proposal"]["step_id"]
            for d in denials
            if d["decision"]["outcome"] == "deny" and d["proposal"].get("step_id")
        }
        if first.proposal.action not in ("research", "enrich"):
            for step in applicable_steps(obs, playbook, blocked):
                alt = step_plan(step, obs, playbook, policy)
                if alt.proposal.action != "wait":
                    chosen.append(alt)
        for alt in list(chosen):
            step_id = alt.proposal.step_id
            if alt.proposal.action == "send" and step_id:
                if not _approved(obs.reviews.get(step_id), obs.draft(step_id)):
                    chosen.append(
                        Plan(
                            replace(
                                alt.proposal,
                                action="request_review",
                                reason="the planner asked a human to look at this draft first",
                            ),
                            f"Ask a human to review step {step_id!r} before it goes out.",
                        )
                    )
        until = _recheck_at(obs, policy, days=1)
        chosen.append(
            Plan(
                Proposal(action="wait", until=iso(until), reason="the planner chose to wait a business day"),
                f"Wait and look again {iso(until)}.",
            )
        )
        chosen.append(Plan(Proposal(action="stop", reason="the planner ended the sequence"), "Stop."))
        chosen = [
            c
            for i, c in enumerate(chosen)
            if i == 0
            or (c.proposal.action, c.proposal.step_id) not in denied
            or c.proposal.action in ("wait", "stop")
        ]
    out: list[Option] = []
    seen: set[str] = set()
    for c in chosen:
        name = option_name(c.proposal)
        if name in seen:
            continue
        seen.add(name)
        out.append(Option(name, describe(c.proposal), c))
    return out


def _plan(
    obs: Observation,
    playbook: PlaybookConfig,
    policy: PolicyConfig,
    denials: Sequence[Mapping[str, Any]] = (),
) -> Plan:
    p = obs.prospect
    company = obs.company
    if p.status == "stopped":
        return _stop(f"already stopped ({p.stop_reason or 'no reason recorded'})")
    blocked: set[str] = set()
    for d in denials:
        decision = d["decision"]
        verdicts = [v for v in decision["verdicts"] if v["outcome"] == decision["outcome"]]
        reasons = "; ".join(f"{v['rule']}: {v['reason']}" for v in verdicts)
        if decision["outcome"] == "deny":
            if any(v["rule"] in STOP_RULES for v in verdicts):
                return _stop(f"policy denied {d['proposal']['action']}: {reasons}")
            caps = [v for v in verdicts if v["rule"] in PAUSE_RULES]
            if caps:
                until = max(pause_until(v["rule"], obs, policy) for v in caps)
                names = ", ".join(sorted({v["rule"] for v in caps}))
                return Plan(
                    Proposal(
                        action="wait",
                        until=iso(until),
                        step_id=d["proposal"].get("step_id"),
                        channel=d["proposal"].get("channel"),
                        reason=f"paused by {names} until {iso(until)}: {reasons}",
                    ),
                    f"{d['proposal']['action']} was denied by a cap ({names}); a cap pauses, it "
                    f"does not end the sequence: try again {iso(until)}.",
                    forced=True,
                )
            if d["proposal"].get("step_id"):
                blocked.add(d["proposal"]["step_id"])
        elif decision["outcome"] == "defer":
            return Plan(
                Proposal(action="wait", until=decision["until"], reason=f"deferred by policy: {reasons}"),
                f"The guard deferred {d['proposal']['action']}; wait until "
                f"{decision['until']} and try again.",
                forced=True,
            )
    events = obs.events
    ooo_until = events.ooo_until
    if ooo_until and parse_instant(ooo_until) > obs.now:
        return Plan(
            Proposal(action="wait", until=ooo_until, reason=f"out of office until {ooo_until}"),
            f"The prospect is out of office; the sequence pauses (not ends) until {ooo_until}.",
            forced=True,
        )
    if events.unsubscribed_at or events.reply_kind == "unsubscribe":
        return _stop("the prospect unsubscribed; they are on the suppression list and never contacted again")
    if events.replied_at is not None:
        return _stop("the prospect replied; the sequence ends and the owner takes over")
    if playbook.research_first and company.id and company.research_status == "pending":
        credits = float(obs.costs.research_credits)
        return Plan(
            Proposal(
                action="research",
                reason="company not researched yet",
                est_credits=credits,
                est_usd=_usd(obs, credits),
            ),
            f"No evidence about {company.name or company.domain} yet; "
            "research the company before writing anything.",
        )
    cond = _conditions(obs)
    if (
        playbook.enrich_missing_email
        and cond["no_email"]
        and not obs.enrichment_attempted
        and company.domain
        and p.full_name
    ):
        credits = float(obs.costs.enrichment_credits)
        return Plan(
            Proposal(
                action="enrich",
                reason="no usable email address",
                est_credits=credits,
                est_usd=_usd(obs, credits),
            ),
            "The prospect has no email address; look it up once (cached) before choosing a channel.",
        )
    done, rejected = _step_state(obs)
    step = next(iter(applicable_steps(obs, playbook, blocked)), None)
    if step is None:
        # Only a prospect already touched can still produce an event (an acceptance, an open).
        waiting_on = _waiting_on_event(playbook, cond, done | rejected | blocked) if done else ""
        if waiting_on:
            until = _recheck_at(obs, policy)
            return Plan(
                Proposal(
                    action="wait", until=iso(until), reason=f"waiting for {waiting_on} before the next step"
                ),
                f"No step applies yet; the next one needs {waiting_on}. Check again {iso(until)}.",
            )
        why = "every applicable playbook step is done" if done else "no playbook step applies"
        return _stop(why)
    return step_plan(step, obs, playbook, policy)


def applicable_steps(
    obs: Obs, playbook: PlaybookConfig, blocked: set[str] | frozenset[str] = frozenset()
) -> list[PlaybookStep]:
    """The playbook steps that may still run for this prospect, in playbook order: not done,
    rejected or blocked today, their conditions hold, and a follow-up only after the
    message it follows. The playbook planner takes the first."""
    o = Observation.of(obs)
    cond = _conditions(o)
    done, rejected = _step_state(o)
    out = []
    for candidate in playbook.steps:
        if candidate.id in done or candidate.id in rejected or candidate.id in blocked:
            continue
        if candidate.follow_up_of and candidate.follow_up_of not in done:
            continue  # a follow-up never goes without the message it follows
        if all(cond.get(c, False) for c in candidate.when):
            out.append(candidate)
    return out


def step_plan(step: PlaybookStep, observation: Obs, playbook: PlaybookConfig, policy: PolicyConfig) -> Plan:
    """What taking `step` means now: wait until it is due, draft it, create the call task,
    ask for review, or send it."""
    obs = Observation.of(observation)
    now = obs.now
    when = due_at(step, obs, policy)
    if when > now:
        return Plan(
            Proposal(
                action="wait",
                until=iso(when),
                step_id=step.id,
                channel=step.channel,
                reason=f"next step {step.id} is due {iso(when)}",
            ),
            f"Step {step.id!r} comes {step.delay_business_days} business day(s) after the "
            f"last touch; wait until {iso(when)}.",
        )
    base: dict[str, Any] = dict(channel=step.channel, kind=step.kind, step_id=step.id, template=step.template)
    if step.id not in obs.drafted:
        llm_usd = float(obs.costs.llm_draft_usd or 0)
        return Plan(
            Proposal(
                action="draft",
                reason=f"step {step.id} needs a {step.kind} draft",
                est_llm_usd=llm_usd,
                est_usd=llm_usd,
                **base,
            ),
            f"Step {step.id!r} is due; write the {step.kind} from template {step.template!r}.",
        )
    if step.channel == "phone":
        return Plan(
            Proposal(action="call_task", reason=f"playbook step {step.id}: call", **base),
            "The playbook asks for a call: create a task for the owner with the talking "
            "points, rather than dialing.",
        )
    approved = _approved(obs.reviews.get(step.id), obs.draft(step.id))
    why_review = _needs_review(step, obs, playbook)
    if why_review and not approved:
        return Plan(
            Proposal(action="request_review", reason=why_review, **base),
            f"Draft ready but {why_review}; ask a human before sending.",
        )
    return Plan(
        Proposal(action="send", reason=f"step {step.id} is due and drafted", **base),
        f"Step {step.id!r} is due, drafted{' and approved' if approved else ''}: send by {step.channel}.",
    )


EVENT_CONDITIONS = frozenset({"connection_accepted", "opened_no_reply"})
RECHECK_BUSINESS_DAYS = 2


def _waiting_on_event(playbook: PlaybookConfig, cond: Mapping[str, bool], skip: AbstractSet[str]) -> str:
    """The event a remaining step still waits for (e.g. an accepted connection), if any."""
    for s in playbook.steps:
        unmet = [c for c in s.when if not cond.get(c, False)]
        if s.id not in skip and unmet and set(unmet) <= EVENT_CONDITIONS:
            return " and ".join(c.replace("_", " ") for c in unmet)
    return ""


def _recheck_at(obs: Obs, policy: PolicyConfig, days: int = RECHECK_BUSINESS_DAYS) -> datetime:
    o = Observation.of(obs)
    tz = o.prospect.zone or UTC_ZONE
    country = o.prospect.country or ""
    return policy.window.opening_after(o.now.astimezone(tz).date(), days, tz, country=country)


def _usd(obs: Observation, credits: float) -> float:
    return round(credits * float(obs.costs.credit_usd), 6)


def _stop(reason: str) -> Plan:
    return Plan(Proposal(action="stop", reason=reason), f"Stop: {reason}.", forced=True)
