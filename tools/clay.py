"""Clay out: per-prospect results pushed to a Clay table webhook, a lookup a Clay HTTP API
column calls, and a Clay-friendly CSV export.

A row holds the prospect's identity, status (and stop reason), last touch, reply class,
score (when scored) and an evidence summary with its links. Each prospect is pushed once
per change: the digest of the pushed row is stored (`clay_pushes`), and an unchanged row is
not sent again. Clay's limits are honoured: a token bucket (`[clay] records_per_second`,
`burst`), rows over `max_payload_bytes` are trimmed (evidence first) or skipped with a note,
and the webhook's lifetime cap is tracked (submissions counted per webhook): a warning at
`warn_at` of it, and no push past it. A 429 waits for Retry-After, bounded.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlmodel import Session, col, func, select

from core.timeutil import iso
from core.workspace import Workspace
from state.models import Company, EngagementEventRow, Evidence, OutboxMessage, Prospect
from state.models_crm import ClayPush
from tools.csv_safe import write_csv
from tools.normalize import normalize_domain, normalize_email, normalize_linkedin

MAX_RETRIES = 3
EVIDENCE_ITEMS = 5
CSV_HEADERS = (
    ("Full Name", "full_name"),
    ("First Name", "first_name"),
    ("Last Name", "last_name"),
    ("Work Email", "email"),
    ("LinkedIn Profile", "linkedin_url"),
    ("Job Title", "title"),
    ("Company Name", "company_name"),
    ("Company Domain", "company_domain"),
    ("Status", "status"),
    ("Stop Reason", "stop_reason"),
    ("Last Touch At", "last_touch_at"),
    ("Last Touch Channel", "last_touch_channel"),
    ("Reply Class", "reply_class"),
    ("Score", "score"),
    ("Evidence Summary", "evidence_summary"),
    ("Evidence Links", "evidence_links"),
)


def prospect_row(session: Session, ws: Workspace, p: Prospect) -> dict[str, Any]:
    """The Clay row of one prospect (plain JSON)."""
    company = session.get(Company, p.company_id) if p.company_id else None
    last = session.exec(
        select(OutboxMessage)
        .where(
            OutboxMessage.workspace == ws.id,
            OutboxMessage.prospect_id == p.id,
            OutboxMessage.status == "sent",
        )
        .order_by(col(OutboxMessage.sent_at).desc())
    ).first()
    reply = session.exec(
        select(EngagementEventRow)
        .where(EngagementEventRow.workspace == ws.id, EngagementEventRow.prospect_id == p.id)
        .where(col(EngagementEventRow.type).in_(("replied", "linkedin_replied")))
        .order_by(col(EngagementEventRow.occurred_at).desc())
    ).first()
    evidence = []
    if p.company_id:
        evidence = list(
            session.exec(
                select(Evidence)
                .where(Evidence.workspace == ws.id, Evidence.company_id == p.company_id)
                .order_by(col(Evidence.id))
                .limit(EVIDENCE_ITEMS)
            ).all()
        )
    score = (p.attributes or {}).get("score")
    return {
        "prospect_id": p.id,
        "full_name": p.full_name,
        "first_name": p.first_name,
        "last_name": p.last_name,
        "email": p.email_norm,
        "linkedin_url": p.linkedin_url,
        "title": p.title,
        "company_name": company.name if company else "",
        "company_domain": company.domain if company else "",
        "status": p.status,
        "stop_reason": p.stop_reason,
        "last_touch_at": iso(last.sent_at) if last else "",
        "last_touch_channel": last.channel if last else "",
        "reply_class": str((reply.raw or {}).get("reply_kind") or "") if reply else "",
        "score": "" if score in (None, "") else score,
        "evidence_summary": " | ".join(e.quote[:200] for e in evidence),
        "evidence_links": " ".join(sorted({e.source_url for e in evidence if e.source_url})),
        "research_status": company.research_status if company else "",
    }


def row_digest(row: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()[:32]


def webhook_key(url: str) -> str:
    """The webhook's identity in our tables: a digest, so its URL (a secret) is never stored."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def fit_payload(row: dict[str, Any], limit: int) -> dict[str, Any] | None:
    """The row within `limit` bytes (the evidence summary trimmed first), else None."""
    if len(json.dumps(row).encode()) <= limit:
        return row
    trimmed = {**row, "evidence_summary": row["evidence_summary"][:1000] + " ..."}
    if len(json.dumps(trimmed).encode()) <= limit:
        return trimmed
    return None


