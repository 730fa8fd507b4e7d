"""Observations stored once by digest, compressed.

A prospect's observation (what the planner and the rules saw) is identical across the
several decisions of one step batch and often across days. Decision bodies name it by
`observation_digest` (sha256 of its canonical JSON), which the hash chain covers; the
canonical text itself is kept here once per workspace and digest, so replay can load it
and audit can check it still matches its digest.

The text is stored compressed (`packed`, raw DEFLATE) with the workspace's preset
dictionary named by `codec` (see `state.storage_codec`); rows written before migration
0011r, or converted by it, may keep the plain text in `body` with an empty `codec`. The
digest is always over the canonical, uncompressed text.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, LargeBinary, Text
from sqlmodel import Field, SQLModel


class ObservationBody(SQLModel, table=True):
    __tablename__ = "observations"

    workspace: str = Field(primary_key=True)
    digest: str = Field(primary_key=True)
    # canonical JSON, as digested, when not compressed (codec "")
    body: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    packed: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    codec: str = ""  # "" plain text in body; "z" raw DEFLATE; "zd:<id>" DEFLATE with dictionary <id>
    first_at: datetime = Field(index=True)  # the first decision that referenced it


class ObservationDict(SQLModel, table=True):
    """A preset DEFLATE dictionary of one workspace, immutable once written: every
    observation packed with it needs it to be read back. Built from the structure of the
    workspace's own observations, with only values shared by several prospects (no one
    prospect's name or address), see `state.storage_codec.build_dictionary`."""

    __tablename__ = "observation_dicts"

    workspace: str = Field(primary_key=True)
    id: str = Field(primary_key=True)  # first 16 hex digits of sha256(data): it names the content
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime
