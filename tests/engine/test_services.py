"""The labeling loop end to end through the engine services, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from pathlib import Path

import pytest

from engine import exporting, labeling, projects, training
from storage.errors import ConflictError, InvalidInputError, StaleActionError
from storage.models import utcnow
from tests.helpers import label_next, load_slice


@pytest.fixture
def loaded(ws, banking_slice, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A project with the 150-row Banking77 slice imported unlabeled; returns (ws, truth)."""
    truth = load_slice(ws, banking_slice, tmp_path, channel_id="C1")
    # one label per example: the counts below assume no second opinions (test_multilabel.py)
    projects.update_settings(ws, project="bank", multi_label_share=0.0)
    return ws, truth


def _label_n(ws, truth, n, annotators=("U1", "U2")):  # type: ignore[no-untyped-def]
    label_next(ws, truth, n, annotators=annotators)


def test_cold_start_queue_covers_classes_early(loaded) -> None:  # type: ignore[no-untyped-def]
    ws, truth = loaded
    seen, reasons = [], []
    for _ in range(10):
        task = labeling.next_task(ws, project="bank", annotator="U1")
        assert task is not None and task.suggestion is None  # no model yet
        seen.append(truth[task.text])
        reasons.append(task.reason)
        labeling.skip(ws, project="bank", example_id=task.example_id, annotator="U1")
    # k-means representatives of 5 well-separated intents: 10 picks reach at least 4 of them
    # (the slice is ordered label by label, so picking by id would give one class)
    assert len(set(seen)) >= 4
    # and they say why they come first (an audit pick, drawn at random, may say nothing)
    assert reasons.count(labeling.AskReason("cold_start")) >= 8
    assert set(reasons) <= {None, labeling.AskReason("cold_start")}


def test_loop_trains_a_useful_model_and_exports(loaded) -> None:  # type: ignore[no-untyped-def]
    ws, truth = loaded
    _label_n(ws, truth, 30)
    run = training.train_project(ws, "bank")
    # every 10th delivery is an audit pick: 3 of 30 labels evaluate the model, 27 train it
    assert run.version == 1 and run.n_labels == 27 and run.status == "ready"
    audit = run.metrics["audit"]
    assert audit["n"] == 3 and audit["low"] <= audit["accuracy"] <= audit["high"]
    assert set(run.metrics) >= {"accuracy", "macro_f1", "per_class", "confusion"}
    status = projects.project_status(ws, "bank")
    assert status["labeled"] == 30 and status["model"]["version"] == 1
    assert sum(lb["count"] for lb in status["labels"]) == 30

    records = exporting.export_records(ws, "bank")
    assert len(records) == 150
    keys = {"id", "text", "label", "annotations", "comments", "prediction", "meta", "disputed",
            "flags"}  # fmt: skip
    assert all(set(r) == keys for r in records)
    unlabeled = [r for r in records if r["label"] is None]
    correct = sum(r["prediction"]["label"] == truth[r["text"]] for r in unlabeled)
    assert correct / len(unlabeled) > 0.85  # the model learned from 30 labels
    labeled = next(r for r in records if r["label"] is not None)
    assert set(labeled["annotations"][0]) == {"label", "annotator", "source", "created_at"}

    preds = training.predict_texts(ws, "bank", ["How old do I need to be to open an account?"])
    assert preds[0].label == "age_limit" and 0 < preds[0].confidence <= 1


def test_same_key_stores_one_annotation(loaded) -> None:  # type: ignore[no-untyped-def]
    ws, truth = loaded
    task = labeling.next_task(ws, project="bank", annotator="U1")
    results = [
        labeling.submit_label(
            ws,
            project="bank",
            example_id=task.example_id,
            label=truth[task.text],
            annotator="U1",
            source="slack",
            key="1700000000.0001:U1",
        )  # fmt: skip
        for _ in range(3)
    ]
    assert [r.created for r in results] == [True, False, False]
    assert len({r.annotation_id for r in results}) == 1
    assert projects.project_status(ws, "bank")["annotations"] == 1


def test_stale_and_unknown_labels_store_nothing(loaded) -> None:  # type: ignore[no-untyped-def]
    ws, truth = loaded
    task = labeling.next_task(ws, project="bank", annotator="U1")
    labeling.submit_label(
        ws, project="bank", example_id=task.example_id, label=truth[task.text],
        annotator="U1", source="slack", key="a",
    )  # fmt: skip
    with pytest.raises(StaleActionError, match="already labeled"):
        labeling.submit_label(
            ws, project="bank", example_id=task.example_id, label="age_limit",
            annotator="U2", source="slack", key="b",
        )  # fmt: skip
    with pytest.raises(InvalidInputError, match="unknown label 'nope'"):
        labeling.submit_label(
            ws, project="bank", example_id=task.example_id, label="nope",
            annotator="U2", source="slack", key="c",
        )  # fmt: skip
    assert projects.project_status(ws, "bank")["annotations"] == 1


