"""Flags: examples an expert set aside with a reason; they leave the queue until resolved."""

from __future__ import annotations

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


def list_flags(*, session: Session, project_id: int, open_only: bool = True) -> list[Flag]:
    query = (
        select(Flag)
        .join(Example, col(Example.id) == Flag.example_id)
        .where(Example.project_id == project_id)
    )
    if open_only:
        query = query.where(col(Flag.resolved_at).is_(None))
    return list(session.exec(query.order_by(col(Flag.id))).all())
