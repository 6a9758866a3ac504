"""What keeps a click's work from growing with the project (migration 0023), kept true: second
opinions marked settled once answered and pending again when a vote is undone or a label stops
counting (triggers, whichever labelbot writes); deliveries numbered so the audit slot and the
review turn read a number instead of a count, the numbers matching the counts; examples
numbered so an audit pick draws a number, and the rows stored before the upgrade (or by an older
labelbot after it) numbered too. Real SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import select

from engine import labeling, projects, taxonomy
from storage.db import downgrade, session_scope, upgrade
from storage.models import Example, MultiLabelRequest
from storage.repositories import assignments, examples
from storage.repositories import projects as projects_repo
from storage.repositories.examples import NewExample
from tests.conftest import empty_database

KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _project(ws: Any, n: int = 8, **settings: Any) -> int:
    projects.create_project(ws, name="p", labels=["A", "B"])
    projects.update_settings(ws, project="p", audit_share=0.0, **settings)
    with session_scope(ws.db) as session:
        pid = projects_repo.get_project(session=session, name="p").id
        assert pid is not None
        rows = [NewExample(f"text {i}") for i in range(n)]
        examples.add_examples(session=session, project_id=pid, rows=rows)
        return int(pid)


def _label(ws: Any, who: str, label: str = "A") -> tuple[int, int]:
    """``who`` labels the next example; (its id, the annotation's id)."""
    task = labeling.next_task(ws, project="p", annotator=who)
    assert task is not None
    done = labeling.submit_label(
        ws, project="p", example_id=task.example_id, label=label, annotator=who,
        source="slack", key=f"{who}:{task.example_id}",
    )  # fmt: skip
    return task.example_id, done.annotation_id


def _pending(ws: Any, example_id: int) -> bool:
    with session_scope(ws.db, read_only=True) as session:
        request = session.get(MultiLabelRequest, example_id)
        assert request is not None
        return bool(request.pending)


def _answered(ws: Any) -> tuple[int, int]:
    """An example asked of two experts (every first label asks: ``multi_label_share`` 1),
    answered by ann and ben, and settled by cat's next request; (its id, ben's annotation)."""
    _project(ws, multi_label_share=1.0, multi_label_k=2)
    first, _ = _label(ws, "ann")
    second, ben = _label(ws, "ben")
    assert second == first  # a second opinion goes first
    assert _pending(ws, first)
    task = labeling.next_task(ws, project="p", annotator="cat")
    assert task is not None and task.example_id != first
    assert not _pending(ws, first)  # settled: the queue no longer looks at it
    return first, ben


def test_an_undone_second_opinion_is_asked_again(ws) -> None:  # type: ignore[no-untyped-def]
    example_id, ben = _answered(ws)
    assert labeling.undo(ws, annotation_id=ben, annotator="ben") == example_id
    assert _pending(ws, example_id)
    task = labeling.next_task(ws, project="p", annotator="dan")
    assert task is not None and task.example_id == example_id


def test_a_retired_label_makes_its_answered_requests_pending_again(ws) -> None:  # type: ignore[no-untyped-def]
    example_id, _ = _answered(ws)
    taxonomy.rename_label(ws, project="p", label="B", new_name="Bee", actor="admin",
                          rescore=False)  # fmt: skip
    assert not _pending(ws, example_id)  # a rename changes no vote
    taxonomy.retire_label(ws, project="p", label="A", actor="admin", rescore=False)
    assert _pending(ws, example_id)


def test_the_numbers_count_the_deliveries(ws) -> None:  # type: ignore[no-untyped-def]
    """After labels, skips and undos by three experts, the audit slot's number is the count of
    the project's labeling deliveries, and each expert's the count of theirs."""
    pid = _project(ws, n=20)
    for round_ in range(3):
        for who in ("ann", "ben", "cat"):
            example_id, annotation = _label(ws, who)
            if who == "ben":
                task = labeling.next_task(ws, project="p", annotator=who)
                assert task is not None
                assert labeling.skip(ws, project="p", example_id=task.example_id, annotator=who)
            if who == "cat" and round_ == 1:
                labeling.undo_to_relabel(ws, annotation_id=annotation, annotator=who)
    with session_scope(ws.db, read_only=True) as session:
        counted = assignments.count_assignments(
            session=session, project_id=pid, purposes=assignments.LABELING
        )
        assert counted >= 12
        assert assignments.labeling_deliveries(session=session, project_id=pid) == counted
        for who in ("ann", "ben", "cat"):
            theirs = assignments.count_assignments(session=session, project_id=pid, annotator=who)
            assert (
                assignments.deliveries_to(session=session, project_id=pid, annotator=who) == theirs
            )


def test_examples_an_older_labelbot_stored_are_drawn_and_numbered(ws) -> None:  # type: ignore[no-untyped-def]
    """An example stored without a number (by a labelbot before 0023, on the upgraded schema):
    audit picks still draw it (counting the project, as before), and the next import numbers
    it after the others."""
    pid = _project(ws, n=3)
    with session_scope(ws.db) as session:
        session.execute(sa.update(Example).values(seq=None))
    with session_scope(ws.db) as session:
        drawn = {
            int(found.id or 0)
            for _ in range(40)
            if (found := assignments._next_free_example(session, pid, "ann", uniform=True))
        }
        assert len(drawn) == 3
    with session_scope(ws.db) as session:
        examples.add_examples(session=session, project_id=pid, rows=[NewExample("new text")])
    with session_scope(ws.db, read_only=True) as session:
        rows = session.exec(select(Example.id, Example.seq).order_by(Example.id)).all()
    assert [seq for _, seq in rows] == [1, 2, 3, 4]


@pytest.mark.parametrize("kind", KINDS)
def test_0023_numbers_the_rows_stored_before(kind: str, tmp_path: Path) -> None:
    """Each project's examples and labeling deliveries, and each expert's deliveries in a
    project, numbered in id order; the downgrade takes the columns, indexes and triggers
    away, and the upgrade runs again."""
    with empty_database(kind, tmp_path / "n.db") as (_, _, engine):
        upgrade(engine, "0022")
        meta = sa.MetaData()
        meta.reflect(engine, only=["projects", "examples", "assignments"])
        project, example, assignment = (meta.tables[t] for t in ("projects", "examples",
                                                                 "assignments"))  # fmt: skip
        now = datetime(2026, 1, 1, tzinfo=UTC)
        with engine.begin() as conn:
            for name in ("one", "two"):
                conn.execute(project.insert().values(name=name, description="", settings={},
                                                     created_at=now))  # fmt: skip
            pids = dict(conn.execute(sa.select(project.c.name, project.c.id)).all())
            order = ["one", "two", "one", "one", "two"]
            for i, name in enumerate(order):
                conn.execute(example.insert().values(
                    project_id=pids[name], text=f"t{i}", meta={}, content_hash=f"h{i}",
                    created_at=now, audit=False,
                ))  # fmt: skip
            ids = [i for (i,) in conn.execute(sa.select(example.c.id).order_by(example.c.id))]
            deliveries = [("one", "ann", "queue"), ("one", "ben", "review"), ("one", "ann",
                          "audit"), ("two", "ann", "queue"), ("one", "ben", "queue")]  # fmt: skip
            for name, who, purpose in deliveries:
                conn.execute(assignment.insert().values(
                    project_id=pids[name], example_id=ids[0], annotator=who, status="done",
                    purpose=purpose, created_at=now, expires_at=now,
                ))  # fmt: skip
        upgrade(engine)
        with engine.connect() as conn:
            seqs = conn.execute(sa.text("SELECT seq FROM examples ORDER BY id")).scalars().all()
            numbers = conn.execute(
                sa.text("SELECT labeling_number, annotator_number FROM assignments ORDER BY id")
            ).all()
        assert seqs == [1, 1, 2, 3, 2]
        assert [tuple(r) for r in numbers] == [(1, 1), (None, 1), (2, 2), (1, 1), (3, 2)]
        downgrade(engine, "0022")
        inspector = sa.inspect(engine)
        assert "seq" not in {c["name"] for c in inspector.get_columns("examples")}
        assert "pending" not in {c["name"] for c in inspector.get_columns("multi_label_requests")}
        indexes = {i["name"]: i for i in inspector.get_indexes("assignments")}
        assert "ix_assignments_open_expiry" not in indexes
        assert indexes["uq_assignments_open_example"]["unique"]
        upgrade(engine)
