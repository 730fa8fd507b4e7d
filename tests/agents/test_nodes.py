"""Each graph node on its own: observe builds the observation, plan proposes and caps
steps, guard records denials for the planner, act researches once per company (never
paying twice), request_review is idempotent, and the review resumes the thread."""

from __future__ import annotations

import pytest
from langgraph.runtime import Runtime
from sqlmodel import Session, select

from agents.checkpoint import open_checkpointer, thread_id
from agents.context import build_context
from agents.graph import build_graph
from agents.nodes.act import act
from agents.nodes.guard import guard
from agents.nodes.observe import observe
from agents.nodes.plan import plan
from agents.nodes.review import request_review
from agents.state import initial_state
from state.db import engine_for
from state.decision_log import load_body
from state.models import DecisionRecord, LookupCache, Prospect, Review
from tests.conftest import at

NOW = "2026-11-23T15:00:00Z"


@pytest.fixture
def rt(ready_ws):  # noqa: ANN001, ANN201
    return Runtime(context=build_context(ready_ws, engine_for(ready_ws.database_url)))


def _state(ws, email: str) -> dict:  # noqa: ANN001
    with Session(engine_for(ws.database_url)) as s:
        p = s.exec(select(Prospect).where(Prospect.workspace == ws.id, Prospect.email_norm == email)).one()
    return dict(initial_state(prospect_id=p.id, thread_id=thread_id(ws.id, p.id), run_id="run_t", now=NOW))


def _records(ws, pid: str) -> list[DecisionRecord]:  # noqa: ANN001
    with Session(engine_for(ws.database_url)) as s:
        return s.exec(
            select(DecisionRecord).where(DecisionRecord.prospect_id == pid).order_by(DecisionRecord.seq)
        ).all()


def test_observe_collects_the_facts(ready_ws, rt) -> None:  # noqa: ANN001
    """observe returns a JSON observation with prospect, company, suppressions and sender."""
    st = _state(ready_ws, "greg.holloway@southerncrossfreight.example")
    obs = observe(st, rt)["observation"]
    assert obs["now"] == NOW and obs["prospect"]["timezone"] == "Australia/Sydney"
    assert obs["suppressions"][0]["reason"] == "unsubscribed"
    assert obs["sender"]["postal_address"] and obs["mode"] == "send"


def test_plan_caps_steps_and_logs_it(ready_ws, rt) -> None:  # noqa: ANN001
    """Past the per-run step cap, plan ends the run and writes a step_cap decision."""
    st = _state(ready_ws, "lena.park@acmerobotics.example")
    st.update(observe(st, rt))
    st["steps"] = ready_ws.config.limits.max_steps_per_run
    out = plan(st, rt)
    assert out["outcome"]["kind"] == "step_cap"
    assert [r.action for r in _records(ready_ws, st["prospect_id"])] == ["step_cap"]


def test_guard_records_denial_for_the_planner(ready_ws, rt) -> None:  # noqa: ANN001
    """A denied proposal is handed back to the planner as a denial, within the guard's node
    call (it re-plans: the next proposal is a stop, which is allowed), and its record is kept
    pending for the run's next record instead of being written alone."""
    st = _state(ready_ws, "greg.holloway@southerncrossfreight.example")
    st.update(observe(st, rt))
    st.update(plan(st, rt))
    out = guard(st, rt)
    assert out["denials"][0]["proposal"]["action"] == st["plan"]["proposal"]["action"]
    denied = out["denials"][0]["decision"]
    assert denied["outcome"] == "deny" and any(v["rule"] == "suppression" for v in denied["verdicts"])
    assert out["plan"]["proposal"]["action"] == "stop" and out["decision"]["outcome"] == "allow"
    assert out["steps"] == st["steps"] + 1
    [pending] = out["pending"]
    assert (pending["node"], pending["final_action"], pending["outcome"]) == ("guard", "replan", "deny")
    assert _records(ready_ws, st["prospect_id"]) == []  # written with the stop, not alone


