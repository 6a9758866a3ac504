"""feedback.add_annotations, the bulk insert behind an import's labels: the rows and the key
semantics of add_annotation, one at a time, on real SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event
from sqlmodel import col, select

from storage.db import session_scope
from storage.models import Annotation, utcnow
from storage.repositories import examples, feedback, projects
from storage.repositories.examples import NewExample
from storage.repositories.feedback import NewAnnotation


def _setup(db, n: int) -> tuple[list[int], dict[str, int]]:  # type: ignore[no-untyped-def]
    with session_scope(db) as s:
        project = projects.create_project(session=s, name="p", labels=["a", "b"])
        assert project.id is not None
        ids = examples.add_examples(
            session=s, project_id=project.id, rows=[NewExample(f"text {i}") for i in range(n)]
        ).ids
        labels = {
            lb.name: int(lb.id or 0)
            for lb in projects.list_labels(session=s, project_id=project.id)
        }
    return ids, labels


def _stored(db) -> list[tuple[object, ...]]:  # type: ignore[no-untyped-def]
    with session_scope(db, read_only=True) as s:
        rows = s.exec(select(Annotation).order_by(col(Annotation.id))).all()
        return [
            (a.example_id, a.label_id, a.annotator, a.source, a.idempotency_key, a.retracted_at)
            for a in rows
        ]


def test_the_rows_and_keys_are_add_annotations_one_at_a_time(db) -> None:  # type: ignore[no-untyped-def]
    """A key stored before, or repeated in the call, stores nothing; the count says how many
    rows were new; the rows are what add_annotation stores, in the order given."""
    ids, labels = _setup(db, 4)
    with session_scope(db) as s:
        feedback.add_annotation(
            session=s, example_id=ids[0], label_id=labels["a"], annotator="ann",
            source="slack", key="k0",
        )  # fmt: skip
    rows = [
        NewAnnotation(ids[0], labels["b"], "import", "import", "k0"),  # stored before
        NewAnnotation(ids[1], labels["a"], "import", "import", "k1"),
        NewAnnotation(ids[2], labels["b"], "import", "import", "k2"),
        NewAnnotation(ids[3], labels["b"], "import", "import", "k1"),  # repeats k1
        NewAnnotation(ids[3], labels["a"], "import", "import", "k3"),
    ]
    with session_scope(db) as s:
        assert feedback.add_annotations(session=s, rows=rows) == 3
    assert _stored(db) == [
        (ids[0], labels["a"], "ann", "slack", "k0", None),
        (ids[1], labels["a"], "import", "import", "k1", None),
        (ids[2], labels["b"], "import", "import", "k2", None),
        (ids[3], labels["a"], "import", "import", "k3", None),
    ]
    with session_scope(db) as s:  # all stored: again, nothing
        assert feedback.add_annotations(session=s, rows=rows) == 0
        assert feedback.add_annotations(session=s, rows=[]) == 0
        # and add_annotation finds a key the bulk insert stored
        _, created = feedback.add_annotation(
            session=s, example_id=ids[1], label_id=labels["b"], annotator="x", source="cli",
            key="k1",
        )  # fmt: skip
        assert created is False
    assert len(_stored(db)) == 4


def test_votes_stored_in_bulk_count_as_votes(db) -> None:  # type: ignore[no-untyped-def]
    """The time given is every row's; the agreed label reads them as add_annotation's rows."""
    ids, labels = _setup(db, 2)
    then = utcnow() - timedelta(days=1)
    with session_scope(db) as s:
        feedback.add_annotation(
            session=s, example_id=ids[0], label_id=labels["a"], annotator="ann",
            source="slack", key="old", created_at=then - timedelta(hours=1),
        )  # fmt: skip
        rows = [NewAnnotation(i, labels["b"], "import", "import", f"imp{i}") for i in ids]
        assert feedback.add_annotations(session=s, rows=rows, created_at=then) == 2
    with session_scope(db, read_only=True) as s:
        project_id = projects.get_project(session=s, name="p").id
        # a tie (a vs b) goes to the latest vote: the import's
        assert feedback.current_labels(session=s, project_id=project_id) == {
            ids[0]: "b",
            ids[1]: "b",
        }
        annotations = feedback.list_annotations(session=s, project_id=project_id)
    assert [a.created_at.replace(tzinfo=None) for a in annotations[1:]] == [
        then.replace(tzinfo=None)
    ] * 2


def test_thousands_of_rows_go_in_a_few_statements(db) -> None:  # type: ignore[no-untyped-def]
    ids, labels = _setup(db, 2_500)
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    rows = [NewAnnotation(i, labels["a"], "import", "import", f"k{i}") for i in ids]
    event.listen(db, "before_cursor_execute", seen)
    try:
        with session_scope(db) as s:
            assert feedback.add_annotations(session=s, rows=rows) == 2_500
    finally:
        event.remove(db, "before_cursor_execute", seen)
    about = [x for x in statements if "annotations" in x]
    assert len(about) <= 3 and all(x.startswith("INSERT INTO annotations") for x in about)
    assert len(_stored(db)) == 2_500
