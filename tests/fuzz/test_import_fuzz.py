"""Fuzzed CSV and JSONL files through the importer: no traceback, no partial commit, and
every data row accounted for (accepted + rejected + skipped == rows in the file)."""

from __future__ import annotations

import csv
import io
import itertools
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, func, select

from core.errors import InputError
from state.db import engine_for
from state.models import Prospect
from tests.conftest import BACKENDS, PG_URL
from tests.fuzz.strategies import json_values, tables
from tools.importer import import_prospects

pytestmark = pytest.mark.slow  # hypothesis runs dozens of imports/requests per test
NOW = datetime(2026, 11, 23, 15, tzinfo=UTC)
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_ids = itertools.count()
RUN = uuid.uuid4().hex[:6]  # fresh workspace ids on a shared PostgreSQL database


def encode(text: str, encoding: str) -> bytes:
    if encoding == "cp1252":
        try:
            return text.encode("cp1252")
        except UnicodeEncodeError:
            return text.encode("utf-8")
    return text.encode(encoding)


def stored(engine, ws: str) -> int:  # noqa: ANN001
    with Session(engine) as s:
        return s.exec(select(func.count()).select_from(Prospect).where(Prospect.workspace == ws)).one()


@pytest.fixture(scope="module", params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """SQLite, and PostgreSQL when configured (it refuses NUL characters SQLite takes)."""
    if request.param == "postgres":
        return engine_for(PG_URL)
    return engine_for(f"sqlite:///{tmp_path_factory.mktemp('fuzz')}/fuzz.db")


@FUZZ
@given(
    table=tables(),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]),
)
def test_fuzzed_csv_files_are_accounted_for(
    engine, tmp_path: Path, table, delimiter: str, encoding: str
) -> None:
    """Any table in any delimiter and encoding imports without a traceback: each data row
    is accepted or rejected with its line and a reason, and what was stored matches."""
    headers, rows = table
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter)
    writer.writerow(headers)
    writer.writerows(rows)
    n = next(_ids)
    path = tmp_path / f"fuzz{n}.csv"
    path.write_bytes(encode(buf.getvalue(), encoding))
    ws = f"fz{RUN}_{n}"
    try:
        result = import_prospects(engine, ws, path, rejects_dir=tmp_path / "rejects", now=NOW)
    except InputError as exc:  # a file-level refusal is allowed, a partial commit is not
        assert str(exc)
        assert stored(engine, ws) == 0
        return
    assert result.rows == len(rows)
    assert result.accepted + result.rejected == len(rows)
    assert stored(engine, ws) == result.imported
    for r in result.rejects:
        assert r["line"] >= 2 and r["reason"]


@FUZZ
@given(
    records=st.lists(
        st.one_of(
            json_values,
            st.dictionaries(
                st.sampled_from(
                    ["email", "Location", "Full Name", "Company Domain", "LinkedIn", "Time Zone", "x"]
                ),
                json_values,
                max_size=5,
            ),
        ),
        max_size=8,
    )
)
def test_fuzzed_jsonl_files_are_accounted_for(engine, tmp_path: Path, records) -> None:
    """JSONL lines of any JSON value are accepted or rejected one by one, never a traceback."""
    import json

    n = next(_ids)
    path = tmp_path / f"fuzz{n}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records) or "\n", encoding="utf-8")
    ws = f"fj{RUN}_{n}"
    try:
        result = import_prospects(engine, ws, path, rejects_dir=tmp_path / "rejects", now=NOW)
    except InputError:
        assert stored(engine, ws) == 0
        return
    assert result.accepted + result.rejected == len(records)
    assert stored(engine, ws) == result.imported
