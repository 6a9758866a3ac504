"""Contract tests for every query strategy, plus tests that a random picker would fail."""

from __future__ import annotations

import numpy as np
import pytest

from engine.strategies import (
    DEFAULT_STRATEGY,
    STRATEGIES,
    get_strategy,
    select_cold_start,
    uncertainty_scores,
)
from storage.errors import InvalidInputError


def _pool(n: int = 300, classes: int = 5, d: int = 16, seed: int = 0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(n, d)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    probs = rng.dirichlet(np.ones(classes), size=n).astype(np.float32)
    return emb, probs


@pytest.mark.parametrize("name", STRATEGIES)
@pytest.mark.parametrize("with_model", [True, False])
def test_contract(name: str, with_model: bool) -> None:
    emb, probs = _pool()
    strategy = get_strategy(name)
    labeled = np.arange(0, 300, 3)
    candidates = np.setdiff1d(np.arange(300), labeled)
    kwargs = dict(probs=probs if with_model else None, candidates=candidates, n=20, embeddings=emb)
    picks = strategy.select(**kwargs, rng=np.random.default_rng(7))  # type: ignore[arg-type]
    assert strategy.name == name
    assert len(picks) == 20 and len(set(picks.tolist())) == 20
    assert set(picks.tolist()) <= set(candidates.tolist())
    assert not set(picks.tolist()) & set(labeled.tolist())
    again = strategy.select(**kwargs, rng=np.random.default_rng(7))  # type: ignore[arg-type]
    np.testing.assert_array_equal(picks, again)


@pytest.mark.parametrize("name", STRATEGIES)
def test_fewer_candidates_than_n_and_errors(name: str) -> None:
    emb, probs = _pool()
    strategy = get_strategy(name)
    rng = np.random.default_rng(0)
    picks = strategy.select(probs=probs, candidates=np.array([4, 9]), n=5, embeddings=emb, rng=rng)
    assert sorted(picks.tolist()) == [4, 9]
    with pytest.raises(InvalidInputError, match="no unlabeled"):
        strategy.select(probs=probs, candidates=np.array([], int), n=5, embeddings=emb, rng=rng)
    with pytest.raises(InvalidInputError, match="at least 1"):
        strategy.select(probs=probs, candidates=np.arange(10), n=0, embeddings=emb, rng=rng)


def test_unknown_strategy_lists_valid_names() -> None:
    with pytest.raises(InvalidInputError, match="margin"):
        get_strategy("nope")
    assert DEFAULT_STRATEGY in STRATEGIES


def test_uncertainty_picks_the_ambiguous_rows() -> None:
    probs = np.full((100, 3), [0.98, 0.01, 0.01], dtype=np.float32)
    ambiguous = [13, 57, 88]
    probs[ambiguous] = [0.34, 0.33, 0.33]
    probs[40] = [0.5, 0.49, 0.01]  # small margin, but less uncertain than uniform rows
    for name in ("margin", "least_confidence", "entropy", "diverse_margin"):
        picks = get_strategy(name).select(
            probs=probs, candidates=np.arange(100), n=4, embeddings=None,
            rng=np.random.default_rng(0),
        )  # fmt: skip
        assert set(picks[:3].tolist()) == set(ambiguous), name
        assert picks[3] == 40, name


def test_uncertainty_scores_orderings() -> None:
    p = np.array([[0.9, 0.05, 0.05], [0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]], dtype=np.float32)
    assert np.argmax(uncertainty_scores(p, "margin")) in (1, 2)
    assert np.argmax(uncertainty_scores(p, "entropy")) == 2
    assert np.argmin(uncertainty_scores(p, "least_confidence")) == 0
    with pytest.raises(InvalidInputError):
        uncertainty_scores(p, "bogus")


def test_diversity_wrapper_avoids_near_duplicates() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(10, 32))
    emb = np.repeat(centres, 30, axis=0) + 0.01 * rng.normal(size=(300, 32))
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    cluster = np.repeat(np.arange(10), 30)
    probs = np.full((300, 4), 0.25, np.float32)  # every row equally uncertain...
    probs[cluster != 0] = [0.4, 0.3, 0.2, 0.1]  # ...except cluster 0 is the most uncertain
    kw = dict(probs=probs, candidates=np.arange(300), n=10, embeddings=emb)
    plain = get_strategy("margin").select(**kw, rng=np.random.default_rng(1))  # type: ignore[arg-type]
    diverse = get_strategy("diverse_margin").select(**kw, rng=np.random.default_rng(1))  # type: ignore[arg-type]
    assert len(set(cluster[plain])) == 1  # plain margin takes ten near-duplicates
    assert len(set(cluster[diverse])) >= 8


def test_cold_start_covers_clusters() -> None:
    rng = np.random.default_rng(0)
    sizes = [200, 200, 200, 10, 10]  # two rare clusters
    centres = rng.normal(size=(5, 32)) * 3
    emb = np.concatenate(
        [c + 0.3 * rng.normal(size=(s, 32)) for c, s in zip(centres, sizes, strict=True)]
    )
    emb = (emb / np.linalg.norm(emb, axis=1, keepdims=True)).astype(np.float32)
    cluster = np.repeat(np.arange(5), sizes)
    picks = select_cold_start(embeddings=emb, candidates=np.arange(len(emb)), n=8, rng=rng)
    assert len(set(picks.tolist())) == 8
    assert set(cluster[picks]) == set(range(5))


def test_a_round_over_a_large_pool_picks_among_the_most_uncertain() -> None:
    # Speed is measured in bench/engine_speed.py, never asserted here; this checks that the
    # chunked scoring of a large pool still ranks correctly.
    rng = np.random.default_rng(0)
    n = 200_000
    probs = rng.dirichlet(np.ones(20), size=n).astype(np.float32)
    emb = rng.normal(size=(n, 384)).astype(np.float32)
    picks = get_strategy(DEFAULT_STRATEGY).select(
        probs=probs, candidates=np.arange(n), n=50, embeddings=emb, rng=rng
    )
    assert len(set(picks.tolist())) == 50
    top = np.sort(probs, axis=1)
    margin = top[:, -1] - top[:, -2]
    shortlist = set(np.argsort(margin)[: 50 * 10].tolist())  # diverse_margin's candidate pool
    assert set(picks.tolist()) <= shortlist


def test_query_candidates_caps_large_pools_uniformly() -> None:
    from engine.strategies import query_candidates

    small = np.arange(10)
    assert np.array_equal(query_candidates(small, np.random.default_rng(0), limit=20), small)
    big = np.arange(0, 100_000, 2)
    a = query_candidates(big, np.random.default_rng(1), limit=1_000)
    b = query_candidates(big, np.random.default_rng(1), limit=1_000)
    assert np.array_equal(a, b) and len(np.unique(a)) == 1_000 and np.isin(a, big).all()
    # uniform: both halves of the pool are sampled about equally
    assert 400 < (a < 50_000).sum() < 600
