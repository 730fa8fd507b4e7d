"""The client report: figures consistent with the database, a self-contained HTML file,
and the `report` and `web` commands."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sqlmodel import Session, select
from typer.testing import CliRunner

from core.workspace import Workspace, load_workspace
from run import app
from state.db import engine_for
from state.models import LookupCache, OutboxMessage

runner = CliRunner()


def test_report_json_matches_the_database(ws: Workspace) -> None:
    """Sends by channel, the funnel and spend by provider add up to the outbox and the lookup cache."""
    r = runner.invoke(
        app, ["report", "-w", str(ws.root), "--from", "2026-11-01", "--to", "2026-11-30", "--json"]
    )
    assert r.exit_code == 0, r.output
    fig = json.loads(r.output)
    with Session(engine_for(ws.database_url)) as s:
        sent = s.exec(select(OutboxMessage).where(OutboxMessage.status == "sent")).all()
        usd = sum(c.usd for c in s.exec(select(LookupCache)).all())
    by_channel: dict[str, int] = {}
    for m in sent:
        by_channel[m.channel] = by_channel.get(m.channel, 0) + 1
    assert fig["sends_by_channel"] == dict(sorted(by_channel.items()))
    assert sum(row["sent"] for row in fig["funnel"]) == len(sent)
    assert abs(fig["spend"]["total_usd"] - usd) < 1e-6
    assert fig["reviews_waiting"] == 7
    assert fig["deferred"] or fig["denied"]
    from collections import Counter

    from state.decision_log import iter_records, load_body

    expected: Counter[str] = Counter()
    for rec in iter_records(engine_for(ws.database_url), ws.id):
        b = load_body(rec)
        if b["node"] == "guard" and b.get("outcome") == "defer":
            expected.update(v["rule"] for v in b["verdicts"] if v["outcome"] == "defer")
    assert fig["deferred"] == dict(expected)
    assert fig["html"] is None


def test_report_html_is_self_contained(ws: Workspace, tmp_path: Path) -> None:
    """--html writes one file with SVG charts and no script, external style, font or image."""
    out = tmp_path / "r" / "report.html"
    r = runner.invoke(
        app, ["report", "-w", str(ws.root), "--from", "2026-11-01", "--to", "2026-11-30", "--html", str(out)]
    )
    assert r.exit_code == 0, r.output
    html = out.read_text(encoding="utf-8")
    assert html.count("<svg") >= 6
    assert "<script" not in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "@import" not in html and "url(" not in html
    assert "Funnel" in html and "Top openings" in html


def test_report_rejects_a_bad_date(ws: Workspace) -> None:
    """A malformed --from is a clear error naming the option, not a traceback."""
    r = runner.invoke(app, ["report", "-w", str(ws.root), "--from", "November", "--json"])
    assert r.exit_code == 2
    assert "--from" in r.output and "Traceback" not in r.output


def test_web_user_add_stores_only_a_hash(ws: Workspace) -> None:
    """`web user add` appends the user with an argon2 hash that verifies, never the password itself."""
    from service.web.auth import verify_password

    r = runner.invoke(
        app,
        [
            "web",
            "user",
            "add",
            "carol",
            "--role",
            "approver",
            "-w",
            str(ws.root),
            "--password-stdin",
            "--json",
        ],
        input="carol-secret-pass\n",
    )
    assert r.exit_code == 0, r.output
    text = (ws.root / "workspace.toml").read_text(encoding="utf-8")
    assert "carol-secret-pass" not in text
    user = next(u for u in load_workspace(ws.root).config.web.users if u.name == "carol")
    assert user.role == "approver" and verify_password("carol-secret-pass", user.password_hash)
    again = runner.invoke(
        app, ["web", "user", "add", "carol", "-w", str(ws.root), "--password-stdin"], input="another-pass\n"
    )
    assert again.exit_code == 2


def test_plain_password_in_config_is_refused(ws: Workspace) -> None:
    """A password_hash that is not an argon2 hash makes the workspace fail to load, naming the key."""
    from core.errors import ConfigError

    toml = ws.root / "workspace.toml"
    toml.write_text(
        toml.read_text(encoding="utf-8") + '\n[[web.users]]\nname = "bob"\npassword_hash = "hunter2"\n',
        encoding="utf-8",
    )
    try:
        load_workspace(ws.root)
    except ConfigError as exc:
        assert "web.users" in (exc.key or "")
    else:
        raise AssertionError("a plain password was accepted")


def test_new_commands_answer_help() -> None:
    """`report`, `web hash-password` and `web user add` answer --help with every option described."""
    for cmd in (["report"], ["web", "hash-password"], ["web", "user", "add"]):
        r = runner.invoke(app, [*cmd, "--help"])
        assert r.exit_code == 0, r.output
        assert "--json" in r.output


def test_positive_reply_is_credited_to_the_last_send_and_its_variant(ws: Workspace) -> None:
    """An interested reply after an intro email counts as a positive reply of that step, its template and its arm."""
    from agents.experiments import arm_stats
    from agents.report import compute_figures
    from state.db import session_scope
    from state.models import EngagementEventRow
    from tests.conftest import at

    with Session(engine_for(ws.database_url)) as s:
        m = s.exec(
            select(OutboxMessage).where(
                OutboxMessage.step_id == "email_intro", OutboxMessage.status == "sent"
            )
        ).first()
    with session_scope(engine_for(ws.database_url)) as s:
        s.add(
            EngagementEventRow(
                workspace=ws.id,
                dedupe_key="t-interested",
                prospect_id=m.prospect_id,
                type="replied",
                channel="email",
                occurred_at=at("2026-11-24T10:00:00Z"),
                text="Sounds good, let's talk",
                raw={"reply_kind": "interested"},
            )
        )
    fig = compute_figures(ws, start=at("2026-11-01T00:00:00Z"), end=at("2026-12-01T00:00:00Z"))
    intro = next(r for r in fig["funnel"] if r["step"] == "email_intro")
    assert intro["replied"] == 1 and intro["positive"] == 1
    assert fig["positive"] == 1 and fig["positive_reply_rate"] == round(1 / fig["contacted"], 4)
    assert fig["top_openings"][0]["template"] == "email_intro" and fig["top_openings"][0]["positive"] == 1
    with Session(engine_for(ws.database_url)) as s:
        stats = arm_stats(
            s,
            workspace=ws.id,
            step_id="email_intro",
            variants=["email_intro"],
            before=at("2026-12-01T00:00:00Z"),
        )
        early = arm_stats(
            s,
            workspace=ws.id,
            step_id="email_intro",
            variants=["email_intro"],
            before=at("2026-11-24T09:00:00Z"),
        )
    assert stats["email_intro"][1] == 1 and stats["email_intro"][0] == intro["sent"]
    assert early["email_intro"][1] == 0
