"""Plain data the guardrails work on: the proposed action, the facts observed about the
prospect, and the verdicts. No I/O here and nowhere in `policies/`.

A rule is ``Callable[[PolicyInput, PolicyConfig], Verdict | None]``: None means "does not apply".
`PolicyInput.from_observation` builds the input from the JSON observation the graph
records in the decision log, so replay feeds rules exactly what they saw.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from core.timeutil import parse_instant

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


@dataclass(frozen=True)
class Touch:
    step_id: str
    channel: str
    at: datetime
    kind: str | None = None
    template: str | None = None


@dataclass(frozen=True)
class SuppressionHit:
    reason: str
    match: Literal["email", "domain"]
    value: str


@dataclass(frozen=True)
class DraftFacts:
    channel: str
    subject: str
    body: str
    sentences: tuple[Mapping[str, Any], ...] = ()
    template: str | None = None
    model_written: bool = False
    id: str | None = None
    kind: str | None = None
    template_version: str | None = None
    links: tuple[str, ...] = ()
    headers: Mapping[str, Any] = field(default_factory=dict)
    recipient: str | None = None


@dataclass(frozen=True)
class PolicyInput:
    now: datetime
    proposal: Proposal
    prospect: Mapping[str, Any]
    company: Mapping[str, Any] = field(default_factory=dict)
    suppressions: tuple[SuppressionHit, ...] = ()
    touches: tuple[Touch, ...] = ()
    replied_at: datetime | None = None
    account_replied_at: datetime | None = None
    draft: DraftFacts | None = None
    counters: Mapping[str, Any] = field(default_factory=dict)
    steps_this_run: int = 0
    observation: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_observation(
        cls, obs: Mapping[str, Any], proposal: Proposal, steps_this_run: int = 0
    ) -> PolicyInput:
        events = obs.get("events") or {}
        draft = None
        if proposal.step_id and proposal.step_id in (obs.get("drafts") or {}):
            d = obs["drafts"][proposal.step_id]
            draft = DraftFacts(
                channel=d.get("channel", ""),
                subject=d.get("subject", ""),
                body=d.get("body", ""),
                sentences=tuple(d.get("sentences") or ()),
                template=d.get("template"),
                model_written=bool(d.get("model_written", False)),
                id=d.get("id"),
                kind=d.get("kind"),
                template_version=d.get("template_version"),
                links=tuple(d.get("links") or ()),
                headers=dict(d.get("headers") or {}),
                recipient=d.get("recipient"),
            )
        return cls(
            now=parse_instant(obs["now"]),
            proposal=proposal,
            prospect=obs.get("prospect") or {},
            company=obs.get("company") or {},
            suppressions=tuple(
                SuppressionHit(s["reason"], s["match"], s["value"]) for s in obs.get("suppressions") or ()
            ),
            touches=tuple(
                Touch(
                    t["step_id"],
                    t["channel"],
                    parse_instant(t["at"]),
                    kind=t.get("kind"),
                    template=t.get("template"),
                )
                for t in obs.get("touches") or ()
            ),
            replied_at=_instant(events.get("replied_at")),
            account_replied_at=_instant(events.get("account_replied_at")),
            draft=draft,
            counters=obs.get("counters") or {},
            steps_this_run=steps_this_run,
            observation=obs,
        )

    def fact(self, section: str) -> Mapping[str, Any]:
        """One mapping section of the observation (``events``, ``sender``, ``evidence``,
        ``reviews`` ...); an absent or null section reads as empty."""
        value = self.observation.get(section)
        return value if isinstance(value, Mapping) else {}

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
        return {
            "email": "email",
            "linkedin": "linkedin_message",
            "direct_mail": "direct_mail",
            "phone": "call",
        }.get(self.channel, "")


def _instant(value: str | None) -> datetime | None:
    return parse_instant(value) if value else None


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
