"""The append-only, hash-chained decision log.

Per workspace: ``hash = sha256(prev_hash + canonical_json(body))`` where body holds every
field of the record except the hash itself. Appends lock the workspace's chain head
(SELECT ... FOR UPDATE on PostgreSQL, BEGIN IMMEDIATE on SQLite) so concurrent writers
extend one unbroken chain. `verify` recomputes the chain and names the first broken record.

Observations are stored once by digest (table `observations`, see `state.models_storage`):
a body keeps `observation_digest`, which the chain covers, and drops the observation itself;
`load_bodies` puts it back, checking the stored text still has that digest. Records written
before this kept the observation inline and load unchanged.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from core.canonical import canonical_json, sha256_hex
from core.timeutil import iso, parse_instant, to_utc
from state.models import ChainHead, DecisionRecord
from state.models_storage import ObservationBody

GENESIS = "0" * 64
# Columns copied out of the body for queries; verify checks they still match it.
INDEXED = ("id", "seq", "at", "run_id", "prospect_id", "node", "action")


def chain_hash(prev_hash: str, body_json: str) -> str:
    return sha256_hex(prev_hash + body_json)


def append(session: Session, workspace: str, bodies: Iterable[Mapping[str, Any]]) -> list[dict]:
    """Append records (dicts with at, run_id, prospect_id, node, action, ...) to the
    workspace chain inside the caller's transaction. Returns the stored bodies.

    Uses Core statements (one locked read of the head, one multi-row insert, one head
    update): this is on every decision's path."""
    heads = ChainHead.__table__  # type: ignore[attr-defined]
    conn = session.connection()
    row = conn.execute(
        select(heads.c.seq, heads.c.hash).where(heads.c.workspace == workspace).with_for_update()
    ).first()
    if row is None:
        conn.execute(insert(heads).values(workspace=workspace, seq=0, hash=GENESIS))
        seq, prev = 0, GENESIS
    else:
        seq, prev = row
    stored: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    observations: dict[str, tuple[str, Any]] = {}
    for raw in bodies:
        seq += 1
        body = dict(raw)
        obs = body.pop("observation") if body.get("observation") else None
        if obs:
            obs_text = canonical_json(obs)
            body["observation_digest"] = sha256_hex(obs_text)
            observations.setdefault(body["observation_digest"], (obs_text, body["at"]))
        body.update(
            id=body.get("id") or f"dec_{uuid.uuid4().hex[:20]}", seq=seq, workspace=workspace, prev_hash=prev
        )
        body["at"] = iso(body["at"]) if isinstance(body["at"], datetime) else body["at"]
        text = canonical_json(body)
        digest = chain_hash(prev, text)
        rows.append(
            {
                "id": body["id"],
                "workspace": workspace,
                "seq": seq,
                "at": to_utc(parse_instant(body["at"])),
                "run_id": body.get("run_id", ""),
                "prospect_id": body.get("prospect_id", ""),
                "node": body.get("node", ""),
                "action": body.get("action", ""),
                "body": text,
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
        stored.append({**body, **({"observation": obs} if obs else {}), "hash": digest})
    if observations:
        _store_observations(conn, workspace, observations)
    if rows:
        conn.execute(insert(DecisionRecord.__table__), rows)  # type: ignore[attr-defined]
        conn.execute(update(heads).where(heads.c.workspace == workspace).values(seq=seq, hash=prev))
    return stored


def _store_observations(conn: Any, workspace: str, observations: Mapping[str, tuple[str, Any]]) -> None:
    """One insert of the observations not stored yet (a digest already there is skipped,
    also when another worker stores it at the same moment)."""
    table = ObservationBody.__table__  # type: ignore[attr-defined]
    values = [
        {"workspace": workspace, "digest": d, "body": text, "first_at": to_utc(parse_instant(iso_at(at)))}
        for d, (text, at) in observations.items()
    ]
    dialect = conn.dialect.name
    stmt: Any
    if dialect == "postgresql":
        stmt = postgresql.insert(table).values(values).on_conflict_do_nothing()
    elif dialect == "sqlite":
        stmt = sqlite.insert(table).values(values).on_conflict_do_nothing()
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise RuntimeError(f"unsupported database {dialect}")
    conn.execute(stmt)


def iso_at(at: Any) -> str:
    return (iso(at) or "") if isinstance(at, datetime) else str(at)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    records: int
    head_seq: int
    first_broken_seq: int | None = None
    first_broken_id: str | None = None
    problem: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "records": self.records,
            "head_seq": self.head_seq,
            "first_broken_seq": self.first_broken_seq,
            "first_broken_id": self.first_broken_id,
            "problem": self.problem,
        }


def iter_records(engine: Engine, workspace: str, *, batch: int = 2000) -> Iterator[DecisionRecord]:
    """Records in seq order, streamed in batches (constant memory on big logs)."""
    last = 0
    while True:
        with Session(engine) as session:
            rows = session.exec(
                select(DecisionRecord)
                .where(DecisionRecord.workspace == workspace, DecisionRecord.seq > last)
                .order_by(col(DecisionRecord.seq))
                .limit(batch)
            ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def verify(engine: Engine, workspace: str) -> VerifyResult:
    prev, expected_seq, count = GENESIS, 1, 0
    for rec in iter_records(engine, workspace):
        count += 1
        problem = _check(rec, prev, expected_seq)
        if problem:
            return VerifyResult(False, count, _head_seq(engine, workspace), rec.seq, rec.id, problem)
        prev, expected_seq = rec.hash, rec.seq + 1
    with Session(engine) as session:
        head = session.get(ChainHead, workspace)
    head_seq = head.seq if head else 0
    if head is not None and (head.seq != expected_seq - 1 or head.hash != prev):
        return VerifyResult(
            False,
            count,
            head_seq,
            expected_seq - 1 if count else None,
            None,
            f"the chain ends at seq {expected_seq - 1} but the head says "
            f"seq {head.seq}: records were removed from the end",
        )
    return VerifyResult(True, count, head_seq)


def _head_seq(engine: Engine, workspace: str) -> int:
    with Session(engine) as session:
        head = session.get(ChainHead, workspace)
    return head.seq if head else 0


def _check(rec: DecisionRecord, prev: str, expected_seq: int) -> str:
    if rec.seq != expected_seq:
        return f"expected seq {expected_seq}, found seq {rec.seq}: a record is missing"
    if rec.prev_hash != prev:
        return "prev_hash does not match the previous record: records were removed or reordered"
    if chain_hash(prev, rec.body) != rec.hash:
        return "hash does not match the record's content: the record was edited"
    body = json.loads(rec.body)
    if body.get("prev_hash") != prev or body.get("seq") != rec.seq:
        return "the record's body disagrees with its position in the chain"
    for name in INDEXED:
        stored = getattr(rec, name)
        value = iso(to_utc(stored)) if name == "at" else stored
        if body.get(name, "") != value:
            return f"column {name!r} was changed outside the hashed body"
    return ""


def record_at(engine: Engine, workspace: str, seq: int) -> DecisionRecord | None:
    """The record at ``seq`` in the workspace's chain, or None."""
    with Session(engine) as session:
        return session.exec(
            select(DecisionRecord).where(DecisionRecord.workspace == workspace, DecisionRecord.seq == seq)
        ).first()


def head(engine: Engine, workspace: str) -> tuple[int, str]:
    """The chain head (seq, hash) as the database states it; (0, GENESIS) when empty."""
    with Session(engine) as session:
        row = session.get(ChainHead, workspace)
    return (row.seq, row.hash) if row is not None else (0, GENESIS)


def load_body(rec: DecisionRecord, session: Session | None = None) -> dict[str, Any]:
    """The record's body with its hash; with a session, also its observation (by digest)."""
    if session is None:
        return {**json.loads(rec.body), "hash": rec.hash}
    return load_bodies(session, [rec])[0]


class ObservationMismatch(Exception):
    """A stored observation no longer has the digest its decisions name (it was edited)."""


def load_bodies(session: Session, recs: Iterable[DecisionRecord]) -> list[dict[str, Any]]:
    """Bodies of many records with their observations, loaded by digest in a few queries.
    An observation removed by retention comes back as None with `observation_pruned`;
    one whose text no longer has its digest raises ObservationMismatch."""
    bodies = [{**json.loads(r.body), "hash": r.hash, "_ws": r.workspace} for r in recs]
    wanted: dict[str, set[str]] = {}
    for b in bodies:
        if "observation" not in b and b.get("observation_digest"):
            wanted.setdefault(b["_ws"], set()).add(b["observation_digest"])
    found: dict[tuple[str, str], dict[str, Any]] = {}
    table = ObservationBody.__table__  # type: ignore[attr-defined]
    for ws, digests in wanted.items():
        ordered = sorted(digests)
        for i in range(0, len(ordered), 500):
            part = ordered[i : i + 500]
            rows = session.connection().execute(
                select(table.c.digest, table.c.body).where(table.c.workspace == ws, table.c.digest.in_(part))
            )
            for d, text in rows:
                if sha256_hex(text) != d:
                    raise ObservationMismatch(
                        f"observation {d} in workspace {ws} was edited: its digest differs"
                    )
                found[(ws, d)] = json.loads(text)
    for b in bodies:
        ws = b.pop("_ws")
        if "observation" not in b and b.get("observation_digest"):
            obs = found.get((ws, b["observation_digest"]))
            b["observation"] = obs
            if obs is None:
                b["observation_pruned"] = True
    return bodies


def prune_observations(session: Session, workspace: str, *, before: datetime) -> int:
    """Retention: delete observations first referenced before `before` and referenced by no
    decision at or after it. The chain keeps their digests, so `verify` is unaffected;
    replay reports those decisions as `observation_pruned`. Returns how many were deleted."""
    table = ObservationBody.__table__  # type: ignore[attr-defined]
    dec = DecisionRecord.__table__  # type: ignore[attr-defined]
    cutoff = to_utc(before)
    recent = {
        json.loads(text).get("observation_digest")
        for (text,) in session.connection().execute(
            select(dec.c.body).where(dec.c.workspace == workspace, dec.c.at >= cutoff)
        )
    }
    old = [
        d
        for (d,) in session.connection().execute(
            select(table.c.digest).where(table.c.workspace == workspace, table.c.first_at < cutoff)
        )
        if d not in recent
    ]
    for i in range(0, len(old), 500):
        session.connection().execute(
            table.delete().where(table.c.workspace == workspace, table.c.digest.in_(old[i : i + 500]))
        )
    return len(old)
