"""Import of real and bad files (issue 15): encodings, delimiters, oversized and odd
fields, atomic commits, formula-safe rejects, and the CLI's exit code and summary."""

from __future__ import annotations

import csv
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, func, select
from typer.testing import CliRunner

from core.errors import InputError
from state.db import engine_for
from state.models import Company, Prospect
from tests.conftest import BACKENDS, PG_URL, copy_demo
from tools.csv_safe import neutralise
from tools.importer import import_prospects

NOW = datetime(2026, 11, 23, 15, tzinfo=UTC)
DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path):  # noqa: ANN201
    """(engine, workspace id) on SQLite or PostgreSQL (a fresh workspace id there)."""
    if request.param == "postgres":
        return engine_for(PG_URL), f"imp_{uuid.uuid4().hex[:8]}"
    return engine_for(f"sqlite:///{tmp_path}/t.db"), "ws1"


def run(store, tmp_path: Path, path: Path):  # noqa: ANN001, ANN201
    engine, ws = store
    return import_prospects(engine, ws, path, rejects_dir=tmp_path / "rejects", now=NOW)


def count(store) -> int:  # noqa: ANN001
    engine, ws = store
    with Session(engine) as s:
        return s.exec(select(func.count()).select_from(Prospect).where(Prospect.workspace == ws)).one()


def rejects_of(result) -> list[dict[str, str]]:  # noqa: ANN001
    with open(result.rejects_file, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_cp1252_file_imports_with_a_warning(store, tmp_path: Path) -> None:
    """A Windows/Excel cp1252 file is decoded (no traceback) and the encoding is reported."""
    path = tmp_path / "excel.csv"
    path.write_bytes(
        "email,first_name,company_name,city\r\n"
        "zoe@acme.com,Zoë,Société Générale,Besançon\r\n"
        "jose@acme.com,José,Müller & Söhne,Köln\r\n".encode("cp1252")
    )
    result = run(store, tmp_path, path)
    assert (result.imported, result.rejected) == (2, 0)
    assert any("cp1252" in w for w in result.warnings)
    engine, ws = store
    with Session(engine) as s:
        names = {p.first_name for p in s.exec(select(Prospect).where(Prospect.workspace == ws))}
    assert names == {"Zoë", "José"}


def test_one_bad_byte_near_the_end_loses_nothing(store, tmp_path: Path) -> None:
    """A non-UTF-8 byte near the end of a 3,000-row file no longer aborts the import after
    2,000 rows: every row is accounted for (imported or rejected) in one commit."""
    lines = ["email,first_name"] + [f"p{i}@acme.com,P{i}" for i in range(3000)]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    data = data.replace(b"P2990\n", b"P2990\xff\n")
    path = tmp_path / "big.csv"
    path.write_bytes(data)
    result = run(store, tmp_path, path)
    assert result.rows == 3000 and result.accepted + result.rejected == 3000
    assert count(store) == result.imported


def test_semicolon_file_is_sniffed(store, tmp_path: Path) -> None:
    """A ';'-delimited file (European Excel) imports its rows and says so."""
    path = tmp_path / "eu.csv"
    path.write_text("E-Mail;Vorname;Firma\nanna@kranich.de;Anna;Kranich GmbH\n", encoding="utf-8")
    result = run(store, tmp_path, path)
    assert (result.imported, result.rejected) == (1, 0)
    assert any("';'" in w for w in result.warnings)


def test_junk_file_warns_and_yields_no_usable_row(store, tmp_path: Path) -> None:
    """A file of junk is not a silent success: a file-level warning names the problem and
    no row is accepted."""
    path = tmp_path / "junk.csv"
    path.write_bytes(b"\x89PNG not a csv at all\n" + b"garbage,more garbage\n" * 2000)
    result = run(store, tmp_path, path)
    assert result.accepted == 0 and result.rejected == 2000
    assert any("no email, LinkedIn or name column" in w for w in result.warnings)


@pytest.mark.parametrize(
    ("column", "value", "field", "reason"),
    [
        ("notes", "x" * 131_073, "notes", "characters long"),
        ("company_domain", "acme[.com", "company_domain", "not a valid domain"),
        ("linkedin_url", "https://[linkedin.com/in/ann", "linkedin_url", "not a LinkedIn profile URL"),
        ("timezone", "Europe/" + "B" * 300, "timezone", "characters long"),
        ("first_name", "An\x00n", "first_name", "NUL character"),
    ],
    ids=["field-over-131072", "domain-bracket", "linkedin-bracket", "long-timezone", "nul-byte"],
)
def test_bad_field_rejects_its_row_only(store, tmp_path: Path, column, value, field, reason) -> None:
    """A huge field, a '[' in a domain or LinkedIn URL, a 300-character time zone or a NUL
    byte rejects that row with the field and reason; the other rows are imported."""
    path = tmp_path / "odd.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["email", column])
        w.writerow(["good@acme.com", ""])
        w.writerow(["odd@acme.com", value])
    result = run(store, tmp_path, path)
    assert (result.imported, result.rejected) == (1, 1)
    [rej] = rejects_of(result)
    assert rej["line"] == "3" and rej["field"] == field and reason in rej["reason"]
    assert count(store) == 1


def test_import_is_atomic_when_the_rejects_report_cannot_be_written(store, tmp_path: Path) -> None:
    """When the rejects report cannot be written, nothing is committed and the error says so."""
    path = tmp_path / "mixed.csv"
    path.write_text("email\nann@acme.com\nnot-an-email\n", encoding="utf-8")
    blocker = tmp_path / "rejects"
    blocker.write_text("a file where the rejects folder should be", encoding="utf-8")
    engine, ws = store
    with pytest.raises(InputError, match="nothing was imported"):
        import_prospects(engine, ws, path, rejects_dir=blocker, now=NOW)
    assert count(store) == 0
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(Company).where(Company.workspace == ws)).one() == 0


