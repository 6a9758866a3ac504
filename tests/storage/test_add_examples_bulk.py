"""``add_examples`` on SQLite and PostgreSQL: what an import stores, whichever way it is sent.

On PostgreSQL the rows go as arrays unnested by one INSERT ... SELECT (psycopg took about 15 s
per 100,000 rows to turn the multi-row statements it sent before into placeholders; see
bench/README.md, "Import speed"). These tests pin down the semantics both databases share:
deduplication by content hash, ids in input order, ON CONFLICT DO NOTHING against rows stored
meanwhile, imports taking turns, one transaction, and every value stored as the ORM stores it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from storage.db import make_engine, session_scope
from storage.errors import InvalidInputError
from storage.models import Example, utcnow
from storage.repositories import examples, projects
from storage.repositories.examples import NewExample
from tests.storage.test_settings_races import HUNG, wait_until_done_or_blocked


def _project(db: Engine, name: str = "p") -> int:
    with session_scope(db) as s:
        project_id = projects.create_project(session=s, name=name, labels=["a", "b"]).id
    assert project_id is not None
    return project_id


def _stored(db: Engine, project_id: int) -> list[tuple[int, str | None, str, dict[str, Any]]]:
    with session_scope(db, read_only=True) as s:
        return examples.examples_after(session=s, project_id=project_id, after_id=0, limit=10**6)


def test_duplicates_in_the_input_and_stored_ones_get_the_stored_ids_in_input_order(db) -> None:  # type: ignore[no-untyped-def]
    """ids[i] is input i's row; a repeat (same text up to whitespace) and a text stored by an
    earlier import are duplicates; new rows get ascending ids in the input's order."""
    pid = _project(db)
    other = _project(db, "q")  # the same text in another project is not a duplicate
    with session_scope(db) as s:
        first = examples.add_examples(
            session=s, project_id=pid, rows=[NewExample("b stored"), NewExample("d stored")]
        )
        examples.add_examples(session=s, project_id=other, rows=[NewExample("a new")])
    b, d = first.ids
    rows = [
        NewExample("a new", "x1"),
        NewExample("b stored", "x2"),
        NewExample("c new", "x3"),
        NewExample("a  new", "x4"),  # a repeat of row 0 (whitespace collapses)
        NewExample("d stored", "x5"),
        NewExample("e new", "x6"),
        NewExample("c new", "x7"),
    ]
    with session_scope(db) as s:
        added = examples.add_examples(session=s, project_id=pid, rows=rows)
    a, c, e = sorted(added.new)
    assert a < c < e and min(added.new) > max(b, d)
    assert added.ids == [a, b, c, a, d, e, c]
    assert (added.inserted, added.duplicates) == (3, 4)
    stored = _stored(db, pid)
    assert [(i, ext, t) for i, ext, t, _ in stored] == [
        (b, None, "b stored"),
        (d, None, "d stored"),
        (a, "x1", "a new"),  # a repeated text keeps its first row's id and text
        (c, "x3", "c new"),
        (e, "x6", "e new"),
    ]
    with session_scope(db) as s:
        again = examples.add_examples(session=s, project_id=pid, rows=rows)
    assert again.ids == added.ids and (again.inserted, again.duplicates, again.new) == (0, 7, set())


# Texts an escaping format could get wrong: COPY's and array literals' separators and escapes,
# JSON's, SQL's quotes, and long ones.
AWKWARD = [
    "tab\there",
    "new\nline and\r\ncarriage return",
    "back\\slash \\N \\t \\\\ and a final one \\",
    "double \"quotes\", single 'quotes', {braces}, commas, and NULL",
    "NULL",
    "",
    " leading and trailing blanks ",
    "ünïcödé: 日本語, עברית, العربية, emoji 🐈‍⬛🏳️‍🌈, combining e\u0301, \u200b zero width",
    "\u202eright-to-left override\u202c and \ufeff a BOM",
    "$1 %s %(name)s :param ? %b",
    "long " + "x" * 1_000_000,
    "long and varied " + "".join(map(chr, range(0x20, 0x3000))) * 20,
]
META = {
    "nested": {"list": [1, 2.5, None, True, "x"], "deeper": {"é": "ü", "empty": {}}},
    "quote": 'a "quoted" \\ value\twith tab\nand newline',
    "unicode": "日本語 🐈",
    "number": 12345678901234567890,
    "float": 0.1,
}


