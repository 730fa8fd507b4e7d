"""Checkpointers: SqliteSaver in the workspace folder by default, PostgresSaver when the
workspace's state lives in PostgreSQL.

`prune_finished` keeps only the latest checkpoint of each finished prospect-run thread
(the one a later run or replay loads); the daily run calls it for every prospect that did
not end waiting for review, so finished runs add no checkpoint growth."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from langgraph.checkpoint.base import BaseCheckpointSaver

from core.workspace import Workspace


@contextmanager
def open_checkpointer(ws: Workspace) -> Iterator[BaseCheckpointSaver]:
    url = ws.database_url
    if url.startswith("postgresql"):
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg import Connection
        from psycopg.rows import dict_row

        dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
        with Connection.connect(dsn, autocommit=True, prepare_threshold=0, row_factory=dict_row) as pg_conn:
            pg_saver = PostgresSaver(pg_conn)
            pg_saver.setup()
            yield pg_saver
        return
    from langgraph.checkpoint.sqlite import SqliteSaver

    ws.var_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(ws.checkpoint_path), check_same_thread=False, timeout=60)
    if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        conn.execute("PRAGMA journal_mode=WAL")  # once per file; workers find it set
    conn.execute("PRAGMA synchronous=NORMAL")
    try:
        saver = SqliteSaver(conn)
        saver.setup()
        yield saver
    finally:
        conn.close()


def thread_id(workspace: str, prospect_id: str, campaign: str = "default") -> str:
    return f"{workspace}:{prospect_id}:{campaign}"


# SqliteSaver has no prune: delete every checkpoint but the latest of each (thread,
# namespace), and the pending writes of the deleted ones. Checkpoint ids are time-ordered
# (uuid6), which is also how SqliteSaver picks the latest one.
_SQLITE_KEEP_LATEST = (
    """DELETE FROM checkpoints WHERE thread_id = ? AND checkpoint_id < (
        SELECT MAX(c2.checkpoint_id) FROM checkpoints c2
        WHERE c2.thread_id = checkpoints.thread_id AND c2.checkpoint_ns = checkpoints.checkpoint_ns)""",
    """DELETE FROM writes WHERE thread_id = ? AND NOT EXISTS (
        SELECT 1 FROM checkpoints c WHERE c.thread_id = writes.thread_id
        AND c.checkpoint_ns = writes.checkpoint_ns AND c.checkpoint_id = writes.checkpoint_id)""",
)


def prune_finished(saver: BaseCheckpointSaver, thread_ids: Iterable[str]) -> int:
    """Keep only the latest checkpoint of each thread. Call it only for threads whose run
    finished (never for one waiting for review: its latest checkpoint is kept anyway, but it
    is left alone entirely). Returns how many threads were pruned."""
    ids = sorted(set(thread_ids))
    if not ids:
        return 0
    prune = getattr(saver, "prune", None)
    conn = getattr(saver, "conn", None)
    if isinstance(conn, sqlite3.Connection):
        with saver.lock, conn:  # type: ignore[attr-defined]
            for stmt in _SQLITE_KEEP_LATEST:
                conn.executemany(stmt, [(t,) for t in ids])
        return len(ids)
    if callable(prune):
        prune(ids, strategy="keep_latest")
        return len(ids)
    return 0  # a saver that cannot prune (in-memory): nothing to keep small
