"""Checkpointers: SqliteSaver in the workspace folder by default, PostgresSaver when the
workspace's state lives in PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
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
