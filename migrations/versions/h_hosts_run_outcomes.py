"""per-prospect results of queued daily runs

Revision ID: h_hosts
Revises: 0006
Create Date: 2026-11-29 19:35:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "h_hosts"
down_revision = "0011batches"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "run_outcomes",
        sa.Column("run_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("prospect_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("workspace", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("outcome", JSON, nullable=False),
        sa.Column("worker", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("finished_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "prospect_id"),
    )
    op.create_index("ix_run_outcomes_workspace", "run_outcomes", ["workspace"])


def downgrade() -> None:
    op.drop_index("ix_run_outcomes_workspace", table_name="run_outcomes")
    op.drop_table("run_outcomes")
