"""The workspace database: reachable, and its schema at the newest migration. Read-only:
doctor never creates or migrates anything (every other command migrates on first use)."""

from __future__ import annotations

from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import SQLAlchemyError

from state.db import MIGRATIONS_DIR, make_engine
from tools.doctor.findings import Finding, fail, ok, warn

AREA = "database"


def head_revisions() -> set[str]:
    return set(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads())


def check_database(url: str, *, init_hint: str) -> list[Finding]:
    kind = "sqlite" if url.startswith("sqlite") else "postgresql"
    if kind == "sqlite":
        path = Path(url.split("///", 1)[-1])
        if not path.exists():
            return [
                ok(
                    AREA,
                    "database",
                    f"SQLite database not created yet ({path}); the first import or init creates and migrates it",
                )
            ]
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            current = set(MigrationContext.configure(conn).get_current_heads())
    except SQLAlchemyError as exc:
        return [
            fail(
                AREA,
                "database",
                f"{kind} database unreachable ({type(exc).__name__})",
                "Check database_url / OUTBOUND_DATABASE_URL, that the server runs and the user may connect.",
            )
        ]
    finally:
        engine.dispose()
    heads = head_revisions()
    found = [ok(AREA, "database", f"{kind} database reachable")]
    if current == heads:
        found.append(ok(AREA, "migrations", f"schema at the newest migration ({', '.join(sorted(heads))})"))
    elif not current:
        found.append(
            warn(AREA, "migrations", "the database has no schema yet", f"Run {init_hint} to create it.")
        )
    else:
        found.append(
            warn(
                AREA,
                "migrations",
                f"schema at {', '.join(sorted(current))}, newest is {', '.join(sorted(heads))}",
                f"Run {init_hint} to migrate (back up a production database first).",
            )
        )
    return found
