"""people.home_opened_at: who opened App Home lately, in the database (was one process's memory)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 13:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("people") as batch:
        batch.add_column(
            sa.Column("home_opened_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("people") as batch:
        batch.drop_column("home_opened_at")
