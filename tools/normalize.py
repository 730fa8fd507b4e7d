"""Normalisation and validation of prospect data: emails, domains, company names,
LinkedIn URLs, countries and time zones. Pure functions."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from importlib import resources
from urllib.parse import urlsplit

from core.timeutil import zone

EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
DOMAIN_RE = re.compile(r"^(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
COMPANY_SUFFIXES = {
    "inc",
    "incorporated",
    "llc",
    "llp",
    "ltd",
    "limited",
    "gmbh",
    "ag",
    "sa",
    "sas",
    "sarl",
    "bv",
    "nv",
    "plc",
    "corp",
    "corporation",
    "co",
    "company",
    "pty",
    "oy",
    "ab",
    "as",
    "aps",
    "kg",
    "srl",
    "spa",
    "pte",
    "kk",
    "group",
    "holdings",
}
PERSONAL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "yahoo.com",
        "yahoo.co.uk",
        "hotmail.com",
        "outlook.com",
        "live.com",
        "msn.com",
        "aol.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "proton.me",
        "protonmail.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "mail.com",
        "yandex.ru",
        "qq.com",
    }
)
COUNTRY_ALIASES = {
    "usa": "US",
    "united states": "US",
    "united states of america": "US",
    "us": "US",
    "america": "US",
    "uk": "GB",
    "united kingdom": "GB",
    "great britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "deutschland": "DE",
    "holland": "NL",
    "the netherlands": "NL",
    "south korea": "KR",
    "korea": "KR",
    "russia": "RU",
    "uae": "AE",
    "czechia": "CZ",
    "czech republic": "CZ",
    "vietnam": "VN",
    "taiwan": "TW",
    "ivory coast": "CI",
    "turkey": "TR",
    "türkiye": "TR",
    "españa": "ES",
    "france": "FR",
    "sverige": "SE",
    "schweiz": "CH",
    "suisse": "CH",
}


@lru_cache(maxsize=1)
def _iso3166() -> dict[str, str]:
    """alpha-2 code -> English name, from the tz database shipped with tzdata."""
    text = resources.files("tzdata").joinpath("zoneinfo/iso3166.tab").read_text(encoding="utf-8")
    table = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            code, name = line.split("\t", 1)
            table[code.strip()] = name.strip()
    return table


@lru_cache(maxsize=1)
def _country_names() -> dict[str, str]:
    names = {name.lower(): code for code, name in _iso3166().items()}
    names.update(COUNTRY_ALIASES)
    return names


def normalize_country(value: str) -> str | None:
    """ISO 3166 alpha-2 code for a code or country name; "" for empty; None if unknown."""
    text = (value or "").strip()
    if not text:
        return ""
    if len(text) == 2 and text.upper() in _iso3166():
        return text.upper()
    return _country_names().get(text.lower())


def valid_timezone(value: str) -> bool:
    return zone(value) is not None


def normalize_email(value: str) -> str:
    return (value or "").strip().lower()


def valid_email(value: str) -> bool:
    return bool(EMAIL_RE.match(value)) and ".." not in value


def email_domain(email: str) -> str:
    return email.rsplit("@", 1)[1].lower() if "@" in email else ""


def normalize_domain(value: str) -> str:
    """'https://www.Acme.com/about' -> 'acme.com'; '' when empty."""
    text = (value or "").strip().lower()
    if not text:
        return ""
    if "@" in text and "/" not in text:
        text = text.rsplit("@", 1)[1]
    if "://" not in text:
        text = "http://" + text
    host = urlsplit(text).hostname or ""
    return host[4:] if host.startswith("www.") else host


def valid_domain(domain: str) -> bool:
    return bool(DOMAIN_RE.match(domain))


def fold(text: str) -> str:
    """Lowercase ASCII fold: 'Zoë Ångström' -> 'zoe angstrom'."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def normalize_company_name(name: str) -> str:
    """'Acme, Inc.' and 'ACME Inc' -> 'acme'."""
    words = re.sub(r"[^a-z0-9 ]+", " ", fold(name).replace("&", " and ")).split()
    while words and words[-1] in COMPANY_SUFFIXES:
        words.pop()
    return " ".join(words)


def company_name_from_domain(domain: str) -> str:
    label = domain.split(".")[0] if domain else ""
    return label.replace("-", " ").title()


def normalize_linkedin(url: str) -> str:
    """Canonical 'linkedin.com/in/<slug>' form, or '' when not a LinkedIn profile URL."""
    text = (url or "").strip()
    if not text:
        return ""
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    host = (parts.hostname or "").lower()
    if host != "linkedin.com" and not host.endswith(".linkedin.com"):
        return ""
    path = parts.path.rstrip("/").lower()
    match = re.match(r"^/(in|pub)/([^/]+)", path)
    return f"linkedin.com/{match.group(1)}/{match.group(2)}" if match else ""


def normalize_person_name(first: str, last: str, full: str) -> tuple[str, str, str]:
    first, last, full = (first or "").strip(), (last or "").strip(), (full or "").strip()
    if full and not (first or last):
        pieces = full.split()
        first, last = pieces[0], " ".join(pieces[1:])
    if not full:
        full = " ".join(p for p in (first, last) if p)
    return first, last, full


def parse_tier(value: str) -> int | None:
    """'1', 'Tier 1', 'T1' -> 1; '' -> None; raises ValueError otherwise."""
    text = (value or "").strip().lower()
    if not text:
        return None
    match = re.fullmatch(r"(?:tier\s*|t)?([1-3])", text)
    if not match:
        raise ValueError(f"tier must be 1, 2 or 3 (got {value!r})")
    return int(match.group(1))


def parse_employee_count(value: str) -> int | None:
    """'1,200' -> 1200; '51-200' -> 51; '' or unparseable -> None."""
    match = re.search(r"\d[\d,.]*", value or "")
    if not match:
        return None
    try:
        return int(match.group(0).replace(",", "").split(".")[0])
    except ValueError:
        return None
