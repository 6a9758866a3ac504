"""Thread replies whose deletion or edit comes before them (Slack's events come in any order),
on SQLite and PostgreSQL: a tombstone keeps a deleted reply out, an early edit's text is the
one stored, old records are pruned, and a reply and its deletion handled at once by two
replicas never leave the reply stored."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import select

from storage.db import make_engine, session_scope
from storage.models import Comment, ReplyRecord, utcnow
from storage.repositories import examples, feedback, projects, replies
from storage.repositories.examples import NewExample

KEY = "slack:C1:1700000000.000100"


def _example(db: Engine) -> int:
    with session_scope(db) as s:
        project = projects.create_project(session=s, name="p", labels=["a", "b"])
        assert project.id is not None
        added = examples.add_examples(session=s, project_id=project.id, rows=[NewExample("t")])
        return added.ids[0]


def _arrive(db: Engine, example_id: int, text: str, key: str = KEY) -> bool:
    """What the reply's handler does: the comment, unless deleted first; True when stored."""
    with session_scope(db) as s:
        earlier = replies.reply_arrived(session=s, external_key=key)
        if earlier.deleted:
            return False
        _, created = feedback.add_comment(
            session=s, example_id=example_id, author="U1", text=earlier.text or text,
            external_key=key,
        )  # fmt: skip
        return created


def _texts(db: Engine) -> list[str]:
    with session_scope(db, read_only=True) as s:
        return sorted(c.text for c in s.exec(select(Comment)).all())


def _at(second: int) -> datetime:
    return datetime(2026, 1, 1, 12, 0, second, tzinfo=UTC)


def test_a_deletion_before_its_reply_keeps_the_reply_out(db) -> None:  # type: ignore[no-untyped-def]
    eid = _example(db)
    with session_scope(db) as s:
        assert not replies.record_deletion(session=s, external_key=KEY)  # no comment yet
    assert not _arrive(db, eid, "secret")
    assert not _arrive(db, eid, "secret")  # and again, redelivered
    with session_scope(db) as s:  # an edit after it brings nothing back
        assert not replies.record_edit(session=s, external_key=KEY, text="x", edited_at=_at(5))
    assert _texts(db) == []

    other = "slack:C1:1700000000.000200"  # stored, deleted, then delivered again
    assert _arrive(db, eid, "kept for now", key=other)
    with session_scope(db) as s:
        assert replies.record_deletion(session=s, external_key=other)
    assert not _arrive(db, eid, "kept for now", key=other)
    assert _texts(db) == []
    with session_scope(db, read_only=True) as s:
        stored = s.exec(select(ReplyRecord)).all()
        assert {(r.external_key, r.deleted, r.text) for r in stored} == {
            (KEY, True, None),
            (other, True, None),
        }


def test_the_latest_edit_wins_whenever_it_comes(db) -> None:  # type: ignore[no-untyped-def]
    eid = _example(db)
    with session_scope(db) as s:  # two edits before the reply, the newer one first
        assert not replies.record_edit(session=s, external_key=KEY, text="new", edited_at=_at(2))
        assert not replies.record_edit(session=s, external_key=KEY, text="old", edited_at=_at(1))
    assert _arrive(db, eid, "original")
    assert _texts(db) == ["new"]
    with session_scope(db, read_only=True) as s:
        record = s.get(ReplyRecord, KEY)
        assert record is not None and record.text is None  # the comment holds it now

    with session_scope(db) as s:
        assert not replies.record_edit(session=s, external_key=KEY, text="old", edited_at=_at(1))
        assert replies.record_edit(session=s, external_key=KEY, text="newer", edited_at=_at(3))
    assert _texts(db) == ["newer"]
    with session_scope(db) as s:
        assert replies.record_deletion(session=s, external_key=KEY)
    with session_scope(db, read_only=True) as s:
        record = s.get(ReplyRecord, KEY)
        assert record is not None and record.deleted and record.text is None


def test_records_without_events_for_a_while_are_pruned(db) -> None:  # type: ignore[no-untyped-def]
    now = utcnow()
    with session_scope(db) as s:
        replies.record_deletion(session=s, external_key="old", now=now - timedelta(days=3))
        replies.record_deletion(session=s, external_key="recent", now=now - timedelta(hours=1))
        replies.record_deletion(session=s, external_key="seen again", now=now - timedelta(days=3))
        replies.record_edit(
            session=s, external_key="seen again", text="x", edited_at=now, now=now
        )  # fmt: skip
    with session_scope(db) as s:
        assert replies.prune(session=s, before=now - timedelta(days=2)) == 1
    with session_scope(db, read_only=True) as s:
        assert sorted(r.external_key for r in s.exec(select(ReplyRecord)).all()) == [
            "recent",
            "seen again",
        ]


def test_a_reply_and_its_deletion_at_once_leave_no_comment(db_url_and_schema) -> None:  # type: ignore[no-untyped-def]
    """Two replicas: one stores the reply while the other handles its deletion. Whichever takes
    the record first, the other waits for it and sees what it did."""
    url, schema = db_url_and_schema
    setup = make_engine(url, schema=schema)
    eid = _example(setup)
    gate = threading.Event()
    deleted: list[bool] = []

    def store_slowly(engine: Engine, key: str) -> None:
        with session_scope(engine) as s:
            earlier = replies.reply_arrived(session=s, external_key=key)
            assert not earlier.deleted
            gate.set()
            threading.Event().wait(0.5)  # the deletion runs now, elsewhere
            feedback.add_comment(
                session=s, example_id=eid, author="U1", text="secret", external_key=key
            )

    def delete_now(engine: Engine, key: str) -> None:
        gate.wait(10)
        with session_scope(engine) as s:
            deleted.append(replies.record_deletion(session=s, external_key=key))

    _race_pair(url, schema, lambda e: store_slowly(e, KEY), lambda e: delete_now(e, KEY))
    assert deleted == [True]  # it waited for the reply, and deleted its comment
    assert _texts(setup) == []

    # The other way round: the deletion holds the record while the reply comes in.
    gate.clear()
    later = "slack:C1:1700000000.000900"

    def delete_slowly(engine: Engine) -> None:
        with session_scope(engine) as s:
            replies.record_deletion(session=s, external_key=later)
            gate.set()
            threading.Event().wait(0.5)

    stored: list[bool] = []

    def arrive_now(engine: Engine) -> None:
        gate.wait(10)
        stored.append(_arrive(engine, eid, "secret", key=later))

    _race_pair(url, schema, delete_slowly, arrive_now)
    assert stored == [False]
    assert _texts(setup) == []
    setup.dispose()


def _race_pair(
    url: str, schema: str | None, first: Callable[[Engine], None], second: Callable[[Engine], None]
) -> None:
    """``first`` and ``second`` at once, each in its own thread with its own connections."""
    errors: list[BaseException] = []

    def run(step: Callable[[Engine], None]) -> None:
        engine = make_engine(url, schema=schema)
        try:
            step(engine)
        except BaseException as exc:  # re-raised in the main thread
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=run, args=(step,)) for step in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(t.is_alive() for t in threads)
    if errors:
        raise errors[0]
