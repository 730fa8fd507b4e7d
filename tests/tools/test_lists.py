"""Signals and suppression lists (tools/lists.py)."""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, select

from core.errors import InputError
from state.db import engine_for
from state.models import Company, Evidence, Prospect, Signal, Suppression
from tools.importer import import_prospects
from tools.lists import import_signals, import_suppressions

NOW = datetime(2026, 11, 23, 15, tzinfo=UTC)
WS = "ws1"


@pytest.fixture
def engine(tmp_path: Path):  # noqa: ANN201
    eng = engine_for(f"sqlite:///{tmp_path}/t.db")
    people = tmp_path / "people.csv"
    people.write_text(
        "email,first_name,company_name,company_domain\n"
        "alice@acme.com,Alice,Acme Inc,acme.com\n"
        "bob@globex.com,Bob,Globex,globex.com\n",
        encoding="utf-8",
    )
    res = import_prospects(eng, WS, people, rejects_dir=tmp_path / "rejects", now=NOW)
    assert res.imported == 2
    return eng


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def signals(engine, tmp_path: Path, path: Path) -> dict:  # noqa: ANN001
    return import_signals(engine, WS, path, rejects_dir=tmp_path / "rejects", now=NOW)


def suppressions(engine, tmp_path: Path, path: Path) -> dict:  # noqa: ANN001
    return import_suppressions(engine, WS, path, rejects_dir=tmp_path / "rejects", now=NOW)


def rows(engine, model) -> list:  # noqa: ANN001
    with Session(engine) as s:
        return list(s.exec(select(model).where(model.workspace == WS)))


def company_id(engine, domain: str) -> str:  # noqa: ANN001
    return next(c.id for c in rows(engine, Company) if c.domain == domain)


def read_rejects(path: str) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


SIG_HEADER = "type,company_domain,email,detail,url,occurred_at"
GOOD_SIGNAL = "funding,acme.com,,Raised $20M Series B,https://news.example/acme,2026-10-01"


# --- signals ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad_row", "field", "reason_part"),
    [
        ("press_release,acme.com,,x,,", "type", "'press_release' is not one of"),
        (",acme.com,,x,,", "type", "is not one of"),
        ("hiring,unknown.example,,x,,", "company_domain", "no company with domain unknown.example"),
        ("hiring,,carol@acme.com,x,,", "email", "no prospect with email carol@acme.com"),
        ("hiring,,,x,,", "", "needs company_domain or email"),
        ("news,acme.com,,x,,last tuesday", "occurred_at", "not an ISO-8601 date"),
    ],
    ids=["unknown-type", "missing-type", "unknown-domain", "unknown-email", "no-target", "bad-date"],
)
def test_bad_signal_rows_are_rejected_with_line_numbers(
    engine, tmp_path: Path, bad_row: str, field: str, reason_part: str
) -> None:
    """An invalid signal row is rejected with its line, field and reason; the valid rows around it import."""
    other = "hiring,globex.com,,Hiring a Controller,,"
    path = write(tmp_path, "signals.csv", f"{SIG_HEADER}\n{GOOD_SIGNAL}\n{bad_row}\n{other}\n")
    result = signals(engine, tmp_path, path)
    assert (result["imported"], result["duplicates"], result["rejected"]) == (2, 0, 1)
    assert [(r["line"], r["field"]) for r in result["rejects"]] == [(3, field)]
    assert reason_part in result["rejects"][0]["reason"]
    assert Path(result["rejects_file"]) == tmp_path / "rejects" / "signals.rejects.csv"
    assert read_rejects(result["rejects_file"])[0]["line"] == "3"
    assert len(rows(engine, Signal)) == 2


def test_signal_creates_signal_evidence_for_its_company(engine, tmp_path: Path) -> None:
    """A company signal is stored and becomes an Evidence row of kind 'signal' with a stable id, quote, url and data."""
    result = signals(engine, tmp_path, write(tmp_path, "s.csv", f"{SIG_HEADER}\n{GOOD_SIGNAL}\n"))
    assert (result["imported"], result["rejected"], result["rejects_file"]) == (1, 0, None)
    [sig] = rows(engine, Signal)
    acme = company_id(engine, "acme.com")
    assert (sig.type, sig.company_id, sig.prospect_id) == ("funding", acme, None)
    assert sig.occurred_at.date().isoformat() == "2026-10-01"
    [ev] = rows(engine, Evidence)
    expected_id = "ev_" + hashlib.sha256(f"signal|{sig.dedupe_key}".encode()).hexdigest()[:12]
    assert ev.id == expected_id
    assert (ev.kind, ev.company_id, ev.prospect_id) == ("signal", acme, None)
    assert ev.quote == "Raised $20M Series B"
    assert ev.source_url == "https://news.example/acme"
    assert ev.data == {"type": "funding", "date": "2026-10-01"}


def test_signal_by_email_links_prospect_and_company(engine, tmp_path: Path) -> None:
    """A signal keyed by email (any case) attaches to that prospect and its company; no detail quotes the type."""
    path = write(tmp_path, "s.csv", f"{SIG_HEADER}\njob_change,,Bob@Globex.com,,,\n")
    assert signals(engine, tmp_path, path)["imported"] == 1
    bob = next(p for p in rows(engine, Prospect) if p.email_norm == "bob@globex.com")
    [ev] = rows(engine, Evidence)
    assert (ev.prospect_id, ev.company_id) == (bob.id, company_id(engine, "globex.com"))
    assert ev.quote == "job change"
    assert ev.data == {"type": "job_change", "date": ""}


