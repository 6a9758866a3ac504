"""A click's work no longer grows with the project: deliveries numbered, examples numbered,
second opinions marked pending, open assignments indexed

assignments.labeling_number and annotator_number: each delivery's number among the project's
labeling deliveries and among its expert's deliveries, so the audit slot and the review turn
read the highest number (an index) instead of counting every delivery. examples.seq: each
example's number in its project, so an audit pick draws a number instead of counting the
project's examples. multi_label_requests.pending: False once a request has its opinions, so the
queue looks at the pending ones only; triggers make it True again where a vote is retracted or
changed or a label of the project stops counting, whichever labelbot writes. Partial
indexes on the open assignments (by project and expiry, by project and expert): SQLite read
every assignment of the project on each click. The rows stored before are numbered in id order.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05 20:30:00
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None
# Nullable columns, a column with a default, indexes and triggers: code from 0019 on runs on the
# schema as it is. Its rows are not numbered (the audit slot and review turn count from the
# numbered ones, an import numbers its examples), its requests stay pending until this code's
# queue settles them, and the triggers reopen a request whoever retracts a vote.
compatible_with = "0019"

OPEN = sa.text("status = 'open'")
LABELING = ("queue", "audit")
_CHUNK = 1000

# The triggers that make a settled request pending again: a vote retracted or changed, or a
# label of the project that stops counting (``counting_label_ids``: active, or mapped to one).
# A label that starts counting only adds experts; so does a copy's second pass over
# labels.mapped_to_id (storage.copying), which leaves the copied requests as they were.
# They update the requests whether pending or not: on PostgreSQL a pending one's row is then
# locked too, so a click settling at the same time (``assignments.settle_requests``: its
# candidates FOR UPDATE SKIP LOCKED, then their votes counted afresh) passes it over, or holds
# it first and this update waits, then makes it pending again. Skipping the pending ones let a
# click whose snapshot still counted the undone vote settle the request after the undo.
_SQLITE_TRIGGERS = (
    """CREATE TRIGGER tr_annotations_reopen_requests
    AFTER UPDATE OF retracted_at, label_id, source, annotator, example_id ON annotations
    BEGIN
        UPDATE multi_label_requests SET pending = 1
        WHERE example_id IN (OLD.example_id, NEW.example_id);
    END""",
    """CREATE TRIGGER tr_labels_reopen_requests AFTER UPDATE OF active, mapped_to_id ON labels
    WHEN (OLD.active OR OLD.mapped_to_id IS NOT NULL)
         AND NOT (NEW.active OR NEW.mapped_to_id IS NOT NULL)
    BEGIN
        UPDATE multi_label_requests SET pending = 1
        WHERE project_id = NEW.project_id;
    END""",
)
_POSTGRESQL_TRIGGERS = (
    """CREATE FUNCTION labelbot_reopen_requests_of_example() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE multi_label_requests SET pending = true
        WHERE example_id IN (OLD.example_id, NEW.example_id);
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER tr_annotations_reopen_requests
    AFTER UPDATE OF retracted_at, label_id, source, annotator, example_id ON annotations
    FOR EACH ROW EXECUTE FUNCTION labelbot_reopen_requests_of_example()""",
    """CREATE FUNCTION labelbot_reopen_requests_of_project() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE multi_label_requests SET pending = true
        WHERE project_id = NEW.project_id;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER tr_labels_reopen_requests AFTER UPDATE OF active, mapped_to_id ON labels
    FOR EACH ROW WHEN ((OLD.active OR OLD.mapped_to_id IS NOT NULL)
                       AND NOT (NEW.active OR NEW.mapped_to_id IS NOT NULL))
    EXECUTE FUNCTION labelbot_reopen_requests_of_project()""",
)
_DROP_TRIGGERS = (
    "DROP TRIGGER IF EXISTS tr_annotations_reopen_requests{on_annotations}",
    "DROP TRIGGER IF EXISTS tr_labels_reopen_requests{on_labels}",
)


def upgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    # Plain ADD COLUMNs (no table rebuild: SQLite keeps the tables' AUTOINCREMENT)
    op.add_column("examples", sa.Column("seq", sa.Integer(), nullable=True))
    op.add_column("assignments", sa.Column("labeling_number", sa.Integer(), nullable=True))
    op.add_column("assignments", sa.Column("annotator_number", sa.Integer(), nullable=True))
    op.add_column(
        "multi_label_requests",
        sa.Column("pending", sa.Boolean(), nullable=False, server_default=sa.text("true")),
    )
    _number_rows()
    op.create_index("ix_examples_project_seq", "examples", ["project_id", "seq"])
    op.create_index("ix_assignments_labeling_number", "assignments",
                    ["project_id", "labeling_number"])  # fmt: skip
    op.create_index(
        "ix_assignments_annotator_number",
        "assignments",
        ["project_id", "annotator", "annotator_number"],
    )
    op.create_index("ix_assignments_open_expiry", "assignments", ["project_id", "expires_at"],
                    sqlite_where=OPEN, postgresql_where=OPEN)  # fmt: skip
    op.create_index("ix_assignments_open_annotator", "assignments", ["project_id", "annotator"],
                    sqlite_where=OPEN, postgresql_where=OPEN)  # fmt: skip
    op.create_index(
        "ix_multi_label_requests_pending",
        "multi_label_requests",
        ["project_id"],
        sqlite_where=sa.text("pending = 1"),
        postgresql_where=sa.text("pending"),
    )
    # Every request starts pending: the queue's first click settles the ones with their opinions.
    for statement in _POSTGRESQL_TRIGGERS if postgresql else _SQLITE_TRIGGERS:
        op.execute(statement)


def _number_rows() -> None:
    """Number the rows stored so far in id order: each project's examples; each project's
    labeling deliveries, and each expert's deliveries in a project (every purpose). In
    Python, the same on both databases (a window function in an UPDATE is not)."""
    bind = op.get_bind()
    examples = sa.table(
        "examples", sa.column("id", sa.Integer()), sa.column("project_id", sa.Integer()),
        sa.column("seq", sa.Integer()),
    )  # fmt: skip
    assignments = sa.table(
        "assignments",
        sa.column("id", sa.Integer()),
        sa.column("project_id", sa.Integer()),
        sa.column("annotator", sa.String()),
        sa.column("purpose", sa.String()),
        sa.column("labeling_number", sa.Integer()),
        sa.column("annotator_number", sa.Integer()),
    )
    seen: dict[object, int] = {}
    rows = bind.execute(
        sa.select(examples.c.id, examples.c.project_id).order_by(examples.c.id)
    ).all()
    _update(bind, examples, ({"b_id": i, "seq": _next(seen, p)} for i, p in rows))
    labeling: dict[object, int] = {}
    mine: dict[object, int] = {}
    rows = bind.execute(
        sa.select(
            assignments.c.id, assignments.c.project_id, assignments.c.annotator,
            assignments.c.purpose,
        ).order_by(assignments.c.id)
    ).all()  # fmt: skip
    _update(
        bind,
        assignments,
        (
            {
                "b_id": i,
                "labeling_number": _next(labeling, p) if purpose in LABELING else None,
                "annotator_number": _next(mine, (p, who)),
            }
            for i, p, who, purpose in rows
        ),
    )


def _next(numbers: dict[object, int], key: object) -> int:
    numbers[key] = numbers.get(key, 0) + 1
    return numbers[key]


def _update(
    bind: sa.Connection, table: sa.TableClause, values: Iterable[dict[str, object]]
) -> None:
    chunk: list[dict[str, object]] = []
    for row in values:
        chunk.append(row)
        if len(chunk) == _CHUNK:
            _write(bind, table, chunk)
            chunk = []
    if chunk:
        _write(bind, table, chunk)


def _write(bind: sa.Connection, table: sa.TableClause, rows: list[dict[str, object]]) -> None:
    names = [k for k in rows[0] if k != "b_id"]
    bind.execute(
        sa.update(table)
        .where(table.c.id == sa.bindparam("b_id"))
        .values({k: sa.bindparam(k) for k in names}),
        rows,
    )


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    on = {"on_annotations": " ON annotations", "on_labels": " ON labels"} if postgresql else {
        "on_annotations": "", "on_labels": ""
    }  # fmt: skip
    for statement in _DROP_TRIGGERS:
        op.execute(statement.format(**on))
    if postgresql:
        op.execute("DROP FUNCTION IF EXISTS labelbot_reopen_requests_of_example()")
        op.execute("DROP FUNCTION IF EXISTS labelbot_reopen_requests_of_project()")
    op.drop_index("ix_multi_label_requests_pending", table_name="multi_label_requests")
    op.drop_index("ix_assignments_open_annotator", table_name="assignments")
    op.drop_index("ix_assignments_open_expiry", table_name="assignments")
    op.drop_index("ix_assignments_annotator_number", table_name="assignments")
    op.drop_index("ix_assignments_labeling_number", table_name="assignments")
    op.drop_index("ix_examples_project_seq", table_name="examples")
    with op.batch_alter_table("multi_label_requests") as batch:
        batch.drop_column("pending")
    # SQLite rebuilds the table (batch), which could re-create the partial unique index of open
    # assignments without its WHERE: it is dropped first and made again as 0001 made it.
    op.drop_index("uq_assignments_open_example", table_name="assignments")
    with op.batch_alter_table("assignments", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("annotator_number")
        batch.drop_column("labeling_number")
    op.create_index("uq_assignments_open_example", "assignments", ["example_id"], unique=True,
                    sqlite_where=OPEN, postgresql_where=OPEN)  # fmt: skip
    with op.batch_alter_table("examples", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("seq")
