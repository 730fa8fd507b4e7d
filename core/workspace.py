"""A workspace: one client's folder with `workspace.toml`. Everything it needs lives
under that folder by default (SQLite database, checkpoints, outbox, rejects), so copying
the folder copies the workspace. Validated on load; errors name the file and key.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.errors import ConfigError
from core.spend_config import EnrichmentConfig, ScoringConfig
from core.webconfig import ExperimentsConfig, WebConfig
from policies.config import PolicyConfig

CONDITIONS = (
    "has_email",
    "no_email",
    "has_linkedin",
    "no_linkedin",
    "tier_1",
    "not_tier_1",
    "no_reply",
    "opened_no_reply",
    "connection_accepted",
    "has_postal_address",
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClientConfig(_Section):
    name: str = Field(min_length=1, description="The agency's client this workspace runs for.")
    id: str = Field("", description="Stable workspace id; defaults to the folder name.")


class SenderConfig(_Section):
    name: str = Field(min_length=1)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    title: str = ""
    company: str = Field(min_length=1)
    postal_address: str = Field(min_length=10, description="Physical postal address (CAN-SPAM).")
    unsubscribe_url: str = Field(pattern=r"^https://", description="One-click unsubscribe URL.")
    unsubscribe_mailto: str = ""
    linkedin_account_id: str = ""
    timezone: str = "UTC"
    sending_domain: str = Field(
        "", description="Domain the email is sent from (SPF, DKIM, DMARC); empty: the email's domain."
    )
    dkim_selectors: tuple[str, ...] = Field(
        (), description="DKIM selectors the sending service signs with (doctor checks each one)."
    )
    spf_includes: tuple[str, ...] = Field(
        (),
        description="What SPF must include for the sending service (e.g. _spf.google.com); "
        "empty: inferred from the email provider where possible.",
    )
    mailbox_warm_since: str = Field(
        "",
        pattern=r"^(\d{4}-\d{2}-\d{2})?$",
        description="Date the sending mailbox started warming up (the capacity rule ramps "
        "from it); empty: the date of its first send from this workspace.",
    )


class IcpConfig(_Section):
    industries: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    titles: tuple[str, ...] = ()
    min_employees: int | None = None
    max_employees: int | None = None


class PlaybookStep(_Section):
    id: str = Field(pattern=r"^[a-z0-9_]+$")
    channel: Literal["email", "linkedin", "direct_mail", "phone"]
    kind: str = Field("", description="email | linkedin_connect | linkedin_message | direct_mail | call")
    template: str = ""
    delay_business_days: int = Field(0, ge=0, description="After the previous touch.")
    when: tuple[str, ...] = ()
    review: bool = Field(False, description="Always ask a human before this step goes out.")
    follow_up_of: str = Field("", description="Step id this one continues (threading).")
    variants: tuple[str, ...] = Field((), description="Templates to test against each other ([experiments]).")

    @field_validator("when")
    @classmethod
    def _known_conditions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [c for c in value if c not in CONDITIONS]
        if unknown:
            raise ValueError(f"unknown condition(s) {unknown}; known: {', '.join(CONDITIONS)}")
        return value

    @model_validator(mode="after")
    def _default_kind(self) -> PlaybookStep:
        if not self.kind:
            default = {
                "email": "email",
                "linkedin": "linkedin_connect",
                "direct_mail": "direct_mail",
                "phone": "call",
            }[self.channel]
            object.__setattr__(self, "kind", default)
        return self


class PlaybookConfig(_Section):
    name: str = "default"
    steps: tuple[PlaybookStep, ...] = Field(min_length=1)
    review_tier_1: bool = Field(True, description="Tier-1 prospects' messages are reviewed.")
    research_first: bool = True
    enrich_missing_email: bool = True

    @model_validator(mode="after")
    def _unique_ids(self) -> PlaybookConfig:
        ids = [s.id for s in self.steps]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate step id(s): {dupes}")
        for s in self.steps:
            if s.follow_up_of and s.follow_up_of not in ids:
                raise ValueError(f"step {s.id!r} follows unknown step {s.follow_up_of!r}")
        return self


class ChannelConfig(_Section):
    enabled: bool = True
    provider: str = "file"
    settings: dict[str, str] = Field(
        default_factory=dict, description="Provider settings; secrets come from env vars named here."
    )


class ChannelsConfig(_Section):
    email: ChannelConfig = ChannelConfig()
    linkedin: ChannelConfig = ChannelConfig()
    direct_mail: ChannelConfig = ChannelConfig()


class ProvidersConfig(_Section):
    planner: Literal["playbook", "claude"] = Field(
        "playbook",
        description='playbook: the deterministic playbook planner; "claude": Claude picks one of the '
        "actions the playbook allows now (the policy engine still decides; any bad answer or API "
        "failure falls back to the playbook).",
    )
    research: Literal["snapshot", "http", "claude"] = Field(
        "snapshot",
        description='snapshot: saved pages under web/; http: the company\'s live site; "claude": Claude '
        "answers [llm] research_questions from the saved pages.",
    )
    enrichment: Literal["file", "waterfall"] = Field(
        "file", description="file: enrichment.csv; waterfall: the [enrichment] providers in order."
    )
    drafting: Literal["template", "claude"] = Field(
        "template", description='"claude": the grounded drafter writes from cited evidence.'
    )
    replies: Literal["rules", "claude"] = Field(
        "rules", description='"claude": replies the rules are unsure about go to Claude, then a human.'
    )
    review: Literal["cli"] = "cli"


class LlmPrice(_Section):
    """USD per million tokens for one model. Cache writes default to 1.25x (5-minute TTL)
    or 2x (1-hour TTL) the input price, cache reads to 0.1x; batches get `batch_discount`."""

    input: float = Field(ge=0)
    output: float = Field(ge=0)
    cache_write_5m: float | None = Field(None, ge=0)
    cache_write_1h: float | None = Field(None, ge=0)
    cache_read: float | None = Field(None, ge=0)
    batch_discount: float = Field(0.5, gt=0, le=1, description="Batch price as a share of the normal one.")


DEFAULT_LLM_PRICES = {
    "claude-sonnet-4-6": LlmPrice(input=3.0, output=15.0),
    "claude-haiku-4-5": LlmPrice(input=1.0, output=5.0),
}
LLM_TASKS = ("draft", "research", "reply", "plan")


class LlmConfig(_Section):
    """Claude: models per task, rate limits, prices, caching and the texts shared by every
    prompt. Used only by providers set to "claude"; the key comes from `api_key_env`."""

    api_key_env: str = Field("ANTHROPIC_API_KEY", description="Env var holding the API key.")
    base_url: str = Field("", description="API base URL (e.g. a local fake); default: the SDK's.")
    models: dict[str, str] = Field(
        default_factory=lambda: {
            "draft": "claude-sonnet-4-6",
            "research": "claude-haiku-4-5",
            "reply": "claude-haiku-4-5",
            "plan": "claude-haiku-4-5",
        },
        description="Model per task (draft, research, reply, plan).",
    )
    max_tokens: dict[str, int] = Field(
        default_factory=lambda: {"draft": 700, "research": 1200, "reply": 300, "plan": 400},
        description="Output token cap per task.",
    )
    prices: dict[str, LlmPrice] = Field(
        default_factory=lambda: dict(DEFAULT_LLM_PRICES), description="USD per MTok per model."
    )
    requests_per_minute: int = Field(50, ge=1)
    input_tokens_per_minute: int = Field(40_000, ge=1)
    output_tokens_per_minute: int = Field(8_000, ge=1)
    max_retries: int = Field(3, ge=0, le=10, description="Retries on 429, 529 and 5xx (none on other 4xx).")
    max_concurrency: int = Field(4, ge=1, le=256, description="Synchronous calls in flight at once.")
    run_concurrency: int = Field(
        8,
        ge=1,
        le=64,
        description="Daily run: prospects processed at once (threads, one company per thread at a "
        "time) when a provider is Claude, so a run waits on the rate limits, not on latency. "
        "1 = one after another.",
    )
    timeout_s: float = Field(60.0, gt=0)
    prompt_cache: bool = Field(True, description="Mark the shared prompt prefix for caching.")
    cache_ttl: Literal["5m", "1h"] = Field("5m", description="Prompt-cache TTL for synchronous calls.")
    batch_cache_ttl: Literal["5m", "1h"] = Field("1h", description="Prompt-cache TTL for batch work.")
    est_draft_usd: float = Field(
        0.02, ge=0, description="Estimated cost of one drafted message (budget rules reserve it)."
    )
    use_batches: bool = Field(
        False,
        description="Daily-run drafts and research (Claude) go through the Message Batches API (half price); the "
        "prospects wait for the results. Inbound speed-to-lead stays synchronous.",
    )
    batch_poll_minutes: int = Field(
        60, ge=1, le=1440, description="A prospect waiting for a batch is due again after this long."
    )
    est_plan_usd: float = Field(
        0.002,
        ge=0,
        description="Estimated cost of one planner call; the Claude planner is not asked when it "
        "would cross an LLM or total budget cap (the playbook decides instead).",
    )
    offer: str = Field("", description="What the client sells, in a few sentences (prompt prefix).")
    house_style: str = Field("", description="How messages are written (prompt prefix).")
    research_questions: tuple[str, ...] = Field(
        (), description="Questions the research reader answers from each company's pages."
    )
    reply_min_rule_confidence: float = Field(
        0.8, ge=0, le=1, description="Below this, Claude judges the reply."
    )
    reply_min_model_confidence: float = Field(0.7, ge=0, le=1, description="Below this, a human decides.")

    @model_validator(mode="after")
    def _known_tasks_and_prices(self) -> LlmConfig:
        unknown = sorted(set(self.models) - set(LLM_TASKS))
        if unknown:
            raise ValueError(f"unknown task(s) {unknown} in models; known: {', '.join(LLM_TASKS)}")
        unpriced = sorted({m for m in self.models.values() if m not in self.prices})
        if unpriced:
            raise ValueError(f"no price for model(s) {unpriced}: add [llm.prices.<model>] input/output")
        return self


class CostsConfig(_Section):
    research_credits: float = Field(1.0, ge=0, description="Credits per company researched.")
    enrichment_credits: float = Field(2.0, ge=0, description="Credits per contact lookup.")
    credit_usd: float = Field(0.01, ge=0, description="Dollar value of one credit.")
    direct_mail_usd: float = Field(35.0, ge=0, description="Cost of one direct-mail send.")


DEFAULT_RESEARCH_KEYWORDS: dict[str, tuple[str, ...]] = {
    "funding": ("raised", "funding", "series *", "seed round", "investment led by"),
    "tech": ("migrat*", "moving from", "moving to", "implement*", "switched to", "adopt*"),
    "expansion": ("expand*", "new office", "opening", "launch* in", "entering"),
}


class ResearchConfig(_Section):
    """How company research reads pages (offline snapshots and the live site alike)."""

    keywords: dict[str, tuple[str, ...]] = Field(
        default_factory=lambda: dict(DEFAULT_RESEARCH_KEYWORDS),
        description="Evidence kind -> words that mark a sentence as that kind (a trailing * "
        "matches any ending; checked in order).",
    )
    target_roles: tuple[str, ...] = Field(
        (), description="Job-title words that make an open role a target-role hire (flag on hiring evidence)."
    )
    ttl_hours: float = Field(168.0, gt=0, description="A fetched page is reused for this long.")
    max_pages: int = Field(8, ge=1, le=50, description="Pages read per company (home first).")
    max_bytes: int = Field(2_000_000, ge=10_000, description="Larger pages are cut off and skipped.")
    timeout_seconds: float = Field(10.0, gt=0, description="Per request.")
    delay_seconds: float = Field(1.0, ge=0, description="Pause between requests to one host.")
    user_agent: str = Field(
        "OutboundResearch/1.0", description="Sent with every request and matched in robots.txt."
    )
    scheme: Literal["https", "http"] = Field("https", description="How the site is reached.")
    port: int | None = Field(None, description="Port override (local test servers only).")


class LimitsConfig(_Section):
    max_steps_per_run: int = Field(12, ge=1, le=100)


class ComplianceConfig(_Section):
    legitimate_interest_assessed_at: str = Field(
        "",
        pattern=r"^(\d{4}-\d{2}-\d{2})?$",
        description="Date of the client's recorded legitimate-interest assessment (GDPR Art. 6(1)(f)); "
        "applies to EU/EEA/UK prospects without a basis of their own.",
    )
    legitimate_interest_document: str = Field("", description="Where the assessment is kept.")


class RunConfig(_Section):
    daily_at: str = Field("08:30", pattern=r"^\d{2}:\d{2}$")
    timezone: str = "UTC"
    workers: int = Field(1, ge=1, le=64)


class ScaleConfig(_Section):
    """Where the daily run's work goes (see docs/scale-out.md)."""

    queue: Literal["local", "procrastinate"] = Field(
        "local",
        description="local: worker processes of the run itself ([run] workers); procrastinate: "
        "chunk jobs on the PostgreSQL job queue, taken by `run.py worker` on any host "
        "(PostgreSQL only). Inbound leads then go through the same queue.",
    )
    chunk_size: int = Field(250, ge=1, le=10_000, description="Prospects per job (a company is never split).")
    wait_minutes: float = Field(
        240.0, gt=0, description="How long a queued daily run waits for its jobs before it reports them open."
    )


