"""Prospect import from CSV (Clay exports and aliases) and JSONL.

A file is read in any common encoding and delimiter (:mod:`tools.tabular`); every row
and every field is validated on its own; a row that cannot be used goes to a rejects
file with its line number, field and reason (never silently dropped). The import of a
file is atomic: all rows that pass are committed in one transaction together with the
rejects report, or nothing is (and the error says so).

Clay exports are understood: a combined ``Location`` becomes city, region, ISO country
and, when the place determines it, an IANA time zone (:mod:`tools.location`; the source
of the inference is kept in the prospect's attributes); "201-500 employees" becomes a
band and a number; a JSON cell from an enrichment column holding an email with its
verification status fills the email. Identity resolution merges people by normalised
email, else LinkedIn URL, else name + company domain, and companies by registrable
domain, else normalised name ("The Acme Company" = "Acme, Inc." = acme.com).
Re-importing the same file changes nothing.
"""

from __future__ import annotations

import contextlib
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
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from core.errors import InputError
from state.models import Company, Prospect
from tools import jsonlimits
from tools import normalize as nz
from tools.csv_safe import write_csv
from tools.location import resolve_place
from tools.location import summary as place_summary
from tools.tabular import FIELD_CAP, read_table, read_text

# Longest accepted value of each known field (characters); attributes take FIELD_CAP.
FIELD_LIMITS = {"email": 254, "timezone": 64, "country": 80, "tier": 20, "linkedin_url": 2048}
SHORT_FIELD_LIMIT = 1000
MAX_JSON_DEPTH = 20
EMAIL_STATUSES = {"valid": "valid", "verified": "valid", "deliverable": "valid", "invalid": "invalid"}

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
    "location",
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
    "location": ("personlocation", "locationname", "geo", "combinedlocation", "address"),
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
        found = lookup.get(_key(h))
        if found and found not in taken:
            out[h] = found
            taken.add(found)
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
    warnings: list[str] = field(default_factory=list)
    places: list[dict[str, Any]] = field(default_factory=list)  # per accepted row: sources

    @property
    def accepted(self) -> int:
        return self.imported + self.updated + self.merged

    def to_dict(self) -> dict[str, Any]:
        return {
            "imported": self.imported,
            "updated": self.updated,
            "merged": self.merged,
            "rejected": self.rejected,
            "rejects_file": self.rejects_file,
            "rows": self.rows,
            "warnings": list(self.warnings),
            "location": place_summary(self.places),
        }


def _unique_headers(headers: list[str], warnings: list[str]) -> list[str]:
    """Headers with duplicates renamed 'Email (2)' (a warning says so), blanks named."""
    out: list[str] = []
    for i, h in enumerate(headers):
        name = h or f"column {i + 1}"
        if name in out:
            n = 2
            while f"{name} ({n})" in out:
                n += 1
            warnings.append(f"duplicate column {name!r}: the copy is kept as attribute '{name} ({n})'")
            name = f"{name} ({n})"
        out.append(name)
    return out


def _header_warnings(mapping: Mapping[str, str], warnings: list[str]) -> None:
    unknown = [h for h, canon in mapping.items() if canon not in KNOWN]
    if unknown:
        shown = ", ".join(repr(h) for h in unknown[:10]) + (
            f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        )
        warnings.append(f"unrecognised columns kept as attributes: {shown}")
    if not any(
        c in mapping.values() for c in ("email", "linkedin_url", "full_name", "first_name", "last_name")
    ):
        warnings.append(
            "no email, LinkedIn or name column was recognised: check the header row and the delimiter"
        )


