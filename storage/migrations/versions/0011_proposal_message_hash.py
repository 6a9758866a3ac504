"""proposals.message_hash: what the proposal's channel message shows, so a refresh
that changes the evidence (or supersedes it) updates the message once

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 12:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("proposals") as batch:
        batch.add_column(sa.Column("message_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("proposals") as batch:
        batch.drop_column("message_hash")