def test_rejects_file_neutralises_formulas(store, tmp_path: Path) -> None:
    """Cells starting with = + - @ (formula injection) are written with a leading apostrophe."""
    path = tmp_path / "formulas.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["email", "first_name", "title"])
        w.writerow(['=HYPERLINK("http://evil.example","x")', "+cmd|' /C calc'!A0", "@SUM(1+1)"])
        w.writerow(["-2+3", "\tTab", "fine"])
    result = run(store, tmp_path, path)
    rows = rejects_of(result)
    assert rows[0]["email"].startswith("'=HYPERLINK")
    assert rows[0]["first_name"].startswith("'+cmd")
    assert rows[0]["title"] == "'@SUM(1+1)"
    assert rows[1]["email"] == "'-2+3" and rows[1]["first_name"] == "'\tTab"
    assert neutralise("plain") == "plain" and neutralise("\rx") == "'\rx"


def test_duplicate_headers_are_kept_and_warned(store, tmp_path: Path) -> None:
    """A second column with the same header is kept as an attribute instead of silently
    overwriting the first."""
    path = tmp_path / "dup.csv"
    path.write_text("email,Notes,Notes\nann@acme.com,first,second\n", encoding="utf-8")
    result = run(store, tmp_path, path)
    assert any("duplicate column 'Notes'" in w for w in result.warnings)
    engine, ws = store
    with Session(engine) as s:
        p = s.exec(select(Prospect).where(Prospect.workspace == ws)).one()
    assert p.attributes["Notes"] == "first" and p.attributes["Notes (2)"] == "second"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cp1252.csv", 3),
        ("utf16_bom.csv", 3),
        ("semicolons.csv", 3),
        ("quoted_newlines.csv", 3),
        ("excel_formulas.csv", 1),
        ("duplicate_headers.csv", 2),
    ],
)
def test_corpus_of_awkward_files(store, tmp_path: Path, name: str, expected: int) -> None:
    """Each real-world awkward file in tests/data imports the rows it should, and every row
    is accounted for."""
    result = run(store, tmp_path, DATA / name)
    assert result.accepted == expected, (result.to_dict(), result.rejects)
    assert result.accepted + result.rejected == result.rows
    assert count(store) == result.imported


def test_cli_import_exits_1_without_a_usable_row_and_lists_the_first_rejects(tmp_path: Path) -> None:
    """`run.py import` prints the first rejects, "and N more" and the rejects file, and
    exits 1 when no row could be used."""
    from run import app

    root = copy_demo(tmp_path / "demo")
    path = tmp_path / "all_bad.csv"
    path.write_text("email\n" + "".join(f"bad{i}\n" for i in range(15)), encoding="utf-8")
    out = CliRunner().invoke(app, ["import", str(path), "-w", str(root), "--now", "2026-11-23T14:00:00Z"])
    assert out.exit_code == 1, out.output
    text = out.output.replace("\n", "")
    assert "line 2" in text and "and 5 more" in text
    assert "all_bad.rejects.csv" in text and "no usable row" in text
    ok = tmp_path / "one.csv"
    ok.write_text('email,Location\nann@acme.com,"Lyon, France"\n', encoding="utf-8")
    good = CliRunner().invoke(
        app, ["import", str(ok), "-w", str(root), "--now", "2026-11-23T14:00:00Z", "--json"]
    )
    assert good.exit_code == 0, good.output
    assert '"timezone": {' in good.output and '"city": 1' in good.output