def test_signal_domain_is_normalised_before_lookup(engine, tmp_path: Path) -> None:
    """A company_domain given as a URL with www and upper case still finds the company."""
    path = write(tmp_path, "s.csv", f"{SIG_HEADER}\nhiring,https://WWW.Acme.com/careers,,Hiring,,\n")
    assert signals(engine, tmp_path, path)["imported"] == 1
    [sig] = rows(engine, Signal)
    assert sig.company_id == company_id(engine, "acme.com")


def test_signal_reimport_and_in_file_duplicates_are_ignored(engine, tmp_path: Path) -> None:
    """Identical signals (in the same file or on re-import) are counted as duplicates and create no new rows."""
    path = write(
        tmp_path,
        "s.csv",
        f"{SIG_HEADER}\n{GOOD_SIGNAL}\n{GOOD_SIGNAL}\nhiring,globex.com,,Hiring a Controller,,\n",
    )
    first = signals(engine, tmp_path, path)
    assert (first["imported"], first["duplicates"], first["rejected"]) == (2, 1, 0)
    ids = sorted(e.id for e in rows(engine, Evidence))
    second = signals(engine, tmp_path, path)
    assert (second["imported"], second["duplicates"], second["rejected"]) == (0, 3, 0)
    assert len(rows(engine, Signal)) == 2
    assert sorted(e.id for e in rows(engine, Evidence)) == ids


def test_signals_jsonl_rejects_invalid_json_with_line(engine, tmp_path: Path) -> None:
    """JSONL signal files import object lines and reject an invalid JSON line by its line number."""
    text = (
        "\n".join(
            [
                json.dumps({"Type": "news", "company_domain": "acme.com", "detail": "Launch"}),
                "{oops",
                json.dumps({"type": "hiring", "email": "alice@acme.com", "detail": None}),
            ]
        )
        + "\n"
    )
    result = signals(engine, tmp_path, write(tmp_path, "s.jsonl", text))
    assert (result["imported"], result["rejected"]) == (2, 1)
    assert result["rejects"][0]["line"] == 2
    assert "not valid JSON" in result["rejects"][0]["reason"]


def test_signals_missing_file_raises(engine, tmp_path: Path) -> None:
    """A signals path that does not exist is an InputError."""
    with pytest.raises(InputError):
        signals(engine, tmp_path, tmp_path / "nope.csv")


# --- suppressions -----------------------------------------------------------------------

SUP_TEXT = (
    "email,domain,reason\n"
    "X@Acme.com,,unsubscribed\n"
    ",https://www.Globex.com/,customer\n"
    "y@initech.com,initech.com,Competitor\n"
)


def test_suppressions_import_email_and_domain_entries(engine, tmp_path: Path) -> None:
    """Email entries, domain entries and rows with both become normalised Suppression rows with reason and source."""
    result = suppressions(engine, tmp_path, write(tmp_path, "sup.csv", SUP_TEXT))
    assert (result["imported"], result["duplicates"], result["rejected"]) == (4, 0, 0)
    assert result["rejects_file"] is None
    got = sorted((s.kind, s.value, s.reason, s.source) for s in rows(engine, Suppression))
    assert got == [
        ("domain", "globex.com", "customer", "sup.csv"),
        ("domain", "initech.com", "competitor", "sup.csv"),
        ("email", "x@acme.com", "unsubscribed", "sup.csv"),
        ("email", "y@initech.com", "competitor", "sup.csv"),
    ]


@pytest.mark.parametrize(
    ("bad_row", "field", "reason_part"),
    [
        ("z@acme.com,,spam", "reason", "'spam' is not one of"),
        ("z@acme.com,,", "reason", "'' is not one of"),
        (",,bounced", "", "needs an email or a domain"),
        ("bad@,,bounced", "email", "not a valid address"),
        (",not a domain,bounced", "domain", "not a valid domain"),
    ],
    ids=["unknown-reason", "empty-reason", "no-target", "bad-email", "bad-domain"],
)
def test_bad_suppression_rows_are_rejected_with_line_numbers(
    engine, tmp_path: Path, bad_row: str, field: str, reason_part: str
) -> None:
    """An invalid suppression row is rejected with its line and field; the other rows still import."""
    text = f"email,domain,reason\nok@acme.com,,bounced\n{bad_row}\n,globex.com,customer\n"
    result = suppressions(engine, tmp_path, write(tmp_path, "sup.csv", text))
    assert (result["imported"], result["rejected"]) == (2, 1)
    assert [(r["line"], r["field"]) for r in result["rejects"]] == [(3, field)]
    assert reason_part in result["rejects"][0]["reason"]
    assert read_rejects(result["rejects_file"]) == [
        {"line": "3", "field": field, "reason": result["rejects"][0]["reason"]}
    ]
    assert len(rows(engine, Suppression)) == 2


def test_suppression_reimport_is_idempotent(engine, tmp_path: Path) -> None:
    """Re-importing the same suppressions (or the same email in another case) adds nothing and counts duplicates."""
    path = write(tmp_path, "sup.csv", SUP_TEXT)
    suppressions(engine, tmp_path, path)
    again = suppressions(engine, tmp_path, path)
    assert (again["imported"], again["duplicates"], again["rejected"]) == (0, 4, 0)
    other = suppressions(
        engine, tmp_path, write(tmp_path, "more.csv", "email,domain,reason\nx@ACME.com,,bounced\n")
    )
    assert (other["imported"], other["duplicates"]) == (0, 1)
    assert len(rows(engine, Suppression)) == 4


def test_suppression_source_override(engine, tmp_path: Path) -> None:
    """An explicit source label is stored instead of the file name."""
    path = write(tmp_path, "sup.csv", "email,domain,reason\nq@acme.com,,do_not_contact\n")
    import_suppressions(engine, WS, path, rejects_dir=tmp_path / "rejects", now=NOW, source="crm")
    [s] = rows(engine, Suppression)
    assert (s.source, s.reason) == ("crm", "do_not_contact")
