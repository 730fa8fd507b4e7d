"""Run-scoped dependencies handed to every node through LangGraph's `Runtime`: the
workspace, the database engine, providers and the policy engine. Built once per process
by `build_context`, never at import time."""

from __future__ import annotations

import os
import smtplib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy.engine import Engine

from core.errors import ConfigError, ProviderConfigError
from core.workspace import Workspace
from policies.engine import PolicyEngine
from tools.channels.base import Channel, DeliveryResult, OutboundMessage, Sender
from tools.channels.resilience import CircuitBreaker, ResilientChannel, RetryPolicy
from tools.drafting import Drafter, TemplateDrafter
from tools.enrichment import Enricher, FileEnricher
from tools.enrichment.waterfall import Waterfall
from tools.research import Researcher, SnapshotResearcher

if TYPE_CHECKING:
    from tools.llm.client import LlmClient


@dataclass(frozen=True)
class AgentContext:
    workspace: Workspace
    engine: Engine
    researcher: Researcher
    enricher: Enricher | Waterfall
    drafter: Drafter
    channels: Mapping[str, Channel]
    policy: PolicyEngine
    sender: Sender
    extra: Mapping[str, object] = field(default_factory=dict)
    llm: LlmClient | None = None  # set when any provider is "claude"

    @property
    def ws_id(self) -> str:
        return self.workspace.id


def sender_of(ws: Workspace) -> Sender:
    s = ws.config.sender
    return Sender(
        name=s.name,
        email=s.email,
        company=s.company,
        postal_address=s.postal_address,
        unsubscribe_url=s.unsubscribe_url,
        title=s.title,
        unsubscribe_mailto=s.unsubscribe_mailto,
        linkedin_account_id=s.linkedin_account_id,
    )


DEFAULT_MAX_DELIVERY_ATTEMPTS = 5
CONFIGURED_CHANNELS = ("email", "linkedin", "direct_mail")


def _http_client() -> httpx.Client:
    return httpx.Client()


@dataclass(frozen=True)
class UnavailableChannel:
    """Stands in for a provider whose secret is missing: every send raises the
    configuration error, so the outbox pauses the channel and tells the operator once."""

    name: str
    error: ProviderConfigError
    idempotent_by_key: bool = False

    def deliver(self, message: OutboundMessage) -> DeliveryResult:
        raise self.error

    def lookup(self, idempotency_key: str) -> DeliveryResult | None:
        return None


def max_delivery_attempts(ws: Workspace) -> dict[str, int]:
    """Per channel: delivery attempts before a transiently failing row is given up
    (``[channels.<name>.settings] max_delivery_attempts``, default 5)."""
    limits: dict[str, int] = {}
    for name in CONFIGURED_CHANNELS:
        raw = str(
            getattr(ws.config.channels, name).settings.get(
                "max_delivery_attempts", DEFAULT_MAX_DELIVERY_ATTEMPTS
            )
        ).strip()
        if not raw.isdigit() or int(raw) < 1:
            raise ConfigError(
                f"expected a whole number of at least 1, got {raw!r}",
                file=str(ws.root / "workspace.toml"),
                key=f"channels.{name}.settings.max_delivery_attempts",
            )
        limits[name] = int(raw)
    return limits


def build_channels(
    ws: Workspace,
    *,
    env: Mapping[str, str],
    sleep: Callable[[float], None] = time.sleep,
    http_client_factory: Callable[[], httpx.Client] = _http_client,
    smtp_factory: Callable[..., smtplib.SMTP] = smtplib.SMTP,
    retry: RetryPolicy | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Channel]:
    """The configured Channel for each of email, LinkedIn and direct mail. Providers other
    than the file outbox come from ``registry.build_channel`` wrapped with retries and one
    circuit breaker per provider; a missing secret gives an ``UnavailableChannel``."""
    from tools.channels.outbox_file import FileOutbox
    from tools.channels.registry import build_channel

    cfg = ws.config
    domain = cfg.sender.email.split("@")[1]
    breakers: dict[str, CircuitBreaker] = {}
    chans: dict[str, Channel] = {}
    for name in CONFIGURED_CHANNELS:
        ch_cfg = getattr(cfg.channels, name)
        if ch_cfg.provider == "file":
            chans[name] = FileOutbox(ws.outbox_dir, channel=name, domain=domain)
            continue
        try:
            inner = build_channel(
                name,
                ch_cfg.provider,
                ch_cfg.settings,
                env=env,
                http_client_factory=http_client_factory,
                smtp_factory=smtp_factory,
            )
        except ProviderConfigError as exc:
            chans[name] = UnavailableChannel(name=ch_cfg.provider, error=exc)
            continue
        breaker = breakers.setdefault(ch_cfg.provider, CircuitBreaker(clock=clock, provider=ch_cfg.provider))
        chans[name] = ResilientChannel(inner, retry or RetryPolicy(), sleep, breaker)
    return chans


