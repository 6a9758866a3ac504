"""reply_records: what a thread reply's deletion or edit said when it came before the reply
(Slack may deliver events out of order), so a deleted reply is not stored after all

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 19:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reply_records",
        sa.Column("external_key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("text", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("edited_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("seen_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("external_key"),
    )
    with op.batch_alter_table("reply_records") as batch:
        batch.create_index(batch.f("ix_reply_records_seen_at"), ["seen_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("reply_records") as batch:
        batch.drop_index(batch.f("ix_reply_records_seen_at"))
    op.drop_table("reply_records")
