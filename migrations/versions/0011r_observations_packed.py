"""observations compressed: packed bytes, codec, per-workspace dictionaries

Converts every stored observation to raw DEFLATE (codec "z"); the digest stays over the
canonical uncompressed text, so the hash chain and replay are unchanged. Decision bodies
are hashed as they are and are not rewritten.

Revision ID: 0011r
Revises: 0006 (after 0010j, which made the observations table)
Create Date: 2026-11-29 19:40:00
"""
import zlib

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = '0011r'
down_revision = 'h_hosts'
branch_labels = None
depends_on = None


def _deflate(text: str) -> bytes:
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    return co.compress(text.encode('utf-8')) + co.flush()



def upgrade() -> None:
    with op.batch_alter_table('observations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('packed', sa.LargeBinary(), nullable=True))
        batch_op.add_column(
            sa.Column('codec', sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default='')
        )
        batch_op.alter_column('body', existing_type=sa.Text(), nullable=True)
    op.create_table(
        'observation_dicts',
        sa.Column('workspace', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('workspace', 'id'),
    )
    conn = op.get_bind()
    obs = sa.table(
        'observations',
        sa.column('workspace', sa.String),
        sa.column('digest', sa.String),
        sa.column('body', sa.Text),
        sa.column('packed', sa.LargeBinary),
        sa.column('codec', sa.String),
    )
    while True:
        rows = conn.execute(
            sa.select(obs.c.workspace, obs.c.digest, obs.c.body).where(obs.c.codec == '').limit(500)
        ).all()
        if not rows:
            break
        for ws, digest, body in rows:
            conn.execute(
                obs.update()
                .where(obs.c.workspace == ws, obs.c.digest == digest)
                .values(packed=_deflate(body), codec='z', body=None)
            )


def downgrade() -> None:
    conn = op.get_bind()
    obs = sa.table(
        'observations',
        sa.column('workspace', sa.String),
        sa.column('digest', sa.String),
        sa.column('body', sa.Text),
        sa.column('packed', sa.LargeBinary),
        sa.column('codec', sa.String),
    )
    dicts = sa.table(
        'observation_dicts', sa.column('workspace', sa.String), sa.column('id', sa.String), sa.column('data', sa.LargeBinary)
    )
    known = {(w, i): bytes(d) for w, i, d in conn.execute(sa.select(dicts.c.workspace, dicts.c.id, dicts.c.data))}
    for ws, digest, packed, codec in conn.execute(
        sa.select(obs.c.workspace, obs.c.digest, obs.c.packed, obs.c.codec).where(obs.c.codec != '')
    ).all():
        zdict = known[(ws, codec[3:])] if codec.startswith('zd:') else None
        do = zlib.decompressobj(-15, zdict) if zdict else zlib.decompressobj(-15)
        text = (do.decompress(bytes(packed)) + do.flush()).decode('utf-8')
        conn.execute(
            obs.update().where(obs.c.workspace == ws, obs.c.digest == digest).values(body=text, codec='', packed=None)
        )
    op.drop_table('observation_dicts')
    with op.batch_alter_table('observations', schema=None) as batch_op:
        batch_op.alter_column('body', existing_type=sa.Text(), nullable=False)
        batch_op.drop_column('codec')
        batch_op.drop_column('packed')
