"""A reply record is claimed by one upsert (``replies._claim``): on PostgreSQL, an event about a
reply that another replica's open transaction is handling waits for that transaction, then sees
what it did, whether that transaction created the record or found it there. Checked by watching
the second replica wait for a lock (pg_stat_activity), not by sleeping."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from storage.db import make_engine, session_scope
from storage.models import Comment, ReplyRecord
from storage.repositories import examples, feedback, projects, replies
from storage.repositories.examples import NewExample
from tests.storage.test_settings_races import HUNG, wait_until_done_or_blocked

KEY = "slack:C1:1700000000.000100"

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.parametrize("db_url_and_schema", ["postgres"], indirect=True),
]


def _example(db: Engine) -> int:
    with session_scope(db) as s:
        project = projects.create_project(session=s, name="p", labels=["a"])
        assert project.id is not None
        added = examples.add_examples(session=s, project_id=project.id, rows=[NewExample("t")])
        return added.ids[0]


class _Replica:
    """``work`` in another replica (its own engine and transaction, in a thread)."""

    def __init__(self, url: str, schema: str | None, work: Callable[[Session], object]) -> None:
        self._engine = make_engine(url, schema=schema)
        self._work = work
        self._pid: list[int] = []
        self._result: list[object] = []
        self._errors: list[BaseException] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        try:
            with session_scope(self._engine) as s:
                self._pid.append(int(s.execute(text("SELECT pg_backend_pid()")).scalar_one()))
                self._result.append(self._work(s))
        except BaseException as exc:  # re-raised by result()
            self._errors.append(exc)
        finally:
            self._done.set()

    def start(self, monitor: Engine) -> str:
        """Start it; 'blocked' once it waits for a lock, 'done' if it finished first."""
        self._thread.start()
        pid = self._pid
        return wait_until_done_or_blocked(monitor, pid=lambda: pid[0] if pid else None,
                                          done=self._done)  # fmt: skip

    def result(self) -> object:
        """What ``work`` returned, once it has finished."""
        self._thread.join(HUNG)
        self._engine.dispose()
        assert not self._thread.is_alive()
        if self._errors:
            raise self._errors[0]
        return self._result[0]


def test_a_claim_waits_for_the_transaction_that_created_the_record(  # type: ignore[no-untyped-def]
    db_url_and_schema, db
) -> None:
    """The reply is being stored (its record inserted, not yet committed) when its deletion
    comes in elsewhere: the deletion's claim waits for the insert's transaction, then deletes
    the comment it committed."""
    url, schema = db_url_and_schema
    eid = _example(db)
    with session_scope(db) as s:
        assert not replies.reply_arrived(session=s, external_key=KEY).deleted
        deletion = _Replica(
            url, schema, lambda other: replies.record_deletion(session=other, external_key=KEY)
        )
        seen = deletion.start(db)
        feedback.add_comment(session=s, example_id=eid, author="U1", text="x", external_key=KEY)
    assert seen == "blocked"
    assert deletion.result() is True
    with session_scope(db, read_only=True) as s:
        assert s.exec(select(Comment)).all() == []
        record = s.get(ReplyRecord, KEY)
        assert record is not None and record.deleted


def test_a_claim_of_a_stored_record_holds_it_to_the_end(  # type: ignore[no-untyped-def]
    db_url_and_schema, db
) -> None:
    """The reply was stored; Slack delivers it again, and its deletion comes in elsewhere while
    the redelivery's transaction is open. The redelivery reads and writes nothing of the record
    but through its claim: the claim alone must make the deletion wait, or the deletion would
    commit first and the redelivery store the comment again after it."""
    url, schema = db_url_and_schema
    eid = _example(db)
    with session_scope(db) as s:
        replies.reply_arrived(session=s, external_key=KEY)
        feedback.add_comment(session=s, example_id=eid, author="U1", text="x", external_key=KEY)
    with session_scope(db) as s:
        assert replies.reply_arrived(session=s, external_key=KEY) == replies.Earlier(False, None)
        deletion = _Replica(
            url, schema, lambda other: replies.record_deletion(session=other, external_key=KEY)
        )
        seen = deletion.start(db)
        _, created = feedback.add_comment(
            session=s, example_id=eid, author="U1", text="x", external_key=KEY
        )
        assert not created  # stored once
    assert seen == "blocked"
    assert deletion.result() is True
    with session_scope(db, read_only=True) as s:
        assert s.exec(select(Comment)).all() == []
