"""Message Batches for the daily run: submissions written before the API call, and the
per-item run, prompt version, error and submission

Revision ID: 0011batches
Revises: 0006
Create Date: 2026-11-30 10:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0011batches"
down_revision = "0006"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "llm_batches",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("batch_id", sa.String(), nullable=False, server_default=""),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("run_id", sa.String(), nullable=False, server_default=""),
        sa.Column("item_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("submitted_wall", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("ended_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("counts", JSON, nullable=False),
    )
    op.create_index("ix_llm_batches_workspace", "llm_batches", ["workspace"])
    op.create_index("ix_llm_batches_batch_id", "llm_batches", ["batch_id"])
    with op.batch_alter_table("llm_batch_items") as b:
        b.add_column(sa.Column("submission_id", sa.String(), nullable=False, server_default=""))
        b.add_column(sa.Column("run_id", sa.String(), nullable=False, server_default=""))
        b.add_column(sa.Column("prompt_version", sa.String(), nullable=False, server_default=""))
        b.add_column(sa.Column("error", JSON, nullable=False, server_default="{}"))
        b.create_index("ix_llm_batch_items_submission_id", ["submission_id"])


def downgrade() -> None:
    with op.batch_alter_table("llm_batch_items") as b:
        b.drop_index("ix_llm_batch_items_submission_id")
        b.drop_column("error")
        b.drop_column("prompt_version")
        b.drop_column("run_id")
        b.drop_column("submission_id")
    op.drop_index("ix_llm_batches_batch_id", "llm_batches")
    op.drop_index("ix_llm_batches_workspace", "llm_batches")
    op.drop_table("llm_batches")
