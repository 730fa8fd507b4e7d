"""The bundled examples show the guardrails at work: over the demo's three days (and the
kill-switch example's one) the decision log holds deny, defer and review verdicts with
their rule ids for the prospects built to trigger them (safety, suppression,
jurisdiction, frequency, timing, content and review rules), and replay shows the same
verdicts in its timeline with no divergence."""

from __future__ import annotations

import shutil
from collections import defaultdict
from pathlib import Path

from sqlmodel import Session, select

from agents.replay import replay
from agents.runner import run_daily
from core.workspace import load_workspace
from policies.rules import RULE_FAMILIES
from state.db import engine_for
from state.decision_log import load_body
from state.models import DecisionRecord, OutboxMessage, Prospect
from tests.conftest import ROOT, at

# Highest scores work first, so Amelia (tier 3, lowest score) gets her intro on day 3 and
# reaches the break-up email on the fifth run.
DAYS = (
    "2026-11-23T15:00:00Z",
    "2026-11-26T15:00:00Z",
    "2026-12-02T15:00:00Z",
    "2026-12-07T15:00:00Z",
    "2026-12-10T15:00:00Z",
)
STOPS = ("deny", "defer", "review")

# The stops the demo data and settings are built to show: (rule, outcome, prospect email).
EXPECTED = {
    ("suppression", "deny", "greg.holloway@southerncrossfreight.example"),  # unsubscribed
    ("suppression", "deny", "peter.quinn@closewise.example"),  # competitor domain
    ("prior_consent_email", "deny", "katrin.vogel@kranich-logistik.example"),  # DE, UWG §7(2)
    ("ca_casl", "deny", "ethan.macleod@mapleharbor.example"),  # CA, no consent
    ("send_window", "defer", "emily.hart@saguarohealth.example"),  # US, no city: zone unknown
    ("send_window", "defer", "liam.oconnor@kauricloud.example"),  # night in Auckland
    # last day: the break-up email's "2027 budget" claim is not in the about page it cites
    ("content_grounding", "deny", "amelia.watson@thamesbridge.example"),
    ("review_low_grounding", "review", "amelia.watson@thamesbridge.example"),
}
STRATUS = {
    "tyrone.jackson@stratusparcel.example",
    "megan.foster@stratusparcel.example",
    "denise.okafor@stratusparcel.example",
    "paul.hendricks@stratusparcel.example",
}


def _stops(ws) -> dict[str, list[tuple[str, str, str, str]]]:  # noqa: ANN001
    """run id -> (rule, outcome, prospect email, prospect id) for every non-allow verdict."""
    engine = engine_for(ws.database_url)
    with Session(engine) as s:
        emails = {p.id: p.email_norm for p in s.exec(select(Prospect).where(Prospect.workspace == ws.id))}
        rows = s.exec(
            select(DecisionRecord).where(DecisionRecord.workspace == ws.id).order_by(DecisionRecord.seq)
        ).all()
        bodies = [load_body(r) for r in rows]
    out: dict[str, list[tuple[str, str, str, str]]] = defaultdict(list)
    for body in bodies:
        for v in body.get("verdicts", []):
            if v["outcome"] in STOPS:
                out[body["run_id"]].append(
                    (v["rule"], v["outcome"], emails.get(body["prospect_id"], ""), body["prospect_id"])
                )
    return out


def _timeline_stops(ws, run_id: str) -> set[tuple[str, str, str]]:  # noqa: ANN001
    result = replay(ws, run_id=run_id)
    assert result["replayed"] > 0
    assert result["divergences"] == []
    return {
        (v["rule"], v["outcome"], row["prospect_id"]) for row in result["timeline"] for v in row["verdicts"]
    }


