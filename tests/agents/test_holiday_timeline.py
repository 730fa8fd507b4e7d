"""Over the demo timeline with every review approved, no message goes out on a public
holiday of its recipient's country and no touch is scheduled on one (US Thanksgiving,
26 November 2026, and Christmas are on the timeline)."""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from sqlmodel import Session, select

from agents.review_queue import decide, list_reviews
from agents.runner import run_daily
from core.timeutil import public_holidays, to_utc, zone
from state.db import engine_for
from state.models import OutboxMessage, Prospect
from tests.conftest import at

DAYS = (
    "2026-11-23T15:00:00Z",
    "2026-11-26T15:00:00Z",  # Thanksgiving in the US, an ordinary Thursday in Europe
    "2026-12-02T15:00:00Z",
    "2026-12-22T15:00:00Z",
    "2026-12-23T15:00:00Z",  # before this change, a US follow-up was planned for 25 December
)


def _local(instant, tz_name: str) -> date:  # noqa: ANN001
    return to_utc(instant).astimezone(zone(tz_name) or zone("UTC")).date()


@pytest.mark.slow
def test_no_send_or_scheduled_touch_on_a_recipients_public_holiday(ready_ws) -> None:  # noqa: ANN001
    """Every sent message's local date and every planned next action's local date is a
    working day of the recipient's country; US prospects get nothing on Thanksgiving while
    European prospects are still written to that day."""
    ws = ready_ws
    for day in DAYS:
        run_daily(ws, now=at(day))
        for view in list_reviews(ws):
            decide(ws, view.review["id"], "approve", actor="U123", now=at(day))
    with Session(engine_for(ws.database_url)) as s:
        prospects = {p.id: p for p in s.exec(select(Prospect).where(Prospect.workspace == ws.id))}
        sent = s.exec(
            select(OutboxMessage).where(OutboxMessage.workspace == ws.id, OutboxMessage.status == "sent")
        ).all()
    per_day: Counter[tuple[str, bool]] = Counter()
    for row in sent:
        p = prospects[row.prospect_id]
        local = _local(row.sent_at, p.timezone)
        assert local not in public_holidays(p.country, local.year), (p.email_norm, local, row.channel)
        per_day[(local.isoformat(), p.country == "US")] += 1
    assert per_day[("2026-11-26", True)] == 0
    assert per_day[("2026-11-26", False)] > 0 and per_day[("2026-12-02", True)] > 0
    planned = [
        (p.email_norm, _local(p.next_action_at, p.timezone), p.country)
        for p in prospects.values()
        if p.next_action_at is not None and p.status == "waiting"
    ]
    assert planned
    for email, local, country in planned:
        assert local not in public_holidays(country, local.year), (email, local)
        assert local != date(2026, 12, 25), email
