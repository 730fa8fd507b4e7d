"""Prospect import from CSV (Clay exports and aliases) and JSONL.

Every row is validated on its own; a row that cannot be used goes to a rejects file with
its line number and reason (never silently dropped). Identity resolution merges people
by normalised email, else LinkedIn URL, else name + company domain, and companies by
domain, else normalised name ("Acme, Inc." = "ACME Inc" = acme.com). Re-importing the
same file changes nothing.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from core.errors import InputError
from state.db import session_scope
from state.models import Company, Prospect
from tools import normalize as nz

KNOWN = (
    "first_name",
    "last_name",
    "full_name",
    "email",
    "title",
    "company_name",
    "company_domain",
    "website",
    "linkedin_url",
    "phone",
    "country",
    "region",
    "city",
    "timezone",
    "employee_count",
    "industry",
    "owner",
    "tier",
    "source",
)
ALIASES: dict[str, tuple[str, ...]] = {
    "first_name": ("firstname", "first", "givenname"),
    "last_name": ("lastname", "last", "surname", "familyname"),
    "full_name": ("fullname", "name", "personname", "contactname"),
    "email": ("emailaddress", "workemail", "businessemail", "personemail", "mail"),
    "title": ("jobtitle", "position", "role", "headline"),
    "company_name": (
        "company",
        "companyname",
        "organization",
        "organisation",
        "account",
        "accountname",
        "employer",
    ),
    "company_domain": ("companydomain", "domain", "emaildomain"),
    "website": ("companywebsite", "websiteurl", "companyurl", "url"),
    "linkedin_url": (
        "linkedin",
        "linkedinurl",
        "linkedinprofile",
        "linkedinprofileurl",
        "personlinkedinurl",
        "profileurl",
    ),
    "phone": ("phonenumber", "mobile", "mobilephone", "directphone", "workphone"),
    "country": ("locationcountry", "personcountry", "countrycode"),
    "region": ("state", "province", "stateprovince", "locationregion"),
    "city": ("locationcity", "town"),
    "timezone": ("timezone", "tz", "time_zone", "ianatimezone"),
    "employee_count": ("employees", "employeecount", "numberofemployees", "companysize", "headcount", "size"),
    "industry": ("companyindustry", "sector"),
    "owner": ("accountowner", "ownerEmail", "assignedto", "sdr"),
    "tier": ("accounttier", "priority"),
    "source": ("leadsource", "list"),
}


def _key(header: str) -> str:
    return re.sub(r"[^a-z0-9]", "", header.lower())


def header_map(headers: list[str]) -> dict[str, str]:
    """Original header -> canonical field (unknown headers map to themselves)."""
    lookup: dict[str, str] = {}
    for canon in KNOWN:
        lookup[_key(canon)] = canon
        for alias in ALIASES.get(canon, ()):
            lookup.setdefault(_key(alias), canon)
    out, taken = {}, set()
    for h in headers:
        canon = lookup.get(_key(h))
        if canon and canon not in taken:
            out[h] = canon
            taken.add(canon)
        else:
            out[h] = h
    return out


@dataclass
class ImportResult:
    imported: int = 0
    updated: int = 0
    merged: int = 0
    rejected: int = 0
    rejects_file: str | None = None
    rows: int = 0
    companies_created: int = 0
    rejects: list[dict[str, Any]] = field(default_factory=list)
    prospect_ids: list[str] = field(default_factory=list)  # per accepted row, in order

    def to_dict(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "updated": self.updated,
            "merged": self.merged,
            "rejected": self.rejected,
            "rejects_file": self.rejects_file,
        }


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row with canonical keys) for CSV or JSONL files."""
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        with path.open(encoding="utf-8-sig") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield lineno, {"__error__": f"not valid JSON: {exc.msg}"}
                    continue
                if not isinstance(obj, dict):
                    yield lineno, {"__error__": "each line must be a JSON object"}
                    continue
                mapping = header_map(list(obj))
                yield lineno, {mapping[k]: "" if v is None else str(v) for k, v in obj.items()}
        return
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        try:
            headers = next(reader)
        except StopIteration:
            raise InputError("the file is empty (no header row)", file=str(path)) from None
        mapping = header_map(headers)
        start = reader.line_num + 1
        for values in reader:
            line, start = start, reader.line_num + 1
            if not any(v.strip() for v in values):
                continue
            if len(values) > len(headers):
                yield line, {"__error__": f"{len(values)} values for {len(headers)} columns"}
                continue
            yield line, {mapping[h]: (values[i] if i < len(values) else "") for i, h in enumerate(headers)}