def test_undo_within_window_returns_example(loaded) -> None:  # type: ignore[no-untyped-def]
    ws, truth = loaded
    task = labeling.next_task(ws, project="bank", annotator="U1")
    result = labeling.submit_label(
        ws, project="bank", example_id=task.example_id, label=truth[task.text],
        annotator="U1", source="slack", key="a",
    )  # fmt: skip
    with pytest.raises(StaleActionError):
        labeling.undo(ws, annotation_id=result.annotation_id, annotator="U2")
    assert labeling.undo(ws, annotation_id=result.annotation_id, annotator="U1") == task.example_id
    assert projects.project_status(ws, "bank")["labeled"] == 0
    with pytest.raises(StaleActionError, match="already undone"):
        labeling.undo(ws, annotation_id=result.annotation_id, annotator="U1")
    late = labeling.submit_label(
        ws, project="bank", example_id=task.example_id, label=truth[task.text],
        annotator="U1", source="slack", key="b",
    )  # fmt: skip
    with pytest.raises(StaleActionError, match="only possible for 5 minutes"):
        labeling.undo(
            ws,
            annotation_id=late.annotation_id,
            annotator="U1",
            now=utcnow() + timedelta(minutes=6),
        )


def test_skip_flag_and_comments(loaded) -> None:  # type: ignore[no-untyped-def]
    ws, _ = loaded
    first = labeling.next_task(ws, project="bank", annotator="U1")
    labeling.skip(ws, project="bank", example_id=first.example_id, annotator="U1")
    second = labeling.next_task(ws, project="bank", annotator="U1")
    assert second.example_id != first.example_id
    labeling.flag(ws, project="bank", example_id=second.example_id, annotator="U1", reason="PII")
    assert projects.project_status(ws, "bank")["open_flags"] == 1
    other = labeling.next_task(ws, project="bank", annotator="U2")
    assert other.example_id == first.example_id  # skipped by U1, still free for U2
    assert labeling.comment(
        ws, example_id=first.example_id, author="U3", text="tricky", external_key="x"
    )
    assert not labeling.comment(
        ws, example_id=first.example_id, author="U3", text="tricky", external_key="x"
    )
    record = next(
        r for r in exporting.export_records(ws, "bank") if r["id"] == str(first.example_id)
    )
    assert [c["text"] for c in record["comments"]] == ["tricky"]
    with pytest.raises(StaleActionError):
        labeling.skip(ws, project="bank", example_id=second.example_id, annotator="U1")


