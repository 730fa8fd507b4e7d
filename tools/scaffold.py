"""Scaffold a new client workspace: a commented ``workspace.toml`` with a starter
playbook, its Jinja2 templates, and every policy default written out (commented) next to
what it means, generated from the policy model itself so the file never disagrees with
the code.

``validate_answers`` names every problem at once (by the flag that sets it);
``write_workspace`` refuses to overwrite an existing workspace unless told to.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import date, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel

from core.errors import ConfigError
from policies.config import PolicyConfig

CHANNEL_CHOICES = ("email", "linkedin")
MODES = ("draft_only", "send", "research_only")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
_LONG_LIST = 6  # longer default lists are summarised in the comments instead of spelled out


@dataclass
class WorkspaceAnswers:
    """Everything `workspace new` asks. Lists are plain lists of strings."""

    client: str = ""
    sender_name: str = ""
    sender_email: str = ""
    sender_title: str = ""
    company: str = ""
    postal_address: str = ""
    domain: str = ""
    unsubscribe_url: str = ""
    dkim_selectors: list[str] = field(default_factory=list)
    spf_includes: list[str] = field(default_factory=list)
    timezone: str = "UTC"
    industries: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)
    min_employees: int | None = None
    max_employees: int | None = None
    channels: list[str] = field(default_factory=lambda: ["email"])
    pitch: str = ""
    mode: str = "send"

    def with_defaults(self) -> WorkspaceAnswers:
        """Fill what can be derived: company from the client, domain from the sender's
        address, the unsubscribe URL from the domain, a pitch from the company."""
        a = WorkspaceAnswers(**asdict(self))
        a.company = a.company or a.client
        if not a.domain and "@" in a.sender_email:
            a.domain = a.sender_email.rsplit("@", 1)[1].lower()
        a.domain = a.domain.strip().lower()
        if not a.unsubscribe_url and a.domain:
            a.unsubscribe_url = f"https://{a.domain}/unsubscribe"
        a.countries = [c.strip().upper() for c in a.countries if c.strip()]
        a.channels = [c.strip().lower() for c in a.channels if c.strip()]
        a.pitch = a.pitch or (f"{a.company} helps teams like yours" if a.company else "")
        return a


# answer field -> the CLI flag that sets it (errors name the flag a user can type)
FLAGS = {
    "client": "--client",
    "sender_name": "--sender-name",
    "sender_email": "--sender-email",
    "company": "--company",
    "postal_address": "--postal-address",
    "domain": "--domain",
    "unsubscribe_url": "--unsubscribe-url",
    "timezone": "--timezone",
    "countries": "--countries",
    "channels": "--channels",
    "min_employees": "--min-employees",
    "mode": "--mode",
}


def validate_answers(a: WorkspaceAnswers) -> list[dict[str, str]]:
    """Every problem with the answers, each naming its flag."""
    problems: list[dict[str, str]] = []

    def bad(name: str, problem: str) -> None:
        problems.append({"field": name, "flag": FLAGS.get(name, name), "problem": problem})

    for name in ("client", "sender_name", "sender_email", "postal_address"):
        if not str(getattr(a, name)).strip():
            bad(name, "required")
    if a.sender_email and not _EMAIL.match(a.sender_email):
        bad("sender_email", f"{a.sender_email!r} is not an email address")
    if a.postal_address and len(a.postal_address.strip()) < 10:
        bad("postal_address", "give the full physical postal address (CAN-SPAM requires one)")
    if a.domain and not _DOMAIN.match(a.domain):
        bad("domain", f"{a.domain!r} is not a domain name")
    if a.domain and a.sender_email and not a.sender_email.lower().endswith("@" + a.domain):
        bad("domain", f"the sender {a.sender_email} does not send from {a.domain} (DMARC alignment)")
    if a.unsubscribe_url and not a.unsubscribe_url.startswith("https://"):
        bad("unsubscribe_url", "must start with https:// (one-click unsubscribe)")
    try:
        ZoneInfo(a.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        bad("timezone", f"{a.timezone!r} is not an IANA time zone (e.g. America/New_York)")
    wrong = [c for c in a.countries if not re.fullmatch(r"[A-Z]{2}", c)]
    if wrong:
        bad("countries", f"use ISO two-letter codes (US, GB, DE), not {', '.join(wrong)}")
    unknown = [c for c in a.channels if c not in CHANNEL_CHOICES]
    if unknown or not a.channels:
        bad(
            "channels",
            f"choose from {', '.join(CHANNEL_CHOICES)}" + (f"; not {', '.join(unknown)}" if unknown else ""),
        )
    if a.min_employees is not None and a.max_employees is not None and a.min_employees > a.max_employees:
        bad("min_employees", "is larger than --max-employees")
    if a.mode not in MODES:
        bad("mode", f"choose from {', '.join(MODES)}")
    return problems


def toml_value(value: Any) -> str:
    """A Python value as a TOML value (strings, numbers, booleans, dates, times, lists,
    inline tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{_key(k)} = {toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    if isinstance(value, BaseModel):
        return toml_value({k: v for k, v in value.model_dump().items() if v is not None})
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k)


def policy_defaults_comment() -> str:
    """Every `[policy.*]` setting with its default and meaning, commented out."""
    lines = [
        "# ---------------------------------------------------------------------------",
        "# Policy defaults. Every proposed action passes all rules (deny > review > defer >",
        "# allow); every verdict is kept in the decision log. The values below are the",
        "# defaults this workspace already has: uncomment a line to change it.",
        "# The rule or law behind each default: docs/policies.md.",
        "# ---------------------------------------------------------------------------",
    ]
    defaults = PolicyConfig()
    for name in PolicyConfig.model_fields:
        value = getattr(defaults, name)
        if isinstance(value, BaseModel):
            lines.append("")
            lines.append(f"# [policy.{name}]")
            doc = vars(type(value)).get("__doc__")
            if doc:
                lines.append(f"#   {doc.strip().splitlines()[0]}")
            for sub, sub_info in type(value).model_fields.items():
                lines.extend(_default_lines(sub, getattr(value, sub), sub_info.description or ""))
    lines.append("")
    lines.append("# [policy]")
    for name, info in PolicyConfig.model_fields.items():
        value = getattr(defaults, name)
        if not isinstance(value, BaseModel):
            lines.extend(_default_lines(name, value, info.description or ""))
    return "\n".join(lines) + "\n"


def _default_lines(name: str, value: Any, description: str) -> list[str]:
    if isinstance(value, (list, tuple)) and len(value) > _LONG_LIST:
        shown = ", ".join(str(v) for v in value[:4])
        return [f"# {name}: {len(value)} built-in values ({shown}, ...): {description}"]
    if value is None:
        return [f"# {name} = (no cap)   # {description}"]
    return [f"# {description}", f"# {name} = {toml_value(value)}"]


def render_workspace_toml(a: WorkspaceAnswers) -> str:
    """The commented workspace.toml for these (validated) answers."""
    has_linkedin = "linkedin" in a.channels
    icp = [
        f"industries = {toml_value(a.industries)}",
        f"countries = {toml_value(a.countries)}",
        f"titles = {toml_value(a.titles)}",
    ]
    if a.min_employees is not None:
        icp.append(f"min_employees = {a.min_employees}")
    if a.max_employees is not None:
        icp.append(f"max_employees = {a.max_employees}")
    steps = [
        _step(
            "email_intro",
            "email",
            "email_intro",
            0,
            ["has_email"],
            "The first email, to everyone with an address.",
        )
    ]
    if has_linkedin:
        steps.append(
            _step(
                "linkedin_connect",
                "linkedin",
                "linkedin_connect",
                0,
                ["no_email", "has_linkedin"],
                "No email address but a LinkedIn profile: a connection request instead.",
                kind="linkedin_connect",
            )
        )
    steps.append(
        _step(
            "email_followup",
            "email",
            "email_followup",
            3,
            ["has_email", "no_reply"],
            "Three business days later, if there was no reply: one follow-up in the same thread.",
            follow_up_of="email_intro",
        )
    )
    if has_linkedin:
        steps.append(
            _step(
                "linkedin_message",
                "linkedin",
                "linkedin_message",
                1,
                ["connection_accepted", "no_reply"],
                "A business day after a connection was accepted: one LinkedIn message.",
                kind="linkedin_message",
            )
        )
    channel_lines = []
    for ch in ("email", "linkedin", "direct_mail"):
        on = ch in a.channels
        channel_lines += [f"[channels.{ch}]", f"enabled = {toml_value(on)}", 'provider = "file"', ""]
    return f"""# Workspace for {a.client}: written by `run.py workspace new`.
# Check it with `run.py doctor -w <this folder>`; every key is explained below or in the
# README ("Set up your first client"). Secrets never go in this file: only the NAMES of
# the environment variables that hold them.

# What the agent may do: "research_only", "draft_only" or "send". The channels below use
# the file outbox, so "send" writes messages to outbox/ and nothing leaves the machine; the
# first sends of every new template wait for a human ([policy.review] new_template_sends).
mode = {toml_value(a.mode)}

[client]
name = {toml_value(a.client)}

[sender]
# Who the messages come from. The postal address and the unsubscribe link are printed in
# every email (CAN-SPAM); the unsubscribe URL must answer one-click POSTs (RFC 8058).
name = {toml_value(a.sender_name)}
email = {toml_value(a.sender_email)}
title = {toml_value(a.sender_title)}
company = {toml_value(a.company)}
postal_address = {toml_value(a.postal_address)}
unsubscribe_url = {toml_value(a.unsubscribe_url)}
timezone = {toml_value(a.timezone)}
# The domain email is sent from; `run.py doctor` checks its SPF, DKIM and DMARC records.
sending_domain = {toml_value(a.domain)}
# DKIM selectors your sending service signs with (Google Workspace: "google"; Microsoft
# 365: "selector1", "selector2"); doctor looks up <selector>._domainkey.<domain>.
dkim_selectors = {toml_value(a.dkim_selectors)}
# What SPF must include for the sending service, e.g. "_spf.google.com".
spf_includes = {toml_value(a.spf_includes)}
# The date the sending mailbox started warming up ("YYYY-MM-DD"); empty: the capacity
# rule ramps from this workspace's first send (10 a day up to 40 over 28 days).
mailbox_warm_since = ""

[icp]
# Who fits: used for scoring and prioritising prospects.
{chr(10).join(icp)}

[playbook]
name = "starter"
# Tier-1 prospects' messages always go to a human first.
review_tier_1 = true
# Research the company (web snapshot or live research) before drafting.
research_first = true
# Look up a missing email address before giving up on email.
enrich_missing_email = true

# Steps are tried in order; `when` conditions must all hold; `delay_business_days`
# counts from the previous touch in the prospect's own time zone. Templates live in
# templates/<template>.j2 (first line "Subject: ...").
{chr(10).join(steps)}
# Channel providers: "file" writes messages to outbox/ (nothing leaves the machine).
# For a live day set email to "smtp", "instantly" or "smartlead", linkedin to
# "heyreach" (settings and their env vars: docs/channels.md).
{chr(10).join(channel_lines)}
[run]
# When the service runs the daily job, in this zone.
daily_at = "08:30"
timezone = {toml_value(a.timezone)}

[compliance]
# Date of the client's legitimate-interest assessment (needed for EU/EEA/UK prospects).
legitimate_interest_assessed_at = ""
legitimate_interest_document = ""

[slack]
# Review channel ("#name" or id); empty: reviews stay in the CLI queue (run.py queue list).
# The bot token and signing secret come from SLACK_BOT_TOKEN_<ID> / SLACK_SIGNING_SECRET_<ID>.
channel = ""
approvers = []

{policy_defaults_comment()}"""


def _step(
    step_id: str,
    channel: str,
    template: str,
    delay: int,
    when: list[str],
    comment: str,
    *,
    kind: str = "",
    follow_up_of: str = "",
) -> str:
    lines = [f"# {comment}", "[[playbook.steps]]", f'id = "{step_id}"', f'channel = "{channel}"']
    if kind:
        lines.append(f'kind = "{kind}"')
    lines += [f'template = "{template}"', f"delay_business_days = {delay}", f"when = {toml_value(when)}"]
    if follow_up_of:
        lines.append(f'follow_up_of = "{follow_up_of}"')
    return "\n".join(lines) + "\n"


def starter_templates(a: WorkspaceAnswers) -> dict[str, str]:
    """Jinja2 templates for the starter playbook. Personal claims cite their evidence;
    the pitch sentence is the client's own and needs none."""
    pitch = a.pitch.rstrip(".") + "."
    templates = {
        "email_intro": (
            "Subject: {% if ev.funding %}{{ company.short_name }} after the news"
            "{% else %}A question for {{ company.short_name }}{% endif %}\n"
            "Hi {{ prospect.first_name }},\n"
            "{% if ev.funding %}\n"
            'I read your news: "{{ ev.funding.quote }}"{{ cite(ev.funding) }}\n'
            "{% elif ev.hiring %}\n"
            "I noticed {{ company.short_name }} is hiring.{{ cite(ev.hiring) }}\n"
            "{% endif %}\n"
            f"{pitch}\n\n"
            "Would a 20-minute call next week be useful?\n\n"
            "{{ sender.name }}\n"
        ),
        "email_followup": (
            "Subject: Re: a question for {{ company.short_name }}\n"
            "Hi {{ prospect.first_name }},\n\n"
            "Following up on my note from last week.\n"
            f"{pitch}\n\n"
            "If it is not a priority, just say so and I will not write again.\n\n"
            "{{ sender.name }}\n"
        ),
    }
    if "linkedin" in a.channels:
        templates["linkedin_connect"] = (
            "Subject: Connection request\n"
            "Hi {{ prospect.first_name }}, {% if ev.funding %}congrats on the news."
            "{{ cite(ev.funding) }} {% endif %}I work with teams like yours and would like to "
            "connect. {{ sender.name }}\n"
        )
        templates["linkedin_message"] = (
            "Subject: LinkedIn message\n"
            f"Thanks for connecting, {{{{ prospect.first_name }}}}. {pitch} Open to a short call?\n"
        )
    return templates


def write_workspace(root: Path, answers: WorkspaceAnswers, *, force: bool = False) -> dict[str, Any]:
    """Write workspace.toml and the starter templates under ``root``. Raises ConfigError
    (naming every problem) for bad answers, and when a workspace already exists there."""
    a = answers.with_defaults()
    problems = validate_answers(a)
    if problems:
        listed = "; ".join(f"{p['flag']}: {p['problem']}" for p in problems)
        raise ConfigError(
            f"cannot create the workspace: {listed}",
            next_step="Give the named flags (or answer the prompts) and run again.",
        )
    toml = root / "workspace.toml"
    if toml.exists() and not force:
        raise ConfigError(
            "a workspace already exists here",
            file=str(toml),
            next_step="Choose another folder, or pass --force to overwrite workspace.toml and the starter templates.",
        )
    root.mkdir(parents=True, exist_ok=True)
    (root / "templates").mkdir(exist_ok=True)
    (root / "web").mkdir(exist_ok=True)
    written = [toml]
    toml.write_text(render_workspace_toml(a), encoding="utf-8")
    for name, text in starter_templates(a).items():
        path = root / "templates" / f"{name}.j2"
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return {
        "path": str(root),
        "files": [str(p) for p in written],
        "answers": asdict(a),
        "next_steps": [
            f"run.py doctor -w {root}",
            f"run.py import prospects.csv -w {root}",
            f"run.py daily --dry-run -w {root}",
        ],
    }
