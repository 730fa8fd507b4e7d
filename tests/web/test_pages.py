"""What the pages show: dashboard figures and charts, a prospect's reasons and evidence,
runs, what-if, and that text from the web is escaped and unsafe links are not links."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from core.workspace import Workspace
from state.db import engine_for, session_scope
from state.models import Evidence, OutboxMessage, Prospect
from tests.web.conftest import APPROVER, VIEWER, csrf_of, pending_review, sign_in, web_records


def test_dashboard_shows_figures_and_svg_charts(client: TestClient, ws: Workspace) -> None:
    """The dashboard shows the sends of the period, the funnel and spend charts as inline SVG, and pending reviews."""
    sign_in(client, VIEWER)
    r = client.get("/web/demo/?from=2026-11-01&to=2026-11-30")
    assert r.status_code == 200
    with Session(engine_for(ws.database_url)) as s:
        sent = len(s.exec(select(OutboxMessage).where(OutboxMessage.status == "sent")).all())
    assert f"<b>{sent}</b><span>messages sent</span>" in r.text
    assert r.text.count("<svg") >= 6
    assert "Sent by step" in r.text and "Spend by provider (USD)" in r.text
    assert "send_window" in r.text or "mailbox_daily_cap" in r.text or "account_pause" in r.text
    assert "default-src 'none'" in r.headers["content-security-policy"]
    api = client.get("/web/demo/api/figures?from=2026-11-01&to=2026-11-30").json()
    assert sum(api["sends_by_channel"].values()) == sent
    assert api["reviews_waiting"] == 7


def test_prospect_page_explains_each_decision_with_evidence_links(client: TestClient, ws: Workspace) -> None:
    """A prospect page lists every decision with its rationale and verdicts, and the evidence with its source links."""
    sign_in(client, VIEWER)
    review = pending_review(ws)
    r = client.get(f"/web/demo/prospects/{review.prospect_id}")
    assert r.status_code == 200
    bodies = [b for b in web_records(ws) if b["prospect_id"] == review.prospect_id]
    for b in bodies:
        assert f"#{b['seq']}" in r.text
    assert "request_review" in r.text
    with Session(engine_for(ws.database_url)) as s:
        p = s.get(Prospect, review.prospect_id)
        ev = s.exec(select(Evidence).where(Evidence.company_id == p.company_id)).first()
    assert f'href="{ev.source_url}"' in r.text
    assert "cited" in r.text


def test_web_text_is_escaped_and_unsafe_links_are_plain_text(client: TestClient, ws: Workspace) -> None:
    """An evidence quote with markup is shown escaped and a javascript: source is not a link."""
    review = pending_review(ws)
    with session_scope(engine_for(ws.database_url)) as s:
        p = s.get(Prospect, review.prospect_id)
        s.add(
            Evidence(
                workspace=ws.id,
                id="ev_evil",
                company_id=p.company_id,
                kind="news",
                source_url="javascript:alert(1)",
                quote="<script>alert('x')</script>",
                data={},
                collected_at=review.requested_at,
            )
        )
    sign_in(client, VIEWER)
    r = client.get(f"/web/demo/prospects/{review.prospect_id}")
    assert "<script>alert" not in r.text
    assert "&lt;script&gt;" in r.text
    assert 'href="javascript:' not in r.text


def test_run_page_names_prospects(client: TestClient, ws: Workspace) -> None:
    """A run page lists the run's decisions grouped under prospect names, not only ids."""
    sign_in(client, VIEWER)
    run_id = next(b["run_id"] for b in web_records(ws) if b["run_id"].startswith("run_"))
    r = client.get(f"/web/demo/runs/{run_id}")
    assert r.status_code == 200
    with Session(engine_for(ws.database_url)) as s:
        name = s.get(Prospect, pending_review(ws).prospect_id).full_name
    assert name in r.text
    assert client.get("/web/demo/runs/run_nope").status_code == 404


def test_what_if_lists_changed_decisions(client: TestClient, ws: Workspace) -> None:
    """Replaying a run with a what-if file from the workspace folder shows the changed decisions and is logged."""
    (ws.root / "what_if").mkdir()
    (ws.root / "what_if" / "strict.toml").write_text(
        "[policy]\ndisabled_rules = []\n[policy.window]\nstart = 06:00:00\nend = 07:00:00\n", encoding="utf-8"
    )
    sign_in(client, APPROVER)
    page = client.get("/web/demo/replay")
    assert "what_if/strict.toml" in page.text
    run_id = next(b["run_id"] for b in web_records(ws) if b["run_id"].startswith("run_"))
    token = csrf_of(page.text)
    plain = client.post("/web/demo/replay", data={"csrf": token, "run": run_id, "file": ""})
    assert re.search(r'id="divergences">0<', plain.text)
    r = client.post("/web/demo/replay", data={"csrf": token, "run": run_id, "file": "what_if/strict.toml"})
    n = int(re.search(r'id="divergences">(\d+)<', r.text).group(1))
    assert n > 0
    logged = [b for b in web_records(ws) if b["action"] == "web_what_if"]
    assert logged[-1]["tool"]["input"]["divergences"] == n
    bad = client.post("/web/demo/replay", data={"csrf": token, "run": run_id, "file": "../../etc/passwd"})
    assert bad.status_code == 400
