"""The demo timeline of the README walk-through with every review approved as soon as it
is asked for: no send leaves outside its recipient's local window (approval never
overrides timing) and at least one reviewed direct mail goes out."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlmodel import Session, select

from agents.events_service import ingest
from agents.review_queue import decide, list_reviews
from agents.runner import run_daily
from core.timeutil import Window, zone
from state.db import engine_for
from state.models import OutboxMessage, Prospect
from tests.conftest import DEMO, at
from tools.events import read_events_file

# Day 0, +3 business days (US Thanksgiving), +7, and +9 (the tier-1 direct mail comes two
# business days after the intro email, which the mailbox cap and the holiday push to day 7).
RUNS = ("2026-11-23T15:00:00Z", "2026-11-26T15:00:00Z", "2026-12-02T15:00:00Z", "2026-12-04T15:00:00Z")
EVENTS_AT = "2026-11-25T20:00:00Z"


def approve_all(ws, now: datetime) -> int:  # noqa: ANN001
    """Approve every pending review (and those the approvals lead to) at `now`."""
    approved = 0
    while pending := list_reviews(ws):
        for view in pending:
            decide(ws, view.review["id"], "approve", actor="U123", now=now)
            approved += 1
    return approved


@pytest.mark.slow
def test_every_review_approved_keeps_windows_and_sends_direct_mail(ready_ws) -> None:  # noqa: ANN001
    """Across the demo days with all reviews approved 90 minutes after each run: every
    email and LinkedIn send is inside its recipient's window (zone known), and a direct
    mail is sent."""
    ws = ready_ws
    approvals = 0
    for i, run_at in enumerate(RUNS):
        if i == 1:
            events, _ = read_events_file(DEMO / "events.jsonl")
            ingest(ws, events, now=at(EVENTS_AT))
        summary = run_daily(ws, now=at(run_at))
        assert summary.errors == 0, summary.error_details
        approvals += approve_all(ws, at(run_at.replace("15:00", "16:30")))
    assert approvals > 0
    cfg = ws.config.policy.window
    with Session(engine_for(ws.database_url)) as s:
        sent = s.exec(
            select(OutboxMessage, Prospect)
            .where(OutboxMessage.workspace == ws.id, OutboxMessage.status == "sent")
            .where(OutboxMessage.prospect_id == Prospect.id)
        ).all()
    outside = []
    for row, p in sent:
        if row.channel not in cfg.channels:
            continue
        tz = zone(p.timezone)
        extra = cfg.holidays_by_country.get((p.country or "").upper(), ())
        window = Window(
            days=cfg.days, start=cfg.start, end=cfg.end, holidays=frozenset(cfg.holidays) | frozenset(extra)
        )
        if tz is None or not window.contains(row.sent_at, tz):
            outside.append((p.full_name, p.timezone, row.channel, row.step_id, row.sent_at))
    assert outside == []
    assert any(row.channel == "direct_mail" for row, _ in sent)
