"""The digest says a cross-validated figure reads low only when the queue chose the labels it
rests on, as `labelbot status --json` marks it ``biased``: labels imported with their examples
were chosen by whoever made the file (the README audit's finding 4)."""

from __future__ import annotations

import csv
from pathlib import Path

from engine import digest, projects, training
from engine.evaluation import QUEUE_BIAS, explain_status
from engine.workspace import Workspace
from tests.helpers import SLICE_LABELS, label_next, load_slice


def _legend(d: digest.Digest) -> list[str]:
    import matplotlib.pyplot as plt

    fig = digest.chart_figure(d)
    try:
        return [str(name) for name in fig.axes[0].get_legend_handles_labels()[1]]
    finally:
        plt.close(fig)


def _biased(ws: Workspace) -> bool:
    """What `labelbot status --json` says of the active model's cross-validated estimate."""
    info = explain_status(projects.project_status(ws, "bank"), ws=ws)
    return bool(info["model"]["estimate"]["cross_validated"]["biased"])


def test_a_model_of_imported_labels_gets_no_caveat(
    ws: Workspace, banking_slice: list[tuple[str, str]], tmp_path: Path
) -> None:
    projects.create_project(ws, name="bank", labels=SLICE_LABELS)
    path = tmp_path / "labeled.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(banking_slice[:60])
    projects.import_file(ws, project="bank", path=path)
    training.train_project(ws, "bank")

    d = digest.build_digest(ws, "bank")
    assert _biased(ws) is False and d.queue_chosen is False
    assert d.accuracy is not None and d.accuracy.source == "cv"
    assert d.accuracy_detail() == "cross-validated"
    text = "\n".join(d.summary())
    assert "cross-validated" in text and QUEUE_BIAS not in text and "reads low" not in text
    assert QUEUE_BIAS not in d.weakest_title()
    assert d.per_class_title() == "per-class F1, cross-validated"
    assert "cross-validated on the training labels" in _legend(d)
    assert not [name for name in _legend(d) if "reads low" in name]


def test_a_model_of_labels_the_queue_chose_gets_the_caveat(
    ws: Workspace, banking_slice: list[tuple[str, str]], tmp_path: Path
) -> None:
    truth = load_slice(ws, banking_slice, tmp_path)
    projects.update_settings(ws, project="bank", audit_share=0.0)  # CV is the headline
    label_next(ws, truth, 30, annotators=("ana", "ben"))
    training.train_project(ws, "bank")

    d = digest.build_digest(ws, "bank")
    assert _biased(ws) is True and d.queue_chosen is True
    assert d.accuracy is not None and d.accuracy.source == "cv"
    assert d.accuracy_detail() == f"cross-validated ({QUEUE_BIAS})"
    assert QUEUE_BIAS in "\n".join(d.summary())
    assert QUEUE_BIAS in d.weakest_title()
    assert d.per_class_title() == "per-class F1, cross-validated (reads low)"
    assert "cross-validated on the queue's picks (reads low)" in _legend(d)
