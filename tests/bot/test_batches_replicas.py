"""Two bot replicas share one database: a batch started on one ends on the other with its
summary tally (each replica's `Batches` is its own object, as in two processes)."""

from __future__ import annotations

import pytest

from bot.services import Batches
from engine import projects
from storage.errors import InvalidInputError


def test_a_batch_started_on_one_replica_ends_on_the_other(ws) -> None:  # type: ignore[no-untyped-def]
    projects.create_project(ws, name="bank", labels=["a", "b"])
    first, second = Batches(ws), Batches(ws)
    first.start("U1", "bank", 3)
    assert second.consume("U1", "bank", agreed=True) == 2
    assert first.consume("U1", "bank", agreed=None) == 1
    assert first.ended("U1", "bank") is None  # not over yet
    assert second.consume("U1", "bank", agreed=False) == 0
    assert first.ended("U1", "bank") is None  # the replica that counted the last answer tells
    assert second.ended("U1", "bank") == (3, 2, 1)
    assert second.ended("U1", "bank") is None  # once
    assert first.consume("U1", "bank") is None  # no batch running: the loop just goes on
    with pytest.raises(InvalidInputError):
        first.start("U1", "bank", 0)
