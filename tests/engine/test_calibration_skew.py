"""Calibration under skewed label counts (audit of the unseen share and the temperature).

Merging labels that have no label yet made the merged label the model's guess for most texts:
each never-labeled class got its part of the unseen share, and the merge added the parts up
(4 such classes merged: 0.39 against the labeled classes' 0.1-0.3). The mapping onto today's
labels now comes first: the merged label is one class without a label, with one class's part.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine import classifier, exporting, projects, taxonomy, training
from engine.classifier import (
    train_model,
    unseen_share,
)
from engine.workspace import Workspace
from storage.db import session_scope
from storage.repositories import models as model_repo
from storage.repositories import projects as project_repo
from tests.helpers import SLICE_LABELS, labeled_csv

UNUSED = ["u1", "u2", "u3", "u4", "u5", "u6"]


def _project_with_four_singletons(
    ws: Workspace, rows: list[tuple[str, str]], tmp_path: Path
) -> None:
    """10 labels, 4 of them labeled once each: the unseen share is at its cap (0.59)."""
    projects.create_project(ws, name="bank", labels=SLICE_LABELS[:4] + UNUSED)
    seeds = {}
    for text, label in rows:
        if label in SLICE_LABELS[:4]:
            seeds.setdefault(label, text)
    chosen = set(seeds.values())
    path = labeled_csv(tmp_path / "seed.csv", [(t, lb if t in chosen else "") for t, lb in rows])
    projects.import_file(ws, project="bank", path=path)


def _labeled_counts(ws: Workspace) -> dict[str, int]:
    pool = training.load_pool(ws, "bank")
    counts = np.bincount(pool.y[pool.y >= 0], minlength=len(pool.classes))
    return dict(zip(pool.classes, counts.tolist(), strict=True))


def test_merged_unlabeled_labels_are_never_the_guess(ws, banking_slice, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _project_with_four_singletons(ws, banking_slice, tmp_path)
    training.train_project(ws, "bank")
    taxonomy.merge_labels(ws, project="bank", labels=["u1", "u2", "u3"], actor="a")
    counts = _labeled_counts(ws)
    unlabeled = {name for name, n in counts.items() if n == 0}
    assert unlabeled == {"u1", "u4", "u5", "u6"}

    # predict (the active model, answering in today's names)
    texts = [t for t, _ in banking_slice]
    got = training.predict_texts(ws, "bank", texts)
    assert [p.label for p in got if p.label in unlabeled] == []
    for p in got:  # each never-labeled label gets less than the guess
        assert all(prob < p.confidence for lb, prob in p.top if lb in unlabeled)

    # the stored predictions (re-scored through the merge) and the export that shows them
    with session_scope(ws.db, read_only=True) as session:
        project = project_repo.get_project(session=session, name="bank")
        assert project.id is not None
        stored = model_repo.get_predictions(session=session, project_id=project.id)
    assert len(stored) == len(texts)
    assert {p.model_run_id for p in stored.values()} != {None}  # the model's, through the merge
    assert [p.label for p in stored.values() if p.label in unlabeled] == []
    for row in stored.values():
        assert all(prob < row.confidence for lb, prob in row.probs if lb in unlabeled)
    records = exporting.export_records(ws, "bank")
    guesses = [r["prediction"]["label"] for r in records if r["prediction"]]
    assert len(guesses) == len(texts)
    assert [g for g in guesses if g in unlabeled] == []


def _unit(rng: np.random.Generator, rows: int, dim: int) -> np.ndarray:
    x = rng.normal(size=(rows, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_a_label_added_after_the_labels_gets_its_share(ws, banking_slice, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """No class had exactly one label, so Good's estimate said no text is of a class without
    a label, though a label had been added after the labels were given: its texts were all
    answered wrong at 96-100%."""
    old = SLICE_LABELS[:4]
    projects.create_project(ws, name="bank", labels=old)
    quota = dict(zip(old, [12, 6, 4, 4], strict=True))
    seeded = []
    for text, label in banking_slice:
        if quota.get(label, 0) > 0:
            quota[label] -= 1
            seeded.append((text, label))
    chosen = {t for t, _ in seeded}
    rest = [(t, "") for t, _ in banking_slice if t not in chosen]
    projects.import_file(ws, project="bank", path=labeled_csv(tmp_path / "s.csv", seeded + rest))
    taxonomy.add_labels(ws, project="bank", names=["exchange_rate"], actor="a")

    training.train_project(ws, "bank", kind="linear")
    loaded = training.active_model(ws, "bank")
    assert loaded is not None
    # its share of the classes (0.98 / 5), not 0
    assert abs(loaded[1].unseen - 0.98 / 5) < 1e-6
    new_texts = [t for t, lb in banking_slice if lb == "exchange_rate"]
    got = training.predict_texts(ws, "bank", new_texts)
    assert max(p.confidence for p in got) <= 1 - 0.98 / 5 + 1e-4


def test_good_estimate_is_smoothed_while_a_class_has_no_label() -> None:
    """A class present from the start but not labeled yet: with no singleton the estimate was 0
    (every answer could read 100%); it is now at least 1/n."""
    y = np.repeat(np.arange(4), [24, 8, 4, 4])
    assert unseen_share(y, n_classes=5) == 1 / 40
    assert unseen_share(y, n_classes=4) == 0.0  # every class labeled: none unseen
    new = np.array([False, False, False, False, True])
    assert unseen_share(y, n_classes=5, new=new) == 0.98 / 5  # 1/40 + 0.98/5, capped


def test_temperature_does_not_collapse_when_every_fold_row_is_right(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Well-separated classes: every out-of-fold row right, the fit ran to its 0.05 bound and
    the next model showed its rare wrong answers at 100%."""
    rng = np.random.default_rng(0)
    centres = _unit(rng, 4, 32) * 4
    y = np.repeat(np.arange(4), [40, 20, 10, 10])
    X = centres[y] + _unit(rng, len(y), 32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    model = train_model(X, y, n_classes=4, kind="linear")
    assert model.temperature >= 0.2
    # the rows are separable: without the floor the fit runs to its own bound
    monkeypatch.setattr(classifier, "MIN_FIT_TEMPERATURE", 0.0)
    assert train_model(X, y, n_classes=4, kind="linear").temperature < 0.1
