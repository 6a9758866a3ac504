"""Examples: the texts to label, deduplicated by content hash within a project."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, func, text, update
from sqlmodel import Session, col, select

from storage.db import advisory_xact_lock, bound, dialect_insert, driver_rows
from storage.errors import NotFoundError
from storage.hashing import content_hash
from storage.models import Example, utcnow
from storage.repositories.projects import share_project_row

# Keep IN (...) lists well under SQLite's and PostgreSQL's parameter limits.
_CHUNK = 900


@dataclass(frozen=True)
class NewExample:
    text: str
    external_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class AddedExamples:
    """Outcome of a bulk insert: ``ids[i]`` is the row of input ``i`` (new or already stored);
    ``new`` the ids of the rows this insert stored."""

    ids: list[int]
    inserted: int
    duplicates: int
    new: set[int] = field(default_factory=set)


def add_examples(*, session: Session, project_id: int, rows: Sequence[NewExample]) -> AddedExamples:
    """Insert rows, skipping texts the project already has (same content hash) and repeats.

    Safe to run twice at once: imports into one project take turns (see ``lock_imports``),
    so the later one counts the earlier one's texts as duplicates, and numbers its examples
    (``Example.seq``) after the earlier one's. Taking turns also keeps two
    files holding the same texts in different orders from deadlocking on the unique index. A
    text another transaction stored since the read is skipped too (ON CONFLICT DO NOTHING),
    not an error.
    """
    lock_imports(session=session, project_id=project_id)
    seq = _number_unnumbered(session, project_id)
    hashes = [content_hash(row.text) for row in rows]
    known = existing_hashes(session=session, project_id=project_id, hashes=hashes)
    now = utcnow()
    fresh: dict[str, dict[str, Any]] = {}
    for row, digest in zip(rows, hashes, strict=True):
        if digest in known or digest in fresh:
            continue
        # the columns an Example(...) row has, without building one per row (a third of a
        # 20,000-row import's time went to constructing and dumping them)
        fresh[digest] = {
            "project_id": project_id,
            "external_id": row.external_id,
            "text": row.text,
            "meta": row.meta,
            "content_hash": digest,
            "created_at": now,
            "audit": False,
            "seq": seq + len(fresh) + 1,
        }
    new: set[int] = set()
    if fresh:
        for digest, example_id in _insert_fresh(session, list(fresh.values())):
            known[digest] = int(example_id)
            new.add(int(example_id))
    missing = [d for d in fresh if d not in known]  # stored meanwhile by another transaction
    known.update(existing_hashes(session=session, project_id=project_id, hashes=missing))
    return AddedExamples(
        ids=[known[d] for d in hashes],
        inserted=len(new),
        duplicates=len(rows) - len(new),
        new=new,
    )


def _insert_fresh(session: Session, rows: list[dict[str, Any]]) -> Sequence[Any]:
    """Insert ``rows`` (an Example's columns each), in their order, skipping any whose text
    another transaction stored meanwhile (ON CONFLICT DO NOTHING); ``(content_hash, id)`` of
    those stored.

    SQLite: executed for all the rows at once: SQLAlchemy sends multi-row statements of up to
    1,000 rows, compiled once (a list in .values() is compiled anew for every chunk).
    PostgreSQL: one statement however many the rows, its columns passed as four arrays (in
    binary: psycopg's text format escapes each element with a regex, 3 s per 100,000 rows)
    and unnested in order. The multi-row statements took psycopg about 15 s per 100,000 rows
    just to turn into PostgreSQL's placeholders: it caches no statement that long, so each one
    was scanned anew (bench/README.md, "Import speed"). The values are the ones the ORM would
    send: the meta as the column's JSON text, created_at through the column's type; and
    ``driver_rows`` sends it in the session's transaction, its errors SQLAlchemy's."""
    table = Example.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect
    if dialect.name != "postgresql":
        statement = (
            dialect_insert(session, table)
            .on_conflict_do_nothing(index_elements=["project_id", "content_hash"])
            .returning(table.c.content_hash, table.c.id)
        )
        return session.execute(statement, rows).all()
    dumps = dialect._json_serializer or json.dumps  # as the JSON type's bind processor
    first = rows[0]  # project_id, created_at and audit are the same in every row
    parameters = {
        "project_id": first["project_id"],
        "seq": first["seq"] - 1,  # the rows are numbered on from the first one's, in order
        "created_at": bound(session, table.c.created_at, first["created_at"]),  # UTC
        "audit": first["audit"],
        "external_ids": [row["external_id"] for row in rows],
        "texts": [row["text"] for row in rows],
        "metas": [dumps(row["meta"]) for row in rows],
        "hashes": [row["content_hash"] for row in rows],
    }
    return driver_rows(session, _INSERT_UNNESTED, parameters)


# PostgreSQL's insert of a chunk (see _insert_fresh), in psycopg's placeholders (%b: binary).
# WITH ORDINALITY ... ORDER BY keeps the rows' order, so their ids follow the input's as the
# multi-row VALUES' did.
_INSERT_UNNESTED = (
    f"INSERT INTO {Example.__tablename__}"
    " (project_id, external_id, text, meta, content_hash, created_at, audit, seq)"
    " SELECT %(project_id)s, u.external_id, u.text, CAST(u.meta AS json), u.content_hash,"
    " %(created_at)s, %(audit)s, %(seq)s + u.n"
    " FROM unnest(CAST(%(external_ids)b AS text[]), CAST(%(texts)b AS text[]),"
    " CAST(%(metas)b AS text[]), CAST(%(hashes)b AS text[]))"
    " WITH ORDINALITY AS u(external_id, text, meta, content_hash, n)"
    " ORDER BY u.n"
    " ON CONFLICT (project_id, content_hash) DO NOTHING"
    " RETURNING content_hash, id"
)
# PostgreSQL's lookup of stored hashes (see existing_hashes): one array, where IN lists of 900
# made statements too long for psycopg's cache, as the insert's were
_EXISTING_HASHES = (
    f"SELECT content_hash, id FROM {Example.__tablename__}"
    " WHERE project_id = %(project_id)s AND content_hash = ANY(CAST(%(hashes)b AS text[]))"
)


def _number_unnumbered(session: Session, project_id: int) -> int:
    """Number the project's examples a labelbot before migration 0023 stored (none, as a
    rule: an index lookup), after the others in id order; the highest number, where this
    import's examples go on from. Under ``lock_imports``."""
    highest = session.exec(select(func.max(Example.seq)).where(Example.project_id == project_id))
    seq = int(highest.one() or 0)
    unnumbered = session.exec(
        select(Example.id)
        .where(Example.project_id == project_id, col(Example.seq).is_(None))
        .order_by(col(Example.id))
    ).all()
    if unnumbered:
        table = Example.__table__  # type: ignore[attr-defined]
        session.execute(
            update(table).where(table.c.id == bindparam("b_id")).values(seq=bindparam("b_seq")),
            [{"b_id": i, "b_seq": seq + n} for n, i in enumerate(unnumbered, 1)],
        )
        seq += len(unnumbered)
    return seq


def lock_imports(*, session: Session, project_id: int) -> None:
    """Make imports into one project take turns, until the transaction ends.

    On PostgreSQL a transaction-level advisory lock, keyed by the schema and the project: it
    conflicts only with another import. Locking the project's row instead (FOR NO KEY UPDATE)
    would stall every settings write and pin for the length of a large import (about 0.4 s
    per 1,000 rows). The row is still held FOR KEY SHARE, the lock each inserted example's
    foreign key takes anyway: a change that locks the row FOR UPDATE (the taxonomy's) waits for
    the import, as before, while settings writes do not. An import takes it before it reads
    its file's labels, so a taxonomy change commits before that read or after the import, never
    in between. SQLite's write transactions are serial already."""
    advisory_xact_lock(session, "import", str(project_id))
    share_project_row(session=session, project_id=project_id)


def existing_hashes(*, session: Session, project_id: int, hashes: Sequence[str]) -> dict[str, int]:
    """Map each of ``hashes`` the project already stores to its example id."""
    found: dict[str, int] = {}
    unique = sorted(set(hashes))
    if unique and session.get_bind().dialect.name == "postgresql":
        stored = driver_rows(
            session, _EXISTING_HASHES, {"project_id": project_id, "hashes": unique}
        )
        return {digest: int(example_id) for digest, example_id in stored}
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start : start + _CHUNK]
        rows = session.exec(
            select(Example.content_hash, Example.id).where(
                Example.project_id == project_id, col(Example.content_hash).in_(chunk)
            )
        ).all()
        found.update({digest: int(example_id) for digest, example_id in rows if example_id})
    return found


