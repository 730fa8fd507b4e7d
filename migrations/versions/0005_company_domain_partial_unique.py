"""companies: the domain is unique per workspace only when there is one

Two companies known by name only (people with free-mail addresses at different
companies) both have domain '' and broke the import on the old UNIQUE (workspace, domain).

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-29 16:45:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004c'
branch_labels = None
depends_on = None

NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s_%(column_1_name)s"}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        with op.batch_alter_table("companies", naming_convention=NAMING, recreate="always") as batch_op:
            batch_op.drop_constraint("uq_companies_workspace_domain", type_="unique")
    else:
        op.drop_constraint("companies_workspace_domain_key", "companies", type_="unique")
    op.create_index(
        "ux_companies_ws_domain",
        "companies",
        ["workspace", "domain"],
        unique=True,
        sqlite_where=sa.text("domain <> ''"),
        postgresql_where=sa.text("domain <> ''"),
    )


def downgrade() -> None:
    op.drop_index("ux_companies_ws_domain", table_name="companies")
    with op.batch_alter_table("companies") as batch_op:
        batch_op.create_unique_constraint("companies_workspace_domain_key", ["workspace", "domain"])
