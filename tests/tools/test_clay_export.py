"""A Clay-style export (examples/clay): combined locations, no time zone, size ranges and
waterfall JSON cells import with country and time zone, and a demo-style day then sends
to the US rows in their window without a review for unknown jurisdiction."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlmodel import Session, select

from agents.runner import run_daily
from agents.services import import_file, init_workspace
from core.workspace import load_workspace
from state.db import engine_for
from state.decision_log import load_body
from state.models import Company, DecisionRecord, OutboxMessage, Prospect
from tests.conftest import ROOT, at, copy_demo

CLAY = ROOT / "examples" / "clay" / "prospects.csv"
EXPECTED = {
    "maya.brooks@tidewaterpay.example": ("US", "America/Chicago", "city"),
    "noah.fischer@cedarloop.example": ("US", "America/Los_Angeles", "city"),
    "ava.romero@cobalthealth.example": ("US", "America/Denver", "city"),
    "liam.walsh@ridgelinefin.example": ("US", "America/New_York", "city"),
    "emma.stone@acmerobotics.example": ("US", "America/New_York", "city"),
    "harriet.cole@thamesbridge.example": ("GB", "Europe/London", "city"),
    "elise.marchand@maisonverte.example": ("FR", "Europe/Paris", "city"),
    "jan.krueger@kranich-logistik.example": ("DE", "Europe/Berlin", "city"),
    "sam.porter@quillstack.example": ("US", "", ""),  # several zones, no city: not guessed
}


def _clay_ws(tmp_path: Path, backend: str):  # noqa: ANN202
    root = copy_demo(tmp_path / "clay", backend=backend, relaxed=True)
    shutil.copy(CLAY, root / "prospects.csv")
    return load_workspace(root)


def test_clay_export_imports_country_time_zone_band_and_json_email(tmp_path: Path, backend: str) -> None:
    """Every row gets its ISO country; every row whose location decides it gets a zone with
    the source recorded; the ambiguous one stays unknown with the reason; sizes become a
    band and a number; waterfall JSON cells give the email and its status."""
    ws = _clay_ws(tmp_path, backend)
    engine = engine_for(ws.database_url)
    init_workspace(ws, now=at("2026-11-23T14:00:00Z"))
    result = import_file(ws, CLAY, now=at("2026-11-23T14:00:00Z"))
    assert result.rejected == 0
    summary = result.to_dict()["location"]
    assert summary["country"] == {"location": 9}
    assert summary["timezone"] == {"city": 8, "unknown": 1}
    with Session(engine) as s:
        people = {p.email_norm: p for p in s.exec(select(Prospect).where(Prospect.workspace == ws.id))}
        tidewater = s.exec(
            select(Company).where(Company.workspace == ws.id, Company.domain == "tidewaterpay.example")
        ).one()
    assert set(people) == set(EXPECTED)
    for email, (country, tz, source) in EXPECTED.items():
        p = people[email]
        assert (p.country, p.timezone, p.attributes.get("timezone_source", "")) == (country, tz, source), (
            email
        )
    assert "several time zones" in people["sam.porter@quillstack.example"].attributes["timezone_note"]
    maya = people["maya.brooks@tidewaterpay.example"]
    assert maya.attributes["employee_band"] == "201-500" and tidewater.employee_count is not None
    assert maya.attributes["email_verification"] == "catch-all" and maya.email_status != "valid"
    assert people["ava.romero@cobalthealth.example"].email_status == "valid"
    assert (maya.city, maya.region) == ("Austin", "Texas")


@pytest.mark.slow
def test_clay_export_daily_run_sends_to_us_rows_in_their_window(tmp_path: Path) -> None:
    """After importing the Clay export, a daily run at 17:30 UTC (09:30-12:30 across US
    zones) emails the US rows whose zone is known, and no prospect with a determined
    location goes to review for an unknown jurisdiction."""
    ws = _clay_ws(tmp_path, "sqlite")
    init_workspace(ws, now=at("2026-11-23T14:00:00Z"))
    run_daily(ws, now=at("2026-11-23T17:30:00Z"))
    engine = engine_for(ws.database_url)
    with Session(engine) as s:
        people = {p.id: p for p in s.exec(select(Prospect).where(Prospect.workspace == ws.id))}
        emailed = {
            people[m.prospect_id].email_norm
            for m in s.exec(select(OutboxMessage).where(OutboxMessage.workspace == ws.id))
            if m.channel == "email"
        }
        jurisdiction_reviews = {
            people[d.prospect_id].email_norm
            for d in s.exec(select(DecisionRecord).where(DecisionRecord.workspace == ws.id))
            if d.prospect_id in people
            and any(
                v.get("rule") == "jurisdiction_known" and v.get("outcome") == "review"
                for v in (load_body(d).get("verdicts") or [])
            )
        }
    us_known = {e for e, (c, tz, _) in EXPECTED.items() if c == "US" and tz}
    assert us_known <= emailed, sorted(us_known - emailed)
    assert not jurisdiction_reviews