class SlackConfig(_Section):
    """Where review requests go in Slack and who may decide them (secrets come from env)."""

    channel: str = Field("", description="Review channel (#name or id); empty: Slack is off.")
    approvers: tuple[str, ...] = Field((), description="Slack user ids allowed to decide any review.")
    owner_dm: bool = Field(False, description="Post each review to its owner's DM instead of the channel.")
    owner_slack_ids: dict[str, str] = Field(
        default_factory=dict,
        description="Prospect owner (as imported, e.g. an email) -> Slack user id; "
        "an owner may decide reviews of their own prospects.",
    )
    bot_token_env: str = Field("", description="Env var holding the bot token; default SLACK_BOT_TOKEN_<ID>.")
    signing_secret_env: str = Field(
        "", description="Env var holding the signing secret; default SLACK_SIGNING_SECRET_<ID>."
    )
    notify_tier1_inbound: bool = Field(True, description="DM the owner when a tier-1 inbound lead arrives.")


class ReviewTimingConfig(_Section):
    """Reminders and expiry of review requests posted to Slack."""

    remind_after_hours: float = Field(4.0, gt=0)
    expire_after_hours: float = Field(48.0, gt=0)
    expire_outcome: Literal["reject", "escalate"] = "reject"
    escalate_to: str = Field(
        "", description='Slack channel or user id that gets expired reviews when expire_outcome = "escalate".'
    )
    snooze_hours: float = Field(24.0, gt=0, description="How long the Snooze button puts a review aside.")


