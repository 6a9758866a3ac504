"""A claim whose work is kept in its lease goes on where its last holder stopped
(bot.flow: a DM thread's earlier replies read page by page at one call a minute):
leases.take_lapsed takes a free or lapsed lease and says whom it lapsed from (the owner that
carries how far the work went), never one still held, its taker's own hold included. On SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from storage.db import session_scope
from storage.repositories import leases

NAME = "dm-replies:D1:1.0"
TTL = timedelta(minutes=2)


def test_a_lapsed_lease_is_taken_with_the_owner_it_lapsed_from(db) -> None:  # type: ignore[no-untyped-def]
    with session_scope(db) as s:
        assert leases.take_lapsed(session=s, name=NAME, owner="a", ttl=TTL) == ""  # free
    with session_scope(db) as s:
        assert leases.take_lapsed(session=s, name=NAME, owner="b", ttl=TTL) is None  # a's
        assert leases.take_lapsed(session=s, name=NAME, owner="a", ttl=TTL) is None  # even a's
        # a leaves how far it went in its owner, then its hold lapses
        assert leases.take_over(session=s, name=NAME, owner="a|1|5.0", holder="a", ttl=TTL)
        assert not leases.take_over(session=s, name=NAME, owner="a|2|6.0", holder="a", ttl=TTL)
    with session_scope(db) as s:
        later = leases.database_now(s) + TTL + timedelta(seconds=1)
        assert leases.take_lapsed(session=s, name=NAME, owner="b", ttl=TTL, now=later) == "a|1|5.0"
    with session_scope(db) as s:  # b holds it now: c, later still, finds it b's
        assert leases.take_lapsed(session=s, name=NAME, owner="c", ttl=TTL, now=later) is None
        assert leases.holder(session=s, name=NAME, now=later) == "b"
