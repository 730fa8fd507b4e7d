"""daily run marks (scheduler catch-up)

Revision ID: 0004c
Revises: 0003
Create Date: 2026-11-29 16:35:00.000000
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0004c'
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('daily_run_marks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('fire_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('started_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('workspace', 'fire_at')
    )
    with op.batch_alter_table('daily_run_marks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_daily_run_marks_workspace'), ['workspace'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('daily_run_marks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_daily_run_marks_workspace'))
    op.drop_table('daily_run_marks')