@dataclass(frozen=True)
class CleanRow:
    line: int
    email: str
    linkedin_url: str
    linkedin_norm: str
    first_name: str
    last_name: str
    full_name: str
    domain: str
    company_name: str
    fields: dict[str, Any]
    attributes: dict[str, str]

    def identity(self) -> tuple[str, str]:
        if self.email:
            return ("email", self.email)
        if self.linkedin_norm:
            return ("linkedin", self.linkedin_norm)
        return ("name", f"{nz.fold(self.full_name)}|{self.domain}")


def clean_row(line: int, row: Mapping[str, str]) -> CleanRow:
    """Validate one row; raises InputError naming the line and field."""
    if "__error__" in row:
        raise InputError(row["__error__"], line=line)
    g = lambda k: (row.get(k) or "").strip()  # noqa: E731
    email = nz.normalize_email(g("email"))
    if email and not nz.valid_email(email):
        raise InputError(f"email {g('email')!r} is not a valid address", line=line, field="email")
    domain_raw = g("company_domain") or g("website")
    domain = nz.normalize_domain(domain_raw)
    if domain_raw and not nz.valid_domain(domain):
        raise InputError(f"domain {domain_raw!r} is not a valid domain", line=line, field="company_domain")
    if not domain and email and nz.email_domain(email) not in nz.PERSONAL_DOMAINS:
        domain = nz.email_domain(email)
    country = nz.normalize_country(g("country"))
    if country is None:
        raise InputError(f"country {g('country')!r} is not a known country", line=line, field="country")
    tz = g("timezone")
    if tz and not nz.valid_timezone(tz):
        raise InputError(
            f"time zone {tz!r} is not an IANA zone (e.g. Europe/Berlin)", line=line, field="timezone"
        )
    try:
        tier = nz.parse_tier(g("tier"))
    except ValueError as exc:
        raise InputError(str(exc), line=line, field="tier") from None
    linkedin = g("linkedin_url")
    linkedin_norm = nz.normalize_linkedin(linkedin)
    if linkedin and not linkedin_norm:
        raise InputError(
            f"linkedin_url {linkedin!r} is not a LinkedIn profile URL", line=line, field="linkedin_url"
        )
    first, last, full = nz.normalize_person_name(g("first_name"), g("last_name"), g("full_name"))
    if not email and not linkedin_norm and not (full and domain):
        raise InputError(
            "no email, no LinkedIn URL and no name with a company domain: the person cannot be identified",
            line=line,
        )
    company = g("company_name") or (nz.company_name_from_domain(domain) if domain else "")
    fields = {
        "title": g("title"),
        "phone": g("phone"),
        "country": country,
        "region": g("region"),
        "city": g("city"),
        "timezone": tz,
        "tier": tier,
        "owner": g("owner"),
        "source": g("source"),
        "industry": g("industry"),
        "employee_count": nz.parse_employee_count(g("employee_count")),
    }
    attributes = {k: v for k, v in row.items() if k not in KNOWN and v not in ("", None)}
    return CleanRow(
        line, email, linkedin, linkedin_norm, first, last, full, domain, company, fields, attributes
    )


def _new_id(prefix: str, *parts: str) -> str:
    return prefix + hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]


