"""CRM and Clay sync state: which CRM record stands for which of ours, the CRM facts read
before a send (a cache with a time to live), and what was last pushed to Clay.

`CrmLink` is keyed by our id: `(workspace, provider, kind, our_id)` where kind is
`contact | company | touch | task | deal` and our_id is the prospect id, the company id,
the outbox idempotency key of a touch or the task's dedupe key. A write is recorded here
right after the CRM accepts it, so a retry or a re-run never creates a second record
(and the adapter searches the CRM before creating anything whose link is missing, which
covers a crash between the CRM's answer and this row).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from state.columns import json_field


class CrmLink(SQLModel, table=True):
    __tablename__ = "crm_links"

    workspace: str = Field(primary_key=True)
    provider: str = Field(primary_key=True)
    kind: str = Field(primary_key=True)  # contact | company | touch | task | deal
    our_id: str = Field(primary_key=True)
    crm_id: str
    digest: str = ""  # digest of the properties last written (an unchanged record is not re-sent)
    synced_at: datetime


class CrmFacts(SQLModel, table=True):
    """What the CRM says about one email: lifecycle stage, open deals, opt-out flags."""

    __tablename__ = "crm_facts"

    workspace: str = Field(primary_key=True)
    provider: str = Field(primary_key=True)
    email: str = Field(primary_key=True)
    facts: dict = json_field()
    fetched_at: datetime


class ClayPush(SQLModel, table=True):
    """The last row pushed to a Clay webhook for one prospect (a digest: sent once per change)."""

    __tablename__ = "clay_pushes"

    workspace: str = Field(primary_key=True)
    webhook: str = Field(primary_key=True)  # a digest of the webhook URL (never the URL itself)
    prospect_id: str = Field(primary_key=True)
    digest: str
    pushes: int = 0  # submissions of this prospect so far (they count towards the lifetime cap)
    pushed_at: datetime
    row: dict = json_field()
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
