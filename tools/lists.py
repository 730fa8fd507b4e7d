"""Signals and suppression lists: CSV/JSONL in, rows validated one by one, rejects
reported with their line numbers, duplicates ignored (re-import is idempotent)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from core.errors import InputError
from core.timeutil import parse_instant
from state.db import session_scope
from state.models import Company, Evidence, Prospect, Signal, Suppression
from tools import jsonlimits
from tools import normalize as nz
from tools.csv_safe import write_csv
from tools.tabular import read_table, read_text

SIGNAL_TYPES = ("hiring", "funding", "tech_change", "website_visit", "job_change", "news")
SUPPRESSION_REASONS = ("unsubscribed", "bounced", "complained", "customer", "competitor", "do_not_contact")


def _rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line, row with lower-case keys) from CSV (any common encoding and delimiter) or
    JSONL; a row that cannot be read carries ``__error__``."""
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        text, _ = read_text(path)
        for n, text_line in enumerate(text.split("\n"), start=1):
            if not text_line.strip():
                continue
            try:
                obj = jsonlimits.parse(text_line)
            except jsonlimits.BadJSON as exc:
                yield n, {"__error__": str(exc)}
                continue
            if not isinstance(obj, dict):
                yield n, {"__error__": "each line must be a JSON object"}
                continue
            yield n, {str(k).strip().lower(): "" if v is None else str(v) for k, v in obj.items()}
        return
    table = read_table(path)
    keys = [h.strip().lower().replace(" ", "_") for h in table.headers]
    for line, values in table.rows:
        if isinstance(values, str):
            yield line, {"__error__": values}
            continue
        if not any(v.strip() for v in values):
            continue
        row = {k: (values[i].strip() if i < len(values) else "") for i, k in enumerate(keys)}
        if any("\x00" in v for v in row.values()):
            yield line, {"__error__": "the row contains a NUL character"}
            continue
        yield line, row


def _write_rejects(rejects_dir: Path, path: Path, rejects: list[dict[str, Any]]) -> str | None:
    if not rejects:
        return None
    rejects_dir.mkdir(parents=True, exist_ok=True)
    out = rejects_dir / f"{path.stem}.rejects.csv"
    write_csv(out, ["line", "field", "reason"], ([r["line"], r["field"], r["reason"]] for r in rejects))
    return str(out)


def import_signals(
    engine: Engine, workspace: str, path: Path, *, rejects_dir: Path, now: datetime
) -> dict[str, Any]:
    """Signals become evidence (kind "signal") the drafter can cite."""
    result = ingest_signal_rows(engine, workspace, _rows(path), now=now)
    return {**result, "rejects_file": _write_rejects(rejects_dir, path, result["rejects"])}


def signal_records(payload: Any) -> Iterator[tuple[int, dict[str, str]]]:
    """Webhook body (one signal object, a list, or {"signals": [...]}) as numbered rows."""
    items = payload.get("signals", [payload]) if isinstance(payload, dict) else payload
    if not isinstance(items, list):
        raise InputError("expected a signal object or a list of them")
    for n, obj in enumerate(items, start=1):
        if not isinstance(obj, dict):
            yield n, {"__error__": "not a JSON object"}
            continue
        yield n, {str(k).strip().lower(): "" if v is None else str(v) for k, v in obj.items()}


def ingest_signal_rows(
    engine: Engine, workspace: str, rows: Iterable[tuple[int, dict[str, str]]], *, now: datetime
) -> dict[str, Any]:
    """Validate and store signal rows (from a file or a webhook); rejects name line and field."""
    imported = duplicates = 0
    rejects: list[dict[str, Any]] = []
    with session_scope(engine) as session:
        companies = {
            c.domain: c.id for c in session.exec(select(Company).where(Company.workspace == workspace))
        }
        for line, row in rows:
            try:
                sig = _clean_signal(session, workspace, companies, line, row)
            except InputError as exc:
                rejects.append(
                    {"line": line, "field": exc.field or "", "reason": exc.message.split(": ", 1)[-1]}
                )
                continue
            if session.exec(
                select(Signal).where(Signal.workspace == workspace, Signal.dedupe_key == sig.dedupe_key)
            ).first():
                duplicates += 1
                continue
            session.add(sig)
            quote = sig.detail or sig.type.replace("_", " ")
            ev_id = "ev_" + hashlib.sha256(f"signal|{sig.dedupe_key}".encode()).hexdigest()[:12]
            session.add(
                Evidence(
                    id=ev_id,
                    workspace=workspace,
                    company_id=sig.company_id,
                    prospect_id=sig.prospect_id,
                    kind="signal",
                    source_url=sig.url,
                    quote=quote,
                    data={
                        "type": sig.type,
                        "date": sig.occurred_at.date().isoformat() if sig.occurred_at else "",
                    },
                    collected_at=now,
                )
            )
            imported += 1
    return {"imported": imported, "duplicates": duplicates, "rejected": len(rejects), "rejects": rejects}


