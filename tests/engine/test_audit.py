"""The audit stream is uniform and takes its share; its intervals cover the truth as stated."""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.audit import (
    audit_report,
    audit_slots,
    draw_audit,
    estimate_accuracy,
    estimate_f1,
    wilson_interval,
)
from engine.evaluation import metrics_from_predictions
from storage.errors import InvalidInputError


def test_wilson_matches_a_hand_computed_case() -> None:
    # 8/10 at 95% (z = 1.959964): centre 0.71693, half-width 0.22036 (Wilson 1927, eq. by hand)
    low, high = wilson_interval(8, 10, confidence=0.95)
    assert low == pytest.approx(0.49016, abs=1e-4)
    assert high == pytest.approx(0.94331, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(0, 20)
    assert low == 0.0 and 0.0 < high < 0.15  # no collapse to [0, 0] at the edge


def test_wilson_covers_about_90_percent_of_bernoulli_draws() -> None:
    rng = np.random.default_rng(0)
    hits = trials = 0
    for p in (0.55, 0.75, 0.9):
        for n in (30, 100, 300):
            successes = rng.binomial(n, p, size=400)
            for s in successes:
                low, high = wilson_interval(int(s), n, confidence=0.9)
                hits += low <= p <= high
                trials += 1
    assert 0.87 <= hits / trials <= 0.93


def test_estimate_accuracy_from_predictions() -> None:
    est = estimate_accuracy(np.array([0, 1, 2, 2]), np.array([0, 1, 2, 0]))
    assert est.value == 0.75 and est.n == 4 and est.low < 0.75 < est.high
    assert "75.0%" in str(est)


def test_bootstrap_f1_interval_contains_the_population_value() -> None:
    rng = np.random.default_rng(1)
    n_classes = 5
    truth = rng.integers(0, n_classes, 20_000)
    noisy = rng.random(truth.size) < 0.25  # a classifier wrong on 25% of texts, uniformly
    pred = np.where(noisy, rng.integers(0, n_classes, truth.size), truth)
    population = metrics_from_predictions(truth, pred, n_classes=n_classes).macro_f1
    sample = rng.choice(truth.size, 400, replace=False)
    est = estimate_f1(truth[sample], pred[sample], n_classes=n_classes, rng=rng)
    assert est.low <= population <= est.high
    assert est.value == pytest.approx(
        metrics_from_predictions(truth[sample], pred[sample], n_classes=n_classes).macro_f1
    )


def test_audit_slots_take_their_share_evenly() -> None:
    mask = audit_slots(n_delivered=0, n=1000, share=0.1)
    assert mask.sum() == 100
    for k in range(1, 1000):  # after any number of deliveries, within one of the share
        assert abs(mask[:k].sum() - 0.1 * k) <= 1
    # batches concatenate into the same schedule
    parts = [audit_slots(n_delivered=s, n=37, share=0.1) for s in range(0, 999, 37)]
    assert np.array_equal(np.concatenate(parts)[:999], mask[:999])
    assert audit_slots(n_delivered=0, n=50, share=0.0).sum() == 0
    with pytest.raises(InvalidInputError):
        audit_slots(n_delivered=0, n=5, share=1.5)


def test_audit_draws_are_uniform_over_candidates() -> None:
    rng = np.random.default_rng(2)
    candidates = np.arange(100, 120)  # 20 candidates
    counts = np.zeros(120, dtype=int)
    for _ in range(2000):
        picks = draw_audit(candidates=candidates, n_delivered=0, n=50, rng=rng, share=0.1)
        assert len(picks) == 5 and len(set(picks.tolist())) == 5
        assert set(picks.tolist()) <= set(candidates.tolist())
        counts[picks] += 1
    observed = counts[100:]
    expected = 2000 * 5 / 20
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    assert chi2 < 43.8  # chi-square, 19 d.o.f., p = 0.001


def test_audit_report_is_json_ready() -> None:
    y = np.array([0, 0, 1, 1, 2, 2])
    rep = audit_report(y, np.array([0, 0, 1, 2, 2, 2]), n_classes=3, rng=np.random.default_rng(0),
                       class_names=["a", "b", "c"])  # fmt: skip
    d = json.loads(json.dumps(rep.to_dict()))
    assert d["accuracy"] == pytest.approx(5 / 6) and d["low"] < d["accuracy"] < d["high"]
    assert d["per_class"]["b"]["recall"] == 0.5 and d["n"] == 6
    empty = audit_report(y[:0], y[:0], n_classes=3, rng=np.random.default_rng(0))
    assert empty.accuracy.n == 0 and empty.per_class == {}
