"""A whole-project report reads the project's annotations once: audit picks and retracted labels
indexed

assignments(project_id, purpose): the audit set (``assignments.audit_labeled_ids``, in
`labelbot status`, App Home, training and evaluation) reads the project's audit picks alone;
before, every delivery of the project was read and joined with its annotations. A partial index
of the retracted annotations (label_id, WHERE retracted_at IS NOT NULL): the queue left counts a
project's retracted labels on every labeling message and in `labelbot status`, and PostgreSQL's
planner read every annotation for it (a sequential scan) rather than probe the labels' index
once per label.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None
# Two indexes: code from 0019 on runs on the schema as it is (what 0023 allows).
compatible_with = "0019"

RETRACTED = sa.text("retracted_at IS NOT NULL")


def upgrade() -> None:
    op.create_index("ix_assignments_project_purpose", "assignments", ["project_id", "purpose"])
    op.create_index("ix_annotations_retracted", "annotations", ["label_id"],
                    sqlite_where=RETRACTED, postgresql_where=RETRACTED)  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_annotations_retracted", table_name="annotations")
    op.drop_index("ix_assignments_project_purpose", table_name="assignments")