class WebhooksConfig(_Section):
    """Env var names of the per-provider webhook secrets (default OUTBOUND_WEBHOOK_SECRET_<ID>_<PROVIDER>;
    the inbound-lead route uses the provider name "inbound")."""

    secret_env: dict[str, str] = Field(default_factory=dict)
    max_body_bytes: int = Field(262_144, ge=1024, le=10_485_760)


class ServiceConfig(_Section):
    """The long-running service: wake-ups for deferred prospects."""

    wakeup_every_minutes: int = Field(
        15, ge=0, le=1440, description="Run due (deferred) prospects this often; 0: only daily."
    )


class AuditConfig(_Section):
    """Anchoring the decision log outside the database (see docs/audit.md)."""

    anchor_key_file: str = Field(
        "",
        description="Ed25519 private key (PEM) that signs anchors, from `audit keygen`; relative "
        "paths are under the workspace folder. Never stored in the database.",
    )
    anchor_key_env: str = Field("", description="Or: env var holding that PEM (takes precedence).")
    anchor_file: str = Field(
        "anchors/anchors.jsonl",
        description="Append-only JSONL of signed anchors; the public key is kept beside it.",
    )
    anchor_slack: bool = Field(False, description="Also post each scheduled anchor to the Slack channel.")
    anchor_daily: bool = Field(True, description="The service anchors once a day when a key is set.")


