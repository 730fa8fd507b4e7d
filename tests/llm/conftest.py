"""Fixtures for the Claude path: the local fake Messages API, the real SDK pointed at it,
and demo workspaces whose providers are set to Claude."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests.conftest import copy_demo
from tests.fakes.anthropic_api import FakeAnthropic

KEY = "test-key-not-secret"


@pytest.fixture
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(min_cache_tokens=50) as f:
        yield f


@pytest.fixture
def sdk(fake: FakeAnthropic) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fake.base_url, api_key=KEY, max_retries=0)


def claude_toml(text: str, base_url: str, providers: str = 'drafting = "claude"', llm: str = "") -> str:
    """The demo's workspace.toml with providers switched to Claude at `base_url`. Unless the
    test sets its own, the rate limits are far above what a test sends, so the limiter
    never paces the fake (the defaults would spread a demo day over minutes)."""
    limits = {
        "requests_per_minute": 60_000,
        "input_tokens_per_minute": 100_000_000,
        "output_tokens_per_minute": 10_000_000,
    }
    extra = "\n".join(f"{k} = {v}" for k, v in limits.items() if k not in llm)
    return text.replace(
        "[playbook]",
        f'[providers]\n{providers}\n\n[llm]\nbase_url = "{base_url}"\n{extra}\n{llm}\n\n[playbook]',
        1,
    )


@pytest.fixture
def claude_ws(tmp_path: Path, fake: FakeAnthropic, monkeypatch: pytest.MonkeyPatch, backend: str) -> Any:
    """The demo workspace (imported) with the grounded drafter on the fake."""
    from agents.services import init_workspace
    from core.workspace import load_workspace
    from tests.conftest import at

    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    d = copy_demo(tmp_path / "demo", backend=backend, relaxed=True)
    toml = d / "workspace.toml"
    toml.write_text(claude_toml(toml.read_text(encoding="utf-8"), fake.base_url), encoding="utf-8")
    ws = load_workspace(d)
    init_workspace(ws, now=at("2026-11-23T14:00:00Z"))
    return ws
