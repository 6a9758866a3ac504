"""Indexes for the queue left that every labeling message shows ("N left in the queue"), so it
is no longer counted over the whole project on each delivery: examples(project_id, id) reads
only the examples added since the last count, and annotations(label_id, retracted_at,
example_id) counts a project's labeled examples, and its retracted labels, from the index alone.
Each replaces the single-column index it starts with.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 09:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_examples_project_id_order", "examples", ["project_id", "id"])
    op.drop_index("ix_examples_project_id", table_name="examples")
    op.create_index(
        "ix_annotations_label_retracted", "annotations", ["label_id", "retracted_at", "example_id"]
    )
    op.drop_index("ix_annotations_label_id", table_name="annotations")


def downgrade() -> None:
    op.create_index("ix_annotations_label_id", "annotations", ["label_id"])
    op.drop_index("ix_annotations_label_retracted", table_name="annotations")
    op.create_index("ix_examples_project_id", "examples", ["project_id"])
    op.drop_index("ix_examples_project_id_order", table_name="examples")
