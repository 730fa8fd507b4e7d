"""Direct mail end to end: a reviewed direct mail is addressed to the prospect on record
(its postal identity, not a LinkedIn URL), goes through the default policies with a
human review, and is sent once to the postal address on record."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlmodel import Session, select

from agents.checkpoint import open_checkpointer, thread_id
from agents.context import build_context
from agents.graph import build_graph
from agents.review_queue import decide
from agents.services import init_workspace
from agents.state import initial_state
from core.workspace import load_workspace
from state.db import engine_for
from state.models import OutboxMessage, Prospect
from tests.conftest import at, copy_demo

NOW = "2026-11-23T15:00:00Z"
PLAYBOOK = """[playbook]
name = "direct-mail-only"

[[playbook.steps]]
id = "direct_mail_tier1"
channel = "direct_mail"
template = "direct_mail_note"
when = ["tier_1", "has_postal_address"]

"""


def default_policy_workspace(dest: Path, backend: str):  # noqa: ANN201
    """The demo workspace with every [policy.*] table removed (so the defaults apply) and a
    playbook of one direct-mail step for tier-1 accounts."""
    root = copy_demo(dest, backend=backend)
    toml = root / "workspace.toml"
    text = toml.read_text(encoding="utf-8")
    text = text[: text.index("[playbook]")] + PLAYBOOK + text[text.index("[channels.email]") :]
    text = re.sub(r"(?ms)^\[policy[^\]]*\]\n.*?(?=^\[|\Z)", "", text)
    toml.write_text(text, encoding="utf-8")
    ws = load_workspace(root)
    assert ws.config.policy.review.direct_mail and not ws.config.policy.disabled_rules
    init_workspace(ws, now=at("2026-11-23T14:00:00Z"))
    return ws


def test_reviewed_direct_mail_is_sent_under_default_policies(tmp_path: Path, backend: str) -> None:
    """A tier-1 prospect's direct mail is drafted to the prospect on record, reviewed,
    and after the approval sent once, with the postal address on record."""
    ws = default_policy_workspace(tmp_path / "dm", backend)
    engine = engine_for(ws.database_url)
    with Session(engine) as s:
        p = s.exec(
            select(Prospect).where(
                Prospect.workspace == ws.id, Prospect.email_norm == "carlos.mendez@acmerobotics.example"
            )
        ).one()
        address = (p.attributes or {})["Postal Address"]
    ctx = build_context(ws, engine)
    tid = thread_id(ws.id, p.id)
    with open_checkpointer(ws) as saver:
        result = build_graph(saver).invoke(
            initial_state(prospect_id=p.id, thread_id=tid, run_id="run_dm", now=NOW),
            {"configurable": {"thread_id": tid}},
            context=ctx,
        )
    request = result["__interrupt__"][0].value
    assert request["channel"] == "direct_mail" and request["kind"] == "message"
    assert result["observation"]["drafts"]["direct_mail_tier1"]["recipient"] == p.id

    out = decide(ws, request["review_id"], "approve", actor="U1", now=at("2026-11-23T16:00:00Z"))
    assert out["outcome"]["status"] == "sent", out["outcome"]
    assert out["run"]["sent"]["direct_mail"] == 1
    with Session(engine) as s:
        rows = s.exec(
            select(OutboxMessage).where(
                OutboxMessage.workspace == ws.id, OutboxMessage.channel == "direct_mail"
            )
        ).all()
    assert [(r.prospect_id, r.status) for r in rows] == [(p.id, "sent")]
    files = list((ws.outbox_dir / "direct_mail").glob("*.json"))
    assert len(files) == 1
    assert address in json.dumps(json.loads(files[0].read_text(encoding="utf-8")), ensure_ascii=False)


def test_review_before_the_draft_approves_the_decision_not_the_message(tmp_path: Path, backend: str) -> None:
    """EU direct mail to an address of unknown type: the review asked before any draft
    exists approves drafting only; once the draft exists the message itself is reviewed
    (nothing is sent on the first approval), and its approval sends it."""
    ws = default_policy_workspace(tmp_path / "dm", backend)
    engine = engine_for(ws.database_url)
    with Session(engine) as s:
        p = s.exec(
            select(Prospect).where(
                Prospect.workspace == ws.id, Prospect.email_norm == "zoe.angstrom@fjallpay.example"
            )
        ).one()
    tid = thread_id(ws.id, p.id)
    with open_checkpointer(ws) as saver:
        result = build_graph(saver).invoke(
            initial_state(prospect_id=p.id, thread_id=tid, run_id="run_dm", now=NOW),
            {"configurable": {"thread_id": tid}},
            context=build_context(ws, engine),
        )
    first = result["__interrupt__"][0].value
    assert first["kind"] == "decision" and first["draft_id"] == ""  # no draft behind it
    assert any("gdpr_business_address" in r for r in first["reasons"])

    out = decide(ws, first["review_id"], "approve", actor="U1", now=at("2026-11-23T16:00:00Z"))
    assert out["outcome"]["status"] == "review_requested", out["outcome"]
    assert out["run"]["sent"]["direct_mail"] == 0
    second = out["outcome"]["review_id"]
    assert second != first["review_id"]
    from agents.review_queue import show_review

    view = show_review(ws, second)
    assert view.review["kind"] == "message" and view.draft["body"]

    sent = decide(ws, second, "approve", actor="U1", now=at("2026-11-23T16:05:00Z"))
    assert sent["outcome"]["status"] == "sent", sent["outcome"]
