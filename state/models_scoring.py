"""Each prospect's score: ICP fit plus intent from signals with decay, the tier it gives
and the breakdown that explains it. One row per prospect, rewritten when it is rescored."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from state.columns import json_field


class ProspectScore(SQLModel, table=True):
    __tablename__ = "prospect_scores"
    __table_args__ = (Index("ix_prospect_scores_rank", "workspace", "score"),)

    workspace: str = Field(primary_key=True)
    prospect_id: str = Field(primary_key=True)
    score: float = 0.0  # 0-100
    fit: float = 0.0  # 0-1
    intent: float = 0.0  # 0-1
    tier: int | None = None
    excluded: bool = False
    breakdown: dict = json_field()
    scored_at: datetime
