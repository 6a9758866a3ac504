"""Can any unsupervised split check find a fused label on these embeddings? An upper bound.

The hidden-split bench (bench/taxonomy_proposals.py) labels by oracle under active learning and
asks the product's split check to name the fused label. This script asks the question before
any detector: with *every* training example of the two fused classes (no active learning, no
labeling budget), in the default encoder's space,

* recoverable: 2-means on the fused label's examples — the purity of its two groups against
  the two real classes (the bench asks >= 0.85);
* detectable: how two-grouped the fused label looks next to the intact classes. A held-out
  bimodality: 2-means on a random half gives a direction (the difference of its group means);
  the other half is projected on it, and the best two-way cut of that 1-D projection explains
  a share R^2 of its variance (2/pi = 0.64 for a normal; near 1 for two well-apart groups).
  Held out, so 2-means cannot manufacture the gap it then measures. Averaged over 6 random
  halvings, both ways. Every real class is scored the same way as an intact label; a fused label
  that ranks below intact ones cannot be told apart from them by how two-grouped it looks.

The pairs are the bench's: ``fused_pairs`` with the same seeds (offset 0: the 5 published
trials; ``--seed-offset 2000``: the 16 more cuts; ``--dataset clinc150 --seed-offset 1000``: a
development set).

``--view`` scores another representation of the same texts: ``lexical`` (TF-IDF of the words,
fit on the whole training split, reduced to 200 dimensions by truncated SVD) or ``both`` (the
two unit vectors side by side) — does wording separate a fused pair that the encoder blurs?
``whitened`` rescales the encoder's space by the other labels' pooled within-label covariance
(shrunk by 10% toward its mean eigenvalue, to the power -1/2; the scored label's own examples
left out): are the directions in which intact labels vary little the ones that tell two fused
intents apart?

    .venv/bin/python bench/split_separability.py [--trials 5] [--seed-offset 0]
    .venv/bin/python bench/split_separability.py --dataset clinc150 --trials 16 \
        --seed-offset 1000 --view lexical
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from taxonomy_proposals import PURITY_TARGET, fused_pairs  # noqa: E402

from engine.config import get_settings  # noqa: E402
from engine.datasets import dataset_path, load_split  # noqa: E402
from engine.embeddings import cache_for, embed_texts  # noqa: E402
from engine.encoders import get_encoder  # noqa: E402

HALVINGS = 6


def best_cut_r2(x: np.ndarray) -> float:
    """The share of the variance of 1-D ``x`` that its best two-way cut explains."""
    x = np.sort(x)
    n = len(x)
    total = float(((x - x.mean()) ** 2).sum())
    if n < 4 or total <= 0:
        return 0.0
    s, s2 = np.cumsum(x), np.cumsum(x * x)
    k = np.arange(1, n)
    left = s2[:-1] - s[:-1] ** 2 / k
    right = (s2[-1] - s2[:-1]) - (s[-1] - s[:-1]) ** 2 / (n - k)
    return float(1 - (left + right)[1:-1].min() / total)


def held_out_bimodality(X: np.ndarray, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    values = []
    for r in range(HALVINGS):
        order = rng.permutation(len(X))
        halves = order[: len(X) // 2], order[len(X) // 2 :]
        for fit, score in (halves, halves[::-1]):
            centers = KMeans(2, n_init=8, random_state=r).fit(X[fit]).cluster_centers_
            values.append(best_cut_r2(X[score] @ (centers[0] - centers[1])))
    return float(np.mean(values))


def lexical_view(texts: list[str], dims: int = 200) -> np.ndarray:
    """Unit vectors of the texts' words: TF-IDF (sublinear counts, words in 2+ texts), reduced
    by truncated SVD."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    counts = TfidfVectorizer(sublinear_tf=True, min_df=2).fit_transform(texts)
    reduced = TruncatedSVD(dims, random_state=0).fit_transform(counts)
    return reduced / np.maximum(np.linalg.norm(reduced, axis=1, keepdims=True), 1e-12)


class Whitener:
    """``x @ transform(excluded)``: the encoder's space rescaled by the within-label covariance of
    every class but ``excluded``, pooled, shrunk toward its mean eigenvalue."""

    def __init__(self, X: np.ndarray, y: np.ndarray, shrink: float = 0.1) -> None:
        self.scatter, self.count, self.shrink = {}, {}, shrink
        for c in np.unique(y):
            centered = X[y == c] - X[y == c].mean(axis=0)
            self.scatter[int(c)], self.count[int(c)] = centered.T @ centered, len(centered)
        self.total = sum(self.scatter.values())
        self.n = sum(self.count.values()) - len(self.count)

    def transform(self, excluded: list[int]) -> np.ndarray:
        kept_n = self.n - sum(self.count[c] - 1 for c in excluded)
        W = (self.total - sum(self.scatter[c] for c in excluded)) / kept_n
        W += self.shrink * np.trace(W) / len(W) * np.eye(len(W))
        values, vectors = np.linalg.eigh(W)
        return (vectors / np.sqrt(values)) @ vectors.T


def purity(X: np.ndarray, truth: np.ndarray) -> float:
    groups = KMeans(2, n_init=10, random_state=0).fit_predict(X)
    agree = float(np.mean(groups == truth))
    return max(agree, 1 - agree)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--seed-offset", type=int, default=0)
    parser.add_argument("--dataset", default="banking77", choices=("banking77", "clinc150"))
    parser.add_argument("--view", default="encoder",
                        choices=("encoder", "lexical", "both", "whitened"))  # fmt: skip
    args = parser.parse_args()
    texts, label_names = load_split(dataset_path(args.dataset, "train"), drop_labels=("oos",))
    names = sorted(set(label_names))
    y = np.array([names.index(n) for n in label_names])
    encoder = get_encoder()
    t0 = time.perf_counter()
    X = embed_texts(texts, encoder=encoder, cache=cache_for(get_settings().data_dir, encoder),
                    progress=True)  # fmt: skip
    X = X / np.linalg.norm(X, axis=1, keepdims=True)
    if args.view in ("lexical", "both"):
        words = lexical_view(texts)
        X = words if args.view == "lexical" else np.hstack([X, words]) / np.sqrt(2)
    whitener = Whitener(X, y) if args.view == "whitened" else None

    def view(rows: np.ndarray, labels: list[int]) -> np.ndarray:
        """The scored label's examples (``labels``: its real classes) in the chosen view."""
        return X[rows] if whitener is None else X[rows] @ whitener.transform(labels)

    print(f"{args.dataset}, {args.view} view")
    intact = np.array([held_out_bimodality(view(y == c, [c])) for c in range(len(names))])
    print(f"\nintact classes ({len(names)}): held-out bimodality median {np.median(intact):.3f}, "
          f"90th percentile {np.percentile(intact, 90):.3f}, max {intact.max():.3f}\n")  # fmt: skip
    print("| trial | fused pair | examples | 2-means purity | recoverable | held-out bimodality "
          "| intact classes above it |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for t, (a, b) in enumerate(fused_pairs(names, args, None, None)):
        members = np.isin(y, [a, b])
        p = purity(view(members, [a, b]), (y[members] == a).astype(int))
        score = held_out_bimodality(view(members, [a, b]))
        print(f"| {t} | {names[a]} + {names[b]} | {members.sum()} | {p:.3f} | "
              f"{'yes' if p >= PURITY_TARGET else 'no'} | {score:.3f} | "
              f"{int((intact >= score).sum())} |", flush=True)  # fmt: skip
    print(f"\ntotal {time.perf_counter() - t0:.0f}s")


if __name__ == "__main__":
    main()