def test_research_is_paid_once_per_company(ready_ws, rt) -> None:  # noqa: ANN001
    """Two prospects at one company: the second research is a cache hit costing nothing."""
    for email in ("lena.park@acmerobotics.example", "carlos.mendez@acmerobotics.example"):
        st = _state(ready_ws, email)
        st.update(observe(st, rt))
        st["plan"] = {"proposal": {"action": "research", "reason": "test"}, "rationale": "t"}
        st["observation"]["company"]["research_status"] = "pending"
        act(st, rt)
    with Session(engine_for(ready_ws.database_url)) as s:
        cache = s.exec(
            select(LookupCache).where(
                LookupCache.workspace == ready_ws.id, LookupCache.provider == "research:snapshot"
            )
        ).all()
        recs = s.exec(
            select(DecisionRecord).where(
                DecisionRecord.workspace == ready_ws.id, DecisionRecord.action == "research"
            )
        ).all()
    assert len(cache) == 1
    costs = sorted(load_body(r)["cost"]["credits"] for r in recs)
    assert costs == [0.0, ready_ws.config.costs.research_credits]


def test_request_review_is_idempotent(ready_ws, rt) -> None:  # noqa: ANN001
    """Requesting review twice for the same draft keeps one pending review."""
    st = _state(ready_ws, "carlos.mendez@acmerobotics.example")
    st.update(observe(st, rt))
    st["plan"] = {
        "proposal": {
            "action": "request_review",
            "reason": "tier 1",
            "step_id": "email_intro",
            "channel": "email",
        },
        "rationale": "t",
    }
    first = request_review(st, rt)["review"]["review_id"]
    second = request_review(st, rt)["review"]["review_id"]
    assert first == second
    with Session(engine_for(ready_ws.database_url)) as s:
        assert len(s.exec(select(Review).where(Review.prospect_id == st["prospect_id"])).all()) == 1


def test_graph_interrupts_and_resumes(ready_ws) -> None:  # noqa: ANN001
    """A tier-1 prospect's run pauses at the review interrupt; a resume without a claimed
    approval asks again (the database decides) and logs no approval that never happened,
    and an approval through the queue is logged once and continues the same thread
    through the guard."""
    from langgraph.types import Command

    from agents.review_queue import decide

    ws = ready_ws
    ctx = build_context(ws, engine_for(ws.database_url))
    st = _state(ws, "carlos.mendez@acmerobotics.example")
    cfg = {"configurable": {"thread_id": st["thread_id"]}}
    with open_checkpointer(ws) as saver:
        graph = build_graph(saver)
        result = graph.invoke(st, cfg, context=ctx, durability="exit")
        request = result["__interrupt__"][0].value
        assert request["step_id"] == "email_intro"
        assert graph.get_state(cfg).next == ("await_review",)
        forged = graph.invoke(
            Command(
                resume={"decision": "approve", "actor": "U1", "at": "2026-11-23T16:00:00Z", "run_id": "run_r"}
            ),
            cfg,
            context=ctx,
            durability="exit",
        )
        assert forged["__interrupt__"], "an unclaimed approval must not send"
    out = decide(ws, request["review_id"], "approve", actor="U1", now=at("2026-11-23T16:00:00Z"))
    assert out["run"]["review_requested"] == 0
    actions = [r.action for r in _records(ws, st["prospect_id"])]
    assert "request_review" in actions and actions.count("review_approve") == 1
    assert out["resumed_from"] == "checkpoint"
    assert actions[-1] in ("send", "wait")


def test_edit_keeps_citations_of_unchanged_sentences() -> None:
    """After an edit, untouched sentences keep their evidence ids and rewritten ones lose them."""
    from agents.review_queue import keep_citations

    original = [
        {"text": "Acme raised $40M.", "evidence_ids": ["ev_1"], "personal": True},
        {"text": "Want a call?", "evidence_ids": [], "personal": False},
    ]
    edited = [
        {"text": "Acme raised $40M.", "evidence_ids": [], "personal": True},
        {"text": "Acme doubled revenue.", "evidence_ids": [], "personal": True},
    ]
    out = keep_citations(original, edited)
    assert out[0]["evidence_ids"] == ["ev_1"] and out[1]["evidence_ids"] == []