class TokenBucket:
    """`rate` tokens a second, at most `burst` saved; `take()` sleeps until one is there."""

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float], sleep: Callable[[float], None]
    ):
        self.rate, self.burst, self.clock, self.sleep = rate, burst, clock, sleep
        self.tokens, self.at = float(burst), clock()

    def take(self) -> None:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            wait = (1 - self.tokens) / self.rate
            self.sleep(wait)
            self.tokens, self.at = 1.0, self.clock()
        self.tokens -= 1


@dataclass
class PushReport:
    pushed: int = 0
    unchanged: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    lifetime_used: int = 0
    lifetime_cap: int = 0
    warning: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def lifetime_used(session: Session, ws: Workspace, hook: str) -> int:
    total = session.exec(
        select(func.coalesce(func.sum(ClayPush.pushes), 0)).where(
            ClayPush.workspace == ws.id, ClayPush.webhook == hook
        )
    ).one()
    return int(total or 0)


def push_changed(
    session: Session,
    ws: Workspace,
    *,
    url: str,
    client: httpx.Client,
    now: datetime,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    dry_run: bool = False,
) -> PushReport:
    """Push every prospect whose row changed since its last push (see the module docstring)."""
    cfg = ws.config.clay
    hook = webhook_key(url)
    report = PushReport(lifetime_cap=cfg.lifetime_cap)
    used = lifetime_used(session, ws, hook)
    # paced at 90% of Clay's rate (and a burst two short) so network jitter never trips its limit
    bucket = TokenBucket(cfg.records_per_second * 0.9, max(1, cfg.burst - 2), clock=clock, sleep=sleep)
    prospects = session.exec(
        select(Prospect).where(Prospect.workspace == ws.id).order_by(col(Prospect.id))
    ).all()
    for p in prospects:
        row = prospect_row(session, ws, p)
        dig = row_digest(row)
        last = session.get(ClayPush, (ws.id, hook, p.id))
        if last is not None and last.digest == dig:
            report.unchanged += 1
            continue
        payload = fit_payload(row, cfg.max_payload_bytes)
        if payload is None:
            report.skipped.append({"prospect_id": p.id, "reason": f"row over {cfg.max_payload_bytes} bytes"})
            continue
        if used >= cfg.lifetime_cap:
            report.skipped.append({"prospect_id": p.id, "reason": "the webhook's lifetime cap is reached"})
            continue
        if dry_run:
            report.pushed += 1
            continue
        bucket.take()
        error = _post(client, url, payload, sleep)
        if error:
            report.failed.append({"prospect_id": p.id, "error": error})
            if error.startswith("rate limited"):
                break
            continue
        used += 1
        report.pushed += 1
        if last is None:
            last = ClayPush(workspace=ws.id, webhook=hook, prospect_id=p.id, digest=dig, pushed_at=now)
        last.digest, last.pushes, last.pushed_at, last.row = dig, last.pushes + 1, now, payload
        session.add(last)
        session.commit()
    report.lifetime_used = used
    if used >= cfg.warn_at * cfg.lifetime_cap:
        report.warning = (
            f"the Clay webhook has taken {used} of its {cfg.lifetime_cap} lifetime submissions "
            f"({used / cfg.lifetime_cap:.0%}); create a new webhook source in the Clay table soon"
        )
    return report


