"""scheduler and audit: leases (one trainer per project), the audit stream's flags

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 09:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("owner", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("acquired_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    with op.batch_alter_table("examples") as batch:
        batch.add_column(
            sa.Column("audit", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("assignments") as batch:
        batch.add_column(
            sa.Column(
                "purpose",
                sqlmodel.sql.sqltypes.AutoString(length=20),
                nullable=False,
                server_default="queue",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("assignments") as batch:
        batch.drop_column("purpose")
    with op.batch_alter_table("examples") as batch:
        batch.drop_column("audit")
    op.drop_table("leases")
