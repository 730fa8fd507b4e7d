"""web pages and prospect scores

Revision ID: 0007
Revises: 0004
Create Date: 2026-11-29 16:50:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007"
down_revision = "0004a"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "web_pages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("domain", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("fetched_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("http_status", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(), nullable=False),
        sa.Column("content_hash", sa.String(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("links", JSON, nullable=False),
        sa.UniqueConstraint("workspace", "url"),
    )
    op.create_index("ix_web_pages_domain", "web_pages", ["workspace", "domain"])
    op.create_table(
        "prospect_scores",
        sa.Column("workspace", sa.String(), primary_key=True),
        sa.Column("prospect_id", sa.String(), primary_key=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("fit", sa.Float(), nullable=False),
        sa.Column("intent", sa.Float(), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=True),
        sa.Column("excluded", sa.Boolean(), nullable=False),
        sa.Column("breakdown", JSON, nullable=False),
        sa.Column("scored_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    )
    op.create_index("ix_prospect_scores_rank", "prospect_scores", ["workspace", "score"])


def downgrade() -> None:
    op.drop_index("ix_prospect_scores_rank", table_name="prospect_scores")
    op.drop_table("prospect_scores")
    op.drop_index("ix_web_pages_domain", table_name="web_pages")
    op.drop_table("web_pages")
