"""Migration 0014 (labels' ids are never handed out again) on a database in use, on SQLite and
PostgreSQL: every label, annotation and review keeps its row and ids, and the next label never
gets the id of one removed, before the upgrade or after it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import command

from storage.db import alembic_config, current_revision, upgrade
from tests.storage.test_migrations import REVISIONS

THEN = datetime(2026, 1, 1, tzinfo=UTC)


def _downgrade(db: sa.Engine, revision: str) -> None:
    """As storage.db.upgrade migrates: on SQLite with foreign keys off while a table that rows
    refer to is rebuilt."""
    config = alembic_config(db)
    with db.connect() as conn:
        raw = conn.connection.dbapi_connection if db.dialect.name == "sqlite" else None
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                config.attributes["connection"] = conn
                command.downgrade(config, revision)
        finally:
            if raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")


def _rows(db: sa.Engine, table: str) -> list[tuple[Any, ...]]:
    with db.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(f"SELECT * FROM {table} ORDER BY id"))]


def _insert(conn: sa.Connection, table: sa.Table, **values: Any) -> int:
    return int(conn.execute(table.insert().values(**values).returning(table.c.id)).scalar_one())


def _new_label(db: sa.Engine, project_id: int, name: str) -> int:
    with db.begin() as conn:
        labels = sa.Table("labels", sa.MetaData(), autoload_with=conn)
        return _insert(conn, labels, project_id=project_id, name=name, description="",
                       active=True, position=9, created_at=THEN)  # fmt: skip


def _delete_label(db: sa.Engine, label_id: int) -> None:
    with db.begin() as conn:
        conn.execute(sa.text("DELETE FROM labels WHERE id = :id"), {"id": label_id})


def test_0014_keeps_every_label_and_what_refers_to_it_and_never_reuses_an_id(db) -> None:  # type: ignore[no-untyped-def]
    _downgrade(db, "base")
    upgrade(db, "0013")
    metadata = sa.MetaData()
    with db.begin() as conn:
        metadata.reflect(conn)
        t = metadata.tables
        project = _insert(conn, t["projects"], name="p", description="", created_at=THEN,
                          settings={})  # fmt: skip
        ids = [
            _insert(
                conn,
                t["labels"],
                project_id=project,
                name=name,
                description=f"about {name}",
                active=True,
                position=i,
                created_at=THEN,
            )
            for i, name in enumerate(["a", "b", "c", "d"])
        ]
        # b merged into a; d added by a change, then removed by its undo (as _undo_add does)
        conn.execute(t["labels"].update().where(t["labels"].c.id == ids[1])
                     .values(active=False, mapped_to_id=ids[0]))  # fmt: skip
        added = {"labels": [{"id": ids[3], "name": "d"}]}
        _insert(conn, t["label_events"], project_id=project, kind="add", actor="admin",
                reason="", details=added, created_at=THEN)  # fmt: skip
        conn.execute(t["labels"].delete().where(t["labels"].c.id == ids[3]))
        example = _insert(conn, t["examples"], project_id=project, text="x", meta={},
                          content_hash="h", created_at=THEN, audit=False)  # fmt: skip
        votes = [
            _insert(
                conn,
                t["annotations"],
                example_id=example,
                label_id=label,
                annotator=who,
                source="slack",
                created_at=THEN,
                idempotency_key=f"k-{who}",
            )
            for label, who in [(ids[1], "ana"), (ids[2], "bob")]
        ]
        _insert(conn, t["reviews"], project_id=project, example_id=example,
                annotation_id=votes[0], annotator="ana", given_label_id=ids[1],
                suggested_label_id=ids[2], confidence=0.9, margin=0.5, status="open",
                created_at=THEN)  # fmt: skip
    before = {name: _rows(db, name) for name in ("labels", "annotations", "reviews")}

    upgrade(db)

    assert current_revision(db) == REVISIONS[-1]  # and on to the latest
    assert {name: _rows(db, name) for name in before} == before  # every row, every id
    with db.connect() as conn:
        if db.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
        labels = sa.Table("labels", sa.MetaData(), autoload_with=conn)
        assert {c.name for c in labels.c} >= {"mapped_to_id", "project_id", "name"}
    # the label removed before the upgrade (its add event names it) keeps its id to itself ...
    newer = _new_label(db, project, "e")
    assert newer > ids[3]
    # ... and so does one removed after it
    _delete_label(db, newer)
    assert _new_label(db, project, "f") > newer

    kept = {name: _rows(db, name) for name in before}
    _downgrade(db, "0013")  # and back: the rows stay as they are
    assert {name: _rows(db, name) for name in before} == kept