def read_rows(path: Path, warnings: list[str] | None = None) -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, row with canonical keys) for CSV or JSONL files; file-level findings
    (encoding, delimiter, unrecognised or duplicate headers) are appended to ``warnings``."""
    warnings = warnings if warnings is not None else []
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        text, encoding_warnings = read_text(path)
        warnings.extend(encoding_warnings)
        yield from _jsonl_rows(text)
        return
    table = read_table(path)
    warnings.extend(table.warnings)
    headers = _unique_headers(table.headers, warnings)
    mapping = header_map(headers)
    _header_warnings(mapping, warnings)
    for line, values in table.rows:
        if isinstance(values, str):
            yield line, {"__error__": values}
            continue
        if not any(v.strip() for v in values):
            continue
        if len(values) > len(headers):
            yield line, {"__error__": f"{len(values)} values for {len(headers)} columns"}
            continue
        yield line, {mapping[h]: (values[i] if i < len(values) else "") for i, h in enumerate(headers)}


def _jsonl_rows(text: str) -> Iterator[tuple[int, dict[str, str]]]:
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        obj = _json_value(line)
        if isinstance(obj, str):
            yield lineno, {"__error__": obj}
            continue
        if not isinstance(obj, dict):
            yield lineno, {"__error__": "each line must be a JSON object"}
            continue
        mapping = header_map([str(k) for k in obj])
        yield lineno, {mapping[str(k)]: _cell(v) for k, v in obj.items()}


def _json_value(text: str) -> Any:
    """The parsed JSON, or a reason string when it is not JSON or nested too deeply."""
    try:
        return jsonlimits.parse(text, limit=MAX_JSON_DEPTH)
    except jsonlimits.BadJSON as exc:
        return str(exc)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


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


def _check_sizes(line: int, row: Mapping[str, str]) -> None:
    for key, value in row.items():
        if "\x00" in key:
            raise InputError(f"column {key.replace(chr(0), '')!r} has a NUL character in its name", line=line)
        if "\x00" in value:
            raise InputError(f"{key} contains a NUL character", line=line, field=key)
        limit = FIELD_LIMITS.get(key, SHORT_FIELD_LIMIT if key in KNOWN else FIELD_CAP)
        if len(value) > limit:
            raise InputError(
                f"{key} is {len(value):,} characters long (limit {limit:,})", line=line, field=key
            )


def _json_cells(row: dict[str, str], attributes: dict[str, Any]) -> tuple[str, str, str]:
    """(email, status, column) found in JSON cells of known shapes, e.g. a waterfall's
    ``{"email": "...", "status": "valid"}``; a JSON cell of another shape is kept as text."""
    for key, value in row.items():
        text = value.strip()
        if not (text.startswith("{") and text.endswith("}")):
            continue
        obj = _json_value(text)
        if not isinstance(obj, dict):
            continue
        email = obj.get("email") or obj.get("work_email") or obj.get("value")
        if isinstance(email, str) and "@" in email:
            status = obj.get("status") or obj.get("verification_status") or obj.get("result") or ""
            if key == "email" or not (row.get("email") or "").strip():
                if key != "email":
                    attributes[key] = text
                return email.strip(), str(status).strip().lower(), key
    return "", "", ""


def clean_row(line: int, row: Mapping[str, str]) -> CleanRow:
    """Validate one row; raises InputError naming the line, the field and the reason."""
    if "__error__" in row:
        raise InputError(row["__error__"], line=line)
    _check_sizes(line, row)
    values = dict(row)
    attributes: dict[str, Any] = {}
    json_email, email_status, email_column = _json_cells(values, attributes)
    if json_email:
        values["email"] = json_email
    g = lambda k: (values.get(k) or "").strip()  # noqa: E731
    email = nz.normalize_email(g("email"))
    if email and not nz.valid_email(email):
        raise InputError(f"email {g('email')!r} is not a valid address", line=line, field="email")
    domain_raw = g("company_domain") or g("website")
    domain = nz.normalize_domain(domain_raw)
    if domain_raw and not nz.valid_domain(domain):
        raise InputError(f"domain {domain_raw!r} is not a valid domain", line=line, field="company_domain")
    if not domain and email and not nz.is_free_mail(nz.email_domain(email)):
        domain = nz.normalize_domain(nz.email_domain(email))
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
    place = resolve_place(
        location=g("location"),
        city=g("city"),
        region=g("region"),
        country=country,
        timezone=tz,
        phone=g("phone"),
    )
    band = nz.parse_employee_band(g("employee_count"))
    fields = {
        "title": g("title"),
        "phone": g("phone"),
        "country": place.country,
        "region": place.region,
        "city": place.city,
        "timezone": place.timezone,
        "tier": tier,
        "owner": g("owner"),
        "source": g("source"),
        "industry": g("industry"),
        "employee_count": band[0] if band else None,
        "email_status": EMAIL_STATUSES.get(email_status, "") if email else "",
    }
    attributes.update({k: v for k, v in values.items() if k not in KNOWN and v not in ("", None)})
    if g("location"):
        attributes["location"] = g("location")
    attributes.update(place.to_attributes())
    if band and g("employee_count") and not g("employee_count").strip().isdigit():
        attributes["employee_band"] = nz.employee_band_label(band)
    if email_column:
        attributes["email_source"] = email_column
        if email_status:
            attributes["email_verification"] = email_status
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
            select(  # type: ignore[call-overload]  # sqlmodel's select() stubs stop at 4 columns; runtime takes any number
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
    """Import a CSV/JSONL file into the workspace, atomically: every row that passes is
    committed in one transaction, and the rejects file is written before the commit and
    moved into place after it. If anything fails, nothing is imported and the InputError
    says so (re-running the import is safe either way)."""
    warnings: list[str] = []
    rows = read_rows(path, warnings)
    out = rejects_dir / f"{path.stem}.rejects.csv"
    tmp = rejects_dir / f".{path.stem}.rejects.csv.tmp"

    def before_commit(result: ImportResult) -> None:
        if result.rejects:
            rejects_dir.mkdir(parents=True, exist_ok=True)
            _write_rejects(tmp, result.rejects)

    try:
        result = _import_rows(
            engine,
            workspace,
            rows,
            now=now,
            progress=progress,
            batch_size=batch_size,
            before_commit=before_commit,
        )
    except InputError:
        _remove(tmp)
        raise
    except (SQLAlchemyError, OSError, ValueError) as exc:
        _remove(tmp)
        raise InputError(
            f"nothing was imported: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}", file=str(path)
        ) from exc
    result.warnings = warnings
    if result.rejects:
        tmp.replace(out)
        result.rejects_file = str(out)
    return result


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


def _import_rows(
    engine: Engine,
    workspace: str,
    rows: Iterable[tuple[int, dict[str, str]]],
    *,
    now: datetime,
    progress: Callable[[int], None] | None = None,
    batch_size: int = 2000,
    before_commit: Callable[[ImportResult], None] | None = None,
) -> ImportResult:
    """Validate, resolve and store (line, row) pairs in ONE transaction; rejects are
    returned (and given to ``before_commit``), not written."""
    result = ImportResult()
    rejects: list[dict[str, Any]] = []
    with Session(engine) as session:
        index = _Index(session, workspace)
    seen_in_file: set[str] = set()
    pending_new: dict[str, dict[str, Any]] = {}
    pending_upd: dict[str, dict[str, Any]] = {}
    new_companies: list[dict[str, Any]] = []
    company_updates: dict[str, dict[str, Any]] = {}

    with Session(engine) as s:

        def flush() -> None:
            if new_companies:
                s.execute(insert(Company), new_companies)
            for cid, values in company_updates.items():
                s.execute(update(Company).where(Company.id == cid).values(**values))  # type: ignore[arg-type]
            if pending_new:
                s.execute(insert(Prospect), list(pending_new.values()))
            for pid, values in pending_upd.items():
                if values.get("attributes"):  # custom columns merge with what is stored
                    stored = s.get(Prospect, pid)
                    attrs = (stored.attributes if stored else None) or {}
                    values = {**values, "attributes": {**attrs, **values["attributes"]}}
                s.execute(update(Prospect).where(Prospect.id == pid).values(**values))  # type: ignore[arg-type]
            new_companies.clear()
            company_updates.clear()
            pending_new.clear()
            pending_upd.clear()

        existing_before = index.existing_ids()
        for line, raw in rows:
            result.rows += 1
            try:
                row = clean_row(line, raw)
            except InputError as exc:
                rejects.append(_reject(line, exc.field or "", exc.message.split(": ", 1)[-1], raw))
                continue
            except (ValueError, TypeError, LookupError, OverflowError, RecursionError) as exc:
                rejects.append(_reject(line, "", f"cannot be read ({type(exc).__name__})", raw))
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
            result.places.append(
                {
                    f"{k}_source": row.attributes.get(f"{k}_source") or ("given" if row.fields[k] else "")
                    for k in ("country", "timezone")
                }
            )
            index.remember_prospect(pid, row.email, row.linkedin_norm, row.full_name, row.domain)
            if progress:
                progress(1)
            if len(pending_new) + len(pending_upd) >= batch_size:
                flush()
        flush()
        result.rejected = len(rejects)
        result.rejects = rejects
        if before_commit:
            before_commit(result)
        s.commit()
    return result


def _reject(line: int, field_name: str, reason: str, raw: Mapping[str, str]) -> dict[str, Any]:
    return {"line": line, "reason": reason, "field": field_name, "row": dict(raw)}


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
        **({"email_status": f["email_status"]} if f.get("email_status") else {}),
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
    """The rejects report: line, field, reason and the row as read, formula-safe."""
    columns: list[str] = []
    for r in rejects:
        for k in r["row"]:
            if k not in columns and k != "__error__":
                columns.append(k)
    write_csv(
        out,
        ["line", "field", "reason", *columns],
        (
            [r["line"], r["field"], r["reason"], *(r["row"].get(c, "").replace("\x00", "") for c in columns)]
            for r in rejects
        ),
    )


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
            yield number, {mapping[str(k)]: _cell(v) for k, v in record.items()}

    return _import_rows(engine, workspace, rows(), now=now)
