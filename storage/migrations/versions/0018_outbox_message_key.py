"""outbox.message_key: the message a queued call rewrites whole (chat.update's channel and ts),
so that a newer update of that message supersedes a queued older one instead of being undone
by it when the outbox sends it later

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 16:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (no table rebuild: SQLite keeps the table's AUTOINCREMENT). Rows queued
    # before have no key: they are sent as before.
    op.add_column("outbox", sa.Column("message_key", sa.String(length=128), nullable=True))
    op.create_index("ix_outbox_message_key", "outbox", ["message_key"])


def downgrade() -> None:
    op.drop_index("ix_outbox_message_key", table_name="outbox")
    with op.batch_alter_table("outbox", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("message_key")
