"""Early confidences mean what they say on real traffic, texts of never-labeled classes included.

Banking77 texts embedded by the real encoder (the session's cache): 40 intents, 15 texts each. A
few dozen are labeled, the rest are the held-out traffic, a third or more of it of intents with
no label yet. bench/calibration.py measures the same at full scale.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from engine.classifier import absent_classes, load_model, train_model
from engine.strategies import select_cold_start

INTENTS = 40
PER_INTENT = 15


@pytest.fixture(scope="module")
def traffic(encoder, embedding_cache_dir) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    """(embeddings, intent ids) of the first 15 texts of 40 Banking77 intents."""
    from engine.datasets import dataset_path
    from engine.embeddings import cache_for, embed_texts

    per: dict[str, list[str]] = {}
    with dataset_path("banking77", "train").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            texts = per.setdefault(row["label"], [])
            if len(texts) < PER_INTENT:
                texts.append(row["text"])
    intents = sorted(per)[:INTENTS]
    texts = [t for name in intents for t in per[name]]
    y = np.repeat(np.arange(INTENTS), PER_INTENT)
    X = embed_texts(texts, encoder=encoder, cache=cache_for(embedding_cache_dir, encoder))
    return np.asarray(X, dtype=np.float32), y


def gap(X: np.ndarray, y: np.ndarray, labeled: np.ndarray) -> float:
    """Mean confidence minus accuracy on the texts not labeled."""
    model = train_model(X[labeled], y[labeled], n_classes=INTENTS, kind="linear")
    rest = np.setdiff1d(np.arange(len(y)), labeled)
    proba = model.predict_proba(X[rest])
    return float(proba.max(1).mean() - (proba.argmax(1) == y[rest]).mean())


def test_confidence_matches_accuracy_at_30_random_labels(traffic) -> None:  # type: ignore[no-untyped-def]
    """~20 of 40 intents labeled: the held-out texts of the other 20 are always wrong, and the
    model must say so in its confidence (it was 0.15-0.3 over-confident)."""
    X, y = traffic
    gaps = [gap(X, y, np.random.default_rng(s).permutation(len(y))[:30]) for s in range(4)]
    assert abs(float(np.mean(gaps))) < 0.08, gaps


def test_confidence_matches_accuracy_after_a_cold_start(traffic) -> None:  # type: ignore[no-untyped-def]
    """The queue's first picks (k-means: nearly all singletons) give almost no out-of-fold rows
    to fit a temperature on; T=1 was 0.2-0.3 under-confident, a fit on 2-6 rows over-confident."""
    X, y = traffic
    gaps = []
    for s in range(4):
        rng = np.random.default_rng(s)
        picks = select_cold_start(embeddings=X, candidates=np.arange(len(y)), n=25, rng=rng)
        gaps.append(gap(X, y, picks))
    assert abs(float(np.mean(gaps))) < 0.1, gaps


def test_no_cliff_when_a_fifth_pair_of_labels_arrives(traffic) -> None:  # type: ignore[no-untyped-def]
    """Singletons plus 4 pairs (8 out-of-fold rows of seen classes) vs plus 5 pairs (10): one
    more label must not change the temperature, or the confidence, by a step."""
    X, y = traffic
    first = np.flatnonzero(np.arange(len(y)) % PER_INTENT == 0)[:20]  # one text of 20 intents
    second = first + 1  # another text of the same intents
    models = [
        train_model(
            X[np.r_[first, second[:pairs]]], y[np.r_[first, second[:pairs]]],
            n_classes=INTENTS, kind="linear",
        )
        for pairs in (4, 5)
    ]  # fmt: skip
    t4, t5 = (m.temperature for m in models)
    assert max(t4, t5) / min(t4, t5) < 1.5, (t4, t5)
    conf = [float(m.predict_proba(X).max(1).mean()) for m in models]
    assert abs(conf[0] - conf[1]) < 0.06, conf


def test_a_never_labeled_class_is_never_the_top_guess(traffic) -> None:  # type: ignore[no-untyped-def]
    """Even where the labeled classes are a tie (a text far from all of them), and with the
    unseen share at its largest (every label a singleton)."""
    X, y = traffic
    labeled = np.flatnonzero(np.arange(len(y)) % PER_INTENT == 0)[:30]  # 30 singletons
    model = train_model(X[labeled], y[labeled], n_classes=INTENTS, kind="linear")
    absent = absent_classes(model.bias, model.weight)
    assert absent.sum() == 10 and model.unseen > 0.2
    far = np.zeros((3, X.shape[1]), dtype=np.float32)  # logits = biases: a near tie
    for rows in (X, far):
        proba = model.predict_proba(rows)
        assert not absent[proba.argmax(1)].any()
        np.testing.assert_allclose(proba.sum(1), 1.0, atol=1e-5)
        np.testing.assert_allclose(proba[:, absent].sum(1), model.unseen, rtol=1e-4)


def test_a_blend_is_not_under_confident(traffic) -> None:  # type: ignore[no-untyped-def]
    """With 8 labels per intent the blend (half label spreading) averaged two distributions and
    read 0.1-0.2 under its accuracy; its own temperature brings the two together."""
    X, y = traffic
    labeled = np.flatnonzero(np.arange(len(y)) % PER_INTENT < 8)
    model = train_model(X[labeled], y[labeled], n_classes=INTENTS, pool=X, kind="blend")
    rest = np.setdiff1d(np.arange(len(y)), labeled)
    proba = model.predict_proba(X[rest])
    assert abs(float(proba.max(1).mean() - (proba.argmax(1) == y[rest]).mean())) < 0.07
    assert model.blend_temperature < 0.95


def test_calibration_survives_a_save(traffic, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    X, y = traffic
    model = train_model(X[::7], y[::7], n_classes=INTENTS, pool=X, kind="blend")
    model.save(tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz")
    assert (loaded.unseen, loaded.blend_temperature) == (model.unseen, model.blend_temperature)
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), atol=1e-3)


def test_cross_validation_fits_no_temperature_it_cannot_use(
    traffic, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Cross-validation reads only the argmax, which no temperature changes: each fold spreads
    labels once, for its model. Fitting the blend's own temperature there made every retrain's
    cross-validation 4x the work (3 more linear fits and spreadings over the pool per fold)."""
    from engine import classifier
    from engine.classifier import build_pool_graph
    from engine.evaluation import cross_validate

    X, y = traffic
    graph = build_pool_graph(X)
    labeled = np.random.default_rng(0).permutation(len(y))[:200]
    spreads: list[int] = []
    real = classifier.spread_labels

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        spreads.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(classifier, "spread_labels", counted)
    cross_validate(X[labeled], y[labeled], n_classes=INTENTS, pool=X, kind="blend", folds=3,
                   graph=graph, labeled_idx=labeled)  # fmt: skip
    assert len(spreads) == 3  # one per fold
    spreads.clear()
    train_model(X[labeled], y[labeled], n_classes=INTENTS, pool=X, kind="blend", graph=graph,
                labeled_idx=labeled)  # fmt: skip
    assert len(spreads) > 1  # a model for use still fits its blend temperature on its folds
