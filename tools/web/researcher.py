"""The live researcher: discovers the pages worth reading on a company's own site (home,
about, careers, blog/news, from the home page's links and sitemap.xml), fetches them
politely (see `fetch`), keeps each page's text in the page store and turns the text into
evidence with the workspace's extraction rules. Page text is data, never instructions."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from core.errors import NotFound, ProviderError
from core.workspace import ResearchConfig
from tools.research import (
    AMOUNT,
    SERIES,
    EvidenceItem,
    ExtractionRules,
    ResearchResult,
    evidence_id,
    split_sentences,
)
from tools.untrusted import flag_text, flags_to_dicts
from tools.web.extract import page_links, page_text, sitemap_urls
from tools.web.fetch import SiteFetcher, on_site
from tools.web.store import DbPageStore, StoredPage

KIND_PATHS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("about", re.compile(r"/(about|company|who-we-are|our-story|team)(/|$|\.)", re.I)),
    ("careers", re.compile(r"/(careers?|jobs|join(-us)?|work-with-us|hiring)(/|$|\.)", re.I)),
    ("blog", re.compile(r"/(blog|news|press|newsroom|updates|insights)(/|$|\.)", re.I)),
)
PER_KIND = {"about": 1, "careers": 1, "blog": 3}
HEADCOUNT = re.compile(r"\b(\d[\d,]*)\s+(people|employees|staff)\b", re.I)


def page_kind(url: str) -> str:
    path = urlsplit(url).path or "/"
    if path in ("", "/"):
        return "home"
    for kind, pat in KIND_PATHS:
        if pat.search(path):
            return kind
    return "page"


def choose_pages(home: str, candidates: list[str], domain: str, max_pages: int) -> list[tuple[str, str]]:
    """(url, kind) to read: home, then the best about, careers and blog/news pages
    (shortest paths first, blog posts after the blog index), at most `max_pages`."""
    picked: list[tuple[str, str]] = [(home, "home")]
    by_kind: dict[str, list[str]] = {}
    for url in candidates:
        kind = page_kind(url)
        if kind in PER_KIND and on_site(url, domain) and url.rstrip("/") != home.rstrip("/"):
            by_kind.setdefault(kind, [])
            if url not in by_kind[kind]:
                by_kind[kind].append(url)
    for kind in ("about", "careers", "blog"):
        urls = sorted(by_kind.get(kind, []), key=lambda u: (len(urlsplit(u).path.strip("/").split("/")), u))
        picked.extend((u, kind) for u in urls[: PER_KIND[kind]])
    return picked[:max_pages]


NOT_ROLE_WORDS = frozenset(
    {"careers", "career", "jobs", "join", "open", "roles", "positions", "home", "about", "blog"}
)


def _role_line(line: str) -> bool:
    """A line of a careers page that names an open role: "Role – Location", or a short
    title-like line that is not a heading, a sentence or navigation."""
    if len(line) > 90 or line.endswith((".", "!", "?", ":")):
        return False
    parts = re.split(r"\s+[–—-]\s+", line, maxsplit=1)
    words = re.findall(r"[A-Za-z&]+", parts[0])
    if not words or len(words) > 8:
        return False
    return len(parts) > 1 or (len(words) <= 5 and not {w.lower() for w in words} & NOT_ROLE_WORDS)


def evidence_from_text(url: str, kind: str, text: str, rules: ExtractionRules) -> list[EvidenceItem]:
    """Evidence items from one page's extracted text (one block per line)."""
    items: list[EvidenceItem] = []

    def add(ev_kind: str, quote: str, **data: Any) -> None:
        flags = flag_text(quote)
        if flags:
            data["suspicious"] = True
            data["flags"] = flags_to_dicts(flags)
        items.append(EvidenceItem(evidence_id(url, quote), ev_kind, url, quote, data))

    def classify(sentence: str, default: str) -> str:
        for k, pat in rules.kinds:
            if pat.search(sentence):
                return k
        return default

    for line in text.splitlines():
        if kind == "careers" and _role_line(line):
            parts = re.split(r"\s+[–—-]\s+", line, maxsplit=1)
            role, location = parts[0].strip(), (parts[1] if len(parts) > 1 else "").strip()
            hit = bool(rules.target_role and rules.target_role.search(role))
            add("hiring", line, role=role, location=location, target_role=hit, finance_role=hit)
            continue
        for sentence in split_sentences(line):
            data: dict[str, Any] = {}
            if kind == "blog":
                if m := AMOUNT.search(sentence):
                    data["amount"] = m.group(0)
                if m := SERIES.search(sentence):
                    data["round"] = m.group(0)
                add(classify(sentence, "news"), sentence, **data)
            elif kind in ("about", "careers"):
                if m := HEADCOUNT.search(sentence):
                    data["headcount"] = int(m.group(1).replace(",", ""))
                add(classify(sentence, "about"), sentence, **data)
            else:
                add(classify(sentence, "product"), sentence, **data)
    return items


