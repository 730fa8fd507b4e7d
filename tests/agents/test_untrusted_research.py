"""Flagged page text reaches the decision log (page URL and reason per flag) and never a
draft."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from agents.runner import run_daily
from state.db import engine_for
from state.decision_log import load_body
from state.models import DecisionRecord, Draft, Evidence
from tests.conftest import at
from tests.tools.test_untrusted import INJECTED_ABOUT

URL = "https://acmerobotics.example/about"


@pytest.mark.slow
def test_flags_are_logged_and_flagged_text_is_never_drafted(ready_ws) -> None:  # noqa: ANN001
    """After a daily run over a poisoned about page, the research decision lists every
    flag with the page URL and reason, the evidence is stored as suspicious, and no draft
    contains the flagged sentences or the address they push."""
    ws = ready_ws
    (ws.web_dir / "acmerobotics.example" / "about.html").write_text(INJECTED_ABOUT, encoding="utf-8")
    run_daily(ws, now=at("2026-11-23T15:00:00Z"))
    with Session(engine_for(ws.database_url)) as s:
        bodies = [
            load_body(r)
            for r in s.exec(
                select(DecisionRecord).where(
                    DecisionRecord.workspace == ws.id, DecisionRecord.action == "research"
                )
            )
        ]
        flagged = s.exec(
            select(Evidence).where(Evidence.workspace == ws.id, Evidence.source_url == URL)
        ).all()
        drafts = s.exec(select(Draft).where(Draft.workspace == ws.id)).all()
    flags = [
        f
        for b in bodies
        for f in ((b.get("tool") or {}).get("result") or {}).get("flags", [])
        if f["url"] == URL
    ]
    assert {f["rule"] for f in flags} == {
        "addressed_to_ai",
        "claims_authorisation",
        "override_instructions",
        "recipient_change",
        "encoded_blob",
        "hidden_element",
    }
    assert all(f["reason"] and f["evidence_id"].startswith("ev_") for f in flags)
    suspicious = [e for e in flagged if (e.data or {}).get("suspicious")]
    assert len(suspicious) == 6
    acme_drafts = [d for d in drafts if "Acme Robotics" in d.body]
    assert acme_drafts
    for d in drafts:
        assert "partner-offers" not in d.body and "pre-approved" not in d.body
        for e in suspicious:
            assert e.quote not in d.body and e.id not in str(d.sentences)
