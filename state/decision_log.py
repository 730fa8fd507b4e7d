"""The append-only, hash-chained decision log.

Per workspace: ``hash = sha256(prev_hash + canonical_json(body))`` where body holds every
field of the record except the hash itself. Appends lock the workspace's chain head
(SELECT ... FOR UPDATE on PostgreSQL, BEGIN IMMEDIATE on SQLite) so concurrent writers
extend one unbroken chain. `verify` recomputes the chain and names the first broken record.

Observations are stored once by digest (table `observations`, see `state.models_storage`):
a body keeps `observation_digest`, which the chain covers, and drops the observation itself;
`load_bodies` puts it back, checking the stored text still has that digest. Records written
before this kept the observation inline and load unchanged.

Storage format (see `state.storage_codec` and docs/storage.md): bodies are appended in a
compact form (`"fmt": 2`: allowed verdicts as rule ids), and their canonical text is stored
compressed (storage format 3: `packed` + `codec`, DEFLATE with the workspace's body
dictionary from `decision_dicts`); observations are stored compressed with a per-workspace
preset dictionary too. The chain hashes the canonical text, so `verify` inflates and
re-hashes. Nothing outside this module reads the `body`/`packed` columns: readers use
`load_body`/`load_bodies`/`stream_bodies`/`select_bodies`, which give the long form back.
Reading paths that must be fast (`verify`, `iter_rows`, replay) use Core selects in chunks
and parse each body once.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import event, exists, func, insert, inspect, update
from sqlalchemy import select as core_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.orm import object_session
from sqlmodel import Session, col, select

from core.canonical import canonical_json, sha256_hex
from core.errors import ChainBroken
from core.timeutil import iso, parse_instant, to_utc
from state import storage_codec as codec
from state.models import ChainHead, DecisionDict, DecisionRecord
from state.models_storage import ObservationBody, ObservationDict

GENESIS = "0" * 64
# Columns copied out of the body for queries; verify checks they still match it.
INDEXED = ("id", "seq", "at", "run_id", "prospect_id", "node", "action", "outcome")


def _cache_key(conn: Any, workspace: str) -> tuple[str, str]:
    """Key of the per-process dictionary caches: (database URL, workspace)."""
    return (str(conn.engine.url), workspace)


def chain_hash(prev_hash: str, body_json: str) -> str:
    return sha256_hex(prev_hash + body_json)


def append(session: Session, workspace: str, bodies: Iterable[Mapping[str, Any]]) -> list[dict]:
    """Append records (dicts with at, run_id, prospect_id, node, action, ...) to the
    workspace chain inside the caller's transaction. Returns the stored bodies.

    Uses Core statements: one locked read of the head (which also checks the cached
    observation dictionary is still stored), one insert of the observations, one multi-row
    insert of the records, one head update. This is on every step batch's path."""
    heads = ChainHead.__table__  # type: ignore[attr-defined]
    conn = session.connection()
    ck = _cache_key(conn, workspace)
    cached = _CURRENT.get(ck)
    columns: list[Any] = [heads.c.seq, heads.c.hash]
    if cached is not None:  # the cached dictionary is still there (a restore could drop it)
        dicts = ObservationDict.__table__  # type: ignore[attr-defined]
        columns.append(exists().where(dicts.c.workspace == workspace, dicts.c.id == cached))
    body_cached = _BODY_CURRENT.get(ck)
    if body_cached is not None and body_cached[0] is not None:  # ... and the cached body dictionary
        columns.append(exists().where(_DD.c.workspace == workspace, _DD.c.id == body_cached[0]))
    row = conn.execute(core_select(*columns).where(heads.c.workspace == workspace).with_for_update()).first()
    if cached is not None and (row is None or not row[2]):
        _CURRENT.pop(ck, None)
    if body_cached is not None and body_cached[0] is not None and (row is None or not row[-1]):
        _BODY_CURRENT.pop(ck, None)
    if row is None:
        # The first record of a workspace: two transactions can both find no head (a row
        # lock locks nothing that is not there). Insert-if-absent waits for the other's
        # insert to commit, then the locked read sees the one head both share.
        _insert_ignore(conn, heads, [{"workspace": workspace, "seq": 0, "hash": GENESIS}])
        row = conn.execute(
            core_select(heads.c.seq, heads.c.hash).where(heads.c.workspace == workspace).with_for_update()
        ).one()
    seq, prev = row[0], row[1]
    pack_body = _body_packer(conn, workspace, seq, ck)
    stored: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    observations: dict[str, tuple[str, Any]] = {}
    last_obs: Any = None
    last_digest = ""
    for raw in bodies:
        seq += 1
        body = codec.compact_body(dict(raw))
        obs = body.pop("observation") if body.get("observation") else None
        if obs:
            # A step batch's records share one observation: serialised and hashed once.
            if obs is not last_obs:
                obs_text = canonical_json(obs)
                last_obs, last_digest = obs, sha256_hex(obs_text)
                observations.setdefault(last_digest, (obs_text, body["at"]))
            body["observation_digest"] = last_digest
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
                **pack_body(text, body),
                "prev_hash": prev,
                "hash": digest,
            }
        )
        prev = digest
        long = codec.expand_body({**body, **({"observation": obs} if obs else {}), "hash": digest})
        stored.append(long)
    if observations:
        _store_observations(conn, workspace, observations)
    if rows:
        conn.execute(insert(DecisionRecord.__table__), rows)  # type: ignore[attr-defined]
        conn.execute(update(heads).where(heads.c.workspace == workspace).values(seq=seq, hash=prev))
    return stored


