"""Work kept in a lease (a DM thread's earlier replies to read once Slack's Retry-After is
over: bot.flow.read_due_replies): the lapsed ones of a prefix are listed, the longest lapsed
first, never one still held, nor one of another prefix (``_`` and ``%`` are no wildcards); one
dropped by its owner is gone for good, while a released one stays (it lapsed). On SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from storage.db import session_scope
from storage.repositories import leases


def test_lapsed_leases_of_a_prefix_are_the_work_left(db) -> None:  # type: ignore[no-untyped-def]
    with session_scope(db) as s:
        now = leases.database_now(s)
        for name, lapsed_since in (
            ("dm_replies:D1:1.0", timedelta(seconds=30)),
            ("dm_replies:D2:2.0", timedelta(seconds=90)),
            ("dm_replies:D3:3.0", -timedelta(minutes=1)),  # held: its wait is not over
            ("dmXreplies:D4:4.0", timedelta(seconds=90)),  # another prefix, `_` no wildcard
            ("train:bank", timedelta(seconds=90)),
        ):
            assert leases.try_acquire(session=s, name=name, owner="o1", ttl=timedelta(0),
                                      now=now - lapsed_since)  # fmt: skip
    with session_scope(db) as s:
        assert leases.lapsed(session=s, prefix="dm_replies:") == [
            "dm_replies:D2:2.0",
            "dm_replies:D1:1.0",
        ]
        assert leases.lapsed(session=s, prefix="dm%") == []
    with session_scope(db) as s:
        assert leases.try_acquire(session=s, name="dm_replies:D1:1.0", owner="o2",
                                  ttl=timedelta(minutes=2))  # fmt: skip
        assert leases.drop(session=s, name="dm_replies:D1:1.0", owner="o1") is False  # not o1's
        assert leases.drop(session=s, name="dm_replies:D1:1.0", owner="o2") is True
        leases.release(session=s, name="dm_replies:D3:3.0", owner="o1")
    with session_scope(db) as s:
        assert leases.lapsed(session=s, prefix="dm_replies:") == [
            "dm_replies:D2:2.0",
            "dm_replies:D3:3.0",
        ]
