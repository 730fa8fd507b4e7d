"""Company research from an offline web snapshot (`<workspace>/web/<domain>/*.html`).

Each page is parsed into evidence items: an exact quote from the page, its source URL,
a kind (product, about, hiring, funding, expansion, tech, news) and extracted data
(a role, an amount, a date). Page text is untrusted data: it is quoted, never obeyed.
Text that :mod:`tools.untrusted` flags (instructions to an AI, claims of approval,
requests to change recipients or suppression, encoded blobs, invisible characters) and
text inside hidden elements is kept with ``suspicious`` set and its ``flags`` (rule,
reason, excerpt); drafters never use it and the research decision lists each flag with
the page URL.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Protocol

from core.errors import NotFound
from tools.untrusted import Flag, HiddenTracker, flag_text, flags_to_dicts

PAGES = ("index", "about", "careers", "blog")
AMOUNT = re.compile(r"[$€£]\s?\d+(?:[.,]\d+)?\s?(?:[MBK]|million|billion)?", re.I)
SERIES = re.compile(r"\b(seed|series [a-f])\b", re.I)


def term_pattern(terms: tuple[str, ...] | list[str]) -> re.Pattern[str] | None:
    """A case-insensitive pattern matching any of `terms` as whole words; a trailing or
    inner `*` matches any word ending (``migrat*`` matches "migrating")."""
    parts = []
    for t in terms:
        t = t.strip()
        if not t:
            continue
        body = re.escape(t).replace(r"\*", r"\w*")
        parts.append(body + ("" if t.endswith("*") else r"\b"))
    return re.compile(r"\b(" + "|".join(parts) + ")", re.I) if parts else None


@dataclass(frozen=True)
class ExtractionRules:
    """What marks a sentence as funding, tech, expansion (or any configured kind), and which
    open roles are target roles: from `[research]` in workspace.toml, never hard-coded."""

    kinds: tuple[tuple[str, re.Pattern[str]], ...] = ()
    target_role: re.Pattern[str] | None = None

    @classmethod
    def from_config(cls, keywords: Mapping[str, Any], target_roles: tuple[str, ...] = ()) -> ExtractionRules:
        kinds = []
        for kind, terms in keywords.items():
            pat = term_pattern(tuple(terms))
            if pat is not None:
                kinds.append((kind, pat))
        return cls(tuple(kinds), term_pattern(target_roles))

    @classmethod
    def default(cls) -> ExtractionRules:
        from core.workspace import DEFAULT_RESEARCH_KEYWORDS

        return cls.from_config(DEFAULT_RESEARCH_KEYWORDS)


def rules_for(ws: Any) -> ExtractionRules:
    """The extraction rules of a loaded workspace."""
    cfg = ws.config.research
    return ExtractionRules.from_config(cfg.keywords, cfg.target_roles)


@dataclass(frozen=True)
class EvidenceItem:
    id: str
    kind: str
    source_url: str
    quote: str
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "url": self.source_url,
            "quote": self.quote,
            "data": dict(self.data),
        }


@dataclass(frozen=True)
class ResearchResult:
    domain: str
    evidence: tuple[EvidenceItem, ...]
    pages: tuple[str, ...]
    credits: float = 0.0
    skipped: tuple[tuple[str, str], ...] = ()  # (url, why) of pages not read


class Researcher(Protocol):
    name: str

    def research(self, domain: str) -> ResearchResult:
        """Evidence about the company at `domain`; raises NotFound when there is none."""
        ...


def evidence_id(url: str, quote: str) -> str:
    return "ev_" + hashlib.sha256(f"{url}\n{quote}".encode()).hexdigest()[:12]


class _PageParser(HTMLParser):
    """Collects text blocks with the tag (and class) they came from."""

    BLOCKS = {"title", "h1", "h2", "h3", "p", "li", "time"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, str, dict[str, str]]] = []
        self.meta_description = ""
        self._stack: list[tuple[str, dict[str, str], list[str]]] = []
        self.article_index = -1
        self.hidden = HiddenTracker()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hidden.start(tag, dict(attrs))
        a = {k: v or "" for k, v in attrs}
        if tag == "meta" and a.get("name", "").lower() == "description":
            self.meta_description = a.get("content", "").strip()
        if tag == "article":
            self.article_index += 1
        if tag in self.BLOCKS:
            a["_article"] = str(self.article_index)
            a["_hidden"] = self.hidden.reason
            self._stack.append((tag, a, []))

    def handle_endtag(self, tag: str) -> None:
        self.hidden.end(tag)
        if self._stack and self._stack[-1][0] == tag:
            name, attrs, parts = self._stack.pop()
            text = re.sub(r"\s+", " ", "".join(parts)).strip()
            if text:
                self.blocks.append((name, text, attrs))
            if self._stack:  # nested block: its text also belongs to the parent
                self._stack[-1][2].append(" " + text + " ")

    def handle_data(self, data: str) -> None:
        if self._stack:
            self._stack[-1][2].append(data)


def split_sentences(text: str) -> list[str]:
    parts = re.split(r"(?<=[.!?])\s+(?=[A-Z0-9\"“])", text.strip())
    return [p.strip() for p in parts if len(p.strip()) > 3]


def _kind_for(text: str, default: str, rules: ExtractionRules) -> str:
    for kind, pattern in rules.kinds:
        if pattern.search(text):
            return kind
    return default


def extract_evidence(
    domain: str, page: str, html: str, rules: ExtractionRules | None = None
) -> list[EvidenceItem]:
    rules = rules or ExtractionRules.default()
    url = f"https://{domain}/" if page == "index" else f"https://{domain}/{page}"
    parser = _PageParser()
    parser.feed(html)
    items: list[EvidenceItem] = []

    hidden = {text: attrs.get("_hidden", "") for _tag, text, attrs in parser.blocks if attrs.get("_hidden")}

    def add(kind: str, quote: str, **data: Any) -> None:
        flags = flag_text(quote)
        if reason := next((why for text, why in hidden.items() if quote in text), ""):
            flags.append(Flag("hidden_element", f"text a reader cannot see ({reason})", quote[:160]))
        if flags:
            data["suspicious"] = True
            data["flags"] = flags_to_dicts(flags)
        items.append(EvidenceItem(evidence_id(url, quote), kind, url, quote, data))

    if page == "careers":
        for tag, text, _attrs in parser.blocks:
            if tag == "li":
                role, _, location = text.partition(" – ")
                add(
                    "hiring",
                    text,
                    role=role.strip(),
                    location=location.strip(),
                    target_role=(hit := bool(rules.target_role and rules.target_role.search(role))),
                    finance_role=hit,  # the name templates used before target roles were configurable
                )
        return items
    if page == "blog":
        dates: dict[str, str] = {}
        titles: dict[str, str] = {}
        for tag, text, attrs in parser.blocks:
            if tag == "time":
                dates[attrs["_article"]] = attrs.get("datetime", text)
            if tag == "h2":
                titles[attrs["_article"]] = text
        for tag, text, attrs in parser.blocks:
            if tag != "p":
                continue
            art = attrs["_article"]
            for sentence in split_sentences(text):
                data: dict[str, Any] = {"title": titles.get(art, ""), "date": dates.get(art, "")}
                if m := AMOUNT.search(sentence):
                    data["amount"] = m.group(0)
                if m := SERIES.search(sentence):
                    data["round"] = m.group(0)
                add(_kind_for(sentence, "news", rules), sentence, **data)
        return items
    default = "about" if page == "about" else "product"
    if parser.meta_description:
        add(default, parser.meta_description, source="meta description")
    for tag, text, _attrs in parser.blocks:
        if tag in ("h1", "p"):
            for sentence in split_sentences(text):
                data = {}
                if m := re.search(r"\b(\d[\d,]*)\s+(people|employees|staff)\b", sentence):
                    data["headcount"] = int(m.group(1).replace(",", ""))
                add(_kind_for(sentence, default, rules) if page == "about" else default, sentence, **data)
    return items


class SnapshotResearcher:
    """Reads the workspace's saved pages; a real researcher, offline."""

    name = "snapshot"

    def __init__(self, web_dir: Path, credits_per_company: float = 1.0, rules: ExtractionRules | None = None):
        self.web_dir = web_dir
        self.credits = credits_per_company
        self.rules = rules or ExtractionRules.default()

    def research(self, domain: str) -> ResearchResult:
        folder = self.web_dir / domain
        if not domain or not folder.is_dir():
            raise NotFound(
                f"no web snapshot for {domain or '(no domain)'}",
                provider=self.name,
                next_step="Add the company's pages under web/<domain>/ or fix the "
                "company domain; the prospect continues without research.",
            )
        evidence: list[EvidenceItem] = []
        pages = []
        for page in PAGES:
            path = folder / f"{page}.html"
            if path.exists():
                pages.append(page)
                evidence.extend(extract_evidence(domain, page, path.read_text(encoding="utf-8"), self.rules))
        unique = {e.id: e for e in evidence}
        return ResearchResult(domain, tuple(unique.values()), tuple(pages), self.credits)
