import csv
import time
import tomllib
import zoneinfo
from pathlib import Path

import pytest

from tools.synthetic import (
    DEMO_DIR,
    ENRICHMENT_HEADERS,
    GEO,
    PROSPECT_HEADERS,
    SIGNAL_HEADERS,
    SUPPRESSION_HEADERS,
    write_synthetic_workspace,
)

SIGNAL_TYPES = {"hiring", "funding", "tech_change", "website_visit", "job_change", "news"}


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("synthetic") / "ws"
    return write_synthetic_workspace(out, 1000, seed=7), out


def test_writes_requested_number_of_prospects(workspace):
    """The generator writes exactly N prospect rows and about one company per five prospects."""
    summary, out = workspace
    rows = _rows(out / "prospects.csv")
    assert len(rows) == 1000
    assert summary == {"prospects": 1000, "companies": 200, "path": str(out)}
    assert len({r["Company Domain"] for r in rows}) == 200


def test_explicit_company_count_is_respected(tmp_path):
    """Passing companies= spreads the prospects over exactly that many companies."""
    summary = write_synthetic_workspace(tmp_path / "ws", 50, seed=3, companies=7)
    rows = _rows(tmp_path / "ws" / "prospects.csv")
    assert summary["companies"] == 7
    assert len(rows) == 50
    assert len({r["Company Domain"] for r in rows}) == 7
    assert len(list((tmp_path / "ws" / "web").iterdir())) == 7


def test_deterministic_for_a_seed(tmp_path):
    """The same seed produces byte-identical files and a different seed produces different data."""
    a = tmp_path / "a"
    b = tmp_path / "b"
    c = tmp_path / "c"
    write_synthetic_workspace(a, 300, seed=11)
    write_synthetic_workspace(b, 300, seed=11)
    write_synthetic_workspace(c, 300, seed=12)
    for name in ("prospects.csv", "signals.csv", "suppressions.csv", "enrichment.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    domains_a = sorted(p.name for p in (a / "web").iterdir())
    assert domains_a == sorted(p.name for p in (b / "web").iterdir())
    for page in ("index.html", "about.html", "blog.html"):
        assert (a / "web" / domains_a[5] / page).read_bytes() == (
            b / "web" / domains_a[5] / page
        ).read_bytes()
    assert (a / "prospects.csv").read_bytes() != (c / "prospects.csv").read_bytes()


def test_every_company_has_a_snapshot(workspace):
    """Each company domain has index, about and blog pages with the structure parsers rely on."""
    _, out = workspace
    domains = {r["Company Domain"] for r in _rows(out / "prospects.csv")}
    with_careers = 0
    for domain in domains:
        site = out / "web" / domain
        index = (site / "index.html").read_text(encoding="utf-8")
        assert "<title>" in index and '<meta name="description"' in index and "<h1>" in index
        about = (site / "about.html").read_text(encoding="utf-8")
        assert "was founded in" in about and " people across " in about
        blog = (site / "blog.html").read_text(encoding="utf-8")
        assert blog.count("<article") >= 2 and '<time datetime="2026-' in blog
        if (site / "careers.html").exists():
            with_careers += 1
            assert '<ul class="jobs">' in (site / "careers.html").read_text(encoding="utf-8")
    assert 0 < with_careers < len(domains)


def test_csv_files_parse_with_expected_headers(workspace):
    """Every CSV parses with csv.DictReader, has the contract headers and valid values."""
    _, out = workspace
    for name, headers in (
        ("prospects.csv", PROSPECT_HEADERS),
        ("signals.csv", SIGNAL_HEADERS),
        ("suppressions.csv", SUPPRESSION_HEADERS),
        ("enrichment.csv", ENRICHMENT_HEADERS),
    ):
        with open(out / name, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            assert list(reader), name
            assert reader.fieldnames == headers, name
    prospects = _rows(out / "prospects.csv")
    assert {r["Tier"] for r in prospects} <= {"1", "2", "3"}
    tier_1 = sum(r["Tier"] == "1" for r in prospects)
    assert 50 <= tier_1 <= 160
    linkedin_only = [r for r in prospects if not r["Email"] and r["LinkedIn URL"]]
    assert 50 <= len(linkedin_only) <= 160
    signals = _rows(out / "signals.csv")
    assert signals and {s["type"] for s in signals} <= SIGNAL_TYPES
    assert all(bool(s["company_domain"]) != bool(s["email"]) for s in signals)
    assert all(s["occurred_at"].startswith("2026-") for s in signals)
    suppressions = _rows(out / "suppressions.csv")
    assert {"competitor", "unsubscribed", "bounced"} <= {s["reason"] for s in suppressions}


def test_emails_and_linkedin_urls_unique(workspace):
    """No two prospects share an email (case-insensitively) or a LinkedIn URL, and domains are .example."""
    _, out = workspace
    rows = _rows(out / "prospects.csv")
    emails = [r["Email"].strip().lower() for r in rows if r["Email"]]
    urls = [r["LinkedIn URL"] for r in rows if r["LinkedIn URL"]]
    assert len(emails) > 800
    assert len(set(emails)) == len(emails)
    assert len(set(urls)) == len(urls)
    assert all(e.endswith(".example") and e.count("@") == 1 for e in emails)
    names = [(r["First Name"], r["Last Name"], r["Company Domain"]) for r in rows]
    assert len(set(names)) == len(names)


def test_time_zones_are_valid_and_match_countries(workspace):
    """Every prospect has a real IANA zone that belongs to its country's zone list."""
    _, out = workspace
    for r in _rows(out / "prospects.csv"):
        zoneinfo.ZoneInfo(r["Timezone"])
        assert r["Timezone"] in {tz for tz, _ in GEO[r["Country"]][1]}


def test_workspace_config_and_templates_copied(workspace):
    """workspace.toml is copied with a synthetic id and client name, and templates are copied when present."""
    _, out = workspace
    config = tomllib.loads((out / "workspace.toml").read_text(encoding="utf-8"))
    assert config["client"]["id"] == "synthetic-1000"
    assert (
        config["client"]["name"]
        != tomllib.loads((DEMO_DIR / "workspace.toml").read_text(encoding="utf-8"))["client"]["name"]
    )
    assert "synthetic" in config["client"]["name"]
    demo_templates = DEMO_DIR / "templates"
    if demo_templates.is_dir():
        expected = sorted(p.name for p in demo_templates.iterdir())
        assert sorted(p.name for p in (out / "templates").iterdir()) == expected


def test_ten_thousand_prospects_are_fast(tmp_path):
    """A 10k-prospect workspace is written in a few seconds."""
    started = time.perf_counter()
    summary = write_synthetic_workspace(tmp_path / "ws", 10_000, seed=1)
    elapsed = time.perf_counter() - started
    assert summary["prospects"] == 10_000
    assert summary["companies"] == 2_000
    assert elapsed < 30


def test_demo_prospect_domains_have_snapshots():
    """Every company domain in the demo prospects.csv has a web snapshot with index, about and blog pages."""
    rows = _rows(DEMO_DIR / "prospects.csv")
    domains = {r["Company Domain"] for r in rows if r["Company Domain"]}
    assert len(domains) >= 20
    for domain in domains:
        assert domain.endswith(".example")
        for page in ("index.html", "about.html", "blog.html"):
            assert (DEMO_DIR / "web" / domain / page).is_file(), (domain, page)
