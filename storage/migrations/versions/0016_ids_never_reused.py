"""Every table's ids are never handed out twice on SQLite (AUTOINCREMENT), as labels' are since
0014: once a project is deleted (`labelbot project delete`), a plain INTEGER PRIMARY KEY gives
max(id) + 1, so the next project's examples, proposals and reviews took the deleted project's ids,
and a button on an old Slack message (Flag, Discuss, a proposal's Approve) acted on them

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 12:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

# Every table with an integer id of its own, labels aside (0014); parents before children does
# not matter (storage.db.upgrade turns SQLite's foreign keys off while tables are rebuilt, and
# checks them before committing).
TABLES = (
    "projects",
    "examples",
    "annotations",
    "comments",
    "model_runs",
    "assignments",
    "flags",
    "outbox",
    "discussion_threads",
    "label_events",
    "proposals",
    "reviews",
)


def upgrade() -> None:
    # PostgreSQL's sequences never hand an id out again: nothing to do there. SQLite cannot add
    # AUTOINCREMENT in place: each table is rebuilt, rows, ids and indexes as they are; its
    # counter starts at the highest id left.
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ):
            pass


def downgrade() -> None:
    # Nothing: AUTOINCREMENT only keeps the counter; 0015's code reads and writes these tables
    # alike. Rebuilding them back would need SQLite's foreign keys off, which a plain
    # `alembic downgrade` does not do (storage.db.upgrade does, for upgrades).
    pass