def _post(client: httpx.Client, url: str, payload: dict[str, Any], sleep: Callable[[float], None]) -> str:
    """POST one row; "" on success, else a short error (never the URL)."""
    for attempt in range(MAX_RETRIES + 1):
        try:
            r = client.post(url, json=payload, timeout=15.0)
        except httpx.HTTPError as exc:
            return f"Clay webhook unreachable ({type(exc).__name__})"
        if r.status_code == 429 and attempt < MAX_RETRIES:
            try:
                wait = float(r.headers.get("Retry-After") or 1.0)
            except ValueError:
                wait = 1.0
            sleep(min(wait, 30.0))
            continue
        if r.status_code == 429:
            return "rate limited by Clay after retries"
        if r.status_code >= 300:
            return f"Clay answered HTTP {r.status_code}"
        return ""
    return "rate limited by Clay after retries"


def lookup(
    session: Session, ws: Workspace, *, email: str = "", linkedin_url: str = "", domain: str = ""
) -> dict[str, Any] | None:
    """Research, score and status for one row, by email, else LinkedIn URL, else company
    domain (then the company's research and its prospects' statuses)."""
    p = None
    if email:
        p = session.exec(
            select(Prospect).where(Prospect.workspace == ws.id, Prospect.email_norm == normalize_email(email))
        ).first()
    if p is None and linkedin_url:
        norm = normalize_linkedin(linkedin_url)
        p = (
            session.exec(
                select(Prospect).where(Prospect.workspace == ws.id, Prospect.linkedin_norm == norm)
            ).first()
            if norm
            else None
        )
    if p is not None:
        return {"match": "prospect", **prospect_row(session, ws, p)}
    if domain:
        dom = normalize_domain(domain)
        c = (
            session.exec(select(Company).where(Company.workspace == ws.id, Company.domain == dom)).first()
            if dom
            else None
        )
        if c is not None:
            evidence = session.exec(
                select(Evidence)
                .where(Evidence.workspace == ws.id, Evidence.company_id == c.id)
                .order_by(col(Evidence.id))
                .limit(EVIDENCE_ITEMS)
            ).all()
            people = session.exec(
                select(Prospect)
                .where(Prospect.workspace == ws.id, Prospect.company_id == c.id)
                .order_by(col(Prospect.id))
            ).all()
            return {
                "match": "company",
                "company_name": c.name,
                "company_domain": c.domain,
                "research_status": c.research_status,
                "evidence": [{"quote": e.quote[:300], "url": e.source_url, "kind": e.kind} for e in evidence],
                "prospects": [
                    {
                        "email": x.email_norm,
                        "status": x.status,
                        "score": (x.attributes or {}).get("score", ""),
                    }
                    for x in people
                ],
            }
    return None


def export_csv(session: Session, ws: Workspace, out: Path) -> int:
    """Every prospect's Clay row as CSV with Clay-friendly headers and formula-safe cells."""
    prospects = session.exec(
        select(Prospect).where(Prospect.workspace == ws.id).order_by(col(Prospect.id))
    ).all()
    rows = [prospect_row(session, ws, p) for p in prospects]
    write_csv(out, [h for h, _ in CSV_HEADERS], ([r[k] for _, k in CSV_HEADERS] for r in rows))
    return len(rows)


def push_workspace(
    ws: Workspace, *, now: datetime, dry_run: bool = False, client: httpx.Client | None = None
) -> PushReport:
    """The `clay push` service: the webhook URL from the env var named in `[clay]`."""
    import os

    from core.errors import ConfigError
    from state.db import engine_for

    url = os.environ.get(ws.config.clay.webhook_url_env, "")
    if not url:
        raise ConfigError(
            f"the env var {ws.config.clay.webhook_url_env} (the Clay table's webhook URL) is empty",
            file=str(ws.root / "workspace.toml"),
            key="clay.webhook_url_env",
            next_step="Copy the webhook URL from the Clay table's webhook source into that env var.",
        )
    own = client is None
    http = client or httpx.Client()
    try:
        with Session(engine_for(ws.database_url)) as session:
            return push_changed(session, ws, url=url, client=http, now=now, dry_run=dry_run)
    finally:
        if own:
            http.close()


def export_workspace(ws: Workspace, out: Path) -> int:
    """The `clay export` service."""
    from state.db import engine_for

    with Session(engine_for(ws.database_url)) as session:
        return export_csv(session, ws, out)
