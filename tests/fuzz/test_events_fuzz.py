"""Fuzzed event files through `events ingest` (read + store): no traceback, every line and
batched item accounted for, and a second ingest stores nothing twice."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.events_service import ingest
from core.workspace import load_workspace
from tests.conftest import at
from tests.fuzz.strategies import deep, generic_events, json_values, provider_bodies
from tools.events import MAX_BATCH, read_events_file

pytestmark = pytest.mark.slow  # hypothesis runs dozens of imports/requests per test
NOW = at("2026-11-25T20:00:00Z")
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_ids = itertools.count()


def line_strategy() -> st.SearchStrategy[tuple[str, int]]:
    """(JSONL line, how many records it carries: 0 blank, else items of a batch or 1)."""
    generic = generic_events().map(lambda e: (json.dumps(e), 1))
    providers = st.sampled_from(["instantly", "smartlead", "heyreach", "sendoso"]).flatmap(
        lambda p: provider_bodies(p).map(lambda b: (json.dumps({"provider": p, "payload": b}), _items(b)))
    )
    junk = st.one_of(
        json_values.map(lambda v: (json.dumps(v), 1)),
        st.sampled_from([deep(2000), "{not json", "\xff", "[1,2", '"\\u0000"']).map(lambda t: (t, 1)),
        st.just(("   ", 0)),
    )
    return st.one_of(generic, providers, junk)


def _items(body: Any) -> int:
    batch = body.get("events") if isinstance(body, dict) else None
    if isinstance(batch, list) and batch and len(batch) <= MAX_BATCH:
        return len(batch)
    return 1


@pytest.fixture(scope="module")
def ws_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from agents.services import init_workspace
    from tests.conftest import copy_demo

    root = copy_demo(tmp_path_factory.mktemp("evfuzz") / "demo")
    init_workspace(load_workspace(root), now=at("2026-11-23T14:00:00Z"))
    return root


@FUZZ
@given(lines=st.lists(line_strategy(), max_size=10))
def test_fuzzed_event_files_are_accounted_for(ws_root: Path, tmp_path: Path, lines) -> None:
    """Each record is an event or a reject naming its line (and index); every event is
    stored, a duplicate, or a reject with a reason; a redelivery stores nothing."""
    n = next(_ids)
    root = tmp_path / f"ws{n}"
    shutil.copytree(ws_root, root)
    ws = load_workspace(root)
    path = tmp_path / f"events{n}.jsonl"
    path.write_text("\n".join(text for text, _ in lines) + "\n", encoding="utf-8")
    events, rejects = read_events_file(path)
    records = sum(count for _, count in lines)
    assert len(events) + len(rejects) == records
    assert all(r["line"] >= 1 and r["reason"] for r in rejects)
    first = ingest(ws, events, now=NOW)
    assert first["stored"] + first["duplicates"] + len(first["failed"]) == len(events)
    assert all(f["reason"] for f in first["failed"])
    again = ingest(ws, events, now=NOW)
    assert again["stored"] == 0
