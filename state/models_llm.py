"""Recorded model calls: every request to the Messages API (secrets removed) and its
response, keyed per workspace by the request's digest. A step re-run with the same request
reads its answer here instead of paying again, and replay needs no network."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from state.columns import json_field


class LlmCall(SQLModel, table=True):
    __tablename__ = "llm_calls"
    __table_args__ = (
        UniqueConstraint("workspace", "digest"),
        Index("ix_llm_calls_run", "workspace", "run_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    workspace: str = Field(index=True)
    digest: str
    task: str
    model: str
    prompt_version: str = ""
    mode: str = "sync"  # sync | batch
    run_id: str = ""
    prospect_id: str = ""
    request: dict = json_field()
    response: dict = json_field()
    usage: dict = json_field()
    usd: float = 0.0
    created_at: datetime


class LlmBatchItem(SQLModel, table=True):
    """A request waiting in a Message Batch; the prospect resumes when its result arrives."""

    __tablename__ = "llm_batch_items"
    __table_args__ = (UniqueConstraint("workspace", "digest"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace: str = Field(index=True)
    digest: str
    batch_id: str = Field(index=True)
    custom_id: str
    task: str
    prospect_id: str = ""
    status: str = "waiting"  # waiting | succeeded | errored | expired | canceled
    request: dict = json_field()
    created_at: datetime
    ended_at: datetime | None = None
