"""Anchors: a signed head kept outside the database makes tampering by someone who can
write to the database (and update chain_heads) detectable by `audit verify --anchor`."""

from __future__ import annotations

import json
import os
import stat
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text
from typer.testing import CliRunner

from agents.audit import (
    _ensure_public_key,
    append_anchor,
    make_anchor,
    public_key_path,
    verify_with_anchors,
)
from core.errors import ChainBroken
from state import decision_log as dl
from state.db import engine_for, session_scope
from tests.conftest import BACKENDS, PG_URL

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def _bodies(n: int, start: int = 0, *, action: str = "send") -> list[dict]:
    return [
        {
            "at": datetime(2026, 11, 23, 15, 0, i, tzinfo=UTC),
            "run_id": "r1",
            "prospect_id": f"p{i}",
            "node": "act",
            "action": action,
            "observation": {"n": i},
        }
        for i in range(start, start + n)
    ]


@pytest.fixture(params=BACKENDS)
def anchored(request: pytest.FixtureRequest, tmp_path: Path):  # noqa: ANN201
    """A nine-record chain anchored at its head, with the anchor file and public key."""
    url = PG_URL if request.param == "postgres" else f"sqlite:///{tmp_path}/log.db"
    engine = engine_for(url)
    ws = f"w{uuid.uuid4().hex[:8]}"
    with session_scope(engine) as s:
        dl.append(s, ws, _bodies(9))
    key = Ed25519PrivateKey.generate()
    anchors = tmp_path / "anchors" / "anchors.jsonl"
    _ensure_public_key(public_key_path(anchors), key.public_key())
    append_anchor(anchors, make_anchor(engine, ws, key, now=NOW))
    return engine, ws, anchors, key


def _exec(engine, sql: str, **params) -> None:  # noqa: ANN001, ANN003
    with engine.begin() as conn:
        conn.execute(text(sql), params)


def _set_head_to(engine, ws: str, seq: int) -> None:  # noqa: ANN001
    """What an attacker does after removing records: point chain_heads at the new end."""
    rec = dl.record_at(engine, ws, seq) if seq else None
    _exec(
        engine,
        "UPDATE chain_heads SET seq = :s, hash = :h WHERE workspace = :w",
        s=seq,
        h=rec.hash if rec else dl.GENESIS,
        w=ws,
    )


def test_an_untouched_chain_matches_its_anchor(anchored) -> None:  # noqa: ANN001
    """The anchored chain verifies, and a later honest append is reported as not anchored yet."""
    engine, ws, anchors, _ = anchored
    result = verify_with_anchors(engine, ws, anchors)
    assert result["ok"] and result["anchors"] == 1 and result["newest_anchor"]["seq"] == 9
    with session_scope(engine) as s:
        dl.append(s, ws, _bodies(1, 9))
    later = verify_with_anchors(engine, ws, anchors)
    assert later["ok"] and later["unanchored_records"] == 1


def test_tail_deleted_with_head_updated_is_detected(anchored) -> None:  # noqa: ANN001
    """Deleting the last three records and rewinding chain_heads passes the plain check but
    not the anchor check, which names the anchored seq."""
    engine, ws, anchors, _ = anchored
    _exec(engine, "DELETE FROM decisions WHERE workspace = :w AND seq > 6", w=ws)
    _set_head_to(engine, ws, 6)
    assert dl.verify(engine, ws).ok  # the database alone cannot tell
    result = verify_with_anchors(engine, ws, anchors)
    assert not result["ok"] and result["first_broken_seq"] == 9
    assert "records were removed" in result["problem"]


def test_forged_record_appended_with_head_updated_is_detected(anchored) -> None:  # noqa: ANN001
    """Replacing the anchored last record by a forged one (correctly chained, head updated)
    passes the plain check but not the anchor check."""
    engine, ws, anchors, _ = anchored
    _exec(engine, "DELETE FROM decisions WHERE workspace = :w AND seq = 9", w=ws)
    _set_head_to(engine, ws, 8)
    with session_scope(engine) as s:
        dl.append(s, ws, _bodies(2, 8, action="stop"))
    assert dl.verify(engine, ws).ok
    result = verify_with_anchors(engine, ws, anchors)
    assert not result["ok"] and result["first_broken_seq"] == 9
    assert "rewritten or its tail replaced" in result["problem"]


def test_whole_chain_rewritten_with_head_updated_is_detected(anchored) -> None:  # noqa: ANN001
    """Rewriting every record (one edited) and recomputing every hash and the head passes
    the plain check but not the anchor check."""
    engine, ws, anchors, _ = anchored
    bodies = [dl.load_body(r) for r in dl.iter_records(engine, ws)]
    _exec(engine, "DELETE FROM decisions WHERE workspace = :w", w=ws)
    _exec(engine, "DELETE FROM chain_heads WHERE workspace = :w", w=ws)
    for b in bodies:
        for field in ("hash", "prev_hash", "seq", "workspace"):
            b.pop(field)
    bodies[0]["action"] = "stop"
    with session_scope(engine) as s:
        dl.append(s, ws, bodies)
    assert dl.verify(engine, ws).ok and dl.verify(engine, ws).records == 9
    result = verify_with_anchors(engine, ws, anchors)
    assert not result["ok"] and "rewritten" in result["problem"]