_DICTS: dict[tuple[str, str], bytes] = {}  # (workspace, dictionary id) -> bytes; ids name content
_SINCE_CHECK: dict[tuple[str, str], int] = {}  # observations packed without a dictionary per process
DICT_RECHECK = 20
# (database, workspace) -> the dictionary id appends pack with, once read back in a later
# transaction than the one that made it (so it is committed). Any stored dictionary packs
# correctly (an observation names its own), so no statement re-reads it per append.
_CURRENT: dict[tuple[str, str], str] = {}
_MADE: dict[tuple[str, str], tuple[str, Any]] = {}  # made here: (id, its transaction) until confirmed


def _dict_id(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


_INSERT_IGNORE: dict[tuple[str, str], Any] = {}


def _insert_ignore(conn: Any, table: Any, values: list[dict[str, Any]]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING of `values` as one executemany of one statement
    built once per table and dialect (SQLAlchemy caches its compiled form)."""
    dialect = conn.dialect.name
    key = (dialect, table.name)
    stmt = _INSERT_IGNORE.get(key)
    if stmt is None:
        if dialect == "postgresql":
            stmt = postgresql.insert(table).on_conflict_do_nothing()
        elif dialect == "sqlite":
            stmt = sqlite.insert(table).on_conflict_do_nothing()
        else:  # pragma: no cover - only SQLite and PostgreSQL are supported
            raise RuntimeError(f"unsupported database {dialect}")
        _INSERT_IGNORE[key] = stmt
    conn.execute(stmt, values)


def _current_dictionary(conn: Any, workspace: str, at: datetime) -> tuple[str, bytes] | None:
    """The workspace's preset dictionary, made from its stored observations once there are
    enough of them. Dictionaries are named by a digest of their bytes and never change, so
    the id and bytes are cached per process once known (no statement); until then the id is
    read in the caller's transaction, and a new one is made at most every `DICT_RECHECK`
    observations (plain DEFLATE meanwhile)."""
    ck = _cache_key(conn, workspace)
    did = _CURRENT.get(ck)
    if did is not None:
        return did, _DICTS[(workspace, did)]
    dicts = ObservationDict.__table__  # type: ignore[attr-defined]
    row = conn.execute(
        core_select(dicts.c.id)
        .where(dicts.c.workspace == workspace)
        .order_by(dicts.c.created_at.desc(), dicts.c.id)
        .limit(1)
    ).first()
    if row is not None:
        key = (workspace, row[0])
        if key not in _DICTS:
            _DICTS[key] = _fetch_dictionary(conn, workspace, row[0])
        made = _MADE.get(ck)
        if made is None or made[0] != row[0] or made[1] is not conn.get_transaction():
            _CURRENT[ck] = row[0]  # committed: read by a later transaction (or made elsewhere)
            _MADE.pop(ck, None)
        return row[0], _DICTS[key]
    pending = _SINCE_CHECK.get(ck)
    if pending is not None and pending < DICT_RECHECK:
        return None
    _SINCE_CHECK[ck] = 0
    table = ObservationBody.__table__  # type: ignore[attr-defined]
    count = conn.execute(
        core_select(func.count()).select_from(table).where(table.c.workspace == workspace)
    ).scalar()
    if (count or 0) < codec.DICT_SAMPLE:
        return None
    sample = conn.execute(
        core_select(table.c.digest, table.c.body, table.c.packed, table.c.codec)
        .where(table.c.workspace == workspace)
        .order_by(table.c.first_at.desc(), table.c.digest)
        .limit(codec.DICT_SAMPLE)
    ).all()
    texts = _texts(conn, workspace, sample)
    data = codec.build_dictionary(orjson.loads(texts[d]) for d, *_ in reversed(sample))
    did = _dict_id(data)
    _insert_ignore(conn, dicts, [{"workspace": workspace, "id": did, "data": data, "created_at": to_utc(at)}])
    _DICTS[(workspace, did)] = data
    # Not current until read back by a later transaction: this one may still roll back.
    _MADE[ck] = (did, conn.get_transaction())
    return did, data


def _fetch_dictionary(conn: Any, workspace: str, did: str) -> bytes:
    dicts = ObservationDict.__table__  # type: ignore[attr-defined]
    row = conn.execute(
        core_select(dicts.c.data).where(dicts.c.workspace == workspace, dicts.c.id == did)
    ).first()
    if row is None:
        raise codec.CodecError(f"observation dictionary {did} of workspace {workspace} is missing")
    data = bytes(row[0])
    if _dict_id(data) != did:
        raise codec.CodecError(f"observation dictionary {did} of workspace {workspace} was edited")
    return data


def _store_observations(conn: Any, workspace: str, observations: Mapping[str, tuple[str, Any]]) -> None:
    """One insert of the observations not stored yet (a digest already there is skipped,
    also when another worker stores it at the same moment), compressed with the
    workspace's dictionary (plain DEFLATE until it has one)."""
    table = ObservationBody.__table__  # type: ignore[attr-defined]
    first = to_utc(parse_instant(iso_at(next(iter(observations.values()))[1])))
    current = _current_dictionary(conn, workspace, first)
    if current is None:
        ck = _cache_key(conn, workspace)
        _SINCE_CHECK[ck] = _SINCE_CHECK.get(ck, 0) + len(observations)
    name = f"zd:{current[0]}" if current else "z"
    values = [
        {
            "workspace": workspace,
            "digest": d,
            "body": None,
            "packed": codec.pack(text, current[1] if current else None),
            "codec": name,
            "first_at": to_utc(parse_instant(iso_at(at))),
        }
        for d, (text, at) in observations.items()
    ]
    _insert_ignore(conn, table, values)


def _texts(conn: Any, workspace: str, rows: Iterable[Any]) -> dict[str, str]:
    """digest -> canonical text for stored observation rows (digest, body, packed, codec)."""
    out: dict[str, str] = {}
    for d, body, packed, name in rows:
        if not name:
            out[d] = body
            continue
        if name == "z":
            out[d] = codec.unpack(bytes(packed), None)
        elif name.startswith("zd:"):
            did = name[3:]
            key = (workspace, did)
            if key not in _DICTS:
                _DICTS[key] = _fetch_dictionary(conn, workspace, did)
            out[d] = codec.unpack(bytes(packed), _DICTS[key])
        else:
            raise codec.CodecError(f"unknown observation codec {name!r} (observation {d})")
    return out


def iso_at(at: Any) -> str:
    return (iso(at) or "") if isinstance(at, datetime) else str(at)


# ----------------------------------------------------------------- decision bodies on disk

_BODY_DICTS: dict[tuple[str, str], bytes] = {}  # (workspace, body dictionary id) -> bytes, checked
_DD = DecisionDict.__table__  # type: ignore[attr-defined]
# (database, workspace) -> (id, built_at_seq) of the newest body dictionary read back from
# the database; `append` checks it is still stored in its locked head read.
_BODY_CURRENT: dict[tuple[str, str], tuple[str | None, int]] = {}
_DEC = DecisionRecord.__table__  # type: ignore[attr-defined]


def outcome_of(body: Mapping[str, Any]) -> str:
    """The `outcome` query column of a body: its "outcome" when that is a string."""
    value = body.get("outcome")
    return value if isinstance(value, str) else ""


def _body_packer(
    conn: Any, workspace: str, seq: int, ck: tuple[str, str]
) -> Callable[[str, Mapping[str, Any]], dict[str, Any]]:
    """For `append`: the storage columns of a body's canonical text (storage format 3),
    packed with the workspace's current body dictionary (looked up, or built when the chain
    reaches a length in BODY_DICT_AT, on the first body of the batch)."""
    current: list[tuple[str, bytes] | None] = []

    def pack(text: str, body: Mapping[str, Any]) -> dict[str, Any]:
        if not current:
            current.append(_body_dictionary(conn, workspace, seq, body["at"], ck))
        found = current[0]
        return {
            "outcome": outcome_of(body),
            "body": None,
            "packed": codec.pack(text, found[1] if found else None),
            "codec": f"zd:{found[0]}" if found else "z",
        }

    return pack


def _body_dictionary(
    conn: Any, workspace: str, seq: int, at: Any, ck: tuple[str, str]
) -> tuple[str, bytes] | None:
    """The workspace's newest body dictionary; a new one is made from its newest stored bodies
    when the chain (of `seq` records, locked by the caller) has reached a length in
    BODY_DICT_AT that no dictionary was built at yet."""
    due = max((n for n in codec.BODY_DICT_AT if seq >= n), default=0)
    hit = _BODY_CURRENT.get(ck)
    if hit is not None and hit[1] >= due:  # nothing new to build at this length: no statement
        return None if hit[0] is None else (hit[0], _body_dict(conn, workspace, hit[0]))
    known = conn.execute(
        core_select(_DD.c.id, _DD.c.built_at_seq)
        .where(_DD.c.workspace == workspace)
        .order_by(_DD.c.built_at_seq.desc(), _DD.c.id)
    ).all()
    if due and (not known or known[0][1] < due):
        rows = conn.execute(
            core_select(_DEC.c.body, _DEC.c.packed, _DEC.c.codec)
            .where(_DEC.c.workspace == workspace, _DEC.c.seq <= seq)
            .order_by(_DEC.c.seq.desc())
            .limit(codec.BODY_DICT_SAMPLE)
        ).all()
        sample = [orjson.loads(_body_text(conn, workspace, *r)) for r in reversed(rows)]
        data = codec.build_body_dictionary(sample)
        did = _dict_id(data)
        if any(k == did for k, _ in known):  # the same bytes again: mark it built at this length
            conn.execute(
                update(_DD).where(_DD.c.workspace == workspace, _DD.c.id == did).values(built_at_seq=seq)
            )
        else:
            _insert_ignore(
                conn,
                _DD,
                [
                    {
                        "workspace": workspace,
                        "id": did,
                        "data": data,
                        "built_at_seq": seq,
                        "created_at": to_utc(parse_instant(iso_at(at))),
                    }
                ],
            )
        _BODY_DICTS[(workspace, did)] = data
        return did, data
    if not known:  # none yet and none due: packed without one until the chain reaches BODY_DICT_AT
        _BODY_CURRENT[ck] = (None, 0)
        return None
    # Read back, so committed (one made in this transaction is never cached: a rollback
    # would leave the cache naming a dictionary that is not stored).
    _BODY_CURRENT[ck] = (known[0][0], int(known[0][1]))
    return known[0][0], _body_dict(conn, workspace, known[0][0])


def _fetch_body_dict(conn: Any, workspace: str, did: str) -> bytes:
    """A body dictionary read from the database, its bytes checked against its id."""
    row = conn.execute(core_select(_DD.c.data).where(_DD.c.workspace == workspace, _DD.c.id == did)).first()
    if row is None:
        raise codec.CodecError(f"body dictionary {did} of workspace {workspace} is missing")
    data = bytes(row[0])
    if _dict_id(data) != did:
        raise codec.CodecError(f"body dictionary {did} of workspace {workspace} was edited")
    return data


def _body_dict(conn: Any, workspace: str, did: str) -> bytes:
    key = (workspace, did)
    if key not in _BODY_DICTS:
        _BODY_DICTS[key] = _fetch_body_dict(conn, workspace, did)
    return _BODY_DICTS[key]


def decode_text(text: str | None, packed: bytes | None, name: str, dictionary: Callable[[str], bytes]) -> str:
    """The canonical text of a stored body from its columns; `dictionary(id)` gives a body
    dictionary's bytes. Raises CodecError when it cannot be read back."""
    if not name:
        if text is None:
            raise codec.CodecError("the record has neither a plain nor a packed body")
        return text
    if packed is None:
        raise codec.CodecError(f"the record's codec is {name!r} but it has no packed body")
    if name == "z":
        return codec.unpack(bytes(packed), None)
    if name.startswith("zd:"):
        return codec.unpack(bytes(packed), dictionary(name[3:]))
    raise codec.CodecError(f"unknown body codec {name!r}")


def _body_text(conn: Any, workspace: str, text: str | None, packed: bytes | None, name: str) -> str:
    return decode_text(text, packed, name, lambda did: _body_dict(conn, workspace, did))


def _rec_text(rec: DecisionRecord, session: Session | None) -> str:
    """A record's canonical body text; its dictionary from the process cache, or read with
    the given session or the one the record was loaded in."""
    name = rec.codec or ""
    if name.startswith("zd:") and (rec.workspace, name[3:]) not in _BODY_DICTS:
        owner = session or object_session(rec)
        if owner is not None:
            _body_dict(owner.connection(), rec.workspace, name[3:])
        else:  # detached: read it with the engine the record was loaded from
            bind = inspect(rec).info.get("bind")
            if bind is None:
                raise codec.CodecError(f"decision {rec.id}: its body dictionary is not loaded")
            with bind.connect() as conn:
                _body_dict(conn, rec.workspace, name[3:])
    return decode_text(rec.body, rec.packed, name, lambda did: _BODY_DICTS[(rec.workspace, did)])


@event.listens_for(DecisionRecord, "load")
def _remember_bind(rec: DecisionRecord, context: Any) -> None:
    """A record loaded by the ORM remembers its engine, so `load_body` can read its body
    dictionary after its session is closed."""
    if (rec.codec or "").startswith("zd:") and context.session is not None:
        inspect(rec).info["bind"] = context.session.get_bind()


def _warm(conn: Any, recs: Iterable[DecisionRecord]) -> None:
    """Load the body dictionaries the records name, so they decode once detached."""
    for r in recs:
        if (r.codec or "").startswith("zd:"):
            _body_dict(conn, r.workspace, r.codec[3:])


class BodyUnreadable(ChainBroken):
    """A stored decision body cannot be read back (its compressed bytes, codec or dictionary
    were altered). `audit verify` names the record."""

    next_step = "A decision body was altered after it was recorded; run `run.py audit verify` to find it."


def _loaded(text: str, digest: str) -> dict[str, Any]:
    body = codec.expand_body(orjson.loads(text))
    body["hash"] = digest
    return body


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
    """Records in seq order, streamed in batches (constant memory on big logs). Their body
    dictionaries are loaded on the way, so `load_body(rec)` works on them once detached."""
    last = 0
    while True:
        with Session(engine) as session:
            rows = session.exec(
                select(DecisionRecord)
                .where(DecisionRecord.workspace == workspace, DecisionRecord.seq > last)
                .order_by(col(DecisionRecord.seq))
                .limit(batch)
            ).all()
            _warm(session.connection(), rows)
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


_VERIFY_COLUMNS = (
    _DEC.c.seq,
    _DEC.c.id,
    _DEC.c.at,
    _DEC.c.run_id,
    _DEC.c.prospect_id,
    _DEC.c.node,
    _DEC.c.action,
    _DEC.c.body,
    _DEC.c.prev_hash,
    _DEC.c.hash,
    _DEC.c.outcome,
    _DEC.c.packed,
    _DEC.c.codec,
)


def iter_rows(engine: Engine, workspace: str, *, batch: int = 5000) -> Iterator[Any]:
    """Rows (seq, id, at, run_id, prospect_id, node, action, body, prev_hash, hash, outcome,
    packed, codec) in seq order, with Core selects in keyset-paged chunks: no ORM object per
    record. `body` is None for a packed row: see `decode_text`."""
    last = 0
    while True:
        with engine.connect() as conn:
            rows = conn.execute(
                core_select(*_VERIFY_COLUMNS)
                .where(_DEC.c.workspace == workspace, _DEC.c.seq > last)
                .order_by(_DEC.c.seq)
                .limit(batch)
            ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1][0]


def verify(engine: Engine, workspace: str) -> VerifyResult:
    """Recompute the chain: each record's canonical body text (inflated from its packed bytes
    with its codec and dictionary, which are read afresh and checked against their ids) must
    hash to its hash, link to the previous one and agree with its query columns."""
    prev, expected_seq, count = GENESIS, 1, 0
    dictionaries: dict[str, bytes | str] = {}  # id -> bytes, or why it cannot be used

    def dictionary(did: str) -> bytes:
        if did not in dictionaries:
            try:
                with engine.connect() as conn:
                    dictionaries[did] = _fetch_body_dict(conn, workspace, did)
            except codec.CodecError as exc:
                dictionaries[did] = str(exc)
        found = dictionaries[did]
        if isinstance(found, str):
            raise codec.CodecError(found)
        return found

    for row in iter_rows(engine, workspace):
        count += 1
        try:
            text = decode_text(row[7], row[11], row[12], dictionary)
        except codec.CodecError as exc:
            problem = f"the stored body cannot be read back ({exc}): the record was edited"
        else:
            problem = _check_row((*row[:7], text, *row[8:11]), prev, expected_seq)
        if problem:
            return VerifyResult(False, count, _head_seq(engine, workspace), row[0], row[1], problem)
        prev, expected_seq = row[9], row[0] + 1
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
    try:
        text = _rec_text(rec, None)
    except codec.CodecError as exc:
        return f"the stored body cannot be read back ({exc}): the record was edited"
    return _check_row(
        (
            rec.seq,
            rec.id,
            rec.at,
            rec.run_id,
            rec.prospect_id,
            rec.node,
            rec.action,
            text,
            rec.prev_hash,
            rec.hash,
            rec.outcome,
        ),
        prev,
        expected_seq,
    )


def _at_text(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return (
        value.strftime("%Y-%m-%dT%H:%M:%S") + (f".{value.microsecond:06d}" if value.microsecond else "") + "Z"
    )


def _check_row(row: Any, prev: str, expected_seq: int) -> str:
    """Problems of one record: (seq, id, at, run_id, prospect_id, node, action, canonical
    body text, prev_hash, hash, outcome)."""
    seq, rid, at, run_id, prospect_id, node, action, text, prev_hash, digest, outcome = row
    if seq != expected_seq:
        return f"expected seq {expected_seq}, found seq {seq}: a record is missing"
    if prev_hash != prev:
        return "prev_hash does not match the previous record: records were removed or reordered"
    if hashlib.sha256((prev + text).encode("utf-8")).hexdigest() != digest:
        return "hash does not match the record's content: the record was edited"
    body = orjson.loads(text)
    if body.get("prev_hash") != prev or body.get("seq") != seq:
        return "the record's body disagrees with its position in the chain"
    for name, value in (
        ("id", rid),
        ("seq", seq),
        ("at", _at_text(at)),
        ("run_id", run_id),
        ("prospect_id", prospect_id),
        ("node", node),
        ("action", action),
    ):
        if body.get(name, "") != value:
            return f"column {name!r} was changed outside the hashed body"
    if outcome_of(body) != outcome:
        return "column 'outcome' was changed outside the hashed body"
    return ""


def record_at(engine: Engine, workspace: str, seq: int) -> DecisionRecord | None:
    """The record at ``seq`` in the workspace's chain, or None."""
    with Session(engine) as session:
        rec = session.exec(
            select(DecisionRecord).where(DecisionRecord.workspace == workspace, DecisionRecord.seq == seq)
        ).first()
        if rec is not None:
            _warm(session.connection(), [rec])
        return rec


def head(engine: Engine, workspace: str) -> tuple[int, str]:
    """The chain head (seq, hash) as the database states it; (0, GENESIS) when empty."""
    with Session(engine) as session:
        row = session.get(ChainHead, workspace)
    return (row.seq, row.hash) if row is not None else (0, GENESIS)


def load_body(rec: DecisionRecord, session: Session | None = None) -> dict[str, Any]:
    """The record's body (long form) with its hash; with a session, also its observation
    (by digest). Raises BodyUnreadable when its stored bytes cannot be read back."""
    if session is None:
        try:
            return _loaded(_rec_text(rec, None), rec.hash)
        except codec.CodecError as exc:
            raise BodyUnreadable(f"decision {rec.id} (seq {rec.seq}): {exc}") from None
    return load_bodies(session, [rec])[0]


class ObservationMismatch(ChainBroken):
    """A stored observation no longer has the digest its decisions name (it was edited, or
    its compressed bytes or dictionary cannot be read back). A classified error: the CLI
    prints it with a next step instead of a traceback."""

    next_step = (
        "An observation was altered after it was recorded; restore the observations table from "
        "backup and investigate (`run.py audit verify` checks the decisions themselves)."
    )


def observations_by_digest(conn: Any, workspace: str, digests: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Stored observations by digest, parsed, in queries of 500 digests. Each stored text is
    re-hashed: one that no longer has its digest raises ObservationMismatch."""
    table = ObservationBody.__table__  # type: ignore[attr-defined]
    ordered = sorted(set(digests))
    found: dict[str, dict[str, Any]] = {}
    for i in range(0, len(ordered), 500):
        part = ordered[i : i + 500]
        rows = conn.execute(
            core_select(table.c.digest, table.c.body, table.c.packed, table.c.codec).where(
                table.c.workspace == workspace, table.c.digest.in_(part)
            )
        ).all()
        try:
            texts = _texts(conn, workspace, rows)
        except codec.CodecError as exc:
            raise ObservationMismatch(
                f"an observation in workspace {workspace} cannot be read: {exc}"
            ) from None
        for d, text in texts.items():
            if hashlib.sha256(text.encode("utf-8")).hexdigest() != d:
                raise ObservationMismatch(
                    f"observation {d} in workspace {workspace} was edited: its digest differs"
                )
            found[d] = orjson.loads(text)
    return found


def attach_observations(conn: Any, bodies: list[dict[str, Any]], workspace_of: Any) -> None:
    """Put each body's observation back (by digest); a pruned one comes back as None with
    `observation_pruned`. `workspace_of(body)` names the workspace a body belongs to."""
    wanted: dict[str, set[str]] = {}
    for b in bodies:
        if "observation" not in b and b.get("observation_digest"):
            wanted.setdefault(workspace_of(b), set()).add(b["observation_digest"])
    found = {ws: observations_by_digest(conn, ws, ds) for ws, ds in wanted.items()}
    for b in bodies:
        if "observation" not in b and b.get("observation_digest"):
            obs = found[workspace_of(b)].get(b["observation_digest"])
            b["observation"] = obs
            if obs is None:
                b["observation_pruned"] = True


def load_bodies(session: Session, recs: Iterable[DecisionRecord]) -> list[dict[str, Any]]:
    """Bodies (long form) of many records with their observations, loaded by digest in a few
    queries. An observation removed by retention comes back as None with
    `observation_pruned`; one whose text no longer has its digest raises ObservationMismatch."""
    recs = list(recs)
    conn = session.connection()
    bodies = []
    for r in recs:
        try:
            bodies.append(_loaded(_body_text(conn, r.workspace, r.body, r.packed, r.codec or ""), r.hash))
        except codec.CodecError as exc:
            raise BodyUnreadable(f"decision {r.id} (seq {r.seq}): {exc}") from None
    owners = {id(b): r.workspace for b, r in zip(bodies, recs, strict=True)}
    attach_observations(conn, bodies, lambda b: owners[id(b)])
    return bodies


def select_bodies(conn: Any, workspace: str, *where: Any) -> list[dict[str, Any]]:
    """Bodies (long form, with hash, without observations) of the workspace's records that
    match Core conditions on the query columns of `decisions` (see INDEXED), in seq order.
    For readers that filter on columns and read a few fields of each body."""
    rows = conn.execute(
        core_select(_DEC.c.id, _DEC.c.seq, _DEC.c.body, _DEC.c.packed, _DEC.c.codec, _DEC.c.hash)
        .where(_DEC.c.workspace == workspace, *where)
        .order_by(_DEC.c.seq)
    ).all()
    out = []
    for rid, seq, text, packed, name, digest in rows:
        try:
            out.append(_loaded(_body_text(conn, workspace, text, packed, name or ""), digest))
        except codec.CodecError as exc:
            raise BodyUnreadable(f"decision {rid} (seq {seq}): {exc}") from None
    return out


def stream_bodies(
    engine: Engine,
    workspace: str,
    *,
    run_id: str | None = None,
    prospect_id: str | None = None,
    batch: int = 2000,
) -> Iterator[dict[str, Any]]:
    """Bodies (long form, with hash and observation) of one run and/or prospect in seq
    order, read with Core selects in keyset-paged chunks; observations are loaded once per
    chunk by digest (checked against it) and shared between the decisions that name them."""
    cond = [_DEC.c.workspace == workspace]
    if run_id:
        cond.append(_DEC.c.run_id == run_id)
    if prospect_id:
        cond.append(_DEC.c.prospect_id == prospect_id)
    last = 0
    while True:
        with engine.connect() as conn:
            rows = conn.execute(
                core_select(_DEC.c.seq, _DEC.c.id, _DEC.c.body, _DEC.c.packed, _DEC.c.codec, _DEC.c.hash)
                .where(*cond, _DEC.c.seq > last)
                .order_by(_DEC.c.seq)
                .limit(batch)
            ).all()
            if not rows:
                return
            bodies = []
            for seq, rid, text, packed, name, digest in rows:
                try:
                    bodies.append(_loaded(_body_text(conn, workspace, text, packed, name or ""), digest))
                except codec.CodecError as exc:
                    raise BodyUnreadable(f"decision {rid} (seq {seq}): {exc}") from None
            attach_observations(conn, bodies, lambda _b: workspace)
        yield from bodies
        last = rows[-1][0]


def prune_observations(session: Session, workspace: str, *, before: datetime) -> int:
    """Retention: delete observations first referenced before `before` and referenced by no
    decision at or after it. The chain keeps their digests, so `verify` is unaffected;
    replay reports those decisions as `observation_pruned`. Returns how many were deleted."""
    table = ObservationBody.__table__  # type: ignore[attr-defined]
    dec = DecisionRecord.__table__  # type: ignore[attr-defined]
    cutoff = to_utc(before)
    conn = session.connection()
    recent = {
        orjson.loads(_body_text(conn, workspace, text, packed, name or "")).get("observation_digest")
        for (text, packed, name) in conn.execute(
            core_select(dec.c.body, dec.c.packed, dec.c.codec).where(
                dec.c.workspace == workspace, dec.c.at >= cutoff
            )
        )
    }
    old = [
        d
        for (d,) in session.connection().execute(
            core_select(table.c.digest).where(table.c.workspace == workspace, table.c.first_at < cutoff)
        )
        if d not in recent
    ]
    for i in range(0, len(old), 500):
        session.connection().execute(
            table.delete().where(table.c.workspace == workspace, table.c.digest.in_(old[i : i + 500]))
        )
    return len(old)