def build_researcher(
    ws: Workspace,
    engine: Engine,
    llm: Any = None,
    *,
    http_client_factory: Callable[[], httpx.Client] = _http_client,
    sleep: Callable[[float], None] = time.sleep,
) -> Researcher:
    """`providers.research`: the offline snapshot reader, the live site reader that keeps
    every fetched page in the database, or the Claude research reader over the saved pages."""
    from tools.research import rules_for

    cfg = ws.config
    if cfg.providers.research == "claude":
        from tools.llm.reader import ClaudeResearcher

        if llm is None:
            raise ConfigError('providers.research = "claude" needs an LLM client', key="providers.research")
        return ClaudeResearcher(llm, ws.web_dir, cfg.llm.research_questions, cfg.costs.research_credits)
    if cfg.providers.research == "http":
        from tools.web.researcher import HttpResearcher
        from tools.web.store import DbPageStore

        return HttpResearcher(
            http_client_factory(),
            DbPageStore(engine, ws.id),
            cfg.research,
            rules_for(ws),
            credits_per_company=cfg.costs.research_credits,
            sleep=sleep,
        )
    return SnapshotResearcher(ws.web_dir, cfg.costs.research_credits, rules_for(ws))


@dataclass(frozen=True)
class UnavailableProvider:
    """An enrichment provider whose secret is missing: every lookup raises the configuration
    error, so the waterfall pauses it, tells the operator once and moves on."""

    name: str
    fields: tuple[str, ...]
    error: ProviderConfigError

    def lookup(self, person: object) -> object:
        raise self.error

    def estimate(self, hit_rate: float) -> float:
        return 0.0


def build_enricher(
    ws: Workspace,
    engine: Engine,
    *,
    env: Mapping[str, str],
    http_client_factory: Callable[[], httpx.Client] = _http_client,
    sleep: Callable[[float], None] = time.sleep,
) -> Enricher | Waterfall:
    """`providers.enrichment`: the single enrichment.csv lookup, or the waterfall over the
    `[[enrichment.providers]]` (HTTP ones from config, simulated ones offline)."""
    from datetime import timedelta

    from tools.enrichment.http import HttpProvider
    from tools.enrichment.simulated import SimulatedProvider
    from tools.enrichment.store import DbWaterfallStore

    cfg = ws.config
    if cfg.providers.enrichment != "waterfall":
        return FileEnricher(ws.root / "enrichment.csv", cfg.costs.enrichment_credits)
    providers: list[Any] = []
    for p in cfg.enrichment.providers:
        if p.kind == "simulated":
            providers.append(SimulatedProvider(p, ws.root, sleep=sleep))
            continue
        try:
            providers.append(HttpProvider(p, http_client_factory(), env))
        except ProviderConfigError as exc:
            providers.append(UnavailableProvider(p.name, p.fields, exc))
    store = DbWaterfallStore(
        engine,
        ws.id,
        ttl=timedelta(days=cfg.enrichment.ttl_days),
        credit_usd=cfg.costs.credit_usd,
        budget=cfg.policy.budget,
    )
    return Waterfall(
        providers,
        cfg.enrichment,
        store,
        stats=store.stats() if cfg.enrichment.learned_order else None,
        sleep=sleep,
    )


def build_context(
    ws: Workspace,
    engine: Engine,
    *,
    channels: Mapping[str, Channel] | None = None,
    env: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    http_client_factory: Callable[[], httpx.Client] = _http_client,
    smtp_factory: Callable[..., smtplib.SMTP] = smtplib.SMTP,
    llm: LlmClient | None = None,
) -> AgentContext:
    from tools.channels.outbox_file import FileOutbox

    cfg = ws.config
    if llm is None and uses_claude(ws):
        from tools.llm.client import build_client

        llm = build_client(cfg, engine=engine, workspace=ws.id, env=os.environ if env is None else env)
    sender = sender_of(ws)
    if channels is None:
        channels = build_channels(
            ws,
            env=os.environ if env is None else env,
            sleep=sleep,
            http_client_factory=http_client_factory,
            smtp_factory=smtp_factory,
        )
    if "phone" not in channels:  # call steps become owner tasks, written to the outbox
        channels = {
            **channels,
            "phone": FileOutbox(ws.outbox_dir, channel="phone", domain=cfg.sender.email.split("@")[1]),
        }
    return AgentContext(
        workspace=ws,
        engine=engine,
        researcher=build_researcher(ws, engine, llm, http_client_factory=http_client_factory, sleep=sleep),
        enricher=build_enricher(
            ws,
            engine,
            env=os.environ if env is None else env,
            http_client_factory=http_client_factory,
            sleep=sleep,
        ),
        drafter=build_drafter(ws, llm),
        channels=channels,
        policy=PolicyEngine(cfg.policy),
        sender=sender,
        extra={"max_delivery_attempts": max_delivery_attempts(ws)},
        llm=llm,
    )


def uses_claude(ws: Workspace) -> bool:
    p = ws.config.providers
    return "claude" in (p.research, p.drafting, p.replies, p.planner)


def build_drafter(ws: Workspace, llm: Any) -> Drafter:
    """The drafter `providers.drafting` names: templates (default) or Claude."""
    if ws.config.providers.drafting == "claude":
        from tools.llm.drafter import ClaudeDrafter

        if llm is None:
            raise ConfigError('providers.drafting = "claude" needs an LLM client', key="providers.drafting")
        return ClaudeDrafter(llm, ws.config.policy.content)
    return TemplateDrafter(ws.templates_dir)
