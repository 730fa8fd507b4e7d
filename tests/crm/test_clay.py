"""Clay out: each changed prospect pushed once per change within Clay's rate limit (against
the fake webhook), the lifetime cap tracked and warned about, the lookup endpoint a Clay
HTTP API column calls, and the formula-safe CSV export."""

from __future__ import annotations

import csv
from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from state.db import engine_for
from state.models import Company, Evidence, Prospect
from tests.crm.conftest import LATER
from tests.fakes.clay_webhook import FakeClayWebhook
from tools.clay import export_csv, push_changed


def _push(ws, fake, now=LATER):  # noqa: ANN001, ANN202
    with Session(engine_for(ws.database_url)) as s, httpx.Client() as client:
        return push_changed(s, ws, url=fake.url, client=client, now=now)


@pytest.mark.slow
def test_each_changed_prospect_is_pushed_once_per_change_within_the_rate(day0_ws) -> None:  # noqa: ANN001
    """All prospects arrive once, never refused by the rate limit (burst 20, then 10/s);
    a second push sends nothing; a changed prospect is sent again, once."""
    with FakeClayWebhook() as fake:
        first = _push(day0_ws, fake)
        with Session(engine_for(day0_ws.database_url)) as s:
            total = len(s.exec(select(Prospect).where(Prospect.workspace == day0_ws.id)).all())
        assert first.pushed == total == len(fake.rows) and fake.refused == []
        assert len({r["prospect_id"] for r in fake.rows}) == total
        assert total > 20 and fake.arrivals[-1] - fake.arrivals[0] >= (total - 20) / 10 * 0.9
        assert _push(day0_ws, fake).pushed == 0 and len(fake.rows) == total
        with Session(engine_for(day0_ws.database_url)) as s:
            p = s.exec(select(Prospect).where(Prospect.workspace == day0_ws.id).order_by(Prospect.id)).first()
            assert p is not None
            p.status, p.stop_reason, pid = "stopped", "opted out by phone", p.id
            s.add(p)
            s.commit()
        third = _push(day0_ws, fake, LATER + timedelta(hours=1))
        assert (
            third.pushed == 1
            and fake.rows[-1]["prospect_id"] == pid
            and fake.rows[-1]["stop_reason"] == "opted out by phone"
        )


@pytest.mark.slow
def test_lifetime_cap_is_tracked_warned_and_never_exceeded(day0_ws) -> None:  # noqa: ANN001
    """With a cap of 10 submissions, 10 rows go out, the rest are held, and a warning names the cap."""
    clay = day0_ws.config.clay.model_copy(update={"lifetime_cap": 10})
    day0_ws.config = day0_ws.config.model_copy(update={"clay": clay})
    with FakeClayWebhook(lifetime_cap=10) as fake:
        report = _push(day0_ws, fake)
    assert report.pushed == 10 and len(fake.rows) == 10 and fake.refused == []
    assert report.lifetime_used == 10 and "10 of its 10" in report.warning
    assert any("lifetime cap" in s["reason"] for s in report.skipped)


@pytest.mark.slow
def test_clay_lookup_returns_research_score_and_status(day0_ws, monkeypatch) -> None:  # noqa: ANN001
    """A Clay HTTP API column request with the bearer secret gets the row's status, score and
    evidence; without it, 401; an unknown row, 404."""
    from service.app import create_app

    monkeypatch.setenv("CLAY_LOOKUP_SECRET", "s3cret-for-tests")
    with Session(engine_for(day0_ws.database_url)) as s:
        ev = s.exec(select(Evidence).where(Evidence.workspace == day0_ws.id)).first()
        assert ev is not None
        company = s.get(Company, ev.company_id)
        p = s.exec(
            select(Prospect).where(Prospect.workspace == day0_ws.id, Prospect.company_id == ev.company_id)
        ).first()
        assert p is not None and company is not None
        url, domain = ev.source_url, company.domain
        p.attributes = {**(p.attributes or {}), "score": 87}
        s.add(p)
        s.commit()
        email = p.email_norm
    app = create_app([day0_ws], run_scheduler=False, run_worker=False)
    with TestClient(app) as client:
        auth = {"Authorization": "Bearer s3cret-for-tests"}
        r = client.post("/clay/lookup", json={"email": email.upper()}, headers=auth)
        assert r.status_code == 200
        body = r.json()
        assert body["found"] and body["score"] == 87 and body["status"] and url in body["evidence_links"]
        assert client.get("/clay/lookup", params={"domain": domain}, headers=auth).json()["evidence"]
        assert client.post("/clay/lookup", json={"email": email}).status_code == 401
        assert (
            client.post("/clay/lookup", json={"email": "nobody@nowhere.example"}, headers=auth).status_code
            == 404
        )
        assert client.post("/clay/lookup", content=b"[", headers=auth).status_code == 400


@pytest.mark.slow
def test_export_has_clay_headers_and_formula_safe_cells(day0_ws, tmp_path) -> None:  # noqa: ANN001
    """The CSV uses Clay's column names and a cell starting with = is written as text."""
    with Session(engine_for(day0_ws.database_url)) as s:
        p = s.exec(select(Prospect).where(Prospect.workspace == day0_ws.id)).first()
        assert p is not None
        p.title = '=HYPERLINK("http://evil.example","x")'
        s.add(p)
        s.commit()
        out = tmp_path / "clay.csv"
        n = export_csv(s, day0_ws, out)
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert n == len(rows) and {"Work Email", "LinkedIn Profile", "Company Domain", "Score"} <= set(rows[0])
    assert any(r["Job Title"].startswith("'=HYPERLINK") for r in rows)
