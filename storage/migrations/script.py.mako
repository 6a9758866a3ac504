"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op
${imports if imports else ""}

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}
# The oldest revision whose code can run on the schema this migration leaves (storage.db records
# it): its own, unless the code before it can run on it as it is (it only adds a nullable column
# or one with a default, an index, a table: nothing that code reads or must write changes, and
# this code takes the rows that code writes without them), then the previous migration's
# compatible_with. A rename, a drop, a new constraint or a change of meaning: its own.
compatible_with = ${repr(up_revision)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
