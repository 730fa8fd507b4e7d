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
    """A request for a Message Batch; the prospect resumes when its result arrives.

    The daily run writes it "queued" (no batch yet) with the decision that waits for it;
    `agents.batching` then writes the submission row before calling the API, so a crash
    after the call is resolved from the API's batch list instead of submitting twice."""

    __tablename__ = "llm_batch_items"
    __table_args__ = (UniqueConstraint("workspace", "digest"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace: str = Field(index=True)
    digest: str
    batch_id: str = Field(index=True)  # "" while queued or in doubt
    custom_id: str
    task: str
    prospect_id: str = ""
    # queued | waiting | succeeded | errored | expired | canceled | missing
    status: str = "waiting"
    request: dict = json_field()
    created_at: datetime
    ended_at: datetime | None = None
    submission_id: str = Field(default="", index=True)  # the LlmBatch row it went out in
    run_id: str = ""  # the run that queued it (its result is paid on that run)
    prompt_version: str = ""
    error: dict = json_field()  # the batch's error for an errored result


class LlmBatch(SQLModel, table=True):
    """One submission to the Message Batches API, written before the API is called.

    status: submitting (written, API call not known to have happened: after a crash it is
    "in doubt" and resolved from the API's batch list), in_progress, ended, not_created
    (the API refused it; its items were queued again)."""

    __tablename__ = "llm_batches"

    id: str = Field(primary_key=True)
    workspace: str = Field(index=True)
    batch_id: str = Field(default="", index=True)
    status: str = "submitting"
    run_id: str = ""
    item_count: int = 0
    created_at: datetime  # the run's time (--now)
    submitted_wall: datetime  # wall clock just before the API call (to find it in the list)
    ended_at: datetime | None = None
    counts: dict = json_field()  # results by type once ended
