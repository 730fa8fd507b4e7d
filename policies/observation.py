"""A typed, immutable view of the JSON observation the graph records in the decision log.

The observation stays a canonical JSON dict in the graph state and in the log (it is
hashed by digest, and replay feeds the recorded dict back). `Observation.from_json(obs)`
reads it once: times are parsed to aware UTC datetimes, lists become tuples, numeric
counters are coerced, and the values the rules derive from a section over and over (the
prospect's country code and zone, the email's local part and domain, the sender's zone)
are computed here once. The planner and the policy rules read fields by name.

Values keep the JSON semantics of the old ``dict.get(...) or {}`` reads exactly: a field
that is absent reads as None (or 0.0 for a numeric counter), and values the rules print
(``country``, ``tier``, ``unsubscribed_at`` ...) are kept as recorded, so every verdict and
reason is unchanged.

Sections that stay free-form mappings (read with `PolicyInput.fact` or `Observation.section`):
``crm`` (the CRM's answer: status, message), ``score`` (the scoring breakdown), and
``pending_sends``; the draft's ``sentences`` (model output: text, evidence_ids, personal)
and ``headers``; ``evidence`` items (id -> quote/url/kind, any shape) and the counters'
``template_sends`` (template version -> sends) are mappings keyed by data, not by name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property, lru_cache
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo

from core.timeutil import parse_instant, zone
from policies.config import country_code

UTC_ZONE = ZoneInfo("UTC")
T = TypeVar("T")
_EMPTY: Mapping[str, Any] = {}


def _is_map(value: Any) -> bool:
    return type(value) is dict or isinstance(value, Mapping)  # dict first: the ABC check is slow


def _map(value: Any) -> Mapping[str, Any]:
    return value if type(value) is dict or isinstance(value, Mapping) else _EMPTY


def _or_map(value: Any) -> Mapping[str, Any]:
    """``value or {}``: the old reads of sections the observation always has as mappings."""
    return value or _EMPTY


def _country_code(raw: Any) -> str:
    try:
        return _country_code_memo(raw)
    except TypeError:  # unhashable: not a country anyway, read as the rules always did
        return country_code(raw)


def _zone(name: Any) -> ZoneInfo | None:
    try:
        return _zone_memo(name)
    except TypeError:
        return zone(name)


_country_code_memo = lru_cache(maxsize=1024)(country_code)
_zone_memo = lru_cache(maxsize=1024)(zone)


@lru_cache(maxsize=4096)
def _parse(text: str) -> datetime:
    """`parse_instant`, memoised by text (a run's observations share `now` and many
    instants); a datetime is immutable."""
    return parse_instant(text)


def _instant(value: str | None) -> datetime | None:
    return _parse(value) if value else None


def _number(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0


@dataclass(frozen=True, slots=True)
class Touch:
    step_id: str
    channel: str
    at: datetime
    kind: str | None = None
    template: str | None = None


@dataclass(frozen=True, slots=True)
class SuppressionHit:
    reason: str
    match: Literal["email", "domain"]
    value: str


@dataclass(frozen=True, slots=True)
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
    fingerprint: Any = None  # as recorded (the fingerprint of subject, body, recipient, channel)
    # headers with lower-case names and str values (what the content rules compare)
    headers_lower: Mapping[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.headers and not self.headers_lower:
            object.__setattr__(
                self, "headers_lower", {str(k).lower(): str(v) for k, v in self.headers.items()}
            )

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> DraftFacts:
        return cls(
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
            fingerprint=d.get("fingerprint"),
        )


@dataclass(frozen=True, slots=True)
class Consent:
    basis: Any = None
    recorded_at: Any = None
    published_address: Any = None
    no_solicitation: Any = None

    @property
    def express(self) -> bool:
        """Recorded express consent (basis "consent" with a date)."""
        return self.basis == "consent" and bool(self.recorded_at)


@dataclass(frozen=True, slots=True)
class Prospect:
    """The prospect on record. Raw fields are as recorded (None when absent)."""

    id: Any = None
    first_name: Any = None
    last_name: Any = None
    full_name: Any = None
    email: Any = None
    email_status: Any = None
    email_domain: Any = None
    linkedin_url: Any = None
    title: Any = None
    country: Any = None
    timezone: Any = None
    tier: Any = None
    owner: Any = None
    status: Any = None
    stop_reason: Any = None
    has_postal_address: Any = None
    postal_address_kind: Any = None
    is_sole_trader: Any = None
    open_opportunity: Any = None
    do_not_contact: Any = None
    consent: Consent = Consent()
    # derived once
    country_code: str = ""  # ISO alpha-2 ("UK" read as "GB"), "" when unusable
    zone: ZoneInfo | None = None  # None when the zone is unknown
    email_local: str = ""  # lower-case local part of the email, "" without an email
    email_host: str = ""  # lower-case domain of the email (else of email_domain)

    @classmethod
    def from_json(cls, p: Mapping[str, Any]) -> Prospect:
        email = str(p.get("email") or "").strip().lower()
        if "@" not in email:
            local, host = "", str(p.get("email_domain") or "").strip().lower()
        else:
            local, _, host = email.rpartition("@")
        c = _map(p.get("consent"))
        get = p.get
        # positional, in declaration order: the raw fields, then the derived ones
        fields: tuple[Any, ...] = (
            *map(get, _PROSPECT_RAW),
            Consent(*map(c.get, _CONSENT_RAW)),
            _country_code(get("country")),
            _zone(get("timezone")),
            local,
            host,
        )
        return cls(*fields)


# The raw fields of Prospect and Consent, in declaration order (read with one map()).
_PROSPECT_RAW = (
    "id",
    "first_name",
    "last_name",
    "full_name",
    "email",
    "email_status",
    "email_domain",
    "linkedin_url",
    "title",
    "country",
    "timezone",
    "tier",
    "owner",
    "status",
    "stop_reason",
    "has_postal_address",
    "postal_address_kind",
    "is_sole_trader",
    "open_opportunity",
    "do_not_contact",
)
_CONSENT_RAW = ("basis", "recorded_at", "published_address", "no_solicitation")


@dataclass(frozen=True, slots=True)
class Company:
    id: Any = None
    name: Any = None
    domain: Any = None
    research_status: Any = None
    researched: Any = None

    @classmethod
    def from_json(cls, c: Mapping[str, Any]) -> Company:
        return cls(
            id=c.get("id"),
            name=c.get("name"),
            domain=c.get("domain"),
            research_status=c.get("research_status"),
            researched=c.get("researched"),
        )


@dataclass(frozen=True, slots=True)
class Sender:
    name: Any = None
    email: Any = None
    company: Any = None
    postal_address: Any = None
    unsubscribe_url: Any = None
    unsubscribe_mailto: Any = None
    timezone: Any = None
    zone: ZoneInfo = UTC_ZONE  # the zone counters reset in (UTC when unknown)

    @classmethod
    def from_json(cls, s: Mapping[str, Any]) -> Sender:
        return cls(
            name=s.get("name"),
            email=s.get("email"),
            company=s.get("company"),
            postal_address=s.get("postal_address"),
            unsubscribe_url=s.get("unsubscribe_url"),
            unsubscribe_mailto=s.get("unsubscribe_mailto"),
            timezone=s.get("timezone"),
            zone=_zone(s.get("timezone")) or UTC_ZONE,
        )


@dataclass(frozen=True, slots=True)
class Events:
    """The prospect's engagement facts. The reply instants are parsed; the other instants
    are kept as recorded (the rules quote them) and `ooo_until` is parsed where it is read."""

    replied_at: datetime | None = None
    account_replied_at: datetime | None = None
    reply_kind: Any = None
    bounced_at: Any = None
    opened_at: Any = None
    connection_accepted_at: Any = None
    unsubscribed_at: Any = None
    complained_at: Any = None
    ooo_until: Any = None

    @classmethod
    def from_json(cls, ev: Mapping[str, Any]) -> Events:
        return cls(
            replied_at=_instant(ev.get("replied_at")),
            account_replied_at=_instant(ev.get("account_replied_at")),
            reply_kind=ev.get("reply_kind"),
            bounced_at=ev.get("bounced_at"),
            opened_at=ev.get("opened_at"),
            connection_accepted_at=ev.get("connection_accepted_at"),
            unsubscribed_at=ev.get("unsubscribed_at"),
            complained_at=ev.get("complained_at"),
            ooo_until=ev.get("ooo_until"),
        )


@dataclass(frozen=True, slots=True)
class Spend:
    """Spend so far in one scope, per meter (0.0 when absent or unreadable)."""

    credits: float = 0.0
    llm_usd: float = 0.0
    usd: float = 0.0

    @classmethod
    def from_json(cls, value: Any) -> Spend:
        m = _map(value)
        return cls(
            credits=_number(m.get("credits")), llm_usd=_number(m.get("llm_usd")), usd=_number(m.get("usd"))
        )


@dataclass(frozen=True, slots=True)
class Counters:
    """Usage so far: per mailbox and channel in the sender's periods, per account, per
    template version, and spend per scope (run, month, prospect)."""

    mailbox_sent_today: float = 0.0
    mailbox_first_send_date: date | None = None
    linkedin_invites_week: float = 0.0
    linkedin_messages_week: float = 0.0
    direct_mail_sends_month: float = 0.0
    direct_mail_usd_month: float = 0.0
    account_contacts_touched_week: float = 0.0
    template_sends: Mapping[str, Any] = field(default_factory=dict)
    spend_run: Spend = Spend()
    spend_month: Spend = Spend()
    spend_prospect: Spend = Spend()

    def spend(self, scope: str) -> Spend:
        """Spend in "run", "month" or "prospect"."""
        return {"run": self.spend_run, "month": self.spend_month, "prospect": self.spend_prospect}[scope]

    def count(self, name: str) -> float:
        """One numeric counter by name (as `_number(counters.get(name))` read it)."""
        return float(getattr(self, name))

    @classmethod
    def from_json(cls, c: Mapping[str, Any]) -> Counters:
        spend = _map(c.get("spend"))
        sends = c.get("template_sends") or {}
        return cls(
            mailbox_sent_today=_number(c.get("mailbox_sent_today")),
            mailbox_first_send_date=_first_send(c.get("mailbox_first_send_date")),
            linkedin_invites_week=_number(c.get("linkedin_invites_week")),
            linkedin_messages_week=_number(c.get("linkedin_messages_week")),
            direct_mail_sends_month=_number(c.get("direct_mail_sends_month")),
            direct_mail_usd_month=_number(c.get("direct_mail_usd_month")),
            account_contacts_touched_week=_number(c.get("account_contacts_touched_week")),
            template_sends=sends if isinstance(sends, Mapping) else _EMPTY,
            spend_run=Spend.from_json(spend.get("run")),
            spend_month=Spend.from_json(spend.get("month")),
            spend_prospect=Spend.from_json(spend.get("prospect")),
        )


def _first_send(raw: Any) -> date | None:
    if not raw:
        return None
    if type(raw) is str:
        return _first_send_text(raw)
    try:
        return date.fromisoformat(str(raw)[:10])
    except ValueError:
        return None


@lru_cache(maxsize=256)
def _first_send_text(raw: str) -> date | None:
    try:
        return date.fromisoformat(str(raw)[:10])
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Review:
    """A review record (of a message, or of a decision)."""

    id: Any = None
    kind: Any = "message"  # as recorded; "message" when absent
    status: Any = None
    draft_id: Any = None
    decided_by: Any = None
    approved_fingerprint: Any = None

    @classmethod
    def from_json(cls, r: Mapping[str, Any]) -> Review:
        return cls(
            id=r.get("id"),
            kind=r.get("kind", "message"),
            status=r.get("status"),
            draft_id=r.get("draft_id"),
            decided_by=r.get("decided_by"),
            approved_fingerprint=r.get("approved_fingerprint"),
        )


@dataclass(frozen=True, slots=True)
class Costs:
    """Unit costs for the planner's estimates (raw values; defaults as the planner read them)."""

    credit_usd: Any = 0
    research_credits: Any = 0
    enrichment_credits: Any = 0
    llm_draft_usd: Any = 0