def test_awkward_texts_meta_and_missing_ids_are_stored_as_given(db) -> None:  # type: ignore[no-untyped-def]
    """Each text comes back as it went in; meta as the same JSON; None as external_id."""
    pid = _project(db)
    rows = [
        NewExample(t, None if i % 2 else f"ext\t{i}\\", {**META, "row": i})
        for i, t in enumerate(AWKWARD)
    ]
    with session_scope(db) as s:
        added = examples.add_examples(session=s, project_id=pid, rows=rows)
    assert added.inserted == len(AWKWARD)
    stored = _stored(db, pid)
    assert [i for i, *_ in stored] == added.ids
    assert [(ext, t, meta) for _, ext, t, meta in stored] == [
        (r.external_id, r.text, r.meta) for r in rows
    ]


def test_an_input_without_any_external_id_or_meta(db) -> None:  # type: ignore[no-untyped-def]
    """Every external_id None (an array of NULLs on PostgreSQL), every meta empty."""
    pid = _project(db)
    with session_scope(db) as s:
        added = examples.add_examples(
            session=s, project_id=pid, rows=[NewExample(f"t{i}") for i in range(3)]
        )
    assert [(i, ext, meta) for i, ext, _, meta in _stored(db, pid)] == [
        (i, None, {}) for i in added.ids
    ]


def test_meta_and_created_at_are_stored_as_the_orm_stores_them(db) -> None:  # type: ignore[no-untyped-def]
    """The JSON text of meta and the created_at column read back, raw, as those of a row the ORM
    inserts (Example(...) added to the session)."""
    pid = _project(db)
    before = utcnow()
    with session_scope(db) as s:
        s.add(Example(project_id=pid, text="by the orm", meta=META, content_hash="0" * 32))
        s.flush()
        (added,) = examples.add_examples(
            session=s, project_id=pid, rows=[NewExample("by add_examples", None, META)]
        ).ids
    after = utcnow()
    with session_scope(db) as s:
        raw = {
            name: (meta, created_at)
            for name, meta, created_at in s.execute(
                text("SELECT text, CAST(meta AS text), created_at FROM examples ORDER BY id")
            ).all()
        }
        example = examples.get_example(session=s, example_id=added)
    orm_meta, orm_created = raw["by the orm"]
    meta, created = raw["by add_examples"]
    assert meta == orm_meta and json.loads(meta) == META
    assert type(created) is type(orm_created)
    if isinstance(created, datetime):  # PostgreSQL: aware, in the session's time zone
        assert created.tzinfo is not None and orm_created.tzinfo is not None
        assert before <= created <= after
    assert before <= example.created_at <= after  # aware UTC, read through the ORM
    assert example.meta == META


