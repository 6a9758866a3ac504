"""labels: ids are never handed out twice on SQLite (AUTOINCREMENT), so a button or a model
class that carries the id of a label an undo removed can never name a label added later

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# The changes that create labels, and where their details keep the created labels' refs.
_CREATED = {"add": "labels", "merge": "into", "split": "into"}


def upgrade() -> None:
    # PostgreSQL's sequences never hand an id out again: nothing to do there. SQLite's plain
    # INTEGER PRIMARY KEY gives max(id) + 1, the id of the newest label again once an undo
    # removed it; AUTOINCREMENT keeps the highest id ever used (sqlite_sequence). SQLite cannot
    # add it in place: the table is rebuilt, rows and ids as they are (storage.db.upgrade turns
    # foreign keys off meanwhile, as annotations, reviews and labels refer to labels, and checks
    # them before committing).
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "labels", recreate="always", table_kwargs={"sqlite_autoincrement": True}
    ):
        pass
    # The rows copied set the counter to the highest id left; a label removed before this
    # upgrade may have had a higher one, which its change's event still names.
    _raise_sequence(max(_created_label_ids(), default=0))


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    with op.batch_alter_table(
        "labels", recreate="always", table_kwargs={"sqlite_autoincrement": False}
    ):
        pass


def _created_label_ids() -> list[int]:
    """The ids of every label a recorded change created (removed since by an undo, or not)."""
    events = sa.table("label_events", sa.column("kind", sa.String), sa.column("details", sa.JSON))
    ids = []
    for kind, details in op.get_bind().execute(sa.select(events.c.kind, events.c.details)):
        created: Any = (details or {}).get(_CREATED.get(kind, ""))
        refs = created if isinstance(created, list) else [created]
        ids += [int(ref["id"]) for ref in refs if isinstance(ref, dict) and ref.get("id")]
    return ids


def _raise_sequence(highest: int) -> None:
    bind = op.get_bind()
    seq = bind.execute(sa.text("SELECT seq FROM sqlite_sequence WHERE name = 'labels'")).scalar()
    if seq is None:
        bind.execute(
            sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('labels', :n)"), {"n": highest}
        )
    elif int(seq) < highest:
        bind.execute(
            sa.text("UPDATE sqlite_sequence SET seq = :n WHERE name = 'labels'"), {"n": highest}
        )