class _Index:
    """Identity maps for one workspace, loaded once per import."""

    def __init__(self, session: Session, workspace: str):
        self.by_email: dict[str, str] = {}
        self.by_linkedin: dict[str, str] = {}
        self.by_name: dict[str, str] = {}
        self.prospect_names: dict[str, str] = {}
        self.company_by_domain: dict[str, str] = {}
        self.company_by_name: dict[str, str] = {}
        self.company_domain: dict[str, str] = {}
        for c in session.exec(
            select(Company.id, Company.domain, Company.norm_name).where(Company.workspace == workspace)
        ):
            self.remember_company(c[0], c[1], c[2])
        for p in session.exec(
            select(
                Prospect.id,
                Prospect.email_norm,
                Prospect.linkedin_norm,
                Prospect.full_name,
                Prospect.company_id,
            ).where(Prospect.workspace == workspace)
        ):
            self.remember_prospect(p[0], p[1], p[2], p[3], self.company_domain.get(p[4] or ""))

    def existing_ids(self) -> set[str]:
        return (
            set(self.by_email.values())
            | set(self.by_linkedin.values())
            | set(self.by_name.values())
            | set(self.prospect_names)
        )

    def remember_prospect(
        self, pid: str, email: str, linkedin: str, full_name: str, domain: str | None
    ) -> None:
        if email:
            self.by_email[email] = pid
        if linkedin:
            self.by_linkedin[linkedin] = pid
        if full_name:
            self.prospect_names[pid] = nz.fold(full_name)
            if domain:
                self.by_name[f"{nz.fold(full_name)}|{domain}"] = pid

    def remember_company(self, cid: str, domain: str, norm_name: str) -> None:
        if domain:
            self.company_by_domain[domain] = cid
            self.company_domain[cid] = domain
        if norm_name:
            self.company_by_name.setdefault(norm_name, cid)

    def find_prospect(self, row: CleanRow) -> str | None:
        if row.email and row.email in self.by_email:
            return self.by_email[row.email]
        if row.linkedin_norm and row.linkedin_norm in self.by_linkedin:
            return self.by_linkedin[row.linkedin_norm]
        if row.full_name and row.domain:
            return self.by_name.get(f"{nz.fold(row.full_name)}|{row.domain}")
        return None


def import_prospects(
    engine: Engine,
    workspace: str,
    path: Path,
    *,
    rejects_dir: Path,
    now: datetime,
    progress: Callable[[int], None] | None = None,
    batch_size: int = 2000,
) -> ImportResult:
    """Import a CSV/JSONL file into the workspace. Commits in batches, so a crash leaves
    whole batches imported and a re-run completes the rest (re-import is idempotent)."""
    if not path.exists():
        raise InputError("file not found", file=str(path))
    result = _import_rows(
        engine, workspace, read_rows(path), now=now, progress=progress, batch_size=batch_size
    )
    if result.rejects:
        rejects_dir.mkdir(parents=True, exist_ok=True)
        out = rejects_dir / f"{path.stem}.rejects.csv"
        _write_rejects(out, result.rejects)
        result.rejects_file = str(out)
    return result


def _import_rows(
    engine: Engine,
    workspace: str,
    rows: Iterable[tuple[int, dict[str, str]]],
    *,
    now: datetime,
    progress: Callable[[int], None] | None = None,
    batch_size: int = 2000,
) -> ImportResult:
    """Validate, resolve and store (line, row) pairs; rejects are returned, not written."""
    result = ImportResult()
    rejects: list[dict[str, Any]] = []
    with Session(engine) as session:
        index = _Index(session, workspace)
    seen_in_file: set[str] = set()
    pending_new: dict[str, dict[str, Any]] = {}
    pending_upd: dict[str, dict[str, Any]] = {}
    new_companies: list[dict[str, Any]] = []
    company_updates: dict[str, dict[str, Any]] = {}

    def flush() -> None:
        with session_scope(engine) as s:
            if new_companies:
                s.execute(insert(Company), new_companies)
            for cid, values in company_updates.items():
                s.execute(update(Company).where(Company.id == cid).values(**values))
            if pending_new:
                s.execute(insert(Prospect), list(pending_new.values()))
            for pid, values in pending_upd.items():
                if values.get("attributes"):  # custom columns merge with what is stored
                    stored = s.get(Prospect, pid)
                    values = {**values, "attributes": {**(stored.attributes or {}), **values["attributes"]}}
                s.execute(update(Prospect).where(Prospect.id == pid).values(**values))
        new_companies.clear(), company_updates.clear(), pending_new.clear(), pending_upd.clear()

    existing_before = index.existing_ids()
    for line, raw in rows:
        result.rows += 1
        try:
            row = clean_row(line, raw)
        except InputError as exc:
            rejects.append(
                {"line": line, "reason": exc.message.split(": ", 1)[-1], "field": exc.field or "", "row": raw}
            )
            continue
        cid = _resolve_company(index, row, workspace, new_companies, company_updates, result)
        pid = index.find_prospect(row)
        values = _prospect_values(row, cid, now)
        if pid is None:
            pid = _new_id("p_", workspace, *row.identity())
            pending_new[pid] = {
                "id": pid,
                "workspace": workspace,
                "created_at": now,
                "status": "active",
                **values,
            }
            result.imported += 1
        else:
            if pid in pending_new:
                _merge_into(pending_new[pid], values)
            else:  # an existing row: only non-empty values change it
                _merge_into(
                    pending_upd.setdefault(pid, {}),
                    {k: v for k, v in values.items() if v not in ("", None, {})},
                )
            if pid in seen_in_file:
                result.merged += 1
            elif pid in existing_before:
                result.updated += 1
            else:
                result.merged += 1
        seen_in_file.add(pid)
        result.prospect_ids.append(pid)
        index.remember_prospect(pid, row.email, row.linkedin_norm, row.full_name, row.domain)
        if progress:
            progress(1)
        if len(pending_new) + len(pending_upd) >= batch_size:
            flush()
    flush()
    result.rejected = len(rejects)
    result.rejects = rejects
    return result


