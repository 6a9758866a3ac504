"""Thread replies whose events may come in any order: a reply's deletion or edit can be
delivered before the reply itself (or the reply redelivered after them), so what each event
said is kept by the reply's comment key (`ReplyRecord`) for the ones that follow.

Every function takes the record's row first and holds it to the end of the transaction (the
upsert's row lock on PostgreSQL; SQLite's BEGIN IMMEDIATE already makes writers take turns): a
reply and its deletion handled at once by two replicas then see each other's work, instead of
each reading "nothing there yet" and the reply being stored after its deletion.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete
from sqlmodel import Session, col

from storage.db import dialect_insert, rowcount
from storage.models import ReplyRecord, utcnow
from storage.repositories import feedback


@dataclass(frozen=True)
class Earlier:
    """What came before a reply did: its deletion, or an edit's text."""

    deleted: bool
    text: str | None


def _claim(session: Session, external_key: str, now: datetime) -> ReplyRecord:
    """The record under ``external_key`` (created when new), locked, marked seen ``now``.

    One upsert: ON CONFLICT DO UPDATE locks the row it updates, and an insert racing another
    one of the same key waits for that transaction's end, then updates (and returns) the row it
    committed, or inserts if it rolled back. No read before the write, no savepoint."""
    insert = dialect_insert(session, ReplyRecord)
    upsert = insert.values(
        ReplyRecord(external_key=external_key, seen_at=now).model_dump()
    ).on_conflict_do_update(
        index_elements=[col(ReplyRecord.external_key)], set_={"seen_at": insert.excluded.seen_at}
    )
    record: ReplyRecord = session.scalars(
        upsert.returning(ReplyRecord), execution_options={"populate_existing": True}
    ).one()
    return record


def reply_arrived(*, session: Session, external_key: str, now: datetime | None = None) -> Earlier:
    """A reply is about to be stored under ``external_key``: whether it was deleted already,
    and the text of the latest edit that came before it (handed over once: the comment keeps
    it from then on)."""
    record = _claim(session, external_key, now or utcnow())
    earlier = Earlier(deleted=record.deleted, text=record.text)
    record.text = None
    return earlier


def record_edit(
    *,
    session: Session,
    external_key: str,
    text: str,
    edited_at: datetime,
    now: datetime | None = None,
) -> bool:
    """The reply under ``external_key`` was edited at ``edited_at`` to read ``text``: its
    comment follows; before the comment exists, the record keeps the text for it. An edit
    older than one applied already (delivered late), or of a deleted reply, changes nothing.
    True when a stored comment changed."""
    record = _claim(session, external_key, now or utcnow())
    if record.deleted or (record.edited_at is not None and edited_at < record.edited_at):
        return False
    record.edited_at = edited_at
    changed = feedback.edit_comment(session=session, external_key=external_key, text=text)
    record.text = None if changed else text
    return changed


def record_deletion(*, session: Session, external_key: str, now: datetime | None = None) -> bool:
    """The reply under ``external_key`` was deleted: its comment is deleted (the row, text and
    all) and a tombstone stays, so that the reply is not stored should it arrive after. True
    when a comment was deleted."""
    record = _claim(session, external_key, now or utcnow())
    record.deleted, record.text = True, None
    return feedback.delete_comment(session=session, external_key=external_key)


def prune(*, session: Session, before: datetime) -> int:
    """Forget records with no event since ``before`` (out-of-order deliveries and Slack's
    retries come within minutes, not days); how many."""
    result = session.execute(delete(ReplyRecord).where(col(ReplyRecord.seen_at) < before))
    return rowcount(result)
