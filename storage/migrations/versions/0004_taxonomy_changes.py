"""taxonomy changes: the label_events log, labels.mapped_to_id (where a retired label counts)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 10:02:07
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "label_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_label_events_project_id", "label_events", ["project_id"])
    # Added in place, also on SQLite: batch mode's table copy would drop ``labels``, which the
    # annotations reference, and alembic's SQLite dialect will not add the constraint itself.
    if op.get_bind().dialect.name == "sqlite":
        op.execute("ALTER TABLE labels ADD COLUMN mapped_to_id INTEGER REFERENCES labels (id)")
    else:
        op.add_column(
            "labels",
            sa.Column(
                "mapped_to_id",
                sa.Integer(),
                sa.ForeignKey("labels.id", name="fk_labels_mapped_to_id"),
                nullable=True,
            ),
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot drop a column that a constraint names; the copy-and-move batch can.
        with op.batch_alter_table("labels", recreate="always") as batch:
            batch.drop_column("mapped_to_id")
    else:
        op.drop_constraint("fk_labels_mapped_to_id", "labels", type_="foreignkey")
        op.drop_column("labels", "mapped_to_id")
    op.drop_index("ix_label_events_project_id", table_name="label_events")
    op.drop_table("label_events")
