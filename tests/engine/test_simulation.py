"""Simulated active learning returns the documented JSON and its curve improves."""

from __future__ import annotations

import json

import pytest

from engine.simulation import compare_strategies, labels_to_reach, simulate
from storage.errors import InvalidInputError
from tests.engine.test_classifier import blobs


def test_simulate_json_shape_and_improvement() -> None:
    X, y = blobs(60, 6, spread=1.8, d=64)
    calls: list[tuple[int, int, float, float]] = []
    result = simulate(
        X[::2], y[::2], X[1::2], y[1::2], strategy="margin", budget=60, batch=10, seeds=2,
        kind="auto", progress=lambda *a: calls.append(a),
    )  # fmt: skip
    d = json.loads(json.dumps(result.to_json()))
    assert d["strategy"] == "margin"
    assert [p["labels"] for p in d["curve"]] == [10, 20, 30, 40, 50, 60]
    # whole numbers in the JSON, as in the table ("labels": 10, not 10.0)
    assert all(type(p["labels"]) is int for p in [*d["curve"], *d["runs"][0], d["ceiling"]])
    assert len(d["runs"]) == 2 and all(len(r) == 6 for r in d["runs"])
    assert set(d["ceiling"]) == {"accuracy", "macro_f1", "labels"} and d["ceiling"]["labels"] == 180
    assert d["curve"][-1]["accuracy"] > d["curve"][0]["accuracy"]
    assert len(calls) == 12 and {c[0] for c in calls} == {0, 1}
    assert labels_to_reach(result, 0.0) == 10


def test_compare_with_random_and_checkpoints() -> None:
    X, y = blobs(40, 4, d=32)
    results = compare_strategies(
        X, y, X, y, strategies=["diverse_margin", "random"], budget=40, batch=10, seeds=1,
        kind="linear", checkpoints=[20, 40],
    )  # fmt: skip
    assert [r.strategy for r in results] == ["diverse_margin", "random"]
    assert results[0].ceiling == results[1].ceiling
    assert [p["labels"] for p in results[1].curve] == [20, 40]
    with pytest.raises(InvalidInputError):
        simulate(X, y, X, y, strategy="nope", budget=10)


def test_a_pool_of_one_class_is_refused_like_training() -> None:
    """One class scores a perfect curve by construction: refused, as `train` refuses it."""
    X, y = blobs(20, 2, d=16)
    one = y == y[0]
    with pytest.raises(InvalidInputError, match="at least 2"):
        simulate(X[one], y[one], X[one], y[one], strategy="margin", budget=10, batch=5, seeds=1)