def _clean_signal(
    session: Session, workspace: str, companies: dict[str, str], line: int, row: dict[str, str]
) -> Signal:
    if "__error__" in row:
        raise InputError(row["__error__"], line=line)
    kind = row.get("type", "").strip().lower()
    if kind not in SIGNAL_TYPES:
        raise InputError(f"type {kind!r} is not one of {', '.join(SIGNAL_TYPES)}", line=line, field="type")
    email = nz.normalize_email(row.get("email", ""))
    domain = nz.normalize_domain(row.get("company_domain", ""))
    prospect_id = company_id = None
    if email:
        p = session.exec(
            select(Prospect).where(Prospect.workspace == workspace, Prospect.email_norm == email)
        ).first()
        if p is None:
            raise InputError(f"no prospect with email {email}", line=line, field="email")
        prospect_id, company_id = p.id, p.company_id
    elif domain:
        company_id = companies.get(domain)
        if company_id is None:
            raise InputError(f"no company with domain {domain}", line=line, field="company_domain")
    else:
        raise InputError("needs company_domain or email", line=line)
    occurred = None
    if row.get("occurred_at"):
        try:
            occurred = parse_instant(row["occurred_at"][:64])
        except (ValueError, OverflowError):
            raise InputError(
                f"occurred_at {row['occurred_at']!r} is not an ISO-8601 date", line=line, field="occurred_at"
            ) from None
    key = hashlib.sha256(
        "|".join(
            [kind, email or domain, row.get("detail", ""), row.get("url", ""), row.get("occurred_at", "")]
        ).encode()
    ).hexdigest()[:24]
    return Signal(
        workspace=workspace,
        dedupe_key=key,
        company_id=company_id,
        prospect_id=prospect_id,
        type=kind,
        detail=row.get("detail", ""),
        url=row.get("url", ""),
        occurred_at=occurred,
    )


def import_suppressions(
    engine: Engine, workspace: str, path: Path, *, rejects_dir: Path, now: datetime, source: str = ""
) -> dict[str, Any]:
    """Email and/or domain entries; a domain entry covers everyone at that company. Takes
    effect at once, including for sequences already running (the guard reads it)."""
    imported = duplicates = 0
    rejects: list[dict[str, Any]] = []
    with session_scope(engine) as session:
        for line, row in _rows(path):
            try:
                entries = _clean_suppression(line, row)
            except InputError as exc:
                rejects.append(
                    {"line": line, "field": exc.field or "", "reason": exc.message.split(": ", 1)[-1]}
                )
                continue
            for kind, value, reason in entries:
                exists = session.exec(
                    select(Suppression).where(
                        Suppression.workspace == workspace,
                        Suppression.kind == kind,
                        Suppression.value == value,
                    )
                ).first()
                if exists:
                    duplicates += 1
                    continue
                session.add(
                    Suppression(
                        workspace=workspace,
                        kind=kind,
                        value=value,
                        reason=reason,
                        source=source or path.name,
                        created_at=now,
                    )
                )
                imported += 1
    return {
        "imported": imported,
        "duplicates": duplicates,
        "rejected": len(rejects),
        "rejects_file": _write_rejects(rejects_dir, path, rejects),
        "rejects": rejects,
    }


def _clean_suppression(line: int, row: dict[str, str]) -> list[tuple[str, str, str]]:
    if "__error__" in row:
        raise InputError(row["__error__"], line=line)
    reason = row.get("reason", "").strip().lower()
    if reason not in SUPPRESSION_REASONS:
        raise InputError(
            f"reason {reason!r} is not one of {', '.join(SUPPRESSION_REASONS)}", line=line, field="reason"
        )
    out = []
    email = nz.normalize_email(row.get("email", ""))
    if email:
        if not nz.valid_email(email):
            raise InputError(f"email {email!r} is not a valid address", line=line, field="email")
        out.append(("email", email, reason))
    domain_raw = row.get("domain", "")
    if domain_raw:
        domain = nz.normalize_domain(domain_raw)
        if not nz.valid_domain(domain):
            raise InputError(f"domain {domain_raw!r} is not a valid domain", line=line, field="domain")
        out.append(("domain", domain, reason))
    if not out:
        raise InputError("needs an email or a domain", line=line)
    return out
