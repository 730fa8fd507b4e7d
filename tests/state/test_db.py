"""Engines across fork and read transactions that do not take SQLite's write lock."""

from __future__ import annotations

import multiprocessing
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session

from state.db import engine_for, session_scope
from tests.conftest import PG_URL


def _child_query(url: str, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    try:
        engine = engine_for(url)
        with Session(engine) as s:
            for _ in range(50):
                s.exec(text("SELECT 1")).one()  # type: ignore[call-overload]
        out.put("ok")
    except Exception as exc:  # noqa: BLE001  (reported to the parent)
        out.put(repr(exc))


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="needs TEST_DATABASE_URL")
def test_forked_worker_never_uses_the_parents_pooled_connection() -> None:
    """A forked worker opens its own PostgreSQL connections, so the parent's stay usable.

    The parent holds one connection across the fork (other tests share this engine's pool,
    so a fresh checkout could be any pooled connection); if the child closed or used the
    inherited socket, this held connection would break or answer from another backend."""
    engine = engine_for(PG_URL)
    with engine.connect() as held:
        parent_pid = held.execute(text("SELECT pg_backend_pid()")).scalar_one()
        held.rollback()
        ctx = multiprocessing.get_context("fork")
        out = ctx.Queue()
        child = ctx.Process(target=_child_query, args=(PG_URL, out))
        child.start()
        child.join(60)
        assert out.get(timeout=5) == "ok"
        for _ in range(50):
            assert held.execute(text("SELECT 1")).scalar_one() == 1
        assert held.execute(text("SELECT pg_backend_pid()")).scalar_one() == parent_pid


def _child_pid(url: str, out: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    engine = engine_for(url)
    with Session(engine) as s:
        out.put(s.exec(text("SELECT pg_backend_pid()")).one()[0])  # type: ignore[call-overload]


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason="needs TEST_DATABASE_URL")
def test_forked_worker_gets_a_new_backend() -> None:
    """The child's PostgreSQL backend is not the parent's pooled one."""
    engine = engine_for(PG_URL)
    with Session(engine) as s:
        parent_pid = s.exec(text("SELECT pg_backend_pid()")).one()[0]  # type: ignore[call-overload]
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=_child_pid, args=(PG_URL, out))
    child.start()
    child.join(60)
    assert out.get(timeout=5) != parent_pid


def test_read_session_does_not_hold_the_sqlite_write_lock(tmp_path: Path) -> None:
    """While a plain (read) session is open, another connection can still write."""
    url = f"sqlite:///{tmp_path / 'x.db'}"
    engine = engine_for(url)
    with session_scope(engine) as s:
        s.exec(text("CREATE TABLE t (x INTEGER)"))  # type: ignore[call-overload]
    with Session(engine) as reader:
        reader.exec(text("SELECT count(*) FROM t")).one()  # type: ignore[call-overload]
        other = sqlite3.connect(tmp_path / "x.db", timeout=0.1, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO t VALUES (1)")
        other.execute("COMMIT")
        assert other.execute("SELECT count(*) FROM t").fetchone() == (1,)
        other.close()


def test_write_session_takes_the_write_lock_at_begin(tmp_path: Path) -> None:
    """A write session holds SQLite's write lock from its first statement (read-then-write is safe)."""
    url = f"sqlite:///{tmp_path / 'y.db'}"
    engine = engine_for(url)
    with session_scope(engine) as s:
        s.exec(text("CREATE TABLE t (x INTEGER)"))  # type: ignore[call-overload]
    with session_scope(engine) as writer:
        writer.exec(text("SELECT count(*) FROM t")).one()  # type: ignore[call-overload]
        other = sqlite3.connect(tmp_path / "y.db", timeout=0.1, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.close()
