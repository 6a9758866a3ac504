"""Two bot replicas share one database: a batch started on one ends on the other with its
summary tally, and App Home viewers seen by one are refreshed by the other (each replica's
`Batches` and `HomeViewers` are their own objects, as in two processes)."""

from __future__ import annotations

import pytest

from bot.services import Batches
from engine import projects
from storage.errors import InvalidInputError


def _left(count) -> int | None:  # type: ignore[no-untyped-def]
    return None if count is None else count.remaining


def test_a_batch_started_on_one_replica_ends_on_the_other(ws) -> None:  # type: ignore[no-untyped-def]
    projects.create_project(ws, name="bank", labels=["a", "b"])
    first, second = Batches(ws), Batches(ws)
    first.start("U1", "bank", 3)
    assert _left(second.consume("U1", "bank", agreed=True)) == 2
    assert _left(first.consume("U1", "bank", agreed=None)) == 1
    last = second.consume("U1", "bank", agreed=False)
    assert last is not None and (last.remaining, last.done, last.compared, last.agreed) == (
        0, 3, 2, 1,
    )  # fmt: skip
    after = first.consume("U1", "bank")  # ended: counts nothing, and its summary stands
    assert after is not None and not after.counted and after.done == 3
    with pytest.raises(InvalidInputError):
        first.start("U1", "bank", 0)


def test_app_home_viewers_seen_on_one_replica_are_refreshed_by_another(ws) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime, timedelta

    from bot.services import HomeViewers

    now = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    serving, training = HomeViewers(ws, limit=2), HomeViewers(ws, limit=2)
    serving.saw("U0OLD", now=now - timedelta(hours=2))  # too long ago
    serving.saw("U0ANA", now=now - timedelta(minutes=30))
    serving.saw("U0BEN", now=now - timedelta(minutes=5))
    training.saw("U0CY", now=now - timedelta(minutes=50))
    assert training.recent(now=now) == ["U0BEN", "U0ANA"]  # newest first, at most `limit`
    serving.saw("U0CY", now=now)  # opened again: first in line
    assert serving.recent(now=now) == ["U0CY", "U0BEN"]
