"""No id is handed out twice (migration 0016 on SQLite; PostgreSQL's sequences never did): after
`labelbot project delete`, the next project's rows get new ids, so a button on an old Slack
message of the deleted project (Flag and Discuss carry an example id, Approve a proposal id)
can never act on the new project's rows. And 0016 upgrades a database in use keeping every row
and id."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from engine import labeling, projects, taxonomy
from engine.workspace import Workspace
from storage.db import session_scope, upgrade
from storage.models import Annotation, Example, LabelEvent, Project
from tests.helpers import label_next, load_slice
from tests.storage.test_migrations import _downgrade_to_base, _fill_every_table

# Every table 0016 gives AUTOINCREMENT on SQLite (a module name that starts with a digit)
TABLES = importlib.import_module("storage.migrations.versions.0016_ids_never_reused").TABLES


def _max_ids(ws: Workspace) -> dict[str, int]:
    with session_scope(ws.db, read_only=True) as session:
        return {
            model.__tablename__: session.exec(sa.select(sa.func.max(model.id))).scalar_one() or 0  # type: ignore[call-overload, arg-type]
            for model in (Project, Example, Annotation, LabelEvent)
        }


def test_a_deleted_projects_ids_are_never_handed_out_again(
    ws: Workspace, banking_slice: list[tuple[str, str]], tmp_path: Path
) -> None:
    rows = banking_slice[:30]
    truth = load_slice(ws, rows, tmp_path, project="trial")
    label_next(ws, truth, 6, project="trial")
    taxonomy.add_labels(
        ws, project="trial", names=["extra"], actor="t", rescore=False
    )  # a label event
    before = _max_ids(ws)
    assert all(before.values())
    projects.delete_project(ws, "trial")

    truth = load_slice(ws, rows, tmp_path, project="real")
    label_next(ws, truth, 6, project="real")
    taxonomy.add_labels(ws, project="real", names=["extra"], actor="t", rescore=False)
    with session_scope(ws.db, read_only=True) as session:
        real = session.exec(sa.select(Project).where(Project.name == "real")).scalar_one()
        example_ids = session.exec(
            sa.select(Example.id).where(Example.project_id == real.id)
        ).scalars()
        first_example = min(example_ids)
        first_vote = session.exec(sa.select(sa.func.min(Annotation.id))).scalar_one()
        first_event = session.exec(sa.select(sa.func.min(LabelEvent.id))).scalar_one()
    assert real.id is not None and real.id > before["projects"]
    assert first_example > before["examples"]
    assert first_vote > before["annotations"]
    assert first_event > before["label_events"]
    # so an old button of the deleted project names no example of the new one
    assert labeling.next_task(ws, project="real", annotator="U9") is not None


def test_0016_keeps_every_row_and_id_and_sets_the_counter(db: sa.Engine) -> None:
    _downgrade_to_base(db)
    upgrade(db, "0015")
    counts = _fill_every_table(db)

    def ids() -> dict[str, list[int]]:
        with db.connect() as conn:
            return {
                t: list(conn.execute(sa.text(f"SELECT id FROM {t} ORDER BY id")).scalars())
                for t in TABLES
            }

    before = ids()
    upgrade(db)
    assert ids() == before
    with db.connect() as conn:
        after: dict[str, Any] = {
            t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in counts
        }
    assert after == counts
    if db.dialect.name != "sqlite":
        return
    with db.connect() as conn:
        for table in TABLES:
            sql = conn.execute(
                sa.text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = :t"),
                {"t": table},
            ).scalar_one()
            assert "AUTOINCREMENT" in sql.upper(), table
    # the newest comment deleted, the next one still gets a new id
    with db.begin() as conn:
        (newest,) = before["comments"][-1:]
        row = conn.execute(sa.text(f"SELECT * FROM comments WHERE id = {newest}")).mappings().one()
        conn.execute(sa.text(f"DELETE FROM comments WHERE id = {newest}"))
        values = {k: v for k, v in row.items() if k != "id"}  # as SQLite stored them
        columns = ", ".join(values)
        marks = ", ".join(f":{k}" for k in values)
        conn.execute(sa.text(f"INSERT INTO comments ({columns}) VALUES ({marks})"), values)
        new_id = conn.execute(sa.text("SELECT max(id) FROM comments")).scalar_one()
    assert new_id > newest
