"""proposals.times_found: how many refreshes have found a proposal, so that the bot posts one
only once a second refresh finds it again (or it has stood for an hour): near a detector's
threshold a proposal comes and goes as labels arrive, and each one was posted to the channel

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 08:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (no table rebuild: SQLite keeps the table's AUTOINCREMENT). Rows
    # recorded before count as found twice: whatever the bot had not posted yet it posts as before.
    op.add_column(
        "proposals",
        sa.Column("times_found", sa.Integer(), nullable=False, server_default="2"),
    )


def downgrade() -> None:
    with op.batch_alter_table("proposals", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("times_found")
