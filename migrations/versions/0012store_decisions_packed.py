"""decision bodies compressed (storage format 3): packed bytes, codec, body dictionaries;
the body's outcome as a query column

New rows keep the canonical JSON of their body as raw DEFLATE in `packed`, with the
workspace's body dictionary named by `codec` (table `decision_dicts`); the chain still
hashes the canonical text. Rows already in the chain are not converted: they keep their
plain text in `body` (codec "") and verify unchanged. `outcome` (checked by verify like the
other query columns) is filled from each stored body's "outcome" when it is a string.

Revision ID: 0012store
Revises: 0011r
Create Date: 2026-11-29 23:00:00
"""

import zlib

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0012store"
down_revision = "0011r"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("packed", sa.LargeBinary(), nullable=True))
        batch_op.add_column(
            sa.Column("codec", sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default="")
        )
        batch_op.alter_column("body", existing_type=sa.Text(), nullable=True)
    op.create_table(
        "decision_dicts",
        sa.Column("workspace", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("built_at_seq", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("workspace", "id"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "UPDATE decisions SET outcome = (body::jsonb)->>'outcome' "
            "WHERE jsonb_typeof((body::jsonb)->'outcome') = 'string'"
        )
    else:
        op.execute(
            "UPDATE decisions SET outcome = json_extract(body, '$.outcome') "
            "WHERE json_type(body, '$.outcome') = 'text'"
        )


def downgrade() -> None:
    conn = op.get_bind()
    dec = sa.table(
        "decisions",
        sa.column("id", sa.String),
        sa.column("workspace", sa.String),
        sa.column("body", sa.Text),
        sa.column("packed", sa.LargeBinary),
        sa.column("codec", sa.String),
    )
    dicts = sa.table(
        "decision_dicts",
        sa.column("workspace", sa.String),
        sa.column("id", sa.String),
        sa.column("data", sa.LargeBinary),
    )
    known = {
        (w, i): bytes(d) for w, i, d in conn.execute(sa.select(dicts.c.workspace, dicts.c.id, dicts.c.data))
    }
    while True:
        rows = conn.execute(
            sa.select(dec.c.id, dec.c.workspace, dec.c.packed, dec.c.codec)
            .where(dec.c.codec != "")
            .limit(500)
        ).all()
        if not rows:
            break
        for rid, ws, packed, codec in rows:
            zdict = known[(ws, codec[3:])] if codec.startswith("zd:") else None
            do = zlib.decompressobj(-15, zdict) if zdict else zlib.decompressobj(-15)
            text = (do.decompress(bytes(packed)) + do.flush()).decode("utf-8")
            conn.execute(dec.update().where(dec.c.id == rid).values(body=text, codec="", packed=None))
    op.drop_table("decision_dicts")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.alter_column("body", existing_type=sa.Text(), nullable=False)
        batch_op.drop_column("codec")
        batch_op.drop_column("packed")
        batch_op.drop_column("outcome")