def test_people_at_several_companies_without_domains_import(store, tmp_path: Path) -> None:
    """Free-mail prospects at two different companies (both known by name only) import
    instead of failing the whole file on the company domain constraint."""
    path = tmp_path / "freemail.csv"
    path.write_text(
        "email,Company Name\na@gmail.com,Foo\nb@gmail.com,Bar\nc@t-online.de,Foo\n", encoding="utf-8"
    )
    result = run(store, tmp_path, path)
    assert (result.imported, result.rejected) == (3, 0)
    engine, ws = store
    with Session(engine) as s:
        names = sorted(c.norm_name for c in s.exec(select(Company).where(Company.workspace == ws)))
    assert names == ["bar", "foo"]


def test_suppression_list_in_cp1252_with_semicolons_and_formula_rejects(tmp_path: Path) -> None:
    """Suppression lists are read like prospect files (encoding, delimiter) and their
    rejects file is formula-safe too."""
    from tools.lists import import_suppressions

    engine = engine_for(f"sqlite:///{tmp_path}/s.db")
    path = tmp_path / "supp.csv"
    path.write_bytes(
        "email;domain;reason\r\nzoë@acme.com;;unsubscribed\r\n=cmd;;unsubscribed\r\n".encode("cp1252")
    )
    result = import_suppressions(engine, "ws1", path, rejects_dir=tmp_path / "rejects", now=NOW)
    assert (result["imported"], result["rejected"]) == (1, 1)
    with open(result["rejects_file"], encoding="utf-8", newline="") as fh:
        [row] = list(csv.DictReader(fh))
    assert "=cmd" in row["reason"] and row["line"] == "3"
    assert not any(v.startswith(("=", "+", "-", "@", "\t", "\r")) for v in row.values())


# --- identity with maintained data: import, re-import and merge ------------------------


def _companies(store) -> list[Company]:  # noqa: ANN001
    engine, ws = store
    with Session(engine) as s:
        return list(s.exec(select(Company).where(Company.workspace == ws)))


def test_subdomains_merge_into_one_company_on_import_and_reimport(store, tmp_path: Path) -> None:
    """shop.acme.com, www.acme.com/about and an acme.com email are one company, and a
    re-import changes nothing."""
    path = tmp_path / "sub.csv"
    path.write_text(
        "email,company_domain\nann@gmail.com,shop.acme.com\nbob@mail.acme.com,\ncat@x.io,https://www.acme.com/about\n"
        "dan@blog.acme.co.uk,\n",
        encoding="utf-8",
    )
    run(store, tmp_path, path)
    again = run(store, tmp_path, path)
    assert (again.imported, again.updated) == (0, 4)
    assert sorted(c.domain for c in _companies(store)) == ["acme.co.uk", "acme.com"]


def test_company_names_with_articles_and_legal_forms_merge(store, tmp_path: Path) -> None:
    """ "The Acme Company", "Acme, Inc." and "ACME GmbH & Co. KG" rows (no domains) are one company."""
    path = tmp_path / "names.csv"
    path.write_text(
        'email,company_name\na@gmail.com,The Acme Company\nb@gmail.com,"Acme, Inc."\nc@gmail.com,ACME GmbH & Co. KG\n',
        encoding="utf-8",
    )
    run(store, tmp_path, path)
    [company] = _companies(store)
    assert company.norm_name == "acme"


def test_free_mail_addresses_never_become_company_domains(store, tmp_path: Path) -> None:
    """Addresses at t-online.de, orange.fr, libero.it, hotmail.co.uk, outlook.de and
    yahoo.de (missing from the old list) do not create companies at those domains."""
    rows = [
        f"p{i}@{d},P{i}"
        for i, d in enumerate(
            ["t-online.de", "orange.fr", "libero.it", "hotmail.co.uk", "outlook.de", "yahoo.de"]
        )
    ]
    path = tmp_path / "free.csv"
    path.write_text("email,first_name\n" + "\n".join(rows) + "\n", encoding="utf-8")
    result = run(store, tmp_path, path)
    assert result.imported == 6 and _companies(store) == []


def test_email_validation_by_email_validator(store, tmp_path: Path) -> None:
    """'.a@b.com' is rejected on import; an internationalised address is accepted and a
    re-import with different case merges into the same prospect."""
    path = tmp_path / "emails.csv"
    path.write_text("email\n.a@b.com\njürgen@müller.de\n", encoding="utf-8")
    result = run(store, tmp_path, path)
    assert (result.imported, result.rejected) == (1, 1)
    assert rejects_of(result)[0]["field"] == "email"
    path.write_text("email\nJÜRGEN@müller.de\n", encoding="utf-8")
    again = run(store, tmp_path, path)
    assert (again.imported, again.updated) == (0, 1)