def _default_source_of_truth() -> dict[str, Literal["crm", "ours"]]:
    """Default per-field winner on a CRM sync: a fresh dict for every config."""
    return {"title": "crm", "phone": "ours", "lifecycle_stage": "crm"}


class CrmConfig(_Section):
    """CRM write-back and CRM facts before a send (see docs/crm.md); the token comes from env."""

    provider: Literal["none", "hubspot", "memory"] = Field(
        "none", description="none: no CRM; hubspot: the HubSpot API; memory: in-process (tests, demos)."
    )
    host: str = Field(
        "", description="API base URL; empty: HubSpot's default. Tests point it at a local fake."
    )
    token_env: str = Field(
        "HUBSPOT_ACCESS_TOKEN", description="Env var holding the private-app access token."
    )
    source_of_truth: dict[str, Literal["crm", "ours"]] = Field(
        default_factory=_default_source_of_truth,
        description="Per field, which system wins on every sync (title, phone, lifecycle_stage).",
    )
    status_property: str = Field("outbound_status", description="CRM contact property for our status.")
    score_property: str = Field("outbound_score", description="CRM contact property for our score.")
    stop_reason_property: str = Field("outbound_stop_reason", description="CRM property for the stop reason.")
    linkedin_property: str = Field(
        "hs_linkedin_url",
        description="CRM contact property holding the LinkedIn URL (identity without email).",
    )
    key_property: str = Field(
        "outbound_key", description="CRM property on notes/tasks/deals holding our idempotency key."
    )
    create_deals: bool = Field(False, description="Also create a deal on each hand-off.")
    facts_before_send: bool = Field(
        True, description="Read CRM facts (customer, open deals, opt-out) before a send."
    )
    facts_ttl_minutes: int = Field(60, ge=0, le=10_080, description="How long CRM facts are cached.")
    max_retries: int = Field(4, ge=0, le=10, description="Retries of a rate-limited or failing call.")
    batch_size: int = Field(100, ge=1, le=100, description="Records per batch call (HubSpot's limit is 100).")