def test_a_text_stored_meanwhile_is_skipped_not_an_error(db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """ON CONFLICT DO NOTHING: a text another transaction stored after the lookup (here: the
    lookup misses it) is a duplicate with the stored row's id, and the rest goes in."""
    pid = _project(db)
    with session_scope(db) as s:
        (stored,) = examples.add_examples(session=s, project_id=pid, rows=[NewExample("s")]).ids
    real = examples.existing_hashes
    calls: list[int] = []

    def blind_first(**kwargs: Any) -> dict[str, int]:
        calls.append(len(kwargs["hashes"]))
        return {} if len(calls) == 1 else real(**kwargs)

    monkeypatch.setattr(examples, "existing_hashes", blind_first)
    with session_scope(db) as s:
        added = examples.add_examples(
            session=s, project_id=pid, rows=[NewExample("n1"), NewExample("s"), NewExample("n2")]
        )
    assert calls == [3, 1]  # the second lookup: the one text the insert skipped
    n1, n2 = sorted(added.new)
    assert added.ids == [n1, stored, n2]
    assert (added.inserted, added.duplicates) == (2, 1)
    assert [i for i, *_ in _stored(db, pid)] == [stored, n1, n2]


def test_an_error_mid_import_rolls_back_every_row(db) -> None:  # type: ignore[no-untyped-def]
    """An import is one transaction: an error after some chunks were stored leaves none."""
    pid = _project(db)
    with pytest.raises(RuntimeError, match="mid-import"), session_scope(db) as s:
        examples.add_examples(session=s, project_id=pid, rows=[NewExample("c1"), NewExample("c2")])
        examples.add_examples(session=s, project_id=pid, rows=[NewExample("c3")])
        raise RuntimeError("mid-import")
    assert _stored(db, pid) == []


@pytest.mark.postgres
@pytest.mark.parametrize("db_url_and_schema", ["postgres"], indirect=True)
@pytest.mark.parametrize(
    "bad",
    [NewExample("a NUL \x00 byte"), NewExample("fine", "x" * 201)],
    ids=["nul-in-text", "external-id-too-long"],
)
def test_a_value_postgres_refuses_is_one_line_and_rolls_back_the_import(  # type: ignore[no-untyped-def]
    db, bad: NewExample
) -> None:
    """A value PostgreSQL refuses in a later chunk is an InvalidInputError (SQLAlchemy's
    DataError, as the ORM's statements raise it), and the chunks before it are gone too."""
    pid = _project(db)
    refused = pytest.raises(InvalidInputError, match="the database refused a value")
    with refused, session_scope(db) as s:
        examples.add_examples(session=s, project_id=pid, rows=[NewExample("first chunk")])
        examples.add_examples(session=s, project_id=pid, rows=[NewExample("ok"), bad])
    assert _stored(db, pid) == []


@pytest.fixture
def second_engine(db_url_and_schema) -> Iterator[Engine]:  # type: ignore[no-untyped-def]
    """Another process's engine on the same database."""
    url, schema = db_url_and_schema
    engine = make_engine(url, schema=schema)
    yield engine
    engine.dispose()


def test_two_imports_into_one_project_take_turns(db, second_engine) -> None:  # type: ignore[no-untyped-def]
    """A second import, begun while the first's transaction is open, waits for it (PostgreSQL:
    seen waiting for a lock) and then counts its texts as duplicates, with the first's ids."""
    pid = _project(db)
    pg = db.dialect.name == "postgresql"
    second: dict[str, Any] = {}
    done = threading.Event()

    def import_second() -> None:
        try:
            with session_scope(second_engine) as s:
                if pg:
                    second["pid"] = int(s.execute(text("SELECT pg_backend_pid()")).scalar_one())
                second["added"] = examples.add_examples(
                    session=s,
                    project_id=pid,
                    rows=[NewExample("shared 2"), NewExample("own"), NewExample("shared 1")],
                )
        except BaseException as exc:  # re-raised below
            second["error"] = exc
        finally:
            done.set()

    with session_scope(db) as s:
        first = examples.add_examples(
            session=s, project_id=pid, rows=[NewExample("shared 1"), NewExample("shared 2")]
        )
        thread = threading.Thread(target=import_second)
        thread.start()
        if pg:
            seen = wait_until_done_or_blocked(db, pid=lambda: second.get("pid"), done=done)
            assert seen == "blocked"
    thread.join(HUNG)
    assert "error" not in second, second.get("error")
    added = second["added"]
    one, two = first.ids
    (own,) = added.new
    assert added.ids == [two, own, one]
    assert (added.inserted, added.duplicates) == (1, 2)
    assert [i for i, *_ in _stored(db, pid)] == [one, two, own]


@pytest.mark.postgres
@pytest.mark.parametrize("db_url_and_schema", ["postgres"], indirect=True)
def test_postgres_sends_each_chunk_in_one_statement_of_a_few_parameters(db) -> None:  # type: ignore[no-untyped-def]
    """2,500 new rows: one lookup and one INSERT, each with a handful of parameters (arrays),
    not multi-row statements of 1,000 rows and IN lists of 900 hashes, which psycopg scanned
    anew each time (too long for its cache): about 15 s per 100,000 rows."""
    pid = _project(db)
    statements: list[tuple[str, int]] = []

    def record(_conn, _cursor, statement, parameters, _context, _many) -> None:  # type: ignore[no-untyped-def]
        statements.append((statement.split()[0].upper(), len(parameters or ())))

    rows = [NewExample(f"text {i}", f"id {i}", {"i": i}) for i in range(2_500)]
    with session_scope(db) as s:
        event.listen(db, "before_cursor_execute", record)
        try:
            added = examples.add_examples(session=s, project_id=pid, rows=rows)
        finally:
            event.remove(db, "before_cursor_execute", record)
    assert added.inserted == 2_500 and added.ids == sorted(added.ids)
    inserts = [n for verb, n in statements if verb == "INSERT"]
    assert len(inserts) == 1, statements
    assert max(n for _, n in statements) <= 10, statements
