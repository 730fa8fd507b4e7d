"""`doctor`: everything that decides whether outbound works for a workspace, checked at
once, each finding with a next step.

Areas: config (every problem in workspace.toml, "did you mean" for unknown keys; templates
present), secrets (present by name, never printed), providers (a cheap authenticated call
each), slack (token, channel, signing secret), webhooks (secrets per provider), database
(reachable, migrations at head) and dns (SPF, DKIM, DMARC of the sending domain).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.resolver
import httpx

from core.workspace import Workspace, config_problems, load_workspace
from tools.doctor.database import check_database
from tools.doctor.dns_check import check_domain
from tools.doctor.findings import Finding, fail, ok, skip, warn
from tools.doctor.providers import check_providers, secret_env_names
from tools.doctor.slack_check import SlackSettings, check_slack

__all__ = ["DoctorDeps", "EnvNames", "Finding", "run_doctor", "summarize"]

WEBHOOK_PROVIDERS = ("instantly", "smartlead", "heyreach", "sendoso")


@dataclass(frozen=True)
class EnvNames:
    """Names of the service's secret variables for one workspace (from service.sites)."""

    slack_token: str
    slack_secret: str
    webhook: Callable[[str], str]


@dataclass
class DoctorDeps:
    env: Mapping[str, str]
    http: httpx.Client
    slack_client_factory: Callable[[str], Any]
    resolver: dns.resolver.Resolver | None = None
    service_url: str | None = None
    smtp_factory: Callable[..., Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def run_doctor(path: Path, deps: DoctorDeps, env_names: Callable[[Workspace], EnvNames]) -> list[Finding]:
    toml = path if path.suffix == ".toml" else path / "workspace.toml"
    if not toml.exists():
        return [
            fail(
                "config",
                "workspace.toml",
                f"{toml} not found",
                f"Create the workspace with `run.py workspace new {path}`, or point -w at an existing one.",
            )
        ]
    problems = config_problems(path)
    if problems:
        found = [
            fail(
                "config",
                p["key"] or "file",
                f"{p['key']}: {p['problem']}" if p["key"] else p["problem"],
                f"Fix {p['key'] or 'the file'} in {p['file']}, then run doctor again.",
            )
            for p in problems
        ]
        found.append(skip("config", "other_checks", "other checks skipped until workspace.toml is valid"))
        return found
    ws = load_workspace(path)
    names = env_names(ws)
    found = [ok("config", "workspace.toml", f"workspace.toml is valid (workspace id {ws.id})")]
    found += _check_templates(ws)
    found += _check_secrets(ws, deps.env, names)
    kwargs: dict[str, Any] = {"env": deps.env, "client": deps.http}
    if deps.smtp_factory is not None:
        kwargs["smtp_factory"] = deps.smtp_factory
    found += check_providers(ws, **kwargs)
    found += check_slack(
        SlackSettings(
            channel=ws.config.slack.channel,
            token_env=names.slack_token,
            token=deps.env.get(names.slack_token, ""),
            secret_env=names.slack_secret,
            secret=deps.env.get(names.slack_secret, ""),
        ),
        client_factory=deps.slack_client_factory,
        http=deps.http,
        service_url=deps.service_url,
    )
    found += _check_webhooks(ws, deps.env, names)
    found += check_database(ws.database_url, init_hint=f"run.py init -w {ws.root}")
    found += _check_dns(ws, deps.resolver)
    return found


def _check_templates(ws: Workspace) -> list[Finding]:
    missing = [
        f"{s.template}.j2"
        for s in ws.config.playbook.steps
        if s.template and not (ws.templates_dir / f"{s.template}.j2").exists()
    ]
    if missing:
        return [
            fail(
                "config",
                "templates",
                f"playbook templates missing in {ws.templates_dir}: {', '.join(sorted(set(missing)))}",
                "Create them (first line 'Subject: ...') or change the steps' template names.",
            )
        ]
    return [
        ok(
            "config",
            "templates",
            f"every playbook step's template exists ({len(ws.config.playbook.steps)} steps)",
        )
    ]


def _check_secrets(ws: Workspace, env: Mapping[str, str], names: EnvNames) -> list[Finding]:
    needed = secret_env_names(ws)
    if ws.config.slack.channel:
        needed[names.slack_token] = "Slack bot token"
        needed[names.slack_secret] = "Slack signing secret"
    if not needed:
        return [ok("secrets", "secrets", "no secrets needed (offline providers, Slack off)")]
    out = []
    for var, what in sorted(needed.items()):
        if env.get(var, "").strip():
            out.append(ok("secrets", var, f"{var} is set ({what})"))
        else:
            out.append(
                fail("secrets", var, f"{var} is not set ({what})", f"Set {var} in the service's environment.")
            )
    return out


def _check_webhooks(ws: Workspace, env: Mapping[str, str], names: EnvNames) -> list[Finding]:
    providers = sorted(
        {
            getattr(ws.config.channels, c).provider
            for c in ("email", "linkedin", "direct_mail")
            if getattr(ws.config.channels, c).enabled
        }
        & set(WEBHOOK_PROVIDERS)
    )
    out = []
    for provider in providers:
        var = names.webhook(provider)
        value = env.get(var, "")
        if not value:
            out.append(
                fail(
                    "webhooks",
                    provider,
                    f"{var} is not set: the service refuses {provider}'s webhooks (replies, bounces)",
                    f"Set {var} to a long random string and give the same value to {provider}'s webhook "
                    f"(header X-Webhook-Secret) pointing at /webhooks/events/{provider}?workspace={ws.id}.",
                )
            )
        elif len(value) < 16:
            out.append(
                warn(
                    "webhooks",
                    provider,
                    f"{var} is short ({len(value)} characters)",
                    "Use at least 32 random characters (python -c 'import secrets; print(secrets.token_hex(32))').",
                )
            )
        else:
            out.append(ok("webhooks", provider, f"{var} is set"))
    inbound = names.webhook("inbound")
    if env.get(inbound, ""):
        out.append(ok("webhooks", "inbound", f"{inbound} is set (inbound leads accepted)"))
    else:
        out.append(
            skip(
                "webhooks",
                "inbound",
                f"{inbound} is not set: /webhooks/inbound refuses leads for this workspace",
                f"To take inbound leads (e.g. from Clay's HTTP API column), set {inbound}.",
            )
        )
    return out


def _check_dns(ws: Workspace, resolver: dns.resolver.Resolver | None) -> list[Finding]:
    sender = ws.config.sender
    from_domain = sender.email.rsplit("@", 1)[1].lower()
    domain = (sender.sending_domain or from_domain).lower()
    if resolver is None:
        return [skip("dns", "dns", "DNS checks skipped (--no-dns)", "Run doctor without --no-dns.")]
    includes = list(sender.spf_includes)
    if not includes and ws.config.channels.email.provider == "smtp":
        host = ws.config.channels.email.settings.get("host", "")
        inferred = {"smtp.gmail.com": "_spf.google.com", "smtp.office365.com": "spf.protection.outlook.com"}
        if host in inferred:
            includes = [inferred[host]]
    return check_domain(
        resolver,
        domain,
        from_domain=from_domain,
        spf_includes=includes,
        dkim_selectors=list(sender.dkim_selectors),
    )


def summarize(findings: list[Finding]) -> dict[str, int]:
    counts = {"ok": 0, "warn": 0, "fail": 0, "skip": 0}
    for f in findings:
        counts[f.status] += 1
    return counts