def get_example(*, session: Session, example_id: int) -> Example:
    example = session.get(Example, example_id)
    if example is None:
        raise NotFoundError(f"no example with id {example_id}")
    return example


def examples_with_external_id(*, session: Session, project_id: int, external_id: str) -> list[int]:
    """Ids of the project's examples imported with ``external_id`` (ids need not be unique)."""
    return [
        int(i)
        for i in session.exec(
            select(Example.id)
            .where(Example.project_id == project_id, Example.external_id == external_id)
            .order_by(col(Example.id))
        ).all()
        if i is not None
    ]


def find_example(*, session: Session, example_id: int) -> Example | None:
    """The example with ``example_id``, or None (:func:`get_example` raises instead)."""
    return session.get(Example, example_id)


def list_examples(*, session: Session, project_id: int) -> list[Example]:
    """Every example of the project, in insertion order (the pool order the engine indexes by)."""
    return list(
        session.exec(
            select(Example).where(Example.project_id == project_id).order_by(col(Example.id))
        ).all()
    )


def example_texts(*, session: Session, project_id: int) -> list[tuple[int, str, str]]:
    """``(id, text, content_hash)`` of every example of the project, in id order (the pool order
    the engine indexes by): columns, not Example objects, for reads of the whole pool (a
    training, a proposals refresh), which need no metadata and no identity map."""
    rows = session.exec(
        select(Example.id, Example.text, Example.content_hash)
        .where(Example.project_id == project_id)
        .order_by(col(Example.id))
    ).all()
    return [(int(i or 0), text, digest) for i, text, digest in rows]


