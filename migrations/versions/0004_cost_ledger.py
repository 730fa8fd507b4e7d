"""cost ledger

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 16:40:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cost_ledger",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("workspace", sa.String(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("month", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("prospect_id", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("step", sa.String(), nullable=False),
        sa.Column("credits", sa.Float(), nullable=False),
        sa.Column("usd", sa.Float(), nullable=False),
        sa.Column("llm_usd", sa.Float(), nullable=False),
        sa.Column("tokens_in", sa.Integer(), nullable=False),
        sa.Column("tokens_out", sa.Integer(), nullable=False),
        sa.Column("cache_read_tokens", sa.Integer(), nullable=False),
        sa.Column("cache_write_tokens", sa.Integer(), nullable=False),
        sa.Column("detail", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
        sa.UniqueConstraint("workspace", "key"),
    )
    op.create_index("ix_cost_ledger_at", "cost_ledger", ["workspace", "at"])
    op.create_index("ix_cost_ledger_run", "cost_ledger", ["workspace", "run_id"])
    op.create_index("ix_cost_ledger_prospect", "cost_ledger", ["workspace", "prospect_id"])
    # Lookups paid before the ledger existed become its first rows.
    pg = op.get_bind().dialect.name == "postgresql"
    month = "to_char(created_at, 'YYYY-MM')" if pg else "strftime('%Y-%m', created_at)"
    op.execute(
        "INSERT INTO cost_ledger (workspace, key, at, month, kind, provider, status, run_id, "
        "prospect_id, channel, step, credits, usd, llm_usd, tokens_in, tokens_out, "
        "cache_read_tokens, cache_write_tokens, detail) "
        f"SELECT workspace, provider || ':' || key, created_at, {month}, "
        "CASE WHEN provider LIKE 'enrichment%' THEN 'enrichment' ELSE 'research' END, provider, "
        "'committed', '', '', '', '', credits, usd, 0.0, 0, 0, 0, 0, '{}' FROM lookup_cache"
    )


def downgrade() -> None:
    op.drop_index("ix_cost_ledger_prospect", table_name="cost_ledger")
    op.drop_index("ix_cost_ledger_run", table_name="cost_ledger")
    op.drop_index("ix_cost_ledger_at", table_name="cost_ledger")
    op.drop_table("cost_ledger")
