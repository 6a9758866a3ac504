"""One missing label that the linkage cuts into pieces is proposed once; two missing labels stay
two proposals (engine.proposals.additions.join_fragments)."""

from __future__ import annotations

import numpy as np

from engine.proposals import LabeledData, propose_additions
from engine.proposals.additions import halves_cosine

D, LABELS, PER, MISSING = 64, 10, 12, 30


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _said_two_ways(rng: np.random.Generator, base: np.ndarray, spread: float, noise: float,
                   n: int) -> np.ndarray:  # fmt: skip
    """n examples of one intent, every other one phrased the second way."""
    ways = _unit(rng.normal(size=(2, D)))
    return _unit(base + spread * ways[np.arange(n) % 2] + rng.normal(scale=noise / np.sqrt(D),
                                                                     size=(n, D)))  # fmt: skip


def _project(seed: int, missing: int) -> tuple[LabeledData, np.ndarray, np.ndarray]:
    """Ten labels, each said two ways; ``missing`` unlabeled intents near label l0, said two ways
    too but worded more loosely (their examples scatter more, their two ways sit closer), all
    set aside by the experts: (data, set-aside embeddings, each one's missing intent)."""
    rng = np.random.default_rng(seed)
    bases = _unit(0.5 * _unit(rng.normal(size=D)) + _unit(rng.normal(size=(LABELS, D))))
    X = np.concatenate([_said_two_ways(rng, b, 1.0, 0.5, PER) for b in bases])
    y = np.repeat(np.arange(LABELS), PER)
    data = LabeledData(embeddings=X.astype(np.float32), labels=y,
                       label_names=[f"l{c}" for c in range(LABELS)],
                       texts=[f"w{c} text" for c in y])  # fmt: skip
    aside = [_said_two_ways(rng, _unit(bases[0] + 1.5 * _unit(rng.normal(size=D))), 0.6, 1.3,
                            MISSING) for _ in range(missing)]  # fmt: skip
    return data, np.concatenate(aside).astype(np.float32), np.repeat(np.arange(missing), MISSING)


def _adds(data: LabeledData, aside: np.ndarray, truth: np.ndarray) -> list[list[int]]:
    adds = propose_additions(data, skipped_embeddings=aside,
                             skipped_texts=[f"m{t} text {i}" for i, t in enumerate(truth)],
                             skipped_ids=list(range(len(truth))))  # fmt: skip
    return [np.bincount(truth[a.evidence["ids"]], minlength=truth.max() + 1).tolist() for a in adds]


def test_a_missing_label_cut_into_pieces_is_proposed_once() -> None:
    data, aside, truth = _project(1, missing=1)
    assert halves_cosine(data) is not None
    per_add = _adds(data, aside, truth)
    assert len(per_add) == 1  # without the join: 2 proposals (14 + 13)
    assert per_add[0][0] >= 0.8 * MISSING  # a few stragglers may be left out


def test_two_missing_labels_stay_two_proposals() -> None:
    data, aside, truth = _project(1, missing=2)
    per_add = _adds(data, aside, truth)  # without the join: 5 proposals (14, 13, 12, 9, 4)
    assert len(per_add) == 2
    assert all(max(counts) == sum(counts) for counts in per_add)  # each holds one intent only
    assert sorted(int(np.argmax(c)) for c in per_add) == [0, 1]


def test_a_large_labels_halves_are_read_from_a_sample_of_its_rows(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A label of 5,000 examples is read every 3rd row (HALVES_ROWS): the same halves, near
    enough, without an SVD of all its rows."""
    from engine.proposals import additions

    rng = np.random.default_rng(3)
    bases = _unit(rng.normal(size=(3, D)))
    X = np.concatenate([_said_two_ways(rng, b, 1.0, 0.5, 5_000) for b in bases])
    data = LabeledData(embeddings=X.astype(np.float32), labels=np.repeat(np.arange(3), 5_000),
                       label_names=["a", "b", "c"])  # fmt: skip
    sampled = halves_cosine(data)
    monkeypatch.setattr(additions, "HALVES_ROWS", 10**9)
    whole = halves_cosine(data)
    assert sampled is not None and whole is not None and abs(sampled - whole) < 0.02
