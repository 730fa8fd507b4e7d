"""The run's allotment covers LLM spend too: a prospect's observed run and month `llm_usd`
is the start of the run plus the drafts planned by everyone ranked above it plus its own,
never what other workers or threads happen to have spent already."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session

from agents import allocation as slots
from agents.forecast import ProspectPreview
from core.workspace import Workspace, load_workspace
from state.db import engine_for
from tests.conftest import at, copy_demo
from tests.llm.conftest import claude_toml

NOW = at("2026-11-23T15:00:00Z")


def _claude_ws(tmp_path: Path) -> Workspace:
    d = copy_demo(tmp_path / "demo")
    toml = d / "workspace.toml"
    toml.write_text(claude_toml(toml.read_text(encoding="utf-8"), "http://127.0.0.1:9"), encoding="utf-8")
    return load_workspace(d)


def _start(llm_usd: float) -> dict[str, Any]:
    spend = {"credits": 1.0, "usd": 0.5 + llm_usd, "llm_usd": llm_usd}
    return {
        **{c: 0 for c in slots.GLOBAL_COUNTERS},
        "mailbox_first_send_date": None,
        "spend_run": dict(spend),
        "spend_month": dict(spend),
    }


def _observed(ws: Workspace, plan: slots.Allocation, pid: str, live_llm_usd: float, now: datetime) -> Any:
    live = {"credits": 9.0, "usd": 9.0, "llm_usd": live_llm_usd}
    obs = {
        "counters": {
            **{c: 99 for c in slots.GLOBAL_COUNTERS},
            "spend": {"run": dict(live), "month": dict(live), "prospect": {}},
        }
    }
    with Session(engine_for(ws.database_url)) as session:
        return slots.apply(
            obs, plan, ws=ws, session=session, state={"prospect_id": pid, "sent": []}, now=now
        )["counters"]["spend"]


def test_llm_spend_is_allotted_in_priority_order(tmp_path: Path) -> None:
    ws = _claude_ws(tmp_path)
    est = ws.config.llm.est_draft_usd
    drafting = [{"action": "draft", "outcome": "allow"}, {"action": "request_review", "outcome": "allow"}]
    rows = [
        ProspectPreview("p_a", "A", 90, 1, steps=list(drafting), action="request_review", outcome="allow"),
        ProspectPreview("p_b", "B", 80, 1, steps=list(drafting), action="request_review", outcome="allow"),
        ProspectPreview("p_c", "C", 70, 1, steps=[], action="wait", outcome="allow"),
    ]
    plan = slots.allocate(ws, rows, _start(0.25))
    # whatever the live spend (another thread finished its drafts already, or not yet)
    for live in (0.0, 5.0):
        a, b, c = (_observed(ws, plan, p, live, NOW) for p in ("p_a", "p_b", "p_c"))
        assert a["run"]["llm_usd"] == 0.25 and a["month"]["llm_usd"] == 0.25
        assert b["run"]["llm_usd"] == 0.25 + est and b["month"]["llm_usd"] == 0.25 + est
        assert c["run"]["llm_usd"] == 0.25 + 2 * est
        assert c["run"]["usd"] == 0.75 + 2 * est  # total dollars include the planned drafts


def test_plain_workspace_allots_no_llm_spend(demo_ws: Workspace) -> None:
    drafting = [{"action": "draft", "outcome": "allow"}]
    rows = [
        ProspectPreview("p_a", "A", 90, 1, steps=list(drafting), action="draft", outcome="allow"),
        ProspectPreview("p_b", "B", 80, 1, steps=[], action="wait", outcome="allow"),
    ]
    plan = slots.allocate(demo_ws, rows, _start(0.0))
    assert _observed(demo_ws, plan, "p_b", 3.0, NOW)["run"]["llm_usd"] == 0.0
