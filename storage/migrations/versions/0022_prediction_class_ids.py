"""predictions.class_ids: the label each stored class was, with the top class as stored

A stored prediction names its classes as they were called when it was written; until the queue
is re-scored after a taxonomy change, export and predict read them in today's labels. By name
alone that went wrong where a name moved to another label (two labels swapping names, a renamed
label's old name given to a new one): the rows were read as the label that has the name today.
Rows written from now on record each class's label id; older rows are read by name as before.
model_runs.rows_named_at: the newest taxonomy change when a run's rows were last written, so an
export reads them as stored only while no change came since.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05 17:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None
# One nullable column: code from 0019 on runs on the schema as it is. Its writes leave the
# column as it was, and readers take the pairs only while their names match the row's classes.
compatible_with = "0019"


def upgrade() -> None:
    # Plain ADD COLUMNs (no table rebuild: SQLite keeps model_runs' AUTOINCREMENT)
    op.add_column("predictions", sa.Column("class_ids", sa.JSON(), nullable=True))
    op.add_column("model_runs", sa.Column("rows_named_at", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model_runs", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("rows_named_at")
    # SQLite rebuilds the table (batch), which would re-create 0015's queue index without its
    # DESC: the index is dropped first and made again as 0015 made it.
    op.drop_index("ix_predictions_queue", table_name="predictions")
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("class_ids")
    op.create_index(
        "ix_predictions_queue",
        "predictions",
        ["project_id", sa.text("priority DESC"), "example_id"],
    )
