"""``add_annotations`` and ``live_votes_by_source`` on SQLite and PostgreSQL: an import's labels,
whichever way they are sent.

On PostgreSQL the rows go as arrays unnested by one INSERT ... SELECT, and the lookup of the
imported votes as one = ANY(array) (psycopg scanned the 1,000-row INSERTs and the IN lists of
thousands of ids anew each time, too long for its cache: most of the labels' time; see
bench/README.md, "Import speed"). These tests pin down what both databases share: ids in input
order, every value stored as the ORM stores it, ON CONFLICT DO NOTHING against rows stored
meanwhile, the caller's transaction, SQLAlchemy's errors. tests/storage/test_add_annotations.py
has the key semantics (a key stored before or repeated in the call stores nothing).
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from storage.db import session_scope
from storage.errors import InvalidInputError
from storage.models import Annotation, utcnow
from storage.repositories import examples, feedback, projects
from storage.repositories.examples import NewExample
from storage.repositories.feedback import NewAnnotation
from tests.storage.test_add_examples_bulk import second_engine  # noqa: F401  (a fixture)
from tests.storage.test_settings_races import HUNG, wait_until_done_or_blocked


def _setup(db: Engine, n: int) -> tuple[list[int], dict[str, int]]:
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


def _raw(db: Engine) -> list[tuple[Any, ...]]:
    """Every annotation as stored, by id: its columns as the driver reads them back."""
    with session_scope(db, read_only=True) as s:
        return [
            tuple(row)
            for row in s.execute(
                text(
                    "SELECT id, example_id, label_id, annotator, source, idempotency_key,"
                    " created_at, retracted_at FROM annotations ORDER BY id"
                )
            ).all()
        ]


# Strings an escaping format could get wrong: array literals' separators and escapes, SQL's
# quotes and placeholders, and other scripts.
AWKWARD = [
    "tab\there",
    "new\nline",
    "back\\slash \\N and a final one \\",
    "double \"quotes\", single 'quotes', {braces}, commas",
    "NULL",
    "",
    " blanks ",
    "ünïcödé 日本語 עברית 🐈‍⬛ e\u0301 \u200b",
    "$1 %s %(name)s :param ? %b",
]


def test_rows_are_stored_in_input_order_with_the_values_the_orm_stores(db) -> None:  # type: ignore[no-untyped-def]
    """New rows get ascending ids in the input's order; annotator, source and key come back as
    given (awkward ones too); created_at reads back, raw, as a row the ORM inserts (its type,
    aware on PostgreSQL), and as the time given; retracted_at is NULL."""
    ids, labels = _setup(db, len(AWKWARD))
    when = utcnow() - timedelta(hours=3)
    rows = [
        NewAnnotation(example_id, labels["ab"[i % 2]], f"ann {s}", s[:20], f"key {i} {s}")
        for i, (example_id, s) in enumerate(zip(reversed(ids), AWKWARD, strict=True))
    ]
    with session_scope(db) as s:
        s.add(
            Annotation(
                example_id=ids[0], label_id=labels["a"], annotator="orm", source="cli",
                idempotency_key="by the orm", created_at=when,
            )
        )  # fmt: skip
        s.flush()
        assert feedback.add_annotations(session=s, rows=rows, created_at=when) == len(rows)
    orm, *stored = _raw(db)
    assert [r[1:6] for r in stored] == [
        (r.example_id, r.label_id, r.annotator, r.source, r.key) for r in rows
    ]
    assert [r[0] for r in stored] == sorted(r[0] for r in stored) and stored[0][0] > orm[0]
    created = {r[6] for r in stored}
    assert created == {orm[6]} and {r[7] for r in stored} == {None}
    (raw,) = created
    if isinstance(raw, datetime):  # PostgreSQL: aware; SQLite's driver reads text back
        assert raw.tzinfo is not None and raw == when
    with session_scope(db, read_only=True) as s:
        project_id = int(projects.get_project(session=s, name="p").id or 0)
        read = feedback.list_annotations(session=s, project_id=project_id)
    assert {a.created_at for a in read} == {when}  # aware UTC, read through the repository


def test_the_default_time_is_now(db) -> None:  # type: ignore[no-untyped-def]
    ids, labels = _setup(db, 2)
    before = utcnow()
    with session_scope(db) as s:
        rows = [NewAnnotation(i, labels["a"], "import", "import", f"k{i}") for i in ids]
        assert feedback.add_annotations(session=s, rows=rows) == 2
    after = utcnow()
    with session_scope(db, read_only=True) as s:
        project_id = int(projects.get_project(session=s, name="p").id or 0)
        read = feedback.list_annotations(session=s, project_id=project_id)
    assert len(read) == 2 and all(before <= a.created_at <= after for a in read)


def test_a_key_stored_meanwhile_by_another_transaction_is_skipped_not_an_error(  # type: ignore[no-untyped-def]
    db,
    second_engine,  # noqa: F811
) -> None:
    """ON CONFLICT DO NOTHING: a key another transaction stored, not yet committed, when this
    insert began (PostgreSQL: the insert is seen waiting for it; SQLite's writers take turns)
    stores nothing, the count leaves it out, and the other rows go in."""
    ids, labels = _setup(db, 3)
    pg = db.dialect.name == "postgresql"
    second: dict[str, Any] = {}
    done = threading.Event()
    rows = [NewAnnotation(i, labels["a"], "import", "import", f"k{n}") for n, i in enumerate(ids)]

    def import_labels() -> None:
        try:
            with session_scope(second_engine) as s:
                if pg:
                    second["pid"] = int(s.execute(text("SELECT pg_backend_pid()")).scalar_one())
                second["stored"] = feedback.add_annotations(session=s, rows=rows)
        except BaseException as exc:  # re-raised below
            second["error"] = exc
        finally:
            done.set()

    with session_scope(db) as s:
        feedback.add_annotation(
            session=s, example_id=ids[1], label_id=labels["b"], annotator="ann",
            source="slack", key="k1",
        )  # fmt: skip
        thread = threading.Thread(target=import_labels)
        thread.start()
        if pg:
            seen = wait_until_done_or_blocked(db, pid=lambda: second.get("pid"), done=done)
            assert seen == "blocked"
    thread.join(HUNG)
    assert "error" not in second, second.get("error")
    assert second["stored"] == 2
    stored = sorted((r[5], r[1], r[2], r[3]) for r in _raw(db))
    assert stored == [
        ("k0", ids[0], labels["a"], "import"),
        ("k1", ids[1], labels["b"], "ann"),
        ("k2", ids[2], labels["a"], "import"),
    ]


def test_an_error_later_in_the_transaction_rolls_back_the_annotations(db) -> None:  # type: ignore[no-untyped-def]
    """The caller's transaction: an error after the insert leaves none of its rows."""
    ids, labels = _setup(db, 2)
    with pytest.raises(RuntimeError, match="mid-import"), session_scope(db) as s:
        rows = [NewAnnotation(i, labels["a"], "import", "import", f"k{i}") for i in ids]
        assert feedback.add_annotations(session=s, rows=rows) == 2
        raise RuntimeError("mid-import")
    assert _raw(db) == []


def test_an_unknown_example_is_sqlalchemys_integrity_error(db) -> None:  # type: ignore[no-untyped-def]
    """A foreign key the database refuses is SQLAlchemy's IntegrityError, as the ORM's
    statements raise it, and nothing of the transaction stays."""
    ids, labels = _setup(db, 1)
    with pytest.raises(IntegrityError), session_scope(db) as s:
        feedback.add_annotations(
            session=s, rows=[NewAnnotation(ids[0], labels["a"], "import", "import", "ok")]
        )
        feedback.add_annotations(
            session=s, rows=[NewAnnotation(ids[0] + 1000, labels["a"], "import", "import", "x")]
        )
    assert _raw(db) == []


@pytest.mark.postgres
@pytest.mark.parametrize("db_url_and_schema", ["postgres"], indirect=True)
@pytest.mark.parametrize(
    "bad",
    [
        NewAnnotation(0, 0, "a NUL \x00 byte", "import", "nul"),
        NewAnnotation(0, 0, "x" * 201, "import", "long annotator"),
        NewAnnotation(0, 0, "import", "import", "k" * 256),
    ],
    ids=["nul-in-annotator", "annotator-too-long", "key-too-long"],
)
def test_a_value_postgres_refuses_is_one_line_and_rolls_back_the_import(  # type: ignore[no-untyped-def]
    db, bad: NewAnnotation
) -> None:
    """A value PostgreSQL refuses is an InvalidInputError (SQLAlchemy's DataError, as the ORM's
    statements raise it), and the examples and labels stored before it in the transaction are
    gone too."""
    _, labels = _setup(db, 0)
    with session_scope(db, read_only=True) as s:
        project_id = int(projects.get_project(session=s, name="p").id or 0)
    refused = pytest.raises(InvalidInputError, match="the database refused a value")
    with refused, session_scope(db) as s:
        first, second = examples.add_examples(
            session=s, project_id=project_id, rows=[NewExample("one"), NewExample("two")]
        ).ids
        feedback.add_annotations(
            session=s, rows=[NewAnnotation(first, labels["a"], "import", "import", "first")]
        )
        feedback.add_annotations(
            session=s,
            rows=[
                NewAnnotation(first, labels["b"], "import", "import", "fine"),
                NewAnnotation(second, labels["a"], bad.annotator, bad.source, bad.key),
            ],
        )
    assert _raw(db) == []
    with session_scope(db, read_only=True) as s:
        assert examples.examples_after(session=s, project_id=project_id, after_id=0, limit=9) == []


def test_live_votes_by_source_reads_the_live_votes_of_that_source_on_those_examples(db) -> None:  # type: ignore[no-untyped-def]
    """Each example given with the labels of its live votes from the source: not a retracted
    one, not another source's, not another example's; an example repeated counts once."""
    ids, labels = _setup(db, 4)
    a, b = labels["a"], labels["b"]
    with session_scope(db) as s:
        feedback.add_annotations(
            session=s,
            rows=[
                NewAnnotation(ids[0], a, "import", "import", "0a"),
                NewAnnotation(ids[0], b, "import", "import", "0b"),
                NewAnnotation(ids[1], a, "import", "import", "1a"),
                NewAnnotation(ids[1], b, "ann", "slack", "1b"),  # another source
                NewAnnotation(ids[2], b, "import", "import", "2b"),  # retracted below
                NewAnnotation(ids[3], a, "import", "import", "3a"),  # not asked for
            ],
        )
        retracted = s.execute(
            text("SELECT id FROM annotations WHERE idempotency_key = '2b'")
        ).scalar_one()
        assert feedback.retract_annotation(session=s, annotation_id=retracted, annotator="import")
    with session_scope(db, read_only=True) as s:
        found = feedback.live_votes_by_source(
            session=s, example_ids=[ids[0], ids[1], ids[2], ids[0]], source="import"
        )
        assert feedback.live_votes_by_source(session=s, example_ids=[], source="import") == {}
    assert dict(found) == {ids[0]: {a, b}, ids[1]: {a}}


@pytest.mark.postgres
@pytest.mark.parametrize("db_url_and_schema", ["postgres"], indirect=True)
def test_postgres_sends_each_chunk_in_one_statement_of_a_few_parameters(db) -> None:  # type: ignore[no-untyped-def]
    """2,500 annotations: one INSERT and, for the votes already given on them, one SELECT, each
    with a handful of parameters (arrays), not multi-row statements of 1,000 rows (7,000
    parameters) and an IN list of 2,500 ids, which psycopg scanned anew each time (too long for
    its cache)."""
    ids, labels = _setup(db, 2_500)
    statements: list[tuple[str, int]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        if "annotations" in statement:
            statements.append((statement.split()[0].upper(), len(parameters or ())))

    rows = [NewAnnotation(i, labels["a"], "import", "import", f"k{i}") for i in ids]
    with session_scope(db) as s:
        event.listen(db, "before_cursor_execute", record)
        try:
            assert feedback.add_annotations(session=s, rows=rows) == 2_500
            given = feedback.live_votes_by_source(session=s, example_ids=ids, source="import")
        finally:
            event.remove(db, "before_cursor_execute", record)
    assert given == {i: {labels["a"]} for i in ids}
    assert [verb for verb, _ in statements] == ["INSERT", "SELECT"], statements
    assert max(n for _, n in statements) <= 10, statements
    stored = _raw(db)
    assert [r[1] for r in stored] == ids  # ids in the input's order
