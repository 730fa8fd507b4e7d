"""The scheduler's memory of daily runs: one row per workspace and daily fire time it
started a run for, so a fire missed while the service was down is caught up once on
restart, and a fire already run (by this or another leader) is never run twice."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel


class DailyRunMark(SQLModel, table=True):
    __tablename__ = "daily_run_marks"
    __table_args__ = (UniqueConstraint("workspace", "fire_at"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace: str = Field(index=True)
    fire_at: datetime  # the scheduled fire time the run was started for (UTC)
    started_at: datetime  # the clock's time when it was started
