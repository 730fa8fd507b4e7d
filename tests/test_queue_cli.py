"""The review queue and policy commands tell the truth: `queue show` gives each claim's
evidence quote and source URL, `--as` is checked against the approvers (else the local
user is recorded, marked unverified), decisions print what happened, and unknown ids or
actions are refused with a fitting next step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from run import app
from state.db import engine_for
from state.decision_log import load_body
from state.models import DecisionRecord
from tests.conftest import copy_demo

runner = CliRunner()


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    """The demo after one daily run, with U0ALICE as the workspace's only approver; returns
    the workspace folder and Dana Whitfield's pending review."""
    root = copy_demo(tmp_path_factory.mktemp("q") / "demo")
    with (root / "workspace.toml").open("a", encoding="utf-8") as fh:
        fh.write('\n[slack]\napprovers = ["U0ALICE"]\n')
    ws = str(root)
    assert runner.invoke(app, ["init", "-w", ws, "--now", "2026-11-23T14:00:00Z", "--json"]).exit_code == 0
    assert runner.invoke(app, ["daily", "-w", ws, "--now", "2026-11-23T15:00:00Z", "--json"]).exit_code == 0
    views = json.loads(runner.invoke(app, ["queue", "list", "-w", ws, "--json"]).output)
    return ws, next(v for v in views if v["prospect"]["name"] == "Dana Whitfield")


def test_queue_show_gives_quotes_and_urls(reviewed) -> None:  # noqa: ANN001
    """Each cited sentence is shown with the quote and the source URL, not evidence ids."""
    ws, view = reviewed
    data = json.loads(runner.invoke(app, ["queue", "show", view["review"]["id"], "-w", ws, "--json"]).output)
    cited = [s for s in data["draft"]["sentences"] if s["evidence_ids"]]
    assert cited and all(s["evidence"] and s["evidence"][0]["quote"] for s in cited)
    ev = cited[0]["evidence"][0]
    text = runner.invoke(app, ["queue", "show", view["review"]["id"], "-w", ws], terminal_width=300).output
    assert ev["quote"] in text and ev["url"] in text
    assert ev["id"] not in text


def test_as_must_be_an_approver(reviewed) -> None:  # noqa: ANN001
    """`--as` with an id that is not an approver is refused and changes nothing."""
    ws, view = reviewed
    out = runner.invoke(
        app,
        ["queue", "approve", view["review"]["id"], "-w", ws, "--as", "ANYONE", "--json"],
    )
    assert out.exit_code == 2
    assert "not an approver" in json.loads(out.output)["error"]["message"]
    listed = json.loads(runner.invoke(app, ["queue", "list", "-w", ws, "--json"]).output)
    assert view["review"]["id"] in {v["review"]["id"] for v in listed}


def _approval_record(ws: str, review_id: str) -> dict:
    from core.workspace import load_workspace

    w = load_workspace(Path(ws))
    with Session(engine_for(w.database_url)) as s:
        rows = s.exec(select(DecisionRecord).where(DecisionRecord.action == "review_approve")).all()
    return next(b for b in map(load_body, rows) if b["review_id"] == review_id)


def test_approver_is_recorded_verified_and_outcome_printed(reviewed) -> None:  # noqa: ANN001
    """An approver's `--as` is recorded as verified, and the command prints what happened."""
    ws, view = reviewed
    rid = view["review"]["id"]
    out = runner.invoke(
        app, ["queue", "approve", rid, "-w", ws, "--as", "U0ALICE", "--now", "2026-11-24T07:10:00Z"]
    )
    assert out.exit_code == 0, out.output
    assert "nothing sent yet: deferred until" in out.output and "send_window" in out.output
    body = _approval_record(ws, rid)
    assert body["actor"] == "U0ALICE" and body["actor_verified"] is True


def test_without_as_the_local_user_is_recorded_unverified(reviewed) -> None:  # noqa: ANN001
    """Without `--as` the decision is recorded as local:<login> and marked unverified."""
    ws, _ = reviewed
    views = json.loads(runner.invoke(app, ["queue", "list", "-w", ws, "--json"]).output)
    rid = views[0]["review"]["id"]
    out = runner.invoke(app, ["queue", "reject", rid, "-w", ws, "--reason", "no", "--json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    assert result["actor"].startswith("local:") and result["actor_verified"] is False
    assert result["outcome"]["status"] == "rejected"
    body_rows = _records(ws, "review_reject")
    assert body_rows[-1]["actor_verified"] is False


def _records(ws: str, action: str) -> list[dict]:
    from core.workspace import load_workspace

    w = load_workspace(Path(ws))
    with Session(engine_for(w.database_url)) as s:
        rows = s.exec(select(DecisionRecord).where(DecisionRecord.action == action)).all()
    return [load_body(r) for r in rows]


def test_replay_of_an_unknown_run_says_check_the_id(reviewed) -> None:  # noqa: ANN001
    """`replay --run bogus` is a not-found error whose next step is about the run id, not
    about fixing an input file."""
    ws, _ = reviewed
    out = runner.invoke(app, ["replay", "-w", ws, "--run", "bogus", "--json"])
    assert out.exit_code == 2
    err = json.loads(out.output)["error"]
    assert err["error_class"] == "not_found"
    assert "run id" in err["next_step"] and "input file" not in err["next_step"]


@pytest.mark.parametrize(
    "args, expected",
    [(["--action", "fly"], "research"), (["--action", "draft", "--step", "nope"], "email_intro")],
)
def test_policy_explain_refuses_unknown_actions_and_steps(reviewed, args: list[str], expected: str) -> None:  # noqa: ANN001
    """`policy explain --action fly` (or an unknown step) is refused, naming the valid choices."""
    ws, _ = reviewed
    out = runner.invoke(
        app,
        [
            "policy",
            "explain",
            "-w",
            ws,
            "--prospect",
            "dana.whitfield@northwindfreight.example",
            *args,
            "--json",
        ],
    )
    assert out.exit_code == 2
    err = json.loads(out.output)["error"]
    assert expected in err["message"] and expected in err["next_step"]
