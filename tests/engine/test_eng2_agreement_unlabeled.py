"""``agreement_previous``, the kappa of the stop signal, compares successive models on the
unlabeled examples only (Bloodgood & Vijay-Shanker 2009's stop set): on the labeled ones both
models fit the same labels, which pushed the agreement up. On SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine import projects, training
from engine.classifier import load_model
from engine.forecast import prediction_agreement
from tests.helpers import label_next, load_slice


def test_successive_models_are_compared_on_the_unlabeled_examples(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path
) -> None:
    truth = load_slice(ws, banking_slice, tmp_path)
    projects.update_settings(
        ws, project="bank", multi_label_share=0.0, audit_share=0.0, classifier="linear"
    )
    label_next(ws, truth, 12, annotators=("U1", "U2"))
    v1 = training.train_project(ws, "bank")
    label_next(ws, truth, 12, annotators=("U1", "U2"))
    v2 = training.train_project(ws, "bank")
    pool = training.load_pool(ws, "bank")  # as v2 saw it: nothing labeled since
    assert v1.artifact_path and v2.artifact_path and v2.n_labels == 24
    first, second = load_model(Path(v1.artifact_path)), load_model(Path(v2.artifact_path))
    unlabeled = pool.y < 0
    assert 0 < unlabeled.sum() < len(pool.y)

    def kappa(rows: np.ndarray) -> float:
        return prediction_agreement(
            first.predict_proba(pool.X[rows]).argmax(axis=1),
            second.predict_proba(pool.X[rows]).argmax(axis=1),
        )

    everywhere = kappa(np.ones(len(pool.y), dtype=bool))
    assert kappa(unlabeled) != everywhere  # the test can tell the two apart
    assert v2.metrics["agreement_previous"] == kappa(unlabeled)
