"""Rare-label help: the wrapper's contract, its picks, and when it stops helping."""

from __future__ import annotations

import numpy as np
import pytest

from engine.rare import RareClassBoost, label_query, rare_labels
from engine.strategies import get_strategy
from storage.errors import InvalidInputError


def _pool(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """8 blobs of 50; class 7 is the rare one we test help for."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(8, 16))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    y = np.repeat(np.arange(8), 50)
    X = centres[y] + rng.normal(scale=0.1, size=(len(y), 16))
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32), y


def _labeled(y: np.ndarray, rare_count: int) -> np.ndarray:
    """10 labeled per class, ``rare_count`` of class 7."""
    return np.concatenate(
        [np.flatnonzero(y == c)[: (rare_count if c == 7 else 10)] for c in range(8)]
    )


def _call(strategy: RareClassBoost, *, labeled: np.ndarray, y: np.ndarray, X: np.ndarray,
          n: int = 10, seed: int = 0, probs: np.ndarray | None = None,
          vectors: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    candidates = np.setdiff1d(np.arange(len(y)), labeled)
    return strategy.select(probs=probs, candidates=candidates, n=n, embeddings=X,
                           rng=np.random.default_rng(seed), labeled_idx=labeled,
                           labeled_y=y[labeled], n_classes=8, label_vectors=vectors)  # fmt: skip


def test_rare_labels_rarest_first_zero_included() -> None:
    assert rare_labels(np.array([7, 0, 3, 5, 4]), 5).tolist() == [1, 2, 4]
    assert rare_labels(np.array([5, 6]), 5).tolist() == []


@pytest.mark.parametrize("with_model", [True, False])
def test_contract(with_model: bool) -> None:
    X, y = _pool()
    probs = np.random.default_rng(1).dirichlet(np.ones(8), size=len(y)).astype(np.float32)
    strategy = RareClassBoost(base="diverse_margin")
    labeled = _labeled(y, rare_count=1)
    kwargs = {"probs": probs if with_model else None}
    a = _call(strategy, labeled=labeled, y=y, X=X, n=20, seed=3, **kwargs)
    b = _call(strategy, labeled=labeled, y=y, X=X, n=20, seed=3, **kwargs)
    assert len(a) == 20 and len(set(a.tolist())) == 20
    assert not set(a.tolist()) & set(labeled.tolist())
    assert np.array_equal(a, b)  # deterministic under a seed
    with pytest.raises(InvalidInputError):
        strategy.select(probs=None, candidates=np.array([], dtype=np.int64), n=5, embeddings=X,
                        rng=np.random.default_rng(0))  # fmt: skip
    # asked for more than the pool holds: all of it, once each
    small = strategy.select(probs=None, candidates=np.arange(3), n=10, embeddings=X,
                            rng=np.random.default_rng(0), labeled_idx=labeled,
                            labeled_y=y[labeled])  # fmt: skip
    assert sorted(small.tolist()) == [0, 1, 2]


def test_rare_label_neighbours_join_the_batch() -> None:
    X, y = _pool()
    labeled = _labeled(y, rare_count=1)
    # a base that never finds class 7: the first candidates in pool order (classes 0..)
    picks = _call(RareClassBoost(base="random", share=0.3), labeled=labeled, y=y, X=X, n=10)
    assert (y[picks] == 7).sum() >= 3  # the 3 boosted slots are class-7 neighbours
    plain = get_strategy("random").select(probs=None, candidates=np.setdiff1d(np.arange(400),
                                          labeled), n=10, embeddings=X,
                                          rng=np.random.default_rng(0))  # fmt: skip
    assert (y[plain] == 7).sum() <= 2


def test_each_pick_says_which_label_it_was_asked_for() -> None:
    """select_explained: the same picks as select (same rng), and per pick the rare label whose
    help chose it, or -1 for the base strategy's."""
    X, y = _pool()
    labeled = _labeled(y, rare_count=1)
    strategy = RareClassBoost(base="random", share=0.3)
    candidates = np.setdiff1d(np.arange(len(y)), labeled)
    picks, for_label = strategy.select_explained(
        probs=None, candidates=candidates, n=10, embeddings=X, rng=np.random.default_rng(0),
        labeled_idx=labeled, labeled_y=y[labeled], n_classes=8,
    )  # fmt: skip
    assert np.array_equal(picks, _call(strategy, labeled=labeled, y=y, X=X, n=10))
    assert len(for_label) == len(picks) and for_label.tolist().count(7) == 3  # the 3 slots
    assert set(for_label.tolist()) == {7, -1} and (for_label[:3] == 7).all()
    assert (y[picks[for_label == 7]] == 7).all()  # the help's picks: class-7 neighbours
    done = _labeled(y, rare_count=10)  # no label is rare: every pick is the base's
    _, base_only = strategy.select_explained(
        probs=None, candidates=np.setdiff1d(np.arange(len(y)), done), n=10, embeddings=X,
        rng=np.random.default_rng(0), labeled_idx=done, labeled_y=y[done], n_classes=8,
    )  # fmt: skip
    assert base_only.tolist() == [-1] * 10


def test_model_scores_are_a_second_source() -> None:
    X, y = _pool()
    labeled = _labeled(y, rare_count=1)
    probs = np.full((len(y), 8), 0.1, dtype=np.float32)
    planted = np.array([5, 60, 110])  # class 0/1/2 rows the model believes are class 7
    probs[planted, 7] = 0.9
    picks = _call(RareClassBoost(base="random", share=0.5), labeled=labeled, y=y, X=X, n=10,
                  probs=probs)  # fmt: skip
    assert set(planted.tolist()) & set(picks.tolist())  # score picks alternate with neighbours
    assert (y[picks] == 7).sum() >= 2


def test_stops_once_every_label_has_the_minimum() -> None:
    X, y = _pool()
    labeled = _labeled(y, rare_count=5)
    boost = RareClassBoost(base="random", minimum=5)
    plain = get_strategy("random")
    candidates = np.setdiff1d(np.arange(len(y)), labeled)
    picks = _call(boost, labeled=labeled, y=y, X=X, n=10, seed=4)
    same = plain.select(probs=None, candidates=candidates, n=10, embeddings=X,
                        rng=np.random.default_rng(4))  # fmt: skip
    assert np.array_equal(picks, same)  # no rare label left: the wrapper is exactly its base
    # a label needing 1 more gets at most a couple of the boosted slots, not all of them
    labeled4 = _labeled(y, rare_count=4)
    picks4 = _call(RareClassBoost(base="random", share=1.0), labeled=labeled4, y=y, X=X, n=10)
    assert 1 <= (y[picks4] == 7).sum() <= 3


def test_without_labeled_data_it_is_the_base() -> None:
    X, y = _pool()
    candidates = np.arange(100, 400)
    boost = RareClassBoost(base="random")
    a = boost.select(probs=None, candidates=candidates, n=10, embeddings=X,
                     rng=np.random.default_rng(2))  # fmt: skip
    b = get_strategy("random").select(probs=None, candidates=candidates, n=10, embeddings=X,
                                      rng=np.random.default_rng(2))  # fmt: skip
    assert np.array_equal(a, b)


def test_a_label_with_no_example_is_searched_from_its_name() -> None:
    X, y = _pool()
    labeled = _labeled(y, rare_count=0)  # class 7 was just added: no example yet
    # each label's name embedded near its own examples, as a real encoder puts "age limit"
    # near "how old do I need to be?"
    vectors = np.stack([X[y == c].mean(axis=0) for c in range(8)])
    base = RareClassBoost(base="random", share=0.5)
    kept = vectors.copy()
    picks = _call(base, labeled=labeled, y=y, X=X, vectors=vectors)
    assert np.array_equal(vectors, kept)  # the caller's vectors are read, not rescaled
    assert (y[picks[:5]] == 7).all()  # the 5 boosted slots: the candidates nearest its name
    without = _call(base, labeled=labeled, y=y, X=X, vectors=None)
    assert (y[without] == 7).sum() <= 3  # no name: nothing to search from, the base alone
    # the name is only a start: once the label has examples, they are what is searched from
    misleading = vectors.copy()
    misleading[7] = vectors[0]  # a name that reads like class 0
    one = _labeled(y, rare_count=1)
    picks1 = _call(base, labeled=one, y=y, X=X, vectors=misleading)
    assert (y[picks1[:4]] == 7).all()
    with pytest.raises(InvalidInputError, match="label_vectors has 7 rows for 8 labels"):
        _call(base, labeled=labeled, y=y, X=X, vectors=vectors[:7])


def test_the_search_by_name_gives_up_once_the_examples_nearest_the_name_went_elsewhere() -> None:
    X, y = _pool()
    vectors = np.stack([X[y == c].mean(axis=0) for c in range(8)])
    vectors[7] = vectors[0]  # label 7's name reads like class 0 (the data holds no label 7 yet)
    boost = RareClassBoost(base="random", share=0.5)
    few = np.concatenate([_labeled(y, rare_count=0), np.flatnonzero(y == 0)[10:15]])
    picks = _call(boost, labeled=few, y=y, X=X, vectors=vectors)
    assert (y[picks[:5]] == 0).all()  # 15 class-0 examples asked so far: still searching
    asked = np.concatenate([_labeled(y, rare_count=0), np.flatnonzero(y == 0)[10:]])
    picks = _call(boost, labeled=asked, y=y, X=X, vectors=vectors)
    same = _call(boost, labeled=asked, y=y, X=X, vectors=None)
    assert np.array_equal(picks, same)  # all 50 went to class 0: the name search has stopped


def test_label_query_reads_the_name_and_the_guidelines() -> None:
    assert label_query("card_arrival") == "card arrival"
    assert label_query("Refund-not_showing up") == "Refund not showing up"
    assert label_query("age_limit", "  Minimum age to open an account ") == (
        "age limit: Minimum age to open an account"
    )


def test_a_copy_of_a_labeled_example_is_not_picked_for_its_label() -> None:
    """The encoder ignores case: an unlabeled lower-case twin of a rare label's labeled text
    reads 1.0 and ranked first, asked "to find more examples" of a label it could not add to
    (an audit saw 5 of 80 deliveries so). Copies are passed over, by neighbours and scores."""
    X, y = _pool()
    labeled = _labeled(y, rare_count=2)
    twins = np.array([20, 70, 120])  # unlabeled rows made copies of class 7's labeled texts
    X = X.copy()
    X[twins[0]] = X[labeled[y[labeled] == 7][0]]
    X[twins[1]] = X[labeled[y[labeled] == 7][1]]
    X[twins[2]] = X[labeled[y[labeled] == 7][0]] * 1.0001  # within NEAR_COPY
    probs = np.full((len(y), 8), 0.1, dtype=np.float32)
    probs[twins, 7] = 0.99  # and the model is sure of them
    strategy = RareClassBoost(base="random", share=0.5)
    candidates = np.setdiff1d(np.arange(len(y)), labeled)
    picks, for_label = strategy.select_explained(
        probs=probs, candidates=candidates, n=10, embeddings=X, rng=np.random.default_rng(0),
        labeled_idx=labeled, labeled_y=y[labeled], n_classes=8,
    )  # fmt: skip
    assert (for_label == 7).sum() >= 3  # the help still picks for class 7
    assert not set(picks[for_label == 7].tolist()) & set(twins.tolist())
    assert (y[picks[for_label == 7]] == 7).all()  # its real neighbours instead