def test_an_altered_anchor_or_another_key_is_refused(anchored, tmp_path: Path) -> None:  # noqa: ANN001
    """An anchor line edited to match a tampered chain fails its signature; anchors signed
    by a key other than the public key's fail too."""
    engine, ws, anchors, _ = anchored
    line = json.loads(anchors.read_text(encoding="utf-8"))
    _exec(engine, "DELETE FROM decisions WHERE workspace = :w AND seq > 6", w=ws)
    _set_head_to(engine, ws, 6)
    line.update(seq=6, hash=dl.head(engine, ws)[1])
    anchors.write_text(json.dumps(line) + "\n", encoding="utf-8")
    result = verify_with_anchors(engine, ws, anchors)
    assert not result["ok"] and "signature does not verify" in result["problem"]

    other = tmp_path / "other.pem"
    _ensure_public_key(other, Ed25519PrivateKey.generate().public_key())
    assert not verify_with_anchors(engine, ws, anchors, public_key_file=other)["ok"]


def test_a_broken_chain_is_never_anchored(anchored) -> None:  # noqa: ANN001
    """Anchoring refuses a chain that already fails verification."""
    engine, ws, _, key = anchored
    _exec(engine, "DELETE FROM decisions WHERE workspace = :w AND seq = 4", w=ws)
    with pytest.raises(ChainBroken):
        make_anchor(engine, ws, key, now=NOW)


def test_the_cli_keygen_anchor_and_verify(ready_ws, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """`audit keygen` writes a 0600 key outside the database, `audit anchor` appends a signed
    line, and `audit verify --anchor` exits 0, then 1 after the tail is cut and the head rewound."""
    from run import app

    monkeypatch.setenv("OUTBOUND_KEY_DIR", str(tmp_path / "keys"))
    demo_ws = ready_ws
    runner, ws = CliRunner(), str(demo_ws.root)
    now = ["--now", "2026-11-23T15:00:00Z"]
    assert runner.invoke(app, ["daily", "-w", ws, *now, "--json"]).exit_code == 0
    made = json.loads(runner.invoke(app, ["audit", "keygen", "-w", ws, "--json"]).stdout)
    assert stat.S_IMODE(os.stat(made["key_file"]).st_mode) == 0o600
    again = runner.invoke(app, ["audit", "keygen", "-w", ws])
    assert again.exit_code == 2 and "never overwritten" in again.stderr
    elsewhere = runner.invoke(app, ["audit", "keygen", "-w", ws, "--key-file", str(tmp_path / "k2.pem")])
    assert elsewhere.exit_code == 2 and "would no longer verify" in elsewhere.stderr
    assert not (tmp_path / "k2.pem").exists()

    anchored = runner.invoke(app, ["audit", "anchor", "-w", ws, *now, "--json"])
    assert anchored.exit_code == 0, anchored.output
    line = json.loads(anchored.stdout)
    anchors = demo_ws.root / "anchors" / "anchors.jsonl"
    assert Path(line["file"]) == anchors and line["seq"] > 3
    ok = runner.invoke(app, ["audit", "verify", "-w", ws, "--anchor", str(anchors)])
    assert ok.exit_code == 0 and "matches 1 anchor" in ok.stdout

    engine = engine_for(demo_ws.database_url)
    _exec(engine, "DELETE FROM decisions WHERE workspace = :w AND seq > :s", w=demo_ws.id, s=line["seq"] - 2)
    _set_head_to(engine, demo_ws.id, line["seq"] - 2)
    assert runner.invoke(app, ["audit", "verify", "-w", ws]).exit_code == 0
    caught = runner.invoke(app, ["audit", "verify", "-w", ws, "--anchor", str(anchors), "--json"])
    assert caught.exit_code == 1 and "records were removed" in json.loads(caught.stdout)["problem"]


def test_anchor_is_posted_to_slack(demo_ws, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """With a Slack client the anchor line is also posted to the workspace channel, and the
    posted copy verifies like the file."""
    from slack_sdk import WebClient

    from agents.audit import generate_key, read_anchors, signature_ok, write_anchor
    from agents.audit import load_public_key as load_pub
    from tests.fakes.slack_api import FakeSlackApi

    monkeypatch.setenv("OUTBOUND_KEY_DIR", str(tmp_path / "keys"))
    toml = demo_ws.root / "workspace.toml"
    toml.write_text(toml.read_text(encoding="utf-8") + '\n[slack]\nchannel = "#reviews"\n', encoding="utf-8")
    from core.workspace import load_workspace

    ws = load_workspace(demo_ws.root)
    generate_key(ws)
    engine = engine_for(ws.database_url)
    with session_scope(engine) as s:
        dl.append(s, ws.id, _bodies(2))
    with FakeSlackApi() as fake:
        client = WebClient(token=fake.token, base_url=fake.base_url)
        result = write_anchor(ws, engine, now=NOW, slack_client=client)
        (call,) = fake.calls_to("chat.postMessage")
    posted = call.body["text"].split("```")[1]
    (number, on_file), *_ = read_anchors(Path(result["file"]))
    assert json.loads(posted) == on_file and result["slack"]["channel"] == "C0REVIEWS"
    assert signature_ok(json.loads(posted), load_pub(public_key_path(Path(result["file"]))))