class ClayConfig(_Section):
    """Pushing results to a Clay table webhook and the lookup endpoint a Clay column calls."""

    webhook_url_env: str = Field("CLAY_WEBHOOK_URL", description="Env var holding the table's webhook URL.")
    lookup_secret_env: str = Field(
        "CLAY_LOOKUP_SECRET", description="Env var holding the bearer secret of GET/POST /clay/lookup."
    )
    records_per_second: float = Field(10.0, gt=0, le=100, description="Sustained push rate.")
    burst: int = Field(20, ge=1, le=100, description="Records sent back to back before the rate applies.")
    max_payload_bytes: int = Field(100_000, ge=1024, le=1_000_000, description="Largest row payload.")
    lifetime_cap: int = Field(50_000, ge=1, description="Submissions a webhook accepts over its lifetime.")
    warn_at: float = Field(0.8, gt=0, le=1, description="Warn when this share of the lifetime cap is used.")


class WorkspaceConfig(_Section):
    client: ClientConfig
    sender: SenderConfig
    icp: IcpConfig = IcpConfig()
    playbook: PlaybookConfig
    channels: ChannelsConfig = ChannelsConfig()
    providers: ProvidersConfig = ProvidersConfig()
    llm: LlmConfig = LlmConfig()
    costs: CostsConfig = CostsConfig()
    research: ResearchConfig = ResearchConfig()
    enrichment: EnrichmentConfig = EnrichmentConfig()
    scoring: ScoringConfig = ScoringConfig()
    limits: LimitsConfig = LimitsConfig()
    run: RunConfig = RunConfig()
    scale: ScaleConfig = ScaleConfig()
    compliance: ComplianceConfig = ComplianceConfig()
    policy: PolicyConfig = PolicyConfig()
    mode: Literal["send", "draft_only", "research_only"] = Field(
        "send", description="What the agent may do: research only, draft only, or send."
    )
    kill_switch: bool = Field(False, description="Stop every active action in this workspace.")
    database_url: str = ""
    slack: SlackConfig = SlackConfig()
    review: ReviewTimingConfig = ReviewTimingConfig()
    webhooks: WebhooksConfig = WebhooksConfig()
    service: ServiceConfig = ServiceConfig()
    audit: AuditConfig = AuditConfig()
    web: WebConfig = WebConfig()
    experiments: ExperimentsConfig = ExperimentsConfig()
    crm: CrmConfig = CrmConfig()
    clay: ClayConfig = ClayConfig()


