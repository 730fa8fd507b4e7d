"""Per-prospect results of a daily run whose chunks run as jobs on the PostgreSQL queue
(`agents.jobs`): one row per prospect when its run for the day has ended, written by
whichever worker processed it. A retried job skips the prospects that already have a row,
and the run's summary is the sum of its rows (in the run's priority order, `rank`)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from state.columns import json_field


class RunOutcome(SQLModel, table=True):
    __tablename__ = "run_outcomes"

    run_id: str = Field(primary_key=True)
    prospect_id: str = Field(primary_key=True)
    workspace: str = Field(index=True)
    rank: int  # position in the run's priority order
    chunk: int
    kind: str  # review | wait | step_cap | stop | error | ...
    outcome: dict = json_field()  # what `agents.runner.process_prospect` returned
    worker: str = ""  # host:pid of the worker process
    finished_at: datetime