@dataclass(frozen=True, eq=False)
class Observation:
    """The typed view. The sections every rule reads (prospect, sender, events, counters,
    touches, suppressions) are read when the view is built; the sections only some actions
    read (drafts, reviews, evidence, costs ...) are read on first use and kept (the view
    never changes: the JSON it reads is not mutated while the view is in use)."""

    now: datetime
    raw: Mapping[str, Any]  # the JSON observation itself (never mutated by this view)
    mode: Any = None
    kill_switch: Any = None
    prospect: Prospect = Prospect()
    company: Company = Company()
    sender: Sender = Sender()
    events: Events = Events()
    counters: Counters = Counters()
    suppressions: tuple[SuppressionHit, ...] = ()
    touches: tuple[Touch, ...] = ()
    _drafts_by_step: dict[str, DraftFacts | None] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _derived: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def derived(self, name: str, compute: Callable[[Observation], T]) -> T:
        """A value a reader derives from this view alone (e.g. the planner's conditions),
        computed once per view: `compute` must be a pure function of the view."""
        try:
            return self._derived[name]
        except KeyError:
            value = compute(self)
            self._derived[name] = value
            return value

    @property
    def last_touch_at(self) -> datetime | None:
        return max((t.at for t in self.touches), default=None)

    def section(self, name: str) -> Mapping[str, Any]:
        """A free-form mapping section of the JSON observation (``crm``, ``score`` ...); an
        absent or null section reads as empty."""
        return _map(self.raw.get(name))

    def draft(self, step_id: str | None) -> DraftFacts | None:
        """The stored draft of a step (None when there is none), parsed once."""
        if not step_id:
            return None
        try:
            return self._drafts_by_step[step_id]
        except KeyError:
            pass
        d = _or_map(self.raw.get("drafts")).get(step_id)
        found = DraftFacts.from_json(d) if isinstance(d, Mapping) else None
        self._drafts_by_step[step_id] = found
        return found

    @cached_property
    def drafts(self) -> Mapping[str, DraftFacts]:
        """Every stored draft by step id."""
        out = {}
        for sid, d in _or_map(self.raw.get("drafts")).items():
            found = self.draft(sid) if isinstance(d, Mapping) else None
            if found is not None:
                out[sid] = found
        return out

    @cached_property
    def drafted(self) -> frozenset[str]:
        """The step ids whose recorded draft is a non-empty value (what "drafted" means)."""
        return frozenset(sid for sid, d in _or_map(self.raw.get("drafts")).items() if d)

    @cached_property
    def reviews(self) -> Mapping[str, Review]:
        return {sid: Review.from_json(r) for sid, r in _map(self.raw.get("reviews")).items() if _is_map(r)}

    @cached_property
    def decision_reviews(self) -> Mapping[str, Mapping[str, Review]]:
        return {
            sid: {a: Review.from_json(r) for a, r in _map(by_action).items() if _is_map(r)}
            for sid, by_action in _map(self.raw.get("decision_reviews")).items()
        }

    @cached_property
    def evidence(self) -> Mapping[str, Any]:
        """Evidence items by id (free-form: quote, url, kind)."""
        return _map(self.raw.get("evidence"))

    @cached_property
    def evidence_quotes(self) -> Mapping[str, str]:
        """Evidence id -> its quote text (what grounding compares against)."""
        return {
            i: str(item.get("quote") or "") if _is_map(item) else str(item or "")
            for i, item in self.evidence.items()
        }

    @cached_property
    def costs(self) -> Costs:
        costs = self.raw.get("costs", {})
        costs = costs if _is_map(costs) else _EMPTY
        return Costs(
            credit_usd=costs.get("credit_usd", 0),
            research_credits=costs.get("research_credits", 0),
            enrichment_credits=costs.get("enrichment_credits", 0),
            llm_draft_usd=costs.get("llm_draft_usd", 0),
        )

    @cached_property
    def enrichment_attempted(self) -> Any:
        return _or_map(self.raw.get("enrichment")).get("attempted")

    @classmethod
    def of(cls, obs: Mapping[str, Any] | Observation) -> Observation:
        return obs if isinstance(obs, Observation) else cls.from_json(obs)

    @classmethod
    def from_json(cls, obs: Mapping[str, Any]) -> Observation:
        return cls(
            now=_parse(obs["now"]),
            raw=obs,
            mode=obs.get("mode"),
            kill_switch=obs.get("kill_switch"),
            prospect=Prospect.from_json(_or_map(obs.get("prospect"))),
            company=Company.from_json(_or_map(obs.get("company"))),
            sender=Sender.from_json(_map(obs.get("sender"))),
            events=Events.from_json(_or_map(obs.get("events"))),
            counters=Counters.from_json(_or_map(obs.get("counters"))),
            suppressions=tuple(
                SuppressionHit(s["reason"], s["match"], s["value"]) for s in obs.get("suppressions") or ()
            ),
            touches=tuple(
                Touch(
                    t["step_id"],
                    t.get("channel", ""),  # the planner reads touches without one
                    _parse(t["at"]),
                    kind=t.get("kind"),
                    template=t.get("template"),
                )
                for t in obs.get("touches") or ()
            ),
        )