class Workspace:
    """A loaded workspace: its folder, its validated config and where its state lives."""

    def __init__(self, root: Path, config: WorkspaceConfig):
        self.root = root
        self.config = config

    @property
    def id(self) -> str:
        return self.config.client.id or _slug(self.root.resolve().name)

    @property
    def var_dir(self) -> Path:
        return self.root / "var"

    @property
    def outbox_dir(self) -> Path:
        return self.root / "outbox"

    @property
    def web_dir(self) -> Path:
        return self.root / "web"

    @property
    def templates_dir(self) -> Path:
        return self.root / "templates"

    @property
    def database_url(self) -> str:
        url = os.environ.get("OUTBOUND_DATABASE_URL") or self.config.database_url
        if url:
            return url
        return f"sqlite:///{(self.var_dir / 'outbound.db').resolve()}"

    @property
    def checkpoint_path(self) -> Path:
        return self.var_dir / "checkpoints.db"

    @property
    def kill_switch(self) -> bool:
        """On when set in workspace.toml or when a KILL_SWITCH file exists in the folder."""
        return self.config.kill_switch or (self.root / "KILL_SWITCH").exists()

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def step(self, step_id: str) -> PlaybookStep:
        for s in self.config.playbook.steps:
            if s.id == step_id:
                return s
        raise ConfigError(f"no playbook step {step_id!r}", file=str(self.root / "workspace.toml"))


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-") or "workspace"


def _read_toml(file: Path) -> dict[str, Any]:
    if not file.exists():
        raise ConfigError(
            "workspace.toml not found",
            file=str(file),
            next_step="Pass --workspace DIR pointing at a folder with workspace.toml, "
            "or create one with `run.py workspace new DIR`.",
        )
    try:
        return tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=str(file)) from exc


def _toml_file(path: str | Path) -> Path:
    p = Path(path)
    return p if p.suffix == ".toml" else p / "workspace.toml"


def load_workspace(path: str | Path) -> Workspace:
    """Load and validate `<path>/workspace.toml` (or a path to the toml itself). A bad
    file raises one ConfigError that lists every problem, each with its key."""
    file = _toml_file(path)
    data = _read_toml(file)
    try:
        config = WorkspaceConfig.model_validate(data)
    except ValidationError as exc:
        problems = describe_errors(exc, WorkspaceConfig)
        first = problems[0]
        if len(problems) == 1:
            raise ConfigError(first["problem"], file=str(file), key=first["key"]) from exc
        listed = "".join(f"\n  - {p['key']}: {p['problem']}" for p in problems)
        raise ConfigError(f"{len(problems)} problems:{listed}", file=str(file)) from exc
    return Workspace(file.parent, config)


def config_problems(path: str | Path) -> list[dict[str, str]]:
    """Every validation problem in a workspace file, each with its key (for `policy check`
    and `doctor`); an unknown key comes with the closest known one."""
    file = _toml_file(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        return [{"file": str(file), "key": "", "problem": str(exc)}]
    try:
        WorkspaceConfig.model_validate(data)
    except ValidationError as exc:
        return [{"file": str(file), **p} for p in describe_errors(exc, WorkspaceConfig)]
    return []


def describe_errors(exc: ValidationError, model: type[BaseModel]) -> list[dict[str, str]]:
    """Pydantic's errors as {key, problem}; an unknown key gets "did you mean" the
    closest allowed key at the same place (difflib)."""
    out = []
    for e in exc.errors():
        loc = [str(x) for x in e["loc"]]
        key = ".".join(loc)
        problem = e["msg"]
        if e["type"] == "extra_forbidden":
            allowed = allowed_keys(model, e["loc"][:-1])
            guess = difflib.get_close_matches(loc[-1], allowed, n=1, cutoff=0.6)
            problem = f"unknown key {loc[-1]!r}"
            if guess:
                problem += f"; did you mean {guess[0]!r}?"
            elif allowed:
                problem += f"; known keys here: {', '.join(allowed)}"
        out.append({"key": key, "problem": problem})
    return out


def allowed_keys(model: type[BaseModel], loc: Sequence[int | str]) -> list[str]:
    """The field names valid at `loc` inside `model` (empty when not a model there)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue  # an item of a list/tuple of models: same model
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        info = current.model_fields.get(str(part))
        if info is None:
            return []
        current = _model_in(info.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _model_in(annotation: Any) -> Any:
    """The BaseModel class inside an annotation like `Section`, `tuple[Step, ...]`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