def test_failed_training_keeps_previous_model(loaded, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    ws, truth = loaded
    _label_n(ws, truth, 20)
    good = training.train_project(ws, "bank")
    _label_n(ws, truth, 5)

    def crash(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("killed mid-evaluation")

    monkeypatch.setattr(training, "cv_metrics", crash)
    with pytest.raises(RuntimeError):
        training.train_project(ws, "bank")
    status = projects.project_status(ws, "bank")
    assert status["model"]["version"] == good.version
    from storage.db import session_scope
    from storage.repositories import models

    with session_scope(ws.db) as s:
        runs = models.list_model_runs(session=s, project_id=good.project_id)
    assert [r.status for r in runs] == ["ready", "failed"]


def test_training_needs_two_classes_and_predict_needs_a_model(loaded) -> None:  # type: ignore[no-untyped-def]
    ws, _ = loaded
    with pytest.raises(InvalidInputError, match="at least 2 classes"):
        training.train_project(ws, "bank")
    with pytest.raises(ConflictError, match="no trained model"):  # until it is trained
        training.predict_texts(ws, "bank", ["hi"])


def test_export_writers(loaded) -> None:  # type: ignore[no-untyped-def]
    ws, truth = loaded
    _label_n(ws, truth, 3)
    jsonl = exporting.export_text(ws, "bank", "jsonl").splitlines()
    assert len(jsonl) == 150 and json.loads(jsonl[0])["text"]
    rows = list(csv.DictReader(exporting.export_text(ws, "bank", "csv").splitlines()))
    assert len(rows) == 150 and sum(1 for r in rows if r["label"]) == 3
    with pytest.raises(InvalidInputError, match="unknown export format"):
        exporting.export_text(ws, "bank", "xml")


def test_old_model_files_are_pruned_but_runs_keep_metrics(loaded) -> None:  # type: ignore[no-untyped-def]
    ws, truth = loaded
    ws.settings.keep_models = 0
    _label_n(ws, truth, 15)
    runs = [training.train_project(ws, "bank") for _ in range(4)]
    from storage.db import session_scope
    from storage.repositories import models

    with session_scope(ws.db) as s:
        stored = models.list_model_runs(session=s, project_id=runs[0].project_id)
    kept = [r for r in stored if r.artifact_path is not None]
    # the active model and the best one stay; the rest are pruned (their metrics stay)
    assert len(kept) == 2 and stored[-1] in kept
    assert all(Path(r.artifact_path).exists() for r in kept)
    assert not any(
        Path(ru.artifact_path).exists() for ru in runs if ru.id not in {k.id for k in kept}
    )
    assert all(r.metrics["accuracy"] > 0 for r in stored)


def test_pruning_leaves_another_databases_model_files(loaded, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A `db copy` given a data directory of its own names the first database's model files
    by their absolute paths; pruning in the copy deleted them, and the first database lost
    models it still names. A file outside this installation's directories is left."""
    ws, truth = loaded
    _label_n(ws, truth, 15)
    first = training.train_project(ws, "bank")
    theirs = ws.settings.artifact_file(str(first.artifact_path))
    # this installation now keeps its files elsewhere: v1's file is another database's
    own = ws.settings.model_copy(update={"data_dir": tmp_path / "own-data"})
    monkeypatch.setattr(ws, "settings", own)
    ws.settings.keep_models = 0
    assert not ws.settings.owns_file(theirs)
    runs = [training.train_project(ws, "bank") for _ in range(3)]
    assert theirs.is_file()  # pruned from the runs (or kept as the best), never deleted
    mine = [ws.settings.artifact_file(str(r.artifact_path)) for r in runs]
    assert all(ws.settings.owns_file(p) for p in mine)
    from storage.db import session_scope
    from storage.repositories import models

    with session_scope(ws.db) as s:
        stored = models.list_model_runs(session=s, project_id=first.project_id)
    gone = [r for r in stored if r.artifact_path is None and r.id != first.id]
    assert gone, "this installation's own old files are still pruned"
    pruned = {g.id for g in gone}
    assert not any(p.exists() for r, p in zip(runs, mine, strict=True) if r.id in pruned)


def test_audit_stream_is_uniform_and_held_out(loaded) -> None:  # type: ignore[no-untyped-def]
    ws, truth = loaded
    projects.update_settings(ws, project="bank", audit_share=0.5)
    _label_n(ws, truth, 40)
    run = training.train_project(ws, "bank")
    assert run.n_labels == 20 and run.metrics["audit"]["n"] == 20
    from storage.db import session_scope
    from storage.repositories import examples

    with session_scope(ws.db) as s:
        audited = [
            e for e in examples.list_examples(session=s, project_id=run.project_id) if e.audit
        ]
    # uniform draws from a slice ordered label by label spread over it, not just the queue's top
    assert len(audited) == 20
    assert len({truth[e.text] for e in audited}) >= 4


def test_too_few_labels_to_cross_validate_are_no_accuracy_of_zero(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """One label per class: each held-out label's class is missing from its training folds, so
    cross-validation would report 0.000 whatever the model; the run says it cannot tell."""
    from engine.evaluation import cv_summary

    projects.create_project(ws, name="tiny", labels=["arrival", "age"])
    rows = [
        ("my card has not arrived yet", "arrival"),
        ("how old do I have to be to open an account", "age"),
        ("the card I ordered last week is still not here", "arrival"),
        ("is there a minimum age for your services", "age"),
    ]

    def import_rows(chunk: list[tuple[str, str]], name: str) -> None:
        path = tmp_path / name
        with path.open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle).writerows([("text", "label"), *chunk])
        projects.import_file(ws, project="tiny", path=path)

    import_rows(rows[:2], "one-each.csv")
    run = training.train_project(ws, "tiny")
    assert run.status == "ready" and run.n_labels == 2
    assert "accuracy" not in run.metrics and "macro_f1" not in run.metrics
    assert cv_summary(run.metrics) == (
        "accuracy: not enough labels to estimate (need 2 per class, in 2 classes or more)"
    )
    assert projects.project_status(ws, "tiny")["model"]["version"] == 1  # status reads it
    import_rows(rows[2:], "two-each.csv")
    run = training.train_project(ws, "tiny")
    assert run.metrics["folds"] >= 2 and 0 <= run.metrics["accuracy"] <= 1
    assert cv_summary(run.metrics).startswith("cross-validated accuracy ")