def example_ids(*, session: Session, project_id: int) -> list[int]:
    """The ids of every example of the project, in id order (the pool order the engine indexes
    by): a blend's pool positions, without reading its texts."""
    rows = session.exec(
        select(Example.id).where(Example.project_id == project_id).order_by(col(Example.id))
    ).all()
    return [int(i or 0) for i in rows]


def examples_after(
    *, session: Session, project_id: int, after_id: int, limit: int
) -> list[tuple[int, str | None, str, dict[str, Any]]]:
    """Up to ``limit`` of the project's examples with an id above ``after_id``, in id order,
    as ``(id, external_id, text, meta)``: a page of an export. Columns, not Example objects
    (an export reads every example once; the identity map would keep them all), and paged by
    id rather than OFFSET, so a page far into the project costs what the first one does."""
    rows = session.exec(
        select(Example.id, Example.external_id, Example.text, Example.meta)
        .where(Example.project_id == project_id, col(Example.id) > after_id)
        .order_by(col(Example.id))
        .limit(limit)
    ).all()
    return [
        (int(i or 0), external_id, text, dict(meta or {})) for i, external_id, text, meta in rows
    ]


def count_examples(*, session: Session, project_id: int) -> int:
    return int(
        session.exec(
            select(func.count()).select_from(Example).where(Example.project_id == project_id)
        ).one()
    )


def content_hashes(*, session: Session, project_id: int) -> list[str]:
    """The distinct content hashes of the project's texts: which of them the embedding cache
    lacks is what an interrupted import has left to embed."""
    rows = session.exec(
        select(Example.content_hash).where(Example.project_id == project_id).distinct()
    ).all()
    return [str(digest) for digest in rows]


def hashes_of(*, session: Session, example_ids: Sequence[int]) -> dict[int, str]:
    """Example id → its content hash, for those of ``example_ids`` that exist (no texts read:
    the embedding cache's keys)."""
    found: dict[int, str] = {}
    for start in range(0, len(example_ids), _CHUNK):
        chunk = example_ids[start : start + _CHUNK]
        rows = session.exec(
            select(Example.id, Example.content_hash).where(col(Example.id).in_(chunk))
        ).all()
        found.update({int(i or 0): str(digest) for i, digest in rows})
    return found


def example_texts_of(*, session: Session, example_ids: Sequence[int]) -> list[tuple[int, str, str]]:
    """``(id, text, content_hash)`` of the examples with ``example_ids`` (those that exist), in
    the order given: a chunk of an import's texts, read back to be embedded."""
    found: dict[int, tuple[int, str, str]] = {}
    for start in range(0, len(example_ids), _CHUNK):
        chunk = example_ids[start : start + _CHUNK]
        rows = session.exec(
            select(Example.id, Example.text, Example.content_hash).where(col(Example.id).in_(chunk))
        ).all()
        found.update({int(i or 0): (int(i or 0), text, digest) for i, text, digest in rows})
    return [found[i] for i in example_ids if i in found]


def examples_sharing_external_ids(*, session: Session, project_id: int) -> list[tuple[int, str]]:
    """``(id, external_id)`` of the project's examples whose external id another of its
    examples has too, in id order: one query, however many examples the project has."""
    shared = (
        select(Example.external_id)
        .where(Example.project_id == project_id, col(Example.external_id).is_not(None))
        .group_by(col(Example.external_id))
        .having(func.count() > 1)
    )
    rows = session.exec(
        select(Example.id, Example.external_id)
        .where(Example.project_id == project_id, col(Example.external_id).in_(shared))
        .order_by(col(Example.id))
    ).all()
    return [(int(i or 0), external_id) for i, external_id in rows if external_id is not None]


def analyze_examples(*, session: Session) -> None:
    """Refresh PostgreSQL's statistics of the examples table inside the session's transaction,
    its own new rows counted (ANALYZE samples them); nothing on SQLite, whose planner does not
    use them here. For an import stored in chunks: with the statistics of before it, the
    project's examples look few, and the lookup of each chunk's texts (``existing_hashes``) was
    planned as a scan of all of them, not the (project_id, content_hash) index: 0.9 s a chunk
    of 5,000 rows by 100,000 rows stored. The lock ANALYZE takes (SHARE UPDATE EXCLUSIVE, until
    the transaction ends) blocks no read or write, only another ANALYZE or VACUUM of the
    table."""
    if session.get_bind().dialect.name != "postgresql":
        return
    session.execute(text(f"ANALYZE {Example.__tablename__}"))
