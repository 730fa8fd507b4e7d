"""The cost ledger: one row per paid thing (an enrichment or research lookup, LLM tokens,
a direct-mail send), so spend can be reported by prospect, run, provider, channel, step and
month, and budget rules read one source.

A row is keyed by `(workspace, key)`: the key names the paid thing itself (for a lookup,
provider and lookup key; for an LLM call, the request digest), so recording the same cost
twice is impossible. `status` is `committed` for money spent and `reserved` for a budget
reservation taken before a call whose price is not yet known (released or committed later).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from state.columns import json_field


class CostEntry(SQLModel, table=True):
    __tablename__ = "cost_ledger"
    __table_args__ = (
        UniqueConstraint("workspace", "key"),
        Index("ix_cost_ledger_at", "workspace", "at"),
        Index("ix_cost_ledger_run", "workspace", "run_id"),
        Index("ix_cost_ledger_prospect", "workspace", "prospect_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    workspace: str
    key: str = Field(sa_column=Column(Text, nullable=False))
    at: datetime
    month: str  # YYYY-MM in UTC, for grouping without date functions
    kind: str  # enrichment | research | llm | direct_mail | ...
    provider: str
    status: str = "committed"  # committed | reserved | released
    run_id: str = ""
    prospect_id: str = ""
    channel: str = ""
    step: str = ""
    credits: float = 0.0
    usd: float = 0.0  # total dollars (credits converted, LLM and postage included)
    llm_usd: float = 0.0  # the part of usd that is LLM spend
    tokens_in: int = 0
    tokens_out: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    detail: dict = json_field()
