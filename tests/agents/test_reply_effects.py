"""What a reply does to the account: an out-of-office pauses only its own prospect, a
real reply pauses the colleagues; a reply quoting our email in a Dutch Outlook is read by
the prospect's own words (no false unsubscribe)."""

from __future__ import annotations

import pytest
from sqlmodel import Session, select

from agents.events_service import ingest
from agents.runner import run_daily
from core.timeutil import to_utc
from state import repo
from state.db import engine_for
from state.decision_log import load_body
from state.models import Draft, Prospect, Suppression
from tests.conftest import DEMO, at
from tools.events import parse_generic, read_events_file

TYRONE = "tyrone.jackson@stratusparcel.example"
MEGAN = "megan.foster@stratusparcel.example"


def _reply(email: str, text: str, when: str) -> object:
    return parse_generic(
        {"type": "replied", "email": email, "channel": "email", "occurred_at": when, "text": text}
    )


def _account_reply(ws, session: Session, email: str):  # noqa: ANN001, ANN202
    p = session.exec(select(Prospect).where(Prospect.workspace == ws.id, Prospect.email_norm == email)).one()
    return repo.account_replied_at(
        session,
        workspace=ws.id,
        company_id=p.company_id,
        exclude=p.id,
        ignore_kinds=ws.config.policy.frequency.pause_reply_kinds,
    )


def test_out_of_office_pauses_only_its_prospect_and_a_real_reply_pauses_the_account(ready_ws) -> None:  # noqa: ANN001
    """After Tyrone's out-of-office, his colleague Megan is not paused; after his real
    reply (an Outlook nl reply quoting our email and its unsubscribe footer) she is, and
    Tyrone is handed off, not suppressed."""
    ws = ready_ws
    run_daily(ws, now=at("2026-11-23T15:00:00Z"))
    engine = engine_for(ws.database_url)
    ooo = _reply(TYRONE, "Automatic reply: I am out of office until 30 November.", "2026-11-24T09:00:00Z")
    assert ingest(ws, [ooo], now=at("2026-11-24T10:00:00Z"))["effects"] == {"paused_until_return": 1}
    with Session(engine) as s:
        assert _account_reply(ws, s, MEGAN) is None
        tyrone = s.exec(select(Prospect).where(Prospect.email_norm == TYRONE)).one()
        body = s.exec(select(Draft.body).where(Draft.prospect_id == tyrone.id)).first()
    assert body and "unsubscribe" in body  # our footer is in what we sent
    dutch = (
        "Yes, interested - let's schedule a call next week.\n\nMet vriendelijke groet,\nTyrone\n\n"
        "Van: Sam <sam@agency.example>\nVerzonden: maandag 23 november 2026 10:00\n"
        f"Aan: Tyrone Jackson <{TYRONE}>\nOnderwerp: Stratus Parcel\n\n{body}"
    )
    result = ingest(ws, [_reply(TYRONE, dutch, "2026-12-01T09:00:00Z")], now=at("2026-12-01T10:00:00Z"))
    assert result["effects"] == {"handoff": 1}
    with Session(engine) as s:
        replied = _account_reply(ws, s, MEGAN)
        assert replied is not None and to_utc(replied) == at("2026-12-01T09:00:00Z")
        assert s.exec(select(Suppression).where(Suppression.value == TYRONE)).first() is None


def test_account_replied_at_ignores_away_kinds_by_default(ready_ws) -> None:  # noqa: ANN001
    """The repository query alone, without configuration, skips out-of-office and
    auto-replies and returns the latest real reply."""
    ws = ready_ws
    ingest(
        ws,
        [
            _reply(TYRONE, "Thanks, interested - tell me more.", "2026-11-24T09:00:00Z"),
            _reply(TYRONE, "Out of office until 3 December.", "2026-11-25T09:00:00Z"),
        ],
        now=at("2026-11-25T10:00:00Z"),
    )
    with Session(engine_for(ws.database_url)) as s:
        megan = s.exec(select(Prospect).where(Prospect.email_norm == MEGAN)).one()
        got = repo.account_replied_at(s, workspace=ws.id, company_id=megan.company_id, exclude=megan.id)
    assert got is not None and to_utc(got) == at("2026-11-24T09:00:00Z")


@pytest.mark.slow
def test_demo_out_of_office_does_not_pause_a_colleague(ready_ws) -> None:  # noqa: ANN001
    """In the demo, Ben Carter's out-of-office (Quillstack) leaves his colleague Olivia
    Grant's sequence running: her follow-up goes out and no account_pause verdict names her."""
    ws = ready_ws
    run_daily(ws, now=at("2026-11-23T15:00:00Z"))
    events, _ = read_events_file(DEMO / "events.jsonl")
    ingest(ws, events, now=at("2026-11-25T20:00:00Z"))
    run_daily(ws, now=at("2026-12-02T15:00:00Z"))
    with Session(engine_for(ws.database_url)) as s:
        olivia = s.exec(
            select(Prospect).where(Prospect.email_norm == "olivia.grant@quillstack.example")
        ).one()
        steps = [
            o.step_id
            for o in repo.outbox_for(s, workspace=ws.id, prospect_id=olivia.id)
            if o.status == "sent"
        ]
        rules = [
            v["rule"]
            for r in repo.decisions_for(s, workspace=ws.id, prospect_id=olivia.id)
            for v in load_body(r).get("verdicts", [])
            if v["outcome"] != "allow"
        ]
    assert "email_followup" in steps
    assert "account_pause" not in rules
