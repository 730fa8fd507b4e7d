"""CRM links, CRM facts cache and Clay pushes

Revision ID: 0008i
Revises: 0005
Create Date: 2026-11-29 17:00:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008i"
down_revision = "0007"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "crm_links",
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("our_id", sa.String(), nullable=False),
        sa.Column("crm_id", sa.String(), nullable=False),
        sa.Column("digest", sa.String(), nullable=False),
        sa.Column("synced_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("workspace", "provider", "kind", "our_id"),
    )
    op.create_table(
        "crm_facts",
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("facts", _JSON, nullable=False),
        sa.Column("fetched_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("workspace", "provider", "email"),
    )
    op.create_table(
        "clay_pushes",
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("webhook", sa.String(), nullable=False),
        sa.Column("prospect_id", sa.String(), nullable=False),
        sa.Column("digest", sa.String(), nullable=False),
        sa.Column("pushes", sa.Integer(), nullable=False),
        sa.Column("pushed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("row", _JSON, nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("workspace", "webhook", "prospect_id"),
    )


def downgrade() -> None:
    op.drop_table("clay_pushes")
    op.drop_table("crm_facts")
    op.drop_table("crm_links")