class HttpResearcher:
    """Reads a company's live site (see module docstring); a fetched page younger than the
    TTL is read from the store instead of the network."""

    name = "http"

    def __init__(
        self,
        client: httpx.Client,
        store: DbPageStore,
        cfg: ResearchConfig,
        rules: ExtractionRules,
        *,
        credits_per_company: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client, self.store, self.cfg, self.rules = client, store, cfg, rules
        self.credits = credits_per_company
        self.sleep, self.clock, self.now = sleep, clock, now
        self.last_fetcher: SiteFetcher | None = None

    def _base(self, domain: str) -> str:
        port = f":{self.cfg.port}" if self.cfg.port else ""
        return f"{self.cfg.scheme}://{domain}{port}/"

    def research(self, domain: str) -> ResearchResult:
        if not domain:
            raise NotFound("no company domain", provider="web", next_step="Fix the company domain.")
        fetcher = SiteFetcher(
            self.client,
            domain,
            user_agent=self.cfg.user_agent,
            timeout=self.cfg.timeout_seconds,
            max_bytes=self.cfg.max_bytes,
            delay=self.cfg.delay_seconds,
            sleep=self.sleep,
            clock=self.clock,
        )
        self.last_fetcher = fetcher
        home = self._base(domain)
        skipped: list[tuple[str, str]] = []
        home_page = self._page(fetcher, domain, home, "home", skipped, want_links=True)
        if home_page is None:
            reason = skipped[0][1] if skipped else "no readable home page"
            raise NotFound(
                f"{domain}: {reason}",
                provider="web",
                next_step="Check the company domain, or add saved pages under web/<domain>/ and "
                "use the snapshot researcher.",
            )
        page, links = home_page
        candidates = list(links)
        if fetcher.requests:  # home was fetched now (not cached): read the sitemap too
            rp = fetcher.robots(home)
            sitemaps = list(rp.sitemaps) if rp is not None else []
            for sm in sitemaps or [home + "sitemap.xml"]:
                try:
                    if on_site(sm, domain):
                        candidates.extend(
                            u for u in sitemap_urls(fetcher.fetch(sm).body) if on_site(u, domain)
                        )
                except ProviderError as exc:
                    skipped.append((sm, f"{exc.error_class}: {exc.message}"))
            self.store.set_links(page.url, candidates)
        pages = [page]
        for url, kind in choose_pages(page.url, candidates, domain, self.cfg.max_pages)[1:]:
            got = self._page(fetcher, domain, url, kind, skipped)
            if got is not None:
                pages.append(got[0])
        evidence: dict[str, EvidenceItem] = {}
        for p in pages:
            for item in evidence_from_text(p.url, p.kind, p.text, self.rules):
                evidence.setdefault(item.id, item)
        return ResearchResult(
            domain, tuple(evidence.values()), tuple(p.url for p in pages), self.credits, tuple(skipped)
        )

    def _page(
        self,
        fetcher: SiteFetcher,
        domain: str,
        url: str,
        kind: str,
        skipped: list[tuple[str, str]],
        *,
        want_links: bool = False,
    ) -> tuple[StoredPage, list[str]] | None:
        now = self.now()
        cached = self.store.fresh(url, now=now, ttl=timedelta(hours=self.cfg.ttl_hours))
        if cached is not None:
            return cached, list(cached.links)
        try:
            fetched = fetcher.fetch(url)
        except ProviderError as exc:
            skipped.append((url, f"{exc.error_class}: {exc.message}"))
            return None
        text = page_text(fetched.body) if fetched.content_type != "text/plain" else fetched.body
        links = [u for u in page_links(fetched.body, fetched.url) if on_site(u, domain)] if want_links else []
        self.store.put(
            url=fetched.url,
            domain=domain,
            kind=kind,
            fetched_at=now,
            http_status=fetched.status,
            content_type=fetched.content_type,
            content_hash=fetched.content_hash,
            text=text,
            links=links,
        )
        return StoredPage(fetched.url, kind, now, fetched.content_hash, text, tuple(links)), links