def test_demo_days_log_policy_stops_and_replay_shows_them(ready_ws) -> None:  # noqa: ANN001
    """Five demo days log suppression, jurisdiction, frequency, timing, capacity, budget,
    content and review stops with their rule ids for the prospects built for them, and replay shows each of
    them with no divergence."""
    ws = ready_ws
    runs = [run_daily(ws, now=at(day)) for day in DAYS]
    assert all(r.errors == 0 for r in runs)

    stops = _stops(ws)
    logged = {(rule, outcome, email) for rows in stops.values() for rule, outcome, email, _ in rows}
    assert EXPECTED <= logged, sorted(EXPECTED - logged)

    # Frequency: four Stratus Parcel people are due on day 0; the fourth waits for next week.
    day0 = stops[runs[0].run_id]
    weekly = {
        email for rule, outcome, email, _ in day0 if (rule, outcome) == ("account_weekly_contacts", "defer")
    }
    assert len(weekly & STRATUS) == 1
    # Content: the break-up email is never sent as written.
    with Session(engine_for(ws.database_url)) as s:
        breakups = s.exec(
            select(OutboxMessage).where(
                OutboxMessage.workspace == ws.id, OutboxMessage.step_id == "email_breakup"
            )
        ).all()
    assert breakups == []

    families = {RULE_FAMILIES[rule] for rule, _, _ in logged} | {
        RULE_FAMILIES[r] for r in runs[0].carried_over
    }
    assert {
        "suppression",
        "jurisdiction",
        "frequency",
        "timing",
        "capacity",
        "budget",
        "content",
        "review",
    } <= families
    day0_rules = {(rule, outcome) for rule, outcome, _, _ in day0}
    assert ("mailbox_daily_cap", "defer") in day0_rules  # 18 emails a day, 20 due
    # 40 credits a run, 43 needed: the two lowest-scoring lookups are carried over to the next
    # run without entering their graphs, in one run-level record.
    assert runs[0].carried_over == {"budget_run": 2}
    with Session(engine_for(ws.database_url)) as s:
        carry = [
            load_body(r)
            for r in s.exec(
                select(DecisionRecord).where(
                    DecisionRecord.workspace == ws.id,
                    DecisionRecord.run_id == runs[0].run_id,
                    DecisionRecord.action == "carry_over",
                )
            ).all()
        ]
    assert [(c["carry_over"]["rule"], c["carry_over"]["count"]) for c in carry] == [("budget_run", 2)]

    assert set(stops) == {r.run_id for r in runs}
    for run_id, rows in stops.items():
        assert {(rule, outcome, pid) for rule, outcome, _, pid in rows} == _timeline_stops(ws, run_id)


def test_kill_switch_example_denies_every_active_action(tmp_path: Path) -> None:
    """In examples/killswitch the KILL_SWITCH file makes the kill_switch rule deny the first
    action of every prospect: nothing is sent, no prospect runs its graph (each is carried
    over to the next run), and one run-level record names the rule, the reason and all three
    prospects; `prospects show` says why each was not worked."""
    dest = tmp_path / "killswitch"
    shutil.copytree(
        ROOT / "examples" / "killswitch", dest, ignore=shutil.ignore_patterns("var", "outbox", "rejects")
    )
    ws = load_workspace(dest)
    assert ws.kill_switch
    from agents.runner import carried_over_in
    from agents.services import init_workspace

    init_workspace(ws, now=at("2026-11-23T14:00:00Z"))
    summary = run_daily(ws, now=at(DAYS[0]))
    assert summary.carried_over == {"kill_switch": 3}
    assert summary.processed == 0 and sum(summary.sent.values()) == 0 and summary.errors == 0
    engine = engine_for(ws.database_url)
    with Session(engine) as s:
        rows = s.exec(select(DecisionRecord).where(DecisionRecord.run_id == summary.run_id)).all()
        assert [r.action for r in rows] == ["carry_over"]  # no per-prospect decision at all
        info = load_body(rows[0])["carry_over"]
        ids = [p.id for p in s.exec(select(Prospect).where(Prospect.workspace == ws.id))]
        assert info["rule"] == "kill_switch" and info["count"] == 3
        assert "kill switch is on" in info["reason"]
        assert sorted(p["id"] for p in info["prospects"]) == sorted(ids)
        for pid in ids:
            why = carried_over_in(s, ws.id, pid)
            assert why is not None and why["rule"] == "kill_switch" and why["run_id"] == summary.run_id
    assert _stops(ws).get(summary.run_id) is None
    assert replay(ws, run_id=summary.run_id)["divergences"] == []

    (dest / "KILL_SWITCH").unlink()
    assert not load_workspace(dest).kill_switch
    resumed = run_daily(load_workspace(dest), now=at("2026-11-24T15:00:00Z"))
    assert resumed.processed == 3 and sum(resumed.sent.values()) > 0  # paused, not ended
