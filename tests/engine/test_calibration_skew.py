"""Calibration under skewed label counts (audit of the unseen share and the temperature).

Merging labels that have no label yet made the merged label the model's guess for most texts:
each never-labeled class got its part of the unseen share, and the merge added the parts up
(4 such classes merged: 0.39 against the labeled classes' 0.1-0.3). The mapping onto today's
labels now comes first: the merged label is one class without a label, with one class's part.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine import exporting, projects, taxonomy, training
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
