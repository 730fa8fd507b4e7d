"""Engagement events drive the demo: escalation after silence, a LinkedIn message after
acceptance, a bounce that switches channel, an out-of-office pause that resumes on the
return date, an unsubscribe that suppresses, an interested reply that hands off, and a
reply that pauses colleagues - each visible in replay."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from agents.events_service import ingest
from agents.replay import replay
from agents.runner import run_daily
from state.db import engine_for
from state.models import EngagementEventRow, OutboxMessage, Prospect, Suppression, Task
from tests.conftest import DEMO, at
from tools.events import parse_generic, read_events_file


def _pid(ws, email_or_name: str) -> str:  # noqa: ANN001
    with Session(engine_for(ws.database_url)) as s:
        p = s.exec(
            select(Prospect).where(
                Prospect.workspace == ws.id,
                (Prospect.email_norm == email_or_name) | (Prospect.full_name == email_or_name),
            )
        ).first()
    return p.id


def _sent_steps(ws, pid: str) -> list[str]:  # noqa: ANN001
    with Session(engine_for(ws.database_url)) as s:
        return [
            o.step_id
            for o in s.exec(
                select(OutboxMessage)
                .where(OutboxMessage.prospect_id == pid, OutboxMessage.status == "sent")
                .order_by(OutboxMessage.id)  # PostgreSQL returns rows in no set order otherwise
            )
        ]


def _timeline(ws, pid: str) -> list[tuple[str, str]]:  # noqa: ANN001
    result = replay(ws, prospect_id=pid)
    assert result["divergences"] == []
    return [(t["node"], t["action"]) for t in result["timeline"]]


@pytest.mark.slow
def test_demo_events_drive_every_path(ready_ws) -> None:  # noqa: ANN001
    """The shipped events file, ingested between day 0 and day 3, changes what the agent
    does next for each prospect it names, and every change shows in replay."""
    ws = ready_ws
    run_daily(ws, now=at("2026-11-23T15:00:00Z"))
    events, rejects = read_events_file(DEMO / "events.jsonl")
    assert rejects == []
    result = ingest(ws, events, now=at("2026-11-25T20:00:00Z"))
    assert result["duplicates"] == 1 and result["unknown"] == 1
    run_daily(ws, now=at("2026-11-26T15:00:00Z"))
    run_daily(ws, now=at("2026-12-02T15:00:00Z"))
    engine = engine_for(ws.database_url)

    # Mei Lin is carried over on day 0 (the run's credit budget goes to higher scores) and
    # Thanksgiving holds her invitation, so it goes out on day 7 and the message after it.
    mei = _pid(ws, "Mei Lin")
    assert _sent_steps(ws, mei) == ["linkedin_connect"]
    run_daily(ws, now=at("2026-12-04T15:00:00Z"))
    assert _sent_steps(ws, mei) == ["linkedin_connect", "linkedin_message"]
    assert ("events", "connection_accepted") in _timeline(ws, mei)

    rachel = _pid(ws, "rachel.ortiz@cobalthealth.example")  # bounce -> LinkedIn
    assert "linkedin_connect" in _sent_steps(ws, rachel)
    with Session(engine) as s:
        assert s.get(Prospect, rachel).email_status == "invalid"

    # OOO pauses until the return date (Dec 1): nothing goes to Ben between the auto-reply
    # and his return, and the sequence resumes after it (his intro, held on day 0 by the
    # mailbox cap that higher scores used first, goes out on day 7).
    ben = _pid(ws, "ben.carter@quillstack.example")
    assert ("events", "paused_until_return") in _timeline(ws, ben)
    with Session(engine) as s:
        sends = s.exec(
            select(OutboxMessage).where(OutboxMessage.prospect_id == ben, OutboxMessage.status == "sent")
        ).all()
    assert sends, "the sequence resumed after the return date"
    assert all(
        not (
            datetime(2026, 11, 25, 20, tzinfo=UTC)
            <= m.sent_at.replace(tzinfo=UTC)
            < datetime(2026, 12, 1, tzinfo=UTC)
        )
        for m in sends
    )

    grace = _pid(ws, "grace.nakamura@cedarloop.example")  # unsubscribe suppresses
    with Session(engine) as s:
        assert s.exec(
            select(Suppression).where(
                Suppression.workspace == ws.id, Suppression.value == "grace.nakamura@cedarloop.example"
            )
        ).first()
        assert s.get(Prospect, grace).status == "stopped"

    tyrone = _pid(ws, "tyrone.jackson@stratusparcel.example")  # interested -> hand-off, stop
    with Session(engine) as s:
        task = s.exec(select(Task).where(Task.prospect_id == tyrone, Task.kind == "handoff")).one()
        assert task.owner and s.get(Prospect, tyrone).status == "stopped"

    megan = _pid(ws, "megan.foster@stratusparcel.example")  # colleague paused
    assert "email_followup" not in _sent_steps(ws, megan)
    rules = [v["rule"] for t in replay(ws, prospect_id=megan)["timeline"] for v in t["verdicts"]]
    assert "account_pause" in rules


def test_ingest_is_idempotent_and_keeps_unknowns(ready_ws) -> None:  # noqa: ANN001
    """The same event twice is stored once; unmatched and unknown events are stored too."""
    ws = ready_ws
    known = parse_generic(
        {
            "type": "opened",
            "email": "lena.park@acmerobotics.example",
            "channel": "email",
            "occurred_at": "2026-11-24T10:00:00Z",
        }
    )
    stranger = parse_generic(
        {
            "type": "opened",
            "email": "nobody@nowhere.example",
            "channel": "email",
            "occurred_at": "2026-11-24T10:00:00Z",
        }
    )
    now = at("2026-11-24T12:00:00Z")
    first = ingest(ws, [known, stranger], now=now)
    second = ingest(ws, [known, stranger], now=now)
    assert first["stored"] == 2 and first["unmatched"] == 1
    assert second["stored"] == 0 and second["duplicates"] == 2
    with Session(engine_for(ws.database_url)) as s:
        rows = s.exec(select(EngagementEventRow).where(EngagementEventRow.workspace == ws.id)).all()
    assert len(rows) == 2 and any(r.prospect_id is None for r in rows)


def test_referral_reply_creates_the_referred_prospect(ready_ws) -> None:  # noqa: ANN001
    """A "wrong person, talk to X" reply stops the sequence and adds X as a prospect at the
    same company, owned by the same owner."""
    ws = ready_ws
    reply = parse_generic(
        {
            "type": "replied",
            "email": "lena.park@acmerobotics.example",
            "channel": "email",
            "occurred_at": "2026-11-24T10:00:00Z",
            "text": "I'm not the right person for this. Please contact Jane Smith "
            "(jane.smith@acmerobotics.example), our Controller.",
        }
    )
    result = ingest(ws, [reply], now=at("2026-11-24T12:00:00Z"))
    assert result["effects"].get("referral") == 1
    with Session(engine_for(ws.database_url)) as s:
        lena = s.exec(
            select(Prospect).where(
                Prospect.email_norm == "lena.park@acmerobotics.example", Prospect.workspace == ws.id
            )
        ).one()
        jane = s.exec(
            select(Prospect).where(
                Prospect.email_norm == "jane.smith@acmerobotics.example", Prospect.workspace == ws.id
            )
        ).one()
    assert jane.company_id == lena.company_id and jane.owner == lena.owner
    assert jane.attributes["referred_by"] == lena.id


def test_referral_without_email_opens_a_task(ready_ws) -> None:  # noqa: ANN001
    """A referral that names someone but gives no address becomes a task for the owner."""
    ws = ready_ws
    reply = parse_generic(
        {
            "type": "replied",
            "email": "lena.park@acmerobotics.example",
            "channel": "email",
            "occurred_at": "2026-11-24T10:00:00Z",
            "text": "I'm not the right person. You should talk to Jane Smith, our Controller.",
        }
    )
    ingest(ws, [reply], now=at("2026-11-24T12:00:00Z"))
    with Session(engine_for(ws.database_url)) as s:
        tasks = s.exec(select(Task).where(Task.workspace == ws.id, Task.kind == "referral")).all()
    assert len(tasks) == 1 and "no email" in tasks[0].title
