"""SQLModel tables. Every row carries its workspace id, so one PostgreSQL database can
hold many clients' workspaces and no query crosses between them.

Times are stored as UTC; SQLite hands them back naive (treat as UTC, see
core.timeutil.to_utc). JSON columns are reassigned, never mutated in place.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, LargeBinary, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from state.columns import JsonCol, json_field  # noqa: F401  (JsonCol is re-exported)


class Company(SQLModel, table=True):
    __tablename__ = "companies"
    __table_args__ = (
        # unique when known: several companies may be known by name only (domain "")
        Index(
            "ux_companies_ws_domain",
            "workspace",
            "domain",
            unique=True,
            sqlite_where=text("domain <> ''"),
            postgresql_where=text("domain <> ''"),
        ),
        Index("ix_companies_ws_norm", "workspace", "norm_name"),
    )

    id: str = Field(primary_key=True)
    workspace: str = Field(index=True)
    name: str
    norm_name: str
    domain: str
    industry: str = ""
    employee_count: int | None = None
    country: str = ""
    researched_at: datetime | None = None
    research_status: str = "pending"  # pending | done | not_found | failed
    research_error: str = ""


class Prospect(SQLModel, table=True):
    __tablename__ = "prospects"
    __table_args__ = (
        Index("ix_prospects_ws_email", "workspace", "email_norm"),
        Index("ix_prospects_ws_linkedin", "workspace", "linkedin_norm"),
        Index("ix_prospects_due", "workspace", "status", "next_action_at"),
    )

    id: str = Field(primary_key=True)
    workspace: str = Field(index=True)
    first_name: str = ""
    last_name: str = ""
    full_name: str = ""
    email: str = ""
    email_norm: str = ""
    email_status: str = "unknown"  # unknown | valid | invalid
    enrichment_status: str = ""  # "" (never tried) | found | not_found | failed
    linkedin_url: str = ""
    linkedin_norm: str = ""
    phone: str = ""
    title: str = ""
    company_id: str | None = Field(default=None, index=True)
    country: str = ""
    region: str = ""
    city: str = ""
    timezone: str = ""
    tier: int | None = None
    owner: str = ""
    source: str = ""
    attributes: dict = json_field()
    status: str = "active"  # active | waiting | awaiting_review | stopped | done
    stop_reason: str = ""
    next_action: str = ""
    next_action_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class Signal(SQLModel, table=True):
    __tablename__ = "signals"
    __table_args__ = (UniqueConstraint("workspace", "dedupe_key"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace: str = Field(index=True)
    dedupe_key: str
    company_id: str | None = Field(default=None, index=True)
    prospect_id: str | None = Field(default=None, index=True)
    type: str
    detail: str = ""
    url: str = ""
    occurred_at: datetime | None = None


class Suppression(SQLModel, table=True):
    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("workspace", "kind", "value"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace: str = Field(index=True)
    kind: str  # email | domain
    value: str
    reason: str
    source: str = ""
    created_at: datetime


class Evidence(SQLModel, table=True):
    __tablename__ = "evidence"

    workspace: str = Field(primary_key=True)
    id: str = Field(primary_key=True)  # ev_<hash>: stable for the same source and quote
    company_id: str | None = Field(default=None, index=True)
    prospect_id: str | None = Field(default=None, index=True)
    kind: str  # product | about | hiring | funding | news | expansion | tech | signal
    source_url: str
    quote: str = Field(sa_column=Column(Text, nullable=False))
    data: dict = json_field()
    collected_at: datetime


class LookupCache(SQLModel, table=True):
    """Paid lookups (research, enrichment, LLM) keyed so the same lookup is never paid twice."""

    __tablename__ = "lookup_cache"
    __table_args__ = (
        UniqueConstraint("workspace", "provider", "key"),
        Index("ix_lookup_cache_spend", "workspace", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    workspace: str = Field(index=True)
    provider: str
    key: str
    status: str  # found | not_found | error
    result: dict = json_field()
    credits: float = 0.0
    usd: float = 0.0
    created_at: datetime


class Draft(SQLModel, table=True):
    __tablename__ = "drafts"
    __table_args__ = (Index("ix_drafts_template_version", "workspace", "template_version"),)

    id: str = Field(primary_key=True)
    workspace: str = Field(index=True)
    prospect_id: str = Field(index=True)
    step_id: str
    channel: str
    kind: str
    template: str
    template_version: str
    subject: str = ""
    body: str = Field(sa_column=Column(Text, nullable=False))
    sentences: list = json_field([])
    status: str = "draft"  # draft | approved | rejected | superseded | sent
    edited_by: str = ""
    model_written: bool = False  # written by Claude (the grounded drafter): always reviewed
    created_at: datetime


class Review(SQLModel, table=True):
    __tablename__ = "reviews"
    __table_args__ = (UniqueConstraint("workspace", "prospect_id", "draft_id"),)

    id: str = Field(primary_key=True)
    workspace: str = Field(index=True)
    prospect_id: str = Field(index=True)
    thread_id: str
    draft_id: str
    step_id: str
    channel: str
    reasons: list = json_field([])
    status: str = "pending"  # pending | approved | rejected | edited | stale | expired
    requested_at: datetime
    requested_run_id: str = ""
    decided_at: datetime | None = None
    decided_by: str = ""
    note: str = ""


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        Index("ix_outbox_usage", "workspace", "channel", "status", "sent_at"),
        Index("ix_outbox_draft", "draft_id"),
        Index("ix_outbox_provider_msg", "workspace", "provider_message_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    workspace: str = Field(index=True)
    prospect_id: str = Field(index=True)
    idempotency_key: str
    step_id: str
    channel: str
    kind: str
    draft_id: str
    provider: str = ""
    status: str = "pending"  # pending | sending | sent | failed
    attempts: int = 0
    provider_message_id: str = ""
    payload: dict = json_field()
    error_class: str = ""
    error: str = ""
    run_id: str = ""
    created_at: datetime
    sent_at: datetime | None = None


class EngagementEventRow(SQLModel, table=True):
    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("workspace", "dedupe_key"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace: str = Field(index=True)
    dedupe_key: str
    prospect_id: str | None = Field(default=None, index=True)
    type: str
    channel: str = ""
    occurred_at: datetime
    text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    provider: str = ""
    provider_message_id: str = ""
    raw: dict = json_field()


class Run(SQLModel, table=True):
    __tablename__ = "runs"

    id: str = Field(primary_key=True)
    workspace: str = Field(index=True)
    kind: str = "daily"  # daily | review | replay
    now: datetime
    started_at: datetime
    finished_at: datetime | None = None
    status: str = "running"  # running | finished | failed
    dry_run: bool = False
    summary: dict = json_field()


class DecisionRecord(SQLModel, table=True):
    """One decision, append-only. The canonical JSON that was hashed is `body` (plain text,
    `codec` "") or `packed` (raw DEFLATE, `codec` "z", or with the workspace's body
    dictionary, "zd:<id>"); read it with `state.decision_log.load_body`/`load_bodies`, never
    from these columns. The other columns are copies for querying and are checked against
    the body on verify."""

    __tablename__ = "decisions"
    __table_args__ = (
        UniqueConstraint("workspace", "seq"),
        Index("ix_decisions_ws_run", "workspace", "run_id"),
        Index("ix_decisions_ws_prospect", "workspace", "prospect_id"),
    )

    id: str = Field(primary_key=True)
    workspace: str
    seq: int
    at: datetime
    run_id: str
    prospect_id: str
    node: str
    action: str
    outcome: str = ""  # the body's "outcome" when it is a string ("allow", "defer", ...)
    body: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    packed: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    codec: str = ""
    prev_hash: str
    hash: str


class DecisionDict(SQLModel, table=True):
    """A preset DEFLATE dictionary for one workspace's decision bodies, immutable once
    written (every body packed with it needs it to be read back and verified). Named by the
    first 16 hex digits of the sha256 of its bytes. Built from the skeletons of the
    workspace's own bodies with only values several prospects share
    (`state.storage_codec.build_body_dictionary`)."""

    __tablename__ = "decision_dicts"

    workspace: str = Field(primary_key=True)
    id: str = Field(primary_key=True)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    built_at_seq: int = 0  # the chain length it was built at
    created_at: datetime


class ChainHead(SQLModel, table=True):
    __tablename__ = "chain_heads"

    workspace: str = Field(primary_key=True)
    seq: int = 0
    hash: str = ""


class InboundLead(SQLModel, table=True):
    """A lead pushed by a form or a Clay webhook: stored durably before it is acknowledged,
    then researched and routed by the graph."""

    __tablename__ = "inbound_leads"
    __table_args__ = (UniqueConstraint("workspace", "dedupe_key"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace: str = Field(index=True)
    dedupe_key: str
    payload: dict = json_field()
    status: str = "received"  # received | processing | processed | failed
    prospect_id: str = ""
    error: str = ""
    received_at: datetime
    processed_at: datetime | None = None


class ReviewMessage(SQLModel, table=True):
    """Where a review request was posted in Slack, so it can be updated and reminded."""

    __tablename__ = "review_messages"

    review_id: str = Field(primary_key=True)
    workspace: str = Field(index=True)
    slack_channel: str
    slack_ts: str
    posted_at: datetime
    reminded_at: datetime | None = None


class Task(SQLModel, table=True):
    """Work for a human: hand-offs of interested replies, referrals, operator notices."""

    __tablename__ = "tasks"
    __table_args__ = (UniqueConstraint("workspace", "dedupe_key"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace: str = Field(index=True)
    dedupe_key: str
    prospect_id: str = ""
    kind: str  # handoff | referral | call | channel_paused | review_low_confidence
    owner: str = ""
    title: str
    body: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    status: str = "open"  # open | done
    created_at: datetime


class ChannelState(SQLModel, table=True):
    """A channel paused after a configuration error (bad key): the operator is told once."""

    __tablename__ = "channel_state"

    workspace: str = Field(primary_key=True)
    channel: str = Field(primary_key=True)
    paused: bool = False
    reason: str = ""
    error_class: str = ""
    changed_at: datetime


from state.models_crm import ClayPush, CrmFacts, CrmLink  # noqa: E402, F401  (CRM and Clay sync)
from state.models_ledger import CostEntry  # noqa: E402,F401  (registers the ledger table)
from state.models_llm import LlmBatch, LlmBatchItem, LlmCall  # noqa: E402,F401  (registers the LLM tables)
from state.models_queue import RunOutcome  # noqa: E402,F401  (queued runs' per-prospect results)
from state.models_reviews import ReviewBinding  # noqa: E402, F401
from state.models_schedule import DailyRunMark  # noqa: E402, F401  (daily run marks)
from state.models_scoring import ProspectScore  # noqa: E402,F401  (registers the score table)
from state.models_storage import ObservationBody, ObservationDict  # noqa: E402,F401  (observations by digest)
from state.models_web import WebPage  # noqa: E402,F401  (registers the fetched-page table)
