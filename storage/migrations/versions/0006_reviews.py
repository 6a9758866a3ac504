"""mislabel reviews and multi-expert labeling: the reviews and multi_label_requests tables

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 10:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("example_id", sa.Integer(), nullable=False),
        sa.Column("annotation_id", sa.Integer(), nullable=False),
        sa.Column("annotator", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("given_label_id", sa.Integer(), nullable=False),
        sa.Column("suggested_label_id", sa.Integer(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("margin", sa.Float(), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=True),
        sa.Column("reviewer", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("outcome_label_id", sa.Integer(), nullable=True),
        sa.Column("outcome_annotation_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("decision_key", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
        sa.ForeignKeyConstraint(["example_id"], ["examples.id"]),
        sa.ForeignKeyConstraint(["annotation_id"], ["annotations.id"]),
        sa.ForeignKeyConstraint(["given_label_id"], ["labels.id"]),
        sa.ForeignKeyConstraint(["suggested_label_id"], ["labels.id"]),
        sa.ForeignKeyConstraint(["assignment_id"], ["assignments.id"]),
        sa.ForeignKeyConstraint(["outcome_label_id"], ["labels.id"]),
        sa.ForeignKeyConstraint(["outcome_annotation_id"], ["annotations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("annotation_id", "suggested_label_id", name="uq_reviews_suggestion"),
        sa.UniqueConstraint("decision_key"),
    )
    op.create_index("ix_reviews_example_id", "reviews", ["example_id"])
    op.create_index("ix_reviews_project_status", "reviews", ["project_id", "status"])
    op.create_table(
        "multi_label_requests",
        sa.Column("example_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("k", sa.Integer(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["example_id"], ["examples.id"]),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
        sa.PrimaryKeyConstraint("example_id"),
    )
    op.create_index("ix_multi_label_requests_project_id", "multi_label_requests", ["project_id"])


def downgrade() -> None:
    op.drop_index("ix_multi_label_requests_project_id", table_name="multi_label_requests")
    op.drop_table("multi_label_requests")
    op.drop_index("ix_reviews_project_status", table_name="reviews")
    op.drop_index("ix_reviews_example_id", table_name="reviews")
    op.drop_table("reviews")
