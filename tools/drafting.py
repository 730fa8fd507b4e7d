"""Drafting from Jinja2 templates filled with evidence and signals.

A template is `templates/<name>.j2`: a first line `Subject: ...`, a blank line, then the
body. Personalised text calls `cite(item)` (or `cite(a, b)`) for the evidence it uses;
the drafter turns the rendered text into sentences and attaches the cited evidence ids to
each, so every claim about the prospect can be checked against its source. The email
footer (sender, postal address, opt-out and the right to object) is added here, not by
templates, so no template can forget it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound, UndefinedError

from core.errors import ConfigError, InvalidInput

MARK = re.compile(r"\u27e6ev:([a-z0-9_,]+)\u27e7")
LIMITS = {"linkedin_connect": 300, "linkedin_message": 1900, "email": 5000, "direct_mail": 1200}


@dataclass(frozen=True)
class Sentence:
    text: str
    evidence_ids: tuple[str, ...]
    personal: bool
    problems: tuple[str, ...] = ()  # what a check found wrong (shown to the reviewer)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "text": self.text,
            "evidence_ids": list(self.evidence_ids),
            "personal": self.personal,
        }
        if self.problems:
            out["problems"] = list(self.problems)
        return out


@dataclass(frozen=True)
class DraftResult:
    template: str
    template_version: str
    subject: str
    body: str
    sentences: tuple[Sentence, ...]
    used_evidence: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)


class _Ev(dict):
    """Evidence item exposed to templates: attributes for fields and data keys."""

    def __getattr__(self, name: str) -> Any:
        if name in self:
            return self[name]
        return self.get("data", {}).get(name, "")


class Drafter(Protocol):
    """Writes one step's message. `template` (Jinja2, offline, the default) or `claude`
    (`tools.llm.drafter.ClaudeDrafter`), chosen by `providers.drafting`. `scope` says whom
    a paid call is for (run, prospect, time); the template drafter ignores it."""

    name: str

    def draft(
        self,
        *,
        template: str,
        kind: str,
        prospect: Mapping[str, Any],
        company: Mapping[str, Any],
        evidence: Sequence[Mapping[str, Any]],
        sender: Mapping[str, Any],
        previous: Mapping[str, Any] | None = None,
        scope: Any = None,
    ) -> DraftResult: ...


class TemplateDrafter:
    name = "template"

    def __init__(self, templates_dir: Path):
        self.dir = templates_dir
        self.env = Environment(
            loader=FileSystemLoader(str(templates_dir)),
            undefined=StrictUndefined,
            autoescape=False,
            keep_trailing_newline=False,
        )
        self.env.globals["cite"] = _cite

    def version(self, template: str) -> str:
        source = (self.dir / f"{template}.j2").read_bytes()
        return f"{template}@{hashlib.sha256(source).hexdigest()[:10]}"

    def draft(
        self,
        *,
        template: str,
        kind: str,
        prospect: Mapping[str, Any],
        company: Mapping[str, Any],
        evidence: Sequence[Mapping[str, Any]],
        sender: Mapping[str, Any],
        previous: Mapping[str, Any] | None = None,
        scope: Any = None,
    ) -> DraftResult:
        try:
            tpl = self.env.get_template(f"{template}.j2")
        except TemplateNotFound:
            raise ConfigError(
                f"template {template!r} not found in {self.dir}", key="playbook.steps.template"
            ) from None
        usable = [e for e in evidence if not (e.get("data") or {}).get("suspicious")]
        context = {
            "prospect": prospect,
            "company": company,
            "sender": sender,
            "ev": pick_evidence(usable),
            "previous": previous or {},
        }
        try:
            rendered = tpl.render(**context).strip()
        except UndefinedError as exc:
            raise InvalidInput(
                f"template {template!r} needs data the prospect lacks: {exc.message}", provider="template"
            ) from None
        subject_line, _, body = rendered.partition("\n")
        if not subject_line.lower().startswith("subject:"):
            raise ConfigError(
                f"template {template!r} must start with a 'Subject:' line",
                file=str(self.dir / f"{template}.j2"),
            )
        subject = MARK.sub("", subject_line.split(":", 1)[1]).strip()
        sentences = sentences_of(body.strip(), str(company.get("name", "")))
        clean_body = MARK.sub("", body.strip())
        clean_body = re.sub(r"[ \t]+\n", "\n", clean_body)
        clean_body = re.sub(r" {2,}", " ", clean_body)
        if kind == "email":
            clean_body = f"{clean_body}\n\n{email_footer(sender)}"
        used = tuple(dict.fromkeys(i for s in sentences for i in s.evidence_ids))
        return DraftResult(template, self.version(template), subject, clean_body, sentences, used)


def _cite(*items: Any) -> str:
    ids = [i["id"] for i in items if isinstance(i, Mapping) and i.get("id")]
    return f"\u27e6ev:{','.join(ids)}\u27e7" if ids else ""


def pick_evidence(evidence: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The best item per slot for templates: funding, hiring (finance roles first), tech,
    expansion, news, product, about, headcount, and any signal."""
    by_kind: dict[str, list[Mapping[str, Any]]] = {}
    for e in evidence:
        by_kind.setdefault(e["kind"], []).append(e)

    def newest(items: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        return sorted(items, key=lambda e: (e.get("data") or {}).get("date", ""), reverse=True)

    hiring = by_kind.get("hiring", [])
    finance = [e for e in hiring if (e.get("data") or {}).get("finance_role")]
    about = by_kind.get("about", [])
    slots: dict[str, Any] = {
        "funding": next(iter(newest(by_kind.get("funding", []))), None),
        "hiring": finance[0] if finance else (hiring[0] if hiring else None),
        "finance_hiring": finance[0] if finance else None,
        "tech": next(iter(newest(by_kind.get("tech", []))), None),
        "expansion": next(iter(newest(by_kind.get("expansion", []))), None),
        "news": next(iter(newest(by_kind.get("news", []))), None),
        "product": next(iter(by_kind.get("product", [])), None),
        "about": about[0] if about else None,
        "headcount": next((e for e in about if (e.get("data") or {}).get("headcount")), None),
        # the strongest signal now (weight x recency decay, when annotated), else the newest
        "signal": next(
            iter(
                sorted(
                    newest(by_kind.get("signal", [])), key=lambda e: -(e.get("data") or {}).get("strength", 0)
                )
            ),
            None,
        ),
    }
    return {k: (_Ev(v) if v is not None else None) for k, v in slots.items()}


ABBREVIATIONS = re.compile(r"\b(Inc|Ltd|Corp|Co|Mr|Ms|Mrs|Dr|St|vs|e\.g|i\.e|approx|No)\.$", re.I)


def split_text(text: str) -> list[str]:
    """Sentences of one paragraph; a citation mark after the full stop stays with its
    sentence, and abbreviations such as "Inc." do not end one."""
    text = re.sub(r"([.!?])(\s*)(\u27e6ev:[a-z0-9_,]+\u27e7)", r"\3\1\2", text.strip())
    pieces = re.split(r"(?<=[.!?])\s+", text)
    out: list[str] = []
    for piece in pieces:
        if out and ABBREVIATIONS.search(out[-1]):
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    return out


def sentences_of(body: str, company_name: str) -> tuple[Sentence, ...]:
    out = []
    for para in body.split("\n"):
        for chunk in split_text(para):
            if not chunk.strip():
                continue
            ids = tuple(i for m in MARK.finditer(chunk) for i in m.group(1).split(","))
            text = MARK.sub("", chunk).strip()
            text = re.sub(r" {2,}", " ", text)
            if not text:
                continue
            mentions = bool(company_name) and company_name.lower() in text.lower()
            out.append(Sentence(text, ids, personal=bool(ids) or mentions))
    return tuple(out)


def email_footer(sender: Mapping[str, Any]) -> str:
    """The footer every email carries: identity, postal address, opt-out, right to object."""
    opt_out = f'Reply "unsubscribe" or visit {sender["unsubscribe_url"]}'
    return (
        f"--\n{sender['name']}"
        + (f", {sender['title']}" if sender.get("title") else "")
        + f"\n{sender['postal_address']}\n"
        f"Not relevant? {opt_out} and we will not contact you again. "
        "You can object to our use of your details for outreach at any time."
    )
