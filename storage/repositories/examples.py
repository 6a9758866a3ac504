"""Examples: the texts to label, deduplicated by content hash within a project."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from storage.errors import NotFoundError
from storage.hashing import content_hash
from storage.models import Example

# Keep IN (...) lists well under SQLite's and PostgreSQL's parameter limits.
_CHUNK = 900


@dataclass(frozen=True)
class NewExample:
    text: str
    external_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class AddedExamples:
    """Outcome of a bulk insert: ``ids[i]`` is the row of input ``i`` (new or already stored)."""

    ids: list[int]
    inserted: int
    duplicates: int


def add_examples(*, session: Session, project_id: int, rows: Sequence[NewExample]) -> AddedExamples:
    """Insert rows, skipping texts the project already has (same content hash) and repeats."""
    hashes = [content_hash(row.text) for row in rows]
    known = existing_hashes(session=session, project_id=project_id, hashes=hashes)
    fresh: dict[str, Example] = {}
    for row, digest in zip(rows, hashes, strict=True):
        if digest in known or digest in fresh:
            continue
        fresh[digest] = Example(
            project_id=project_id,
            external_id=row.external_id,
            text=row.text,
            meta=row.meta,
            content_hash=digest,
        )
    session.add_all(fresh.values())
    session.flush()
    for digest, example in fresh.items():
        assert example.id is not None
        known[digest] = example.id
    return AddedExamples(
        ids=[known[d] for d in hashes], inserted=len(fresh), duplicates=len(rows) - len(fresh)
    )


def existing_hashes(*, session: Session, project_id: int, hashes: Sequence[str]) -> dict[str, int]:
    """Map each of ``hashes`` the project already stores to its example id."""
    found: dict[str, int] = {}
    unique = sorted(set(hashes))
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


def list_examples(*, session: Session, project_id: int) -> list[Example]:
    """Every example of the project, in insertion order (the pool order the engine indexes by)."""
    return list(
        session.exec(
            select(Example).where(Example.project_id == project_id).order_by(col(Example.id))
        ).all()
    )


def count_examples(*, session: Session, project_id: int) -> int:
    return int(
        session.exec(
            select(func.count()).select_from(Example).where(Example.project_id == project_id)
        ).one()
    )
