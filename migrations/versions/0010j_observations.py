"""observations stored once by digest

Revision ID: 0010j
Revises: 0007
Create Date: 2026-11-29 17:20:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0010j'
down_revision = '0008i'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'observations',
        sa.Column('workspace', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('digest', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('first_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('workspace', 'digest'),
    )
    with op.batch_alter_table('observations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_observations_first_at'), ['first_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('observations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_observations_first_at'))
    op.drop_table('observations')
