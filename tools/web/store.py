"""Where fetched pages are kept: the `web_pages` table (one row per URL, the newest fetch).
It is the research cache (a page younger than the TTL is not fetched again) and the record
that lets evidence quotes be re-checked and replays run offline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from core.timeutil import to_utc
from state.db import session_scope
from state.models_web import WebPage


@dataclass(frozen=True)
class StoredPage:
    url: str
    kind: str
    fetched_at: datetime
    content_hash: str
    text: str
    links: tuple[str, ...] = ()


def _stored(row: WebPage) -> StoredPage:
    return StoredPage(
        row.url, row.kind, to_utc(row.fetched_at), row.content_hash, row.text, tuple(row.links or ())
    )


class DbPageStore:
    def __init__(self, engine: Engine, workspace: str) -> None:
        self.engine = engine
        self.workspace = workspace

    def fresh(self, url: str, *, now: datetime, ttl: timedelta) -> StoredPage | None:
        """The stored page when it was fetched within `ttl` of `now`."""
        with Session(self.engine) as session:
            row = session.exec(
                select(WebPage).where(WebPage.workspace == self.workspace, WebPage.url == url)
            ).first()
        if row is None or to_utc(row.fetched_at) < to_utc(now) - ttl:
            return None
        return _stored(row)

    def put(
        self,
        *,
        url: str,
        domain: str,
        kind: str,
        fetched_at: datetime,
        http_status: int,
        content_type: str,
        content_hash: str,
        text: str,
        links: list[str] | None = None,
    ) -> None:
        with session_scope(self.engine) as session:
            row = session.exec(
                select(WebPage).where(WebPage.workspace == self.workspace, WebPage.url == url)
            ).first()
            row = row or WebPage(workspace=self.workspace, url=url, domain=domain, fetched_at=fetched_at)
            row.kind, row.fetched_at, row.http_status = kind, fetched_at, http_status
            row.content_type, row.content_hash, row.text = content_type, content_hash, text
            row.links = list(links or [])
            session.add(row)

    def set_links(self, url: str, links: list[str]) -> None:
        """Replace the discovered links kept with a page (home: its links plus the sitemap's)."""
        with session_scope(self.engine) as session:
            row = session.exec(
                select(WebPage).where(WebPage.workspace == self.workspace, WebPage.url == url)
            ).first()
            if row is not None:
                row.links = list(dict.fromkeys(links))
                session.add(row)

    def pages(self, domain: str) -> list[StoredPage]:
        """Every stored page of a company, home first then by URL."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(WebPage).where(WebPage.workspace == self.workspace, WebPage.domain == domain)
            ).all()
        return sorted((_stored(r) for r in rows), key=lambda p: (p.kind != "home", p.url))


def pages_for_domain(engine: Engine, workspace: str, domain: str) -> list[tuple[str, str]]:
    """(url, text) of every stored page of a company: what a research reader (the Claude
    reader included) reads, with no network."""
    return [(p.url, p.text) for p in DbPageStore(engine, workspace).pages(domain)]