def _resolve_company(
    index: _Index,
    row: CleanRow,
    workspace: str,
    new: list[dict[str, Any]],
    updates: dict[str, dict[str, Any]],
    result: ImportResult,
) -> str | None:
    norm = nz.normalize_company_name(row.company_name)
    cid = index.company_by_domain.get(row.domain) if row.domain else None
    if cid is None and norm:
        cid = index.company_by_name.get(norm)
        if cid and row.domain and not index.company_domain.get(cid):
            updates.setdefault(cid, {})["domain"] = row.domain
            index.remember_company(cid, row.domain, norm)
        elif cid and row.domain and index.company_domain.get(cid) != row.domain:
            cid = None  # same name, different domain: a different company
    if cid is not None:
        extra = {k: row.fields[k] for k in ("industry", "employee_count") if row.fields.get(k)}
        if extra:
            updates.setdefault(cid, {}).update(extra)
        return cid
    if not (norm or row.domain):
        return None
    cid = _new_id("c_", workspace, row.domain or norm)
    new.append(
        {
            "id": cid,
            "workspace": workspace,
            "name": row.company_name or row.domain,
            "norm_name": norm,
            "domain": row.domain,
            "industry": row.fields["industry"],
            "employee_count": row.fields["employee_count"],
            "country": row.fields["country"],
            "research_status": "pending",
            "research_error": "",
        }
    )
    index.remember_company(cid, row.domain, norm)
    result.companies_created += 1
    return cid


def _prospect_values(row: CleanRow, cid: str | None, now: datetime) -> dict[str, Any]:
    f = row.fields
    return {
        "first_name": row.first_name,
        "last_name": row.last_name,
        "full_name": row.full_name,
        "email": row.email,
        "email_norm": row.email,
        "linkedin_url": row.linkedin_url,
        "linkedin_norm": row.linkedin_norm,
        "phone": f["phone"],
        "title": f["title"],
        "company_id": cid,
        "country": f["country"],
        "region": f["region"],
        "city": f["city"],
        "timezone": f["timezone"],
        "tier": f["tier"],
        "owner": f["owner"],
        "source": f["source"],
        "attributes": row.attributes,
        "updated_at": now,
    }


def _merge_into(target: dict[str, Any], values: dict[str, Any]) -> None:
    """Later non-empty values win; attributes are merged key by key."""
    for key, value in values.items():
        if key == "attributes":
            target["attributes"] = {**target.get("attributes", {}), **value}
        elif value not in ("", None):
            target[key] = value
        elif key not in target:
            target[key] = value


def _write_rejects(out: Path, rejects: list[dict[str, Any]]) -> None:
    columns: list[str] = []
    for r in rejects:
        for k in r["row"]:
            if k not in columns and k != "__error__":
                columns.append(k)
    with out.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["line", "field", "reason", *columns])
        for r in rejects:
            writer.writerow([r["line"], r["field"], r["reason"], *(r["row"].get(c, "") for c in columns)])


def import_records(
    engine: Engine, workspace: str, records: list[dict[str, Any]], *, now: datetime
) -> ImportResult:
    """Import prospects given as dicts with CSV-row keys (a form post, a Clay webhook).

    Headers are matched like a file's (aliases, any case); record ``i`` is "line" ``i + 1``
    in rejects, which are returned in the result and not written to a file.
    """

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        for number, record in enumerate(records, start=1):
            if not isinstance(record, Mapping):
                yield number, {"__error__": "each record must be an object"}
                continue
            mapping = header_map([str(k) for k in record])
            yield number, {mapping[str(k)]: "" if v is None else str(v) for k, v in record.items()}

    return _import_rows(engine, workspace, rows(), now=now)
