"""The cross-validation caveat ("the queue chose those labels, hard cases first, so it usually
reads low") is said only when the queue did choose most of a model's training labels: labels
imported with their examples were chosen by whoever made the file (the UX audit's L6)."""

from __future__ import annotations

import csv
from pathlib import Path

from engine import projects, training
from engine.evaluation import QUEUE_BIAS, explain_status, queue_chose_labels, run_summary
from engine.workspace import Workspace
from tests.helpers import SLICE_LABELS, label_next, load_slice


def _import_labeled(ws: Workspace, rows: list[tuple[str, str]], path: Path) -> None:
    projects.create_project(ws, name="bank", labels=SLICE_LABELS)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    projects.import_file(ws, project="bank", path=path)


def _said(ws: Workspace, run_metrics: dict[str, object], version: int, n: int) -> str:
    return run_summary(run_metrics, version=version, kind="linear", n_labels=n,
                       queue_chosen=queue_chose_labels(ws, "bank", run_metrics))  # fmt: skip


def test_imported_labels_are_not_said_to_read_low(
    ws: Workspace, banking_slice: list[tuple[str, str]], tmp_path: Path
) -> None:
    _import_labeled(ws, banking_slice[:60], tmp_path / "labeled.csv")
    run = training.train_project(ws, "bank")
    assert queue_chose_labels(ws, "bank", run.metrics) is False
    said = _said(ws, run.metrics, run.version, run.n_labels)
    assert "cross-validated accuracy" in said and QUEUE_BIAS not in said

    info = explain_status(projects.project_status(ws, "bank"), ws=ws)
    cv = info["model"]["estimate"]["cross_validated"]
    assert cv["biased"] is False and QUEUE_BIAS not in cv["description"]
    assert info["model"]["estimate"]["headline"]["biased"] is False
    f1 = info["model"]["per_class_f1"]
    assert f1["description"] == "per-class F1, cross-validated on the training labels"

    # without the workspace (what it cannot check) the caveat stays, as before
    blind = explain_status(projects.project_status(ws, "bank"))
    assert QUEUE_BIAS in blind["model"]["estimate"]["cross_validated"]["description"]


def test_labels_the_queue_delivered_are_said_to_read_low(
    ws: Workspace, banking_slice: list[tuple[str, str]], tmp_path: Path
) -> None:
    truth = load_slice(ws, banking_slice, tmp_path)
    projects.update_settings(ws, project="bank", audit_share=0.0)  # CV is the headline
    label_next(ws, truth, 30, annotators=("ana", "ben"))
    run = training.train_project(ws, "bank")
    assert queue_chose_labels(ws, "bank", run.metrics) is True
    assert QUEUE_BIAS in _said(ws, run.metrics, run.version, run.n_labels)
    info = explain_status(projects.project_status(ws, "bank"), ws=ws)
    cv = info["model"]["estimate"]["cross_validated"]
    assert cv["biased"] is True and QUEUE_BIAS in cv["description"]
    assert QUEUE_BIAS in info["model"]["per_class_f1"]["description"]


def test_most_means_more_than_half_of_what_the_run_read(
    ws: Workspace, banking_slice: list[tuple[str, str]], tmp_path: Path
) -> None:
    """A run is judged by the labels it trained on: labels delivered after it do not count,
    and a vote the queue delivered on an imported example leaves it imported."""
    _import_labeled(
        ws, [(t, lb) for t, lb in banking_slice[:20]] + [(t, "") for t, _ in banking_slice[20:]],
        tmp_path / "part.csv",
    )  # fmt: skip
    truth = dict(banking_slice)
    training.rescore_project(ws, "bank")
    label_next(ws, truth, 10, annotators=("ana",))  # 20 imported, 10 delivered
    first = training.train_project(ws, "bank")
    assert queue_chose_labels(ws, "bank", first.metrics) is False

    label_next(ws, truth, 30, annotators=("ana",))  # 20 imported, 40 delivered
    assert queue_chose_labels(ws, "bank", first.metrics) is False  # v1 did not read them
    second = training.train_project(ws, "bank")
    assert queue_chose_labels(ws, "bank", second.metrics) is True
