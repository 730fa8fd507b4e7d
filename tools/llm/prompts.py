"""Prompts as files (`tools/llm/prompts/*.md`), versioned by content hash: the version goes
into every decision record and every recorded call, so a changed prompt is visible in the
log and in replay."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PROMPTS_DIR = Path(__file__).resolve().parent / "prompts"


@dataclass(frozen=True)
class Prompt:
    name: str
    text: str

    @property
    def version(self) -> str:
        """`<name>@<first 10 hex of sha256(shared + task text)>`."""
        both = load_text("shared") + "\n" + self.text
        return f"{self.name}@{hashlib.sha256(both.encode()).hexdigest()[:10]}"


@lru_cache(maxsize=16)
def load_text(name: str) -> str:
    return (PROMPTS_DIR / f"{name}.md").read_text(encoding="utf-8").strip()


def prompt(name: str) -> Prompt:
    """The task prompt `name` (draft, research, reply, plan)."""
    return Prompt(name, load_text(name))
