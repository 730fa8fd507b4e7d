"""Observations stored once by digest.

A prospect's observation (what the planner and the rules saw) is identical across the
several decisions of one step batch and often across days. Decision bodies name it by
`observation_digest` (sha256 of its canonical JSON), which the hash chain covers; the
canonical text itself is kept here once per workspace and digest, so replay can load it
and audit can check it still matches its digest.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel


class ObservationBody(SQLModel, table=True):
    __tablename__ = "observations"

    workspace: str = Field(primary_key=True)
    digest: str = Field(primary_key=True)
    body: str = Field(sa_column=Column(Text, nullable=False))  # canonical JSON, as digested
    first_at: datetime = Field(index=True)  # the first decision that referenced it
