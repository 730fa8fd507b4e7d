"""A workspace: one client's folder with `workspace.toml`. Everything it needs lives
under that folder by default (SQLite database, checkpoints, outbox, rejects), so copying
the folder copies the workspace. Validated on load; errors name the file and key.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.errors import ConfigError
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
    planner: Literal["playbook"] = Field(
        "playbook", description="The deterministic playbook planner (a Claude planner is not built yet)."
    )
    research: Literal["snapshot", "claude"] = Field(
        "snapshot", description='"claude": Claude answers [llm] research_questions from the pages.'
    )
    enrichment: Literal["file"] = "file"
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
    timeout_s: float = Field(60.0, gt=0)
    prompt_cache: bool = Field(True, description="Mark the shared prompt prefix for caching.")
    cache_ttl: Literal["5m", "1h"] = Field("5m", description="Prompt-cache TTL for synchronous calls.")
    batch_cache_ttl: Literal["5m", "1h"] = Field("1h", description="Prompt-cache TTL for batch work.")
    est_draft_usd: float = Field(
        0.02, ge=0, description="Estimated cost of one drafted message (budget rules reserve it)."
    )
    use_batches: bool = Field(False, description="Daily-run drafts go through the Message Batches API.")
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


class WorkspaceConfig(_Section):
    client: ClientConfig
    sender: SenderConfig
    icp: IcpConfig = IcpConfig()
    playbook: PlaybookConfig
    channels: ChannelsConfig = ChannelsConfig()
    providers: ProvidersConfig = ProvidersConfig()
    llm: LlmConfig = LlmConfig()
    costs: CostsConfig = CostsConfig()
    limits: LimitsConfig = LimitsConfig()
    run: RunConfig = RunConfig()
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


def load_workspace(path: str | Path) -> Workspace:
    """Load and validate `<path>/workspace.toml` (or a path to the toml itself)."""
    p = Path(path)
    file = p if p.suffix == ".toml" else p / "workspace.toml"
    if not file.exists():
        raise ConfigError(
            "workspace.toml not found",
            file=str(file),
            next_step="Pass --workspace DIR pointing at a folder with workspace.toml.",
        )
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=str(file)) from exc
    try:
        config = WorkspaceConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(part) for part in err["loc"])
        more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
        raise ConfigError(f"{err['msg']}{more}", file=str(file), key=key) from exc
    return Workspace(file.parent, config)


def config_problems(path: str | Path) -> list[dict[str, str]]:
    """Every validation problem in a workspace file, each with its key (for `policy check`)."""
    p = Path(path)
    file = p if p.suffix == ".toml" else p / "workspace.toml"
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        return [{"file": str(file), "key": "", "problem": str(exc)}]
    try:
        WorkspaceConfig.model_validate(data)
    except ValidationError as exc:
        return [
            {"file": str(file), "key": ".".join(str(x) for x in e["loc"]), "problem": e["msg"]}
            for e in exc.errors()
        ]
    return []
