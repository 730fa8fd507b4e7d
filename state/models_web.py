"""Fetched web pages, kept so evidence quotes can be re-checked against the text they came
from and a replay needs no network. One row per (workspace, URL): the newest fetch."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from state.columns import json_field


class WebPage(SQLModel, table=True):
    __tablename__ = "web_pages"
    __table_args__ = (
        UniqueConstraint("workspace", "url"),
        Index("ix_web_pages_domain", "workspace", "domain"),
    )

    id: int | None = Field(default=None, primary_key=True)
    workspace: str
    url: str = Field(sa_column=Column(Text, nullable=False))
    domain: str
    kind: str = ""  # home | about | careers | blog | page
    fetched_at: datetime
    http_status: int = 0
    content_type: str = ""
    content_hash: str = ""  # sha256 of the bytes received
    text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    links: list = json_field([])  # on-site links found on the page (discovery without refetching)
