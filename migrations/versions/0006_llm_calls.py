"""recorded LLM calls and batch items

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-29 16:50:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0010j"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "llm_calls",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("digest", sa.String(), nullable=False),
        sa.Column("task", sa.String(), nullable=False),
        sa.Column("model", sa.String(), nullable=False),
        sa.Column("prompt_version", sa.String(), nullable=False),
        sa.Column("mode", sa.String(), nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("prospect_id", sa.String(), nullable=False),
        sa.Column("request", JSON, nullable=False),
        sa.Column("response", JSON, nullable=False),
        sa.Column("usage", JSON, nullable=False),
        sa.Column("usd", sa.Float(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.UniqueConstraint("workspace", "digest"),
    )
    op.create_index("ix_llm_calls_workspace", "llm_calls", ["workspace"])
    op.create_index("ix_llm_calls_run", "llm_calls", ["workspace", "run_id"])
    op.create_table(
        "llm_batch_items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("digest", sa.String(), nullable=False),
        sa.Column("batch_id", sa.String(), nullable=False),
        sa.Column("custom_id", sa.String(), nullable=False),
        sa.Column("task", sa.String(), nullable=False),
        sa.Column("prospect_id", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("request", JSON, nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("ended_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.UniqueConstraint("workspace", "digest"),
    )
    op.create_index("ix_llm_batch_items_workspace", "llm_batch_items", ["workspace"])
    op.create_index("ix_llm_batch_items_batch_id", "llm_batch_items", ["batch_id"])
    op.add_column(
        "drafts", sa.Column("model_written", sa.Boolean(), nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    op.drop_column("drafts", "model_written")
    op.drop_table("llm_batch_items")
    op.drop_table("llm_calls")
