"""Flags: examples an expert set aside with a reason; they leave the queue until resolved.

A flag keeps its example out of everyone's queue only while it is open (the queue's query skips
examples with an unresolved flag), and flagging hands the expert's assignment back as
"released", not "skipped": resolving an example's flags is what puts it back in the queue.
Skips are the other way to set an example aside, from one expert only
(``assignments.count_skipped``).
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import func
from sqlmodel import Session, col, select

from storage.errors import NotFoundError
from storage.models import Example, Flag, utcnow


def add_flag(*, session: Session, example_id: int, annotator: str, reason: str) -> Flag:
    flag = Flag(example_id=example_id, annotator=annotator, reason=reason.strip())
    session.add(flag)
    session.flush()
    return flag


def resolve_flag(*, session: Session, flag_id: int, resolved_by: str) -> Flag:
    flag = session.get(Flag, flag_id)
    if flag is None:
        raise NotFoundError(f"no flag with id {flag_id}")
    if flag.resolved_at is None:
        flag.resolved_at = utcnow()
        flag.resolved_by = resolved_by
        session.add(flag)
    return flag


def count_open_flags(*, session: Session, project_id: int) -> int:
    """How many open flags the project has."""
    query = (
        select(func.count())
        .select_from(Flag)
        .join(Example, col(Example.id) == Flag.example_id)
        .where(Example.project_id == project_id, col(Flag.resolved_at).is_(None))
    )
    return int(session.exec(query).one())


def open_flagged_ids(*, session: Session, project_id: int) -> set[int]:
    """The project's examples with an open flag, each once (two experts' flags on one example
    are one example set aside)."""
    query = (
        select(Flag.example_id)
        .distinct()
        .join(Example, col(Example.id) == Flag.example_id)
        .where(Example.project_id == project_id, col(Flag.resolved_at).is_(None))
    )
    return {int(i) for i in session.exec(query).all()}


def flagged_examples(
    *, session: Session, project_id: int, open_only: bool = True
) -> list[tuple[Flag, Example]]:
    """The project's flags (the open ones, or all) with their examples, oldest flag first."""
    query = (
        select(Flag, Example)
        .join(Example, col(Example.id) == Flag.example_id)
        .where(Example.project_id == project_id)
    )
    if open_only:
        query = query.where(col(Flag.resolved_at).is_(None))
    return [(f, e) for f, e in session.exec(query.order_by(col(Flag.id))).all()]


def open_flags_of(*, session: Session, example_id: int) -> list[Flag]:
    """An example's unresolved flags, oldest first (several experts may flag one example)."""
    query = select(Flag).where(Flag.example_id == example_id, col(Flag.resolved_at).is_(None))
    return list(session.exec(query.order_by(col(Flag.id))).all())


def resolve_open_flags(
    *, session: Session, project_id: int, example_ids: Collection[int], resolved_by: str
) -> list[int]:
    """Resolve every open flag of the project's ``example_ids`` (as ``flags resolve`` does for
    one example); returns the examples whose flags were resolved, in id order."""
    if not example_ids:
        return []
    query = (
        select(Flag)
        .join(Example, col(Example.id) == Flag.example_id)
        .where(
            Example.project_id == project_id,
            col(Flag.example_id).in_(list(example_ids)),
            col(Flag.resolved_at).is_(None),
        )
    )
    done: set[int] = set()
    for flag in session.exec(query).all():
        assert flag.id is not None
        resolve_flag(session=session, flag_id=flag.id, resolved_by=resolved_by)
        done.add(int(flag.example_id))
    return sorted(done)


def flags_between(*, session: Session, project_id: int, first_id: int, last_id: int) -> list[Flag]:
    """The flags, open and resolved, of the project's examples with ids from ``first_id`` to
    ``last_id``, oldest first: a page of an export."""
    return list(
        session.exec(
            select(Flag)
            .join(Example, col(Example.id) == Flag.example_id)
            .where(
                Example.project_id == project_id,
                col(Flag.example_id) >= first_id,
                col(Flag.example_id) <= last_id,
            )
            .order_by(col(Flag.created_at), col(Flag.id))
        ).all()
    )
