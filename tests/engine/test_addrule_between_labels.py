"""A group of set-aside examples that sits between two existing labels is no new label; a group
that sits apart from every label is one (engine.proposals.additions._placed)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.proposals import LabeledData, propose_additions

D, LABELS, PER, NOISE, GROUP = 64, 8, 15, 0.9, 4


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _scatter(rng: np.random.Generator, centre: np.ndarray, n: int) -> np.ndarray:
    return _unit(centre + rng.normal(scale=NOISE / np.sqrt(D), size=(n, D)))


def _project(seed: int) -> tuple[np.random.Generator, np.ndarray, LabeledData]:
    """Eight labels of 15 examples around nearby directions."""
    rng = np.random.default_rng(seed)
    bases = _unit(0.5 * _unit(rng.normal(size=D)) + _unit(rng.normal(size=(LABELS, D))))
    X = np.concatenate([_scatter(rng, b, PER) for b in bases])
    y = np.repeat(np.arange(LABELS), PER)
    data = LabeledData(embeddings=X.astype(np.float32), labels=y,
                       label_names=[f"l{c}" for c in range(LABELS)],
                       texts=[f"w{c} text" for c in y])  # fmt: skip
    return rng, bases, data


def _adds(data: LabeledData, aside: np.ndarray) -> list[int]:
    adds = propose_additions(data, skipped_embeddings=aside.astype(np.float32),
                             skipped_texts=[f"aside {i}" for i in range(len(aside))])  # fmt: skip
    return [p.evidence["size"] for p in adds]


@pytest.mark.parametrize("seed", [2, 3, 5])
def test_unsure_skips_between_two_labels_are_no_new_label(seed: int) -> None:
    """Four skips on the border of l0 and l1, two on each side: each sits nearer l0's or l1's
    centroid than the rest of the four sit to it. Read against their own centre (themselves
    included) they were proposed as a new label (seed 5: all four; 2 and 3: three of them)."""
    rng, bases, data = _project(seed)
    side = np.array([0.6, 0.4, 0.6, 0.4])[:, None]  # l0's share: two on each side of the border
    between = _scatter(rng, side * bases[0] + (1 - side) * bases[1], GROUP)
    assert _adds(data, between) == []


@pytest.mark.parametrize("seed", range(6))
def test_a_group_apart_from_every_label_is_still_proposed(seed: int) -> None:
    """Four skips of an intent no label covers (near l0's region, as a missing label is near
    its neighbours) make one add proposal of all four."""
    rng, bases, data = _project(seed)
    new = _scatter(rng, _unit(bases[0] + 1.2 * _unit(rng.normal(size=D))), GROUP)
    assert _adds(data, new) == [GROUP]
