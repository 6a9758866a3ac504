"""The linear head is fit with numpy and scipy's L-BFGS-B, not torch: the same objective and the
same solution as the torch head it replaced (tests/engine/torch_head.py), its contract (absent
classes, fewer than two classes, warm start, determinism), and no torch import anywhere in a
retrain, the proposals' refresh or the mislabel scan (torch was ~280 MB and seconds of import
per process for the head alone; bench/linear_head.py)."""

from __future__ import annotations

import csv
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from engine.classifier import ABSENT_LOGIT, WARM_ITERS, absent_classes, fit_linear
from engine.encoders import Encoder
from tests.engine.torch_head import objective, proba, torch_fit_linear

ROOT = Path(__file__).resolve().parents[2]


def clustered(
    n: int, classes: int, *, d: int = 384, spread: float = 1.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors around random centres, the class sizes skewed (a Dirichlet draw), as
    sentence embeddings of a real labeled set look; some classes overlap."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, d))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    y = rng.choice(classes, size=n, p=rng.dirichlet(np.full(classes, 2.0)))
    X = centres[y] + spread * rng.normal(size=(n, d)) / np.sqrt(d)
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32), y


@pytest.fixture(scope="module")
def banking(encoder: Encoder, embedding_cache_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """Real MiniLM vectors: the first 12 Banking77 training texts of each of 25 intents."""
    from engine.datasets import dataset_path
    from engine.embeddings import cache_for, embed_texts

    texts: list[str] = []
    names: list[str] = []
    taken: dict[str, int] = {}
    with dataset_path("banking77", "train").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            label = row["label"]
            if (label in taken or len(taken) < 25) and taken.get(label, 0) < 12:
                taken[label] = taken.get(label, 0) + 1
                texts.append(row["text"])
                names.append(label)
    ids = {name: i for i, name in enumerate(sorted(taken))}
    X = embed_texts(texts, encoder=encoder, cache=cache_for(embedding_cache_dir, encoder))
    return np.asarray(X, dtype=np.float32), np.array([ids[name] for name in names])


def _data(which: str, banking: tuple[np.ndarray, np.ndarray] | None) -> tuple[np.ndarray, ...]:
    if which == "banking":
        assert banking is not None
        return banking
    if which == "clustered":
        return clustered(600, 30, spread=1.2, seed=3)
    return clustered(300, 8, d=32, spread=2.0, seed=4)  # much overlap: no class separable


@pytest.mark.parametrize("which", ["banking", "clustered", "overlapping"])
def test_the_same_solution_as_the_torch_head(which: str, request: pytest.FixtureRequest) -> None:
    X, y = _data(which, request.getfixturevalue("banking") if which == "banking" else None)
    n_classes = int(y.max()) + 3  # two classes without examples
    w_new, b_new = fit_linear(X, y, n_classes=n_classes)
    w_old, b_old = torch_fit_linear(X, y, n_classes=n_classes)

    new, old = objective(X, y, w_new, b_new), objective(X, y, w_old, b_old)
    assert abs(new - old) <= 1e-4 * old, (new, old)
    assert new <= old * (1 + 1e-6)  # as low (torch's float32 loss stopped it a hair earlier)
    p_new, p_old = proba(X, w_new, b_new), proba(X, w_old, b_old)
    assert (p_new.argmax(1) == p_old.argmax(1)).mean() >= 0.995
    # Both stop where the objective changes by less than 1e-9: along its flat directions
    # (near-separable classes, little L2) a probability still moves by ~1e-3 there (either
    # fit was 0.3-1.6e-3 from a float64 fit run to 1e-12 on these sets).
    assert np.abs(p_new - p_old).max() < 5e-3
    # a fit, not the start: most training rows are right
    assert (p_new.argmax(1) == y).mean() > 0.8


def test_the_objective_is_at_its_minimum() -> None:
    """No step along the gradient (checked by finite differences) lowers it: the fit stopped
    at the optimum, not early."""
    X, y = clustered(300, 8, d=32, spread=2.0, seed=4)
    w, b = fit_linear(X, y, n_classes=8)
    at = objective(X, y, w, b)
    rng = np.random.default_rng(0)
    for _ in range(5):
        dw, db = rng.normal(size=w.shape) * 1e-2, rng.normal(size=b.shape) * 1e-2
        assert objective(X, y, w + dw, b + db) >= at - 1e-9
        assert objective(X, y, w - dw, b - db) >= at - 1e-9


def test_classes_without_examples_keep_zero_weights_and_the_absent_logit() -> None:
    X, y = clustered(400, 6, d=64, seed=5)
    y = np.array([0, 2, 3, 5, 6, 8])[y]  # classes 1, 4, 7 and 9 have no example
    weight, bias = fit_linear(X, y, n_classes=10)
    assert weight.shape == (64, 10) and bias.shape == (10,)
    assert weight.dtype == np.float32 and bias.dtype == np.float32
    empty = [1, 4, 7, 9]
    assert not weight[:, empty].any() and (bias[empty] == ABSENT_LOGIT).all()
    assert absent_classes(bias, weight).tolist() == [c in empty for c in range(10)]
    assert set(proba(X, weight, bias).argmax(1)) <= {0, 2, 3, 5, 6, 8}
    # the present classes are fit as if the empty ones were not there
    w_old, b_old = torch_fit_linear(X, y, n_classes=10)
    np.testing.assert_allclose(proba(X, weight, bias), proba(X, w_old, b_old), atol=1e-3)


@pytest.mark.parametrize("labels", [[3] * 7, [0]], ids=["one class", "one label"])
def test_fewer_than_two_classes_fit_nothing(labels: list[int]) -> None:
    X = clustered(len(labels), 2, d=16, seed=6)[0]
    weight, bias = fit_linear(X, np.array(labels), n_classes=5)
    assert not weight.any()
    expected = np.full(5, ABSENT_LOGIT, dtype=np.float32)
    expected[labels[0]] = 0.0
    np.testing.assert_array_equal(bias, expected)


def test_a_warm_start_continues_from_the_previous_weights() -> None:
    """``init``: the previous round's weights, a class new since then starting from its bias
    clipped at -10 (not ABSENT_LOGIT's -30, which ten steps do not climb out of)."""
    X, y = clustered(500, 12, d=64, spread=0.8, seed=1)
    earlier = y != 11  # class 11 got its first labels after the previous round
    init = fit_linear(X[earlier], y[earlier], n_classes=12)
    assert init[1][11] == ABSENT_LOGIT

    warm = fit_linear(X, y, n_classes=12, init=init, max_iter=WARM_ITERS)
    cold = fit_linear(X, y, n_classes=12)
    torch_warm = torch_fit_linear(X, y, n_classes=12, init=init, max_iter=WARM_ITERS)

    at_warm, at_cold = objective(X, y, *warm), objective(X, y, *cold)
    # ten steps from the previous weights come within 0.1% of the cold fit's hundred, and no
    # further from it than torch's ten steps came
    assert at_warm <= at_cold * 1.001
    assert at_warm <= objective(X, y, *torch_warm) * (1 + 1e-4)
    assert (proba(X, *warm).argmax(1)[y == 11] == 11).mean() > 0.9


def test_deterministic() -> None:
    X, y = clustered(500, 20, seed=2)
    first = fit_linear(X, y, n_classes=20)
    for got, expected in zip(fit_linear(X, y, n_classes=20), first, strict=True):
        np.testing.assert_array_equal(got, expected)
    init = (first[0] * 0.5, first[1])
    warm = fit_linear(X, y, n_classes=20, init=init, max_iter=WARM_ITERS)
    again = fit_linear(X, y, n_classes=20, init=init, max_iter=WARM_ITERS)
    for got, expected in zip(again, warm, strict=True):
        np.testing.assert_array_equal(got, expected)


# --- No torch in a retrain --------------------------------------------------------------------

LABELS = ("card_arrival", "age_limit", "atm_support", "change_pin", "exchange_rate")

# A fresh process on the project below, every text already in the embedding cache: the
# scheduler's retrain (auto: the kinds' cross-validation, the temperatures on out-of-fold
# rows), a warm-started retrain, blend and linear, the queue's re-score, the proposals'
# refresh and the mislabel scan; then whether torch was imported, and whether the encoder was
# built (it may import torch: it must not have been needed).
CHILD = """
import sys
from engine import jobs, proposing, reviews, training
from engine.config import Settings
from engine.encoders import LazyEncoder
from engine.workspace import Workspace

url, data_dir, name, device, precision = sys.argv[1:6]
settings = Settings(DATABASE_URL=url, LABELBOT_DATA_DIR=data_dir)
ws = Workspace.open(settings, encoder=LazyEncoder(
    name, device=device, precision=precision, known_dim=lambda: ws.cache.vector_dim()))
outcomes = jobs.retrain_cycle(ws)
assert [o.version for o in outcomes] == [1], outcomes
assert training.train_project(ws, "bank").version == 2  # warm-started from version 1
assert training.train_project(ws, "bank", kind="blend").version == 3
assert training.train_project(ws, "bank", kind="linear").version == 4
training.rescore_project(ws, "bank")
proposing.refresh_proposals(ws, "bank")
assert reviews.scan_project(ws, "bank").labels == 30
print("torch" in sys.modules, ws.encoder.loaded)
"""


def test_a_retrain_and_its_followers_import_no_torch(
    encoder: Encoder, embedding_cache_dir: Path, tmp_path: Path
) -> None:
    from engine import projects, training
    from engine.config import Settings
    from engine.datasets import dataset_path
    from engine.encoders import encoder_config
    from engine.workspace import Workspace

    per: dict[str, list[str]] = {label: [] for label in LABELS}
    with dataset_path("banking77", "train").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["label"] in per and len(per[row["label"]]) < 30:
                per[row["label"]].append(row["text"])
    path = tmp_path / "bank.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows((per[k][i], k if i < 6 else "") for i in range(30) for k in LABELS)
    url = f"sqlite:///{tmp_path / 'labelbot.db'}"
    ws = Workspace.open(
        Settings(DATABASE_URL=url, LABELBOT_DATA_DIR=embedding_cache_dir), encoder=encoder
    )
    projects.create_project(ws, name="bank", labels=[*LABELS, "lost_card"])
    projects.import_file(ws, project="bank", path=path)  # embeds the texts
    ws.embed(training.load_pool(ws, "bank").label_texts)  # and the labels' names
    ws.db.dispose()

    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CHILD), url, str(embedding_cache_dir),
         *encoder_config()],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-2:] == ["False", "False"]  # no torch, no encoder built
