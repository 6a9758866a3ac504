"""After a split, the split label's audit examples wait to be relabeled and the next model's
audit score leaves them out: the rest is no longer the whole uniform draw. The digest and
`labelbot status` say how many wait, not measured, beside the score (they said "88.9% on 18
audit labels (… unbiased)" and nothing of the 2 left out)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine import digest, projects, taxonomy, training
from engine.evaluation import explain_status
from tests.helpers import label_next, load_slice


@pytest.fixture
def loaded(ws, banking_slice, tmp_path: Path):  # type: ignore[no-untyped-def]
    truth = load_slice(ws, banking_slice, tmp_path, channel_id="C1")
    projects.update_settings(ws, project="bank", audit_share=0.4)
    label_next(ws, truth, 50, annotators=("U1", "U2"))
    training.train_project(ws, "bank")
    return ws


def test_audit_labels_waiting_after_a_split_are_said_not_measured(loaded) -> None:  # type: ignore[no-untyped-def]
    ws = loaded
    pool = training.load_pool(ws, "bank")
    per_class = np.bincount(pool.y[pool.audited], minlength=len(pool.classes))
    label = pool.classes[int(per_class.argmax())]
    waiting = int(per_class.max())
    assert waiting > 0 and len(pool.audited) > waiting  # others remain to measure on
    before = digest.build_digest(ws, "bank")
    assert "to be relabeled" not in before.accuracy_detail()

    taxonomy.split_label(ws, project="bank", label=label, into=[f"{label}_a", f"{label}_b"],
                         actor="admin")  # fmt: skip
    run = training.train_project(ws, "bank")
    assert run.metrics["audit"]["n"] == len(pool.audited) - waiting
    label_s = "labels were waiting" if waiting != 1 else "label was waiting"
    note = (f"{waiting} more audit {label_s} to be relabeled when this model was trained, their "
            "label split or retired: not measured")  # fmt: skip

    d = digest.build_digest(ws, "bank")
    assert d.accuracy is not None and d.accuracy.source == "audit"
    assert f"; {note}" in d.accuracy_detail()
    assert note in "\n".join(d.summary())

    status = explain_status(projects.project_status(ws, "bank"), ws=ws)
    head = status["model"]["estimate"]["headline"]
    assert head["source"] == "audit" and head["waiting"] == waiting
    assert note in head["description"] and "unbiased" not in head["description"]
