"""Column helpers shared by every table module (kept apart so table modules never import
each other)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import JSON, Column
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field

JsonCol = JSON().with_variant(JSONB(), "postgresql")


def json_field(default: Any = None) -> Any:
    """A JSON column (JSONB on PostgreSQL) holding a dict, or a list when `default` is a list."""
    factory: Callable[[], Any] = list if isinstance(default, list) else (lambda: dict(default or {}))
    return Field(default_factory=factory, sa_column=Column(JsonCol, nullable=False))
