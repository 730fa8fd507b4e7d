"""Plain data the guardrails work on: the proposed action, the facts observed about the
prospect, and the verdicts. No I/O here and nowhere in `policies/`.

A rule is ``Callable[[PolicyInput, PolicyConfig], Verdict | None]``: None means "does not apply".
`PolicyInput.from_observation` builds the input from the JSON observation the graph
records in the decision log, so replay feeds rules exactly what they saw. The rules read
its typed view (`policies.observation.Observation`, `inp.obs`) by name; `inp.fact(...)`
remains for the free-form ``crm`` section only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from policies.observation import (
    Company,
    Counters,
    DraftFacts,
    Events,
    Observation,
    Prospect,
    Sender,
    SuppressionHit,
    Touch,
)

Outcome = Literal["allow", "deny", "review", "defer"]
ActionKind = Literal["research", "enrich", "draft", "request_review", "send", "call_task", "wait", "stop"]
Channel = Literal["email", "linkedin", "direct_mail", "phone"]
ACTIONS: tuple[str, ...] = (
    "research",
    "enrich",
    "draft",
    "request_review",
    "send",
    "call_task",
    "wait",
    "stop",
)
CHANNELS: tuple[str, ...] = ("email", "linkedin", "direct_mail", "phone")
# Actions that reach the prospect (the guard is strictest for these).
TOUCH_ACTIONS = frozenset({"send"})
OUTCOME_RANK: dict[str, int] = {"allow": 0, "defer": 1, "review": 2, "deny": 3}


@dataclass(frozen=True)
class Verdict:
    rule: str
    outcome: Outcome
    reason: str
    until: str | None = None  # ISO-8601 UTC instant, only for "defer"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"rule": self.rule, "outcome": self.outcome, "reason": self.reason}
        if self.until is not None:
            out["until"] = self.until
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        return cls(rule=data["rule"], outcome=data["outcome"], reason=data["reason"], until=data.get("until"))


@dataclass(frozen=True)
class Proposal:
    """What the planner proposes. Recipients are never part of it: they come from the
    prospect on record."""

    action: ActionKind
    reason: str
    channel: str | None = None
    kind: str | None = None  # email | linkedin_connect | linkedin_message | direct_mail | call
    step_id: str | None = None
    template: str | None = None
    until: str | None = None  # for "wait"
    est_credits: float = 0.0
    est_usd: float = 0.0  # the action's whole cost in USD, LLM share included
    est_llm_usd: float = 0.0  # the LLM share of est_usd

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Proposal:
        keys = cls.__dataclass_fields__.keys()
        return cls(**{k: v for k, v in data.items() if k in keys})


@dataclass(frozen=True, slots=True)
class PolicyInput:
    """What one rule sees: the proposal, the typed observation it is judged against, the
    stored draft of the proposal's step (if any) and the steps already taken this run."""

    proposal: Proposal
    obs: Observation
    draft: DraftFacts | None = None
    steps_this_run: int = 0

    @classmethod
    def from_observation(
        cls, obs: Mapping[str, Any] | Observation, proposal: Proposal, steps_this_run: int = 0
    ) -> PolicyInput:
        """The input for `proposal` against an observation: its JSON dict (parsed here) or
        an `Observation` already parsed (several proposals against one observation)."""
        view = Observation.of(obs)
        step = proposal.step_id
        draft = view.draft(step)
        return cls(proposal=proposal, obs=view, draft=draft, steps_this_run=steps_this_run)

    @property
    def now(self) -> datetime:
        return self.obs.now

    @property
    def prospect(self) -> Prospect:
        return self.obs.prospect

    @property
    def company(self) -> Company:
        return self.obs.company

    @property
    def sender(self) -> Sender:
        return self.obs.sender

    @property
    def events(self) -> Events:
        return self.obs.events

    @property
    def counters(self) -> Counters:
        return self.obs.counters

    @property
    def suppressions(self) -> tuple[SuppressionHit, ...]:
        return self.obs.suppressions

    @property
    def touches(self) -> tuple[Touch, ...]:
        return self.obs.touches

    @property
    def replied_at(self) -> datetime | None:
        return self.obs.events.replied_at

    @property
    def account_replied_at(self) -> datetime | None:
        return self.obs.events.account_replied_at

    def fact(self, section: str) -> Mapping[str, Any]:
        """A free-form mapping section of the observation (``crm`` ...); an absent or null
        section reads as empty. Named sections are typed fields of `obs`."""
        return self.obs.section(section)

    @property
    def channel(self) -> str:
        """The proposal's channel, else the draft's, else ""."""
        return self.proposal.channel or (self.draft.channel if self.draft else "") or ""

    @property
    def message_kind(self) -> str:
        """email | linkedin_connect | linkedin_message | direct_mail | call: the proposal's
        kind, else the draft's, else derived from the channel."""
        kind = self.proposal.kind or (self.draft.kind if self.draft else None)
        if kind:
            return kind
        return _CHANNEL_KIND.get(self.channel, "")


_CHANNEL_KIND = {
    "email": "email",
    "linkedin": "linkedin_message",
    "direct_mail": "direct_mail",
    "phone": "call",
}


@dataclass(frozen=True)
class Decision:
    """The combined outcome of all rules for one proposal."""

    outcome: Outcome
    verdicts: tuple[Verdict, ...]
    until: str | None = None

    @property
    def deciding(self) -> tuple[Verdict, ...]:
        return tuple(v for v in self.verdicts if v.outcome == self.outcome)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"outcome": self.outcome, "verdicts": [v.to_dict() for v in self.verdicts]}
        if self.until:
            out["until"] = self.until
        return out
