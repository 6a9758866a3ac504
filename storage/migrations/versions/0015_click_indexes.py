"""Indexes for a click's queries on a large project: the queue's order (priority first, ties by
example id) so a claim walks it and stops at the first free example instead of sorting every
example, and annotations(annotator, created_at) so "labels today" reads one expert's recent
labels without joining every example (SQLite chose to)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 08:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_predictions_queue",
        "predictions",
        ["project_id", sa.text("priority DESC"), "example_id"],
    )
    op.drop_index("ix_predictions_project_priority", table_name="predictions")
    op.create_index("ix_annotations_annotator_created", "annotations", ["annotator", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_annotations_annotator_created", table_name="annotations")
    op.create_index("ix_predictions_project_priority", "predictions", ["project_id", "priority"])
    op.drop_index("ix_predictions_queue", table_name="predictions")
