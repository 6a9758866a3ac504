"""model_runs.label_ids: the label ids of a run's classes, beside their names, so that a model
answers under the label each class is after renames that move names between labels

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Runs recorded before keep None: engine resolves their classes from the rename history.
    with op.batch_alter_table("model_runs") as batch:
        batch.add_column(sa.Column("label_ids", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model_runs") as batch:
        batch.drop_column("label_ids")
