"""simulate's ``first_seed``: run ``i`` draws with seed ``first_seed + i``, so the same arguments
give the same curves, the default (0) is the runs as before, and progress still counts runs."""

from __future__ import annotations

import pytest

from engine.simulation import simulate
from storage.errors import InvalidInputError
from tests.engine.test_classifier import blobs


def _curves(first_seed: int, seeds: int, calls: list[int] | None = None) -> list[list[float]]:
    X, y = blobs(30, 5, spread=2.5, d=32)
    result = simulate(
        X[::2], y[::2], X[1::2], y[1::2], strategy="margin", budget=40, batch=10, seeds=seeds,
        first_seed=first_seed, kind="linear",
        progress=None if calls is None else lambda run, *_: calls.append(run),
    )  # fmt: skip
    return [[p["accuracy"] for p in run] for run in result.runs]


def test_the_same_first_seed_gives_the_same_runs_and_shifts_them() -> None:
    calls: list[int] = []
    two = _curves(4, 2, calls)
    assert _curves(4, 2) == two
    assert two[0] != two[1]  # the data tells seeds apart, so the checks below can fail
    assert set(calls) == {0, 1}  # runs, not seeds: the progress bar's "seed 1 of 2"
    # run i draws with first_seed + i: seed 5 alone is the second run of those from 4
    assert _curves(5, 1) == two[1:]
    assert _curves(0, 2)[1:] == _curves(1, 1)


def test_a_negative_first_seed_is_refused() -> None:
    X, y = blobs(10, 2, d=8)
    with pytest.raises(InvalidInputError, match=r"seed must be at least 0 \(got -1\)"):
        simulate(X, y, X, y, strategy="random", budget=5, batch=5, seeds=1, first_seed=-1,
                 kind="linear")  # fmt: skip
