"""labelbot_schema_compat: from which schema revision on labelbot can run on this schema

Beside alembic's version, the oldest labelbot schema revision whose code can run on this
schema, so that an older labelbot runs on a schema a newer one only added to. One row
(revision, oldest_compatible), written by storage.db in the transaction of every upgrade and
downgrade from each migration's ``compatible_with``. A labelbot that does not know the
database's revision runs on it when the row is about that revision and names one it knows;
otherwise it refuses, as before. Labelbot at 0019 does not read it: the first release that can
run on a newer schema is this one.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-05 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None
# The oldest revision whose code can run on the schema this migration leaves (a table the code
# of 0019 never reads): every migration says it, storage.db records it.
compatible_with = "0019"


def upgrade() -> None:
    op.create_table(
        "labelbot_schema_compat",
        sa.Column("revision", sa.String(length=32), primary_key=True),
        sa.Column("oldest_compatible", sa.String(length=32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("labelbot_schema_compat")
