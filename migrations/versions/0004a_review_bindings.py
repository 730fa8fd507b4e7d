"""review bindings: decision vs message reviews and approved content fingerprints

Revision ID: 0004a
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel
from sqlalchemy.dialects import postgresql

revision = '0004a'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('review_bindings',
    sa.Column('review_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('workspace', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('action', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('approved_fingerprint', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('approved_content', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('review_id')
    )
    with op.batch_alter_table('review_bindings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_bindings_workspace'), ['workspace'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('review_bindings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_review_bindings_workspace'))
    op.drop_table('review_bindings')
