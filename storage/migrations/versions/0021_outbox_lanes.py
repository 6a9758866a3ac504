"""outbox.lane and outbox.claimed_until: the outbox keeps one conversation's order

lane: the queue a call waits its turn in (the conversation for a new message, the message for
an edit): a call is sent only once every call queued before it in its lane is done with, so
a rate-limited message is no longer overtaken by a later one of its conversation, in the
outbox or on another replica. claimed_until: while a flusher sends the call, so that it is not
dropped under it (a newer edit of the message waits for it instead of being overwritten by it).
The calls pending at the upgrade are given their lane.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 11:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None
# Only nullable columns and an index: 0019's code runs on the schema as it is (its calls, queued
# without a lane, are sent whenever due, as they were), and this code takes its rows.
compatible_with = "0019"

POST = "chat.postMessage"


def upgrade() -> None:
    # Plain ADD COLUMNs (no table rebuild: SQLite keeps the table's AUTOINCREMENT).
    op.add_column("outbox", sa.Column("lane", sqlmodel.sql.sqltypes.AutoString(length=128),
                                      nullable=True))  # fmt: skip
    op.add_column(
        "outbox", sa.Column("claimed_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
    )
    op.create_index("ix_outbox_lane_status", "outbox", ["lane", "status"])
    outbox = sa.table(
        "outbox",
        sa.column("id", sa.Integer()),
        sa.column("method", sa.String()),
        sa.column("payload", sa.JSON()),
        sa.column("message_key", sa.String()),
        sa.column("status", sa.String()),
        sa.column("lane", sa.String()),
    )
    bind = op.get_bind()
    pending = bind.execute(
        sa.select(outbox.c.id, outbox.c.method, outbox.c.payload, outbox.c.message_key)
        .where(outbox.c.status == "pending")
        .order_by(outbox.c.id)
    ).all()
    for id_, method, payload, key in pending:
        channel = payload.get("channel") if isinstance(payload, dict) else None
        lane = key or (str(channel)[:128] if method == POST and channel else None)
        if lane is not None:
            bind.execute(sa.update(outbox).where(outbox.c.id == id_).values(lane=lane))


def downgrade() -> None:
    op.drop_index("ix_outbox_lane_status", table_name="outbox")
    with op.batch_alter_table("outbox", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("claimed_until")
        batch.drop_column("lane")
