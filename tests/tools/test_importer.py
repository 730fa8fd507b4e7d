"""Prospect import (tools/importer.py) and normalisation (tools/normalize.py)."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, select

from core.errors import InputError
from state.db import engine_for
from state.models import Company, Prospect
from tools import normalize as nz
from tools.importer import header_map, import_prospects

NOW = datetime(2026, 11, 23, 15, tzinfo=UTC)
WS = "ws1"


@pytest.fixture
def engine(tmp_path: Path):  # noqa: ANN201
    return engine_for(f"sqlite:///{tmp_path}/t.db")


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


def run(engine, tmp_path: Path, path: Path):  # noqa: ANN001, ANN201
    return import_prospects(engine, WS, path, rejects_dir=tmp_path / "rejects", now=NOW)


def counts(result) -> dict:  # noqa: ANN001
    d = result.to_dict()
    return {k: d[k] for k in ("imported", "updated", "merged", "rejected")}


def prospects(engine) -> list[Prospect]:  # noqa: ANN001
    with Session(engine) as s:
        return list(s.exec(select(Prospect).where(Prospect.workspace == WS)))


def companies(engine) -> list[Company]:  # noqa: ANN001
    with Session(engine) as s:
        return list(s.exec(select(Company).where(Company.workspace == WS)))


def read_rejects(result) -> list[dict[str, str]]:  # noqa: ANN001
    with open(result.rejects_file, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


# --- header aliases ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "canonical"),
    [
        ("Work Email", "email"),
        ("WORK EMAIL", "email"),
        ("email", "email"),
        ("Company Domain", "company_domain"),
        ("companyDomain", "company_domain"),
        ("Website", "website"),
        ("LinkedIn Profile", "linkedin_url"),
        ("linkedin profile url", "linkedin_url"),
        ("Time Zone", "timezone"),
        ("time_zone", "timezone"),
        ("First Name", "first_name"),
        ("Job Title", "title"),
        ("Company Name", "company_name"),
        ("Number of Employees", "employee_count"),
        ("Account Tier", "tier"),
        ("Clay Score", "Clay Score"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_header_map_resolves_clay_aliases_case_insensitively(header: str, canonical: str) -> None:
    """Clay/CRM header spellings map to the canonical field regardless of case and punctuation; unknown headers map to themselves."""
    assert header_map([header]) == {header: canonical}


def test_header_map_first_alias_wins_when_two_columns_mean_the_same_field() -> None:
    """When two headers alias the same field, only the first gets the canonical name; the second is kept verbatim."""
    assert header_map(["Email", "Work Email"]) == {"Email": "email", "Work Email": "Work Email"}


@pytest.mark.parametrize(
    ("headers", "values"),
    [
        (
            "First Name,Last Name,Work Email,Company Name,Company Domain,LinkedIn Profile,Time Zone,Country",
            "Jane,Doe,jane@acme.com,Acme,acme.com,https://www.linkedin.com/in/Jane-Doe/,Europe/Berlin,Germany",
        ),
        (
            "first name,last name,WORK EMAIL,company,Website,linkedin,time zone,COUNTRY",
            "Jane,Doe,jane@acme.com,Acme,https://www.acme.com/about,linkedin.com/in/jane-doe,Europe/Berlin,DE",
        ),
        (
            "firstName,lastName,emailAddress,companyName,companyDomain,linkedinUrl,timezone,countryCode",
            "Jane,Doe,Jane@Acme.com,Acme,ACME.com,http://linkedin.com/in/jane-doe?trk=x,Europe/Berlin,de",
        ),
    ],
    ids=["clay-title-case", "lower-upper-mixed-website-url", "camel-case"],
)
def test_clay_headers_import_into_canonical_fields(engine, tmp_path: Path, headers: str, values: str) -> None:
    """A Clay-style export with aliased, differently-cased headers fills the canonical prospect and company fields."""
    path = write(tmp_path, "clay.csv", f"{headers}\n{values}\n")
    result = run(engine, tmp_path, path)
    assert counts(result) == {"imported": 1, "updated": 0, "merged": 0, "rejected": 0}
    [p] = prospects(engine)
    assert (p.first_name, p.last_name, p.full_name) == ("Jane", "Doe", "Jane Doe")
    assert p.email_norm == "jane@acme.com"
    assert p.linkedin_norm == "linkedin.com/in/jane-doe"
    assert p.timezone == "Europe/Berlin"
    assert p.country == "DE"
    [c] = companies(engine)
    assert c.domain == "acme.com"
    assert p.company_id == c.id


# --- per-row validation -----------------------------------------------------------------

HEADER = "email,first_name,last_name,company_name,company_domain,country,timezone,tier"
GOOD = "good@acme.com,Good,Row,Acme,acme.com,US,America/New_York,1"


@pytest.mark.parametrize(
    ("bad_row", "field", "reason_part"),
    [
        ("not-an-email,Bad,Row,Acme,acme.com,US,,", "email", "not a valid address"),
        ("bad@globex.com,Bad,Row,Globex,not a domain,US,,", "company_domain", "not a valid domain"),
        ("bad@globex.com,Bad,Row,Globex,globex.com,Narnia,,", "country", "not a known country"),
        ("bad@globex.com,Bad,Row,Globex,globex.com,US,Mars/Olympus,", "timezone", "IANA"),
        ("bad@globex.com,Bad,Row,Globex,globex.com,US,,7", "tier", "tier must be"),
        (",Nobody,Known,Globex,,US,,", "", "cannot be identified"),
        ("bad@globex.com,Bad,Row,Globex,globex.com,US,,1,extra", "", "9 values for 8 columns"),
    ],
    ids=[
        "bad-email",
        "bad-domain",
        "unknown-country",
        "bad-timezone",
        "bad-tier",
        "unidentifiable",
        "too-many-values",
    ],
)
def test_bad_row_is_rejected_with_line_number_and_good_rows_still_import(
    engine, tmp_path: Path, bad_row: str, field: str, reason_part: str
) -> None:
    """Each invalid row lands in the rejects file with its line number, field and reason while the rows around it import."""
    other = "other@initech.com,Other,Row,Initech,initech.com,GB,Europe/London,T2"
    path = write(tmp_path, "people.csv", f"{HEADER}\n{GOOD}\n{bad_row}\n{other}\n")
    result = run(engine, tmp_path, path)
    assert counts(result) == {"imported": 2, "updated": 0, "merged": 0, "rejected": 1}
    assert Path(result.rejects_file) == tmp_path / "rejects" / "people.rejects.csv"
    [rej] = read_rejects(result)
    assert rej["line"] == "3"
    assert rej["field"] == field
    assert reason_part in rej["reason"]
    assert sorted(p.email_norm for p in prospects(engine)) == ["good@acme.com", "other@initech.com"]


def test_all_rejects_are_reported_in_one_file_with_their_original_values(engine, tmp_path: Path) -> None:
    """Several bad rows are all listed, in file order, with their physical line numbers and original cell values."""
    rows = [
        GOOD,
        "not-an-email,Bad,One,Acme,acme.com,US,,",
        "",  # blank lines are skipped but still counted
        "x@globex.com,Bad,Two,Globex,globex.com,Atlantis,,",
        "y@globex.com,Bad,Three,Globex,globex.com,US,Not/AZone,",
    ]
    path = write(tmp_path, "mixed.csv", HEADER + "\n" + "\n".join(rows) + "\n")
    result = run(engine, tmp_path, path)
    assert counts(result) == {"imported": 1, "updated": 0, "merged": 0, "rejected": 3}
    rejects = read_rejects(result)
    assert [(r["line"], r["field"]) for r in rejects] == [("3", "email"), ("5", "country"), ("6", "timezone")]
    assert rejects[1]["country"] == "Atlantis"
    assert rejects[0]["email"] == "not-an-email"


def test_line_numbers_count_physical_lines_of_multiline_quoted_cells(engine, tmp_path: Path) -> None:
    """A quoted cell spanning two lines shifts the reported line number of later rejects accordingly."""
    text = (
        f"{HEADER}\n"
        '"multi@acme.com",Multi,Line,"Acme\nRobotics",acme.com,US,,\n'
        "bad@acme.com,Bad,Tier,Acme,acme.com,US,,gold\n"
    )
    result = run(engine, tmp_path, write(tmp_path, "multi.csv", text))
    assert counts(result) == {"imported": 1, "updated": 0, "merged": 0, "rejected": 1}
    assert read_rejects(result)[0]["line"] == "4"


def test_no_rejects_file_when_every_row_is_valid(engine, tmp_path: Path) -> None:
    """A clean import writes no rejects file and reports none."""
    result = run(engine, tmp_path, write(tmp_path, "ok.csv", f"{HEADER}\n{GOOD}\n"))
    assert result.rejects_file is None
    assert not (tmp_path / "rejects").exists()


@pytest.mark.parametrize(
    ("name", "content"),
    [("missing.csv", None), ("empty.csv", "")],
    ids=["missing-file", "empty-file"],
)
def test_missing_or_empty_file_raises_input_error(
    engine, tmp_path: Path, name: str, content: str | None
) -> None:
    """A file that does not exist or has no header row is an InputError, not a silent empty import."""
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError):
        run(engine, tmp_path, path)


# --- identity resolution ----------------------------------------------------------------


@pytest.mark.parametrize(
    "rows",
    [
        ['a@gmail.com,Ann,A,"Acme, Inc.",', "b@gmail.com,Bob,B,ACME Inc,", "c@acme.com,Cat,C,,acme.com"],
        ["c@acme.com,Cat,C,,acme.com", 'a@gmail.com,Ann,A,"Acme, Inc.",', "b@gmail.com,Bob,B,ACME Inc,"],
        [
            "b@gmail.com,Bob,B,ACME Inc,",
            "c@acme.com,Cat,C,,",
            'a@gmail.com,Ann,A,"Acme, Inc.",https://www.acme.com',
        ],
    ],
    ids=["names-first", "domain-first", "domain-from-email"],
)
def test_company_spellings_and_domain_resolve_to_one_company(engine, tmp_path: Path, rows: list[str]) -> None:
    """'Acme, Inc.', 'ACME Inc' and a row with only acme.com are one company, whatever the row order."""
    text = "email,first_name,last_name,company_name,company_domain\n" + "\n".join(rows) + "\n"
    result = run(engine, tmp_path, write(tmp_path, "acme.csv", text))
    assert counts(result) == {"imported": 3, "updated": 0, "merged": 0, "rejected": 0}
    [c] = companies(engine)
    assert c.domain == "acme.com"
    assert c.norm_name == "acme"
    assert {p.company_id for p in prospects(engine)} == {c.id}


def test_same_name_different_domain_is_a_different_company(engine, tmp_path: Path) -> None:
    """Two companies sharing a normalised name but with different domains stay separate."""
    text = "email,company_name,company_domain\na@acme.com,Acme Inc,acme.com\nb@acme.de,Acme GmbH,acme.de\n"
    run(engine, tmp_path, write(tmp_path, "two.csv", text))
    assert sorted(c.domain for c in companies(engine)) == ["acme.com", "acme.de"]


def test_same_person_twice_in_one_file_is_merged(engine, tmp_path: Path) -> None:
    """Rows whose emails differ only in case and whitespace are one prospect; later non-empty values fill in."""
    text = (
        "email,first_name,last_name,title,phone,company_domain\n"
        "alice@acme.com,Alice,Smith,CFO,,acme.com\n"
        "  ALICE@Acme.COM ,Alice,Smith,,+1 555 0100,acme.com\n"
        "bob@acme.com,Bob,Jones,Controller,,acme.com\n"
    )
    result = run(engine, tmp_path, write(tmp_path, "dupes.csv", text))
    assert counts(result) == {"imported": 2, "updated": 0, "merged": 1, "rejected": 0}
    by_email = {p.email_norm: p for p in prospects(engine)}
    assert set(by_email) == {"alice@acme.com", "bob@acme.com"}
    alice = by_email["alice@acme.com"]
    assert alice.title == "CFO"
    assert alice.phone == "+1 555 0100"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (
            "a@x.io,https://www.linkedin.com/in/Ann-Lee/,Ann Lee,acme.com",
            ",linkedin.com/in/ann-lee,Ann Lee,acme.com",
        ),
        (",,Ann Lee,acme.com", ",,ANN LEE,acme.com"),
    ],
    ids=["by-linkedin", "by-name-and-domain"],
)
def test_person_without_matching_email_is_merged_by_linkedin_or_name(
    engine, tmp_path: Path, first: str, second: str
) -> None:
    """Without an email match, the same LinkedIn profile or the same name at the same domain is one prospect."""
    text = f"email,linkedin_url,full_name,company_domain\n{first}\n{second}\n"
    result = run(engine, tmp_path, write(tmp_path, "p.csv", text))
    assert counts(result) == {"imported": 1, "updated": 0, "merged": 1, "rejected": 0}
    assert len(prospects(engine)) == 1


def test_reimport_is_idempotent(engine, tmp_path: Path) -> None:
    """Importing the same file twice creates nothing new: imported 0, updated N, same ids and companies."""
    text = f"{HEADER}\n{GOOD}\nb@globex.com,B,B,Globex,globex.com,GB,,2\nc@gmail.com,C,C,Initech LLC,,,,\n"
    path = write(tmp_path, "again.csv", text)
    first = run(engine, tmp_path, path)
    assert counts(first) == {"imported": 3, "updated": 0, "merged": 0, "rejected": 0}
    before_p = sorted((p.id, p.company_id, p.email_norm, p.tier) for p in prospects(engine))
    before_c = sorted((c.id, c.domain, c.norm_name) for c in companies(engine))
    second = run(engine, tmp_path, path)
    assert counts(second) == {"imported": 0, "updated": 3, "merged": 0, "rejected": 0}
    assert second.companies_created == 0
    assert sorted((p.id, p.company_id, p.email_norm, p.tier) for p in prospects(engine)) == before_p
    assert sorted((c.id, c.domain, c.norm_name) for c in companies(engine)) == before_c


def test_reimport_does_not_blank_existing_values(engine, tmp_path: Path) -> None:
    """A later file with empty cells for a known prospect leaves the stored values alone and updates non-empty ones."""
    run(engine, tmp_path, write(tmp_path, "one.csv", "email,title,phone\nann@acme.com,CFO,+1 555\n"))
    result = run(engine, tmp_path, write(tmp_path, "two.csv", "email,title,phone\nann@acme.com,,+1 777\n"))
    assert counts(result) == {"imported": 0, "updated": 1, "merged": 0, "rejected": 0}
    [p] = prospects(engine)
    assert (p.title, p.phone) == ("CFO", "+1 777")


def test_unicode_names_are_preserved_and_matched(engine, tmp_path: Path) -> None:
    """'Zoë Ångström' is stored verbatim (BOM-prefixed UTF-8 file) and the ASCII spelling at the same domain is the same person."""
    path = write(
        tmp_path,
        "uni.csv",
        "Full Name,Company Domain,Company\nZoë Ångström,fjord.example,Fjörd Ängel AS\n",
        encoding="utf-8-sig",
    )
    assert counts(run(engine, tmp_path, path)) == {"imported": 1, "updated": 0, "merged": 0, "rejected": 0}
    [p] = prospects(engine)
    assert (p.full_name, p.first_name, p.last_name) == ("Zoë Ångström", "Zoë", "Ångström")
    [c] = companies(engine)
    assert c.name == "Fjörd Ängel AS"
    assert c.norm_name == "fjord angel"  # accents folded, AS is a legal suffix
    result = run(
        engine,
        tmp_path,
        write(tmp_path, "ascii.csv", "full_name,company_domain\nZoe Angstrom,fjord.example\n"),
    )
    assert counts(result) == {"imported": 0, "updated": 1, "merged": 0, "rejected": 0}
    assert len(prospects(engine)) == 1


# --- JSONL ---------------------------------------------------------------------------------


def test_jsonl_import_with_invalid_lines_rejected_by_line_number(engine, tmp_path: Path) -> None:
    """JSONL rows use the same aliases; an invalid JSON line and a non-object line are rejected with their line numbers."""
    lines = [
        json.dumps(
            {
                "Work Email": "ann@acme.com",
                "First Name": "Ann",
                "Company Domain": "acme.com",
                "Time Zone": "America/Chicago",
                "tier": 2,
                "Clay Score": 88,
            }
        ),
        '{"email": "broken@acme.com", ',
        "",
        json.dumps(["not", "an", "object"]),
        json.dumps({"email": "bob@acme.com", "linkedin": None, "Company": "Acme, Inc."}),
    ]
    path = write(tmp_path, "people.jsonl", "\n".join(lines) + "\n")
    result = run(engine, tmp_path, path)
    assert counts(result) == {"imported": 2, "updated": 0, "merged": 0, "rejected": 2}
    rejects = read_rejects(result)
    assert [r["line"] for r in rejects] == ["2", "4"]
    assert "not valid JSON" in rejects[0]["reason"]
    assert "JSON object" in rejects[1]["reason"]
    by_email = {p.email_norm: p for p in prospects(engine)}
    ann = by_email["ann@acme.com"]
    assert (ann.first_name, ann.timezone, ann.tier) == ("Ann", "America/Chicago", 2)
    assert ann.attributes == {"Clay Score": "88"}
    assert by_email["bob@acme.com"].company_id == ann.company_id
    assert len(companies(engine)) == 1


# --- custom columns ------------------------------------------------------------------------


def test_custom_columns_are_kept_in_attributes(engine, tmp_path: Path) -> None:
    """Unknown columns are stored in Prospect.attributes under their original header, empty cells left out."""
    run(
        engine,
        tmp_path,
        write(tmp_path, "a.csv", "email,Funding Stage,Clay Score,Notes\nann@acme.com,Series B,91,\n"),
    )
    [p] = prospects(engine)
    assert p.attributes == {"Funding Stage": "Series B", "Clay Score": "91"}


def test_custom_columns_of_in_file_duplicates_are_merged_key_by_key(engine, tmp_path: Path) -> None:
    """When one person appears twice in a file, custom attributes from both rows are combined."""
    text = "email,Funding Stage,Notes\nann@acme.com,Series B,\nANN@acme.com,,met at SaaStr\n"
    result = run(engine, tmp_path, write(tmp_path, "a.csv", text))
    assert counts(result) == {"imported": 1, "updated": 0, "merged": 1, "rejected": 0}
    [p] = prospects(engine)
    assert p.attributes == {"Funding Stage": "Series B", "Notes": "met at SaaStr"}


def test_company_fields_come_from_rows(engine, tmp_path: Path) -> None:
    """Industry, parsed employee count and country are stored on a new company."""
    text = 'email,company,industry,employees,country\nann@acme.com,Acme Inc,Robotics,"1,200",United Kingdom\n'
    run(engine, tmp_path, write(tmp_path, "c.csv", text))
    [c] = companies(engine)
    assert (c.name, c.domain, c.industry, c.employee_count, c.country) == (
        "Acme Inc",
        "acme.com",
        "Robotics",
        1200,
        "GB",
    )


# --- normalize ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Acme, Inc.", "acme"),
        ("ACME Inc", "acme"),
        ("acme", "acme"),
        ("Acme Holdings Group", "acme"),
        ("Globex Corporation Ltd.", "globex"),
        ("Müller & Söhne GmbH", "muller and sohne"),
        ("Zoë's Café S.A.", "zoe s cafe s a"),
        ("", ""),
        ("  Initech   LLC ", "initech"),
    ],
    ids=[
        "comma-inc",
        "upper-inc",
        "plain",
        "holdings-group",
        "corp-ltd",
        "umlaut-ampersand",
        "dotted-sa",
        "empty",
        "whitespace",
    ],
)
def test_normalize_company_name(raw: str, expected: str) -> None:
    """Company names fold to lowercase ASCII words with trailing legal suffixes removed."""
    assert nz.normalize_company_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://www.Acme.com/about", "acme.com"),
        ("acme.com", "acme.com"),
        ("WWW.ACME.COM", "acme.com"),
        ("jane@acme.com", "acme.com"),
        ("http://acme.com:8080/x?y=1", "acme.com"),
        ("  acme.co.uk  ", "acme.co.uk"),
        ("shop.acme.com", "acme.com"),
        ("https://blog.acme.co.uk/post", "acme.co.uk"),
        ("www.kranich-logistik.example", "kranich-logistik.example"),
        ("http://[acme.com/", ""),
        ("", ""),
    ],
    ids=[
        "url-www-path",
        "bare",
        "upper-www",
        "email",
        "port-query",
        "whitespace",
        "subdomain",
        "subdomain-co-uk",
        "unknown-suffix-kept",
        "bracket",
        "empty",
    ],
)
def test_normalize_domain(raw: str, expected: str) -> None:
    """URLs, emails and hosts reduce to the registrable domain (bundled public suffix list);
    an unknown suffix keeps the host and a '[' gives '' instead of an error."""
    assert nz.normalize_domain(raw) == expected


@pytest.mark.parametrize(
    ("domain", "valid"),
    [
        ("acme.com", True),
        ("acme.co.uk", True),
        ("a-b.io", True),
        ("acme", False),
        ("acme..com", False),
        ("-acme.com", False),
        ("acme.c", False),
        ("", False),
    ],
    ids=["com", "co-uk", "hyphen", "no-tld", "double-dot", "leading-hyphen", "short-tld", "empty"],
)
def test_valid_domain(domain: str, valid: bool) -> None:
    """Only syntactically valid host names with a real TLD are accepted."""
    assert nz.valid_domain(domain) is valid


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://www.linkedin.com/in/Jane-Doe/", "linkedin.com/in/jane-doe"),
        ("linkedin.com/in/jane-doe?trk=public", "linkedin.com/in/jane-doe"),
        ("http://uk.linkedin.com/pub/jane-doe/1/2/3", "linkedin.com/pub/jane-doe"),
        ("https://www.linkedin.com/company/acme", ""),
        ("https://example.com/in/jane", ""),
        ("", ""),
    ],
    ids=[
        "www-trailing-slash",
        "no-scheme-query",
        "country-subdomain-pub",
        "company-page",
        "other-host",
        "empty",
    ],
)
def test_normalize_linkedin(raw: str, expected: str) -> None:
    """LinkedIn profile URLs normalise to 'linkedin.com/in|pub/<slug>'; anything else is ''."""
    assert nz.normalize_linkedin(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("US", "US"),
        ("us", "US"),
        ("United Kingdom", "GB"),
        ("UK", "GB"),
        ("united states", "US"),
        ("Germany", "DE"),
        ("Deutschland", "DE"),
        ("  France ", "FR"),
        ("The Netherlands", "NL"),
        ("", ""),
        ("Narnia", None),
        ("XX", None),
    ],
    ids=[
        "code",
        "lower-code",
        "united-kingdom",
        "uk",
        "united-states",
        "germany",
        "deutschland",
        "padded",
        "the-netherlands",
        "empty",
        "unknown-name",
        "unknown-code",
    ],
)
def test_normalize_country(raw: str, expected: str | None) -> None:
    """Codes and country names map to ISO alpha-2; empty is ''; unknown is None."""
    assert nz.normalize_country(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", 1), ("Tier 2", 2), ("T3", 3), ("tier3", 3), (" 2 ", 2), ("", None)],
    ids=["digit", "tier-space", "t-prefix", "tier-nospace", "padded", "empty"],
)
def test_parse_tier(raw: str, expected: int | None) -> None:
    """Tier values 1-3 are accepted in several spellings; empty means no tier."""
    assert nz.parse_tier(raw) == expected


@pytest.mark.parametrize("raw", ["4", "0", "gold", "tier 10"], ids=["four", "zero", "word", "ten"])
def test_parse_tier_rejects_other_values(raw: str) -> None:
    """Anything other than tier 1, 2 or 3 raises ValueError."""
    with pytest.raises(ValueError, match="tier must be 1, 2 or 3"):
        nz.parse_tier(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1,200", 1200),
        ("51-200", 51),
        ("", None),
        ("n/a", None),
        ("about 300 employees", 300),
        ("10,000+", 10000),
        ("42", 42),
    ],
    ids=["thousands-comma", "range", "empty", "na", "in-text", "plus", "plain"],
)
def test_parse_employee_count(raw: str, expected: int | None) -> None:
    """Employee counts take the first number (commas removed); unparseable is None."""
    assert nz.parse_employee_count(raw) == expected


@pytest.mark.parametrize(
    ("raw", "valid"),
    [
        ("jane@acme.com", True),
        ("jane.doe+x@sub.acme.co.uk", True),
        ("jane@acme", False),
        ("jane..doe@acme.com", False),
        ("@acme.com", False),
        ("not-an-email", False),
    ],
    ids=["simple", "plus-subdomain", "no-tld", "double-dot", "no-local", "no-at"],
)
def test_valid_email(raw: str, valid: bool) -> None:
    """Email validation accepts ordinary addresses and rejects malformed ones."""
    assert nz.valid_email(raw) is valid


def test_fold_strips_accents() -> None:
    """fold() lowercases and removes combining accents."""
    assert nz.fold("Zoë Ångström") == "zoe angstrom"


def test_reimport_merges_custom_attributes(tmp_path) -> None:  # noqa: ANN001
    """A second import adds its custom columns to the stored ones instead of replacing them."""
    from datetime import datetime

    from sqlmodel import Session, select

    from state.db import engine_for
    from state.models import Prospect
    from tools.importer import import_prospects

    engine = engine_for(f"sqlite:///{tmp_path}/attrs.db")
    now = datetime(2026, 11, 23, 15, tzinfo=UTC)
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("email,Funding Stage,Clay Score\nann@acme.com,Series B,91\n", encoding="utf-8")
    second.write_text("email,Notes\nann@acme.com,met at SaaStr\n", encoding="utf-8")
    import_prospects(engine, "ws1", first, rejects_dir=tmp_path / "r", now=now)
    import_prospects(engine, "ws1", second, rejects_dir=tmp_path / "r", now=now)
    with Session(engine) as s:
        p = s.exec(select(Prospect).where(Prospect.email_norm == "ann@acme.com")).one()
    assert p.attributes == {"Funding Stage": "Series B", "Clay Score": "91", "Notes": "met at SaaStr"}


def test_lookalike_linkedin_host_is_not_linkedin() -> None:
    """Only linkedin.com and its subdomains count as LinkedIn profile URLs."""
    from tools.normalize import normalize_linkedin

    assert normalize_linkedin("https://notlinkedin.com/in/jane") == ""
    assert normalize_linkedin("https://uk.linkedin.com/in/jane/") == "linkedin.com/in/jane"
