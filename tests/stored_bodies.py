"""Test helpers that tamper with a stored decision body the way someone editing the database
would: its canonical text is changed and stored back in the row's own format (plain text, or
DEFLATE with the same codec and dictionary), so only the content differs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from state import decision_log as dl
from state import storage_codec


def stored_text(conn: Any, workspace: str, seq: int) -> str:
    """The canonical body text of the record at `seq`, as stored."""
    body, packed, codec = conn.execute(
        text("SELECT body, packed, codec FROM decisions WHERE workspace = :w AND seq = :s"),
        {"w": workspace, "s": seq},
    ).one()
    return dl._body_text(conn, workspace, body, packed, codec or "")


def edit_body(conn: Any, workspace: str, seq: int, old: str, new: str) -> None:
    """Replace `old` by `new` in the stored body of the record at `seq` (it must occur)."""
    codec = conn.execute(
        text("SELECT codec FROM decisions WHERE workspace = :w AND seq = :s"), {"w": workspace, "s": seq}
    ).scalar_one()
    before = stored_text(conn, workspace, seq)
    assert old in before, (old, before[:200])
    after = before.replace(old, new)
    if not codec:
        sql, params = "UPDATE decisions SET body = :b", {"b": after}
    else:
        dictionary = dl._body_dict(conn, workspace, codec[3:]) if codec.startswith("zd:") else None
        sql, params = "UPDATE decisions SET packed = :b", {"b": storage_codec.pack(after, dictionary)}
    n = conn.execute(text(sql + " WHERE workspace = :w AND seq = :s"), {**params, "w": workspace, "s": seq})
    assert n.rowcount == 1
