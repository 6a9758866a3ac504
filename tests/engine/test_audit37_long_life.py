"""audit37: what a project's long life leaves behind or makes slower (strict xfail findings).

Real trainings on SQLite and PostgreSQL, with a data directory of each test's own (the model
files are what is counted), sharing the session's embedding cache through a link.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import event

from engine import jobs, projects, taxonomy, training
from engine.datasets import dataset_path
from engine.workspace import Workspace
from storage.errors import InvalidInputError
from storage.models import ModelRun
from tests.engine.test_training_recovery import RotatedEncoder
from tests.helpers import own_data_workspace

LABELS = ["card_arrival", "age_limit", "atm_support", "change_pin", "exchange_rate"]
EXTRA = "lost_or_stolen_card"


@pytest.fixture(scope="module")
def texts() -> dict[str, list[str]]:
    """40 Banking77 texts of each of LABELS and EXTRA."""
    per: dict[str, list[str]] = {k: [] for k in [*LABELS, EXTRA]}
    with dataset_path("banking77", "train").open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            bucket = per.get(row["label"])
            if bucket is not None and len(bucket) < 40:
                bucket.append(row["text"])
    return per


@pytest.fixture
def ws(db_url_and_schema, encoder, embedding_cache_dir, tmp_path: Path) -> Iterator[Workspace]:  # type: ignore[no-untyped-def]
    """LABELBOT_KEEP_MODELS=0: only the active, pinned and best model files are kept."""
    with own_data_workspace(
        db_url_and_schema, encoder, embedding_cache_dir, tmp_path, LABELBOT_KEEP_MODELS=0
    ) as workspace:
        yield workspace


def _import(ws: Workspace, tmp_path: Path, name: str, rows: list[tuple[str, str]]) -> None:
    path = tmp_path / f"{name}.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    projects.import_file(ws, project="bank", path=path)


def _noisy(texts: dict[str, list[str]], labels: list[str]) -> list[tuple[str, str]]:
    """Texts of every label, labeled at random: a model trained on them is much worse."""
    rng = random.Random(0)
    return [(texts[k][i], rng.choice(labels)) for k in labels for i in range(20, 40)]


def _files(ws: Workspace) -> list[str]:
    return sorted(p.name.split("-")[0] for p in (ws.settings.models_root / "bank").iterdir())


def test_the_best_model_slot_goes_to_a_version_that_can_no_longer_answer_after_a_label_is_added(  # type: ignore[no-untyped-def]
    ws, texts, tmp_path: Path
) -> None:
    projects.create_project(ws, name="bank", labels=LABELS)
    _import(ws, tmp_path, "a", [(texts[k][i], k) for k in LABELS for i in range(10)])
    v1 = training.train_project(ws, "bank", kind="linear")  # 5 clean classes: CV 0.98
    taxonomy.add_labels(ws, project="bank", names=[EXTRA], actor="ops")
    # v1 is from before the taxonomy change: it can never answer again, by design (asked while
    # its file is there: the next training prunes it)
    with pytest.raises(InvalidInputError, match="trained before the taxonomy changed"):
        training.activate_version(ws, "bank", v1.version)
    _import(ws, tmp_path, "b", [(texts[EXTRA][i], EXTRA) for i in range(10)])
    v2 = training.train_project(ws, "bank", kind="linear")  # 6 clean classes: CV 0.97
    _import(ws, tmp_path, "c", _noisy(texts, [*LABELS, EXTRA]))
    v3 = training.train_project(ws, "bank", kind="linear")  # noisy labels: CV about 0.3
    assert v3.is_active
    runs = {r.version: r for r in training.list_versions(ws, "bank")}
    assert training._quality(runs[2]) > training._quality(runs[3])  # v2 is the better one
    assert training._quality(runs[1]) > training._quality(runs[2])  # v1 ranks first
    # the slot kept for the best version should hold the best one that can still answer (v2,
    # the rollback the team needs after a bad v3), not v1, whose file nothing can ever use
    assert _files(ws) == [f"v{v2.version}", f"v{v3.version}"]
    training.activate_version(ws, "bank", v2.version)


def test_the_best_model_slot_goes_to_a_version_of_the_old_encoder(  # type: ignore[no-untyped-def]
    ws, texts, tmp_path: Path
) -> None:
    projects.create_project(ws, name="bank", labels=LABELS)
    _import(ws, tmp_path, "a", [(texts[k][i], k) for k in LABELS for i in range(10)])
    v1 = training.train_project(ws, "bank", kind="linear")
    # LABELBOT_ENCODER now names another encoder: v1 can never answer again, by design
    other = Workspace(settings=ws.settings, db=ws.db, _encoder=RotatedEncoder(ws.encoder))
    with pytest.raises(InvalidInputError, match="retrain instead"):  # while its file is there
        training.activate_version(other, "bank", v1.version)
    v2 = training.train_project(other, "bank", kind="linear")  # the same labels, as good
    _import(other, tmp_path, "c", _noisy(texts, LABELS))
    v3 = training.train_project(other, "bank", kind="linear")
    assert v3.is_active
    runs = {r.version: r for r in training.list_versions(other, "bank")}
    assert training._quality(runs[2]) > training._quality(runs[3])
    assert _files(other) == [f"v{v2.version}", f"v{v3.version}"]
    training.activate_version(other, "bank", v2.version)


@contextmanager
def _runs_loaded() -> Iterator[list[int]]:
    """The ModelRun rows read from the database (each carries its metrics: about 29 KB of JSON
    at 77 classes, the confusion matrix and per-class scores)."""
    loaded: list[int] = []

    def count(target: ModelRun, _context: object) -> None:
        loaded.append(int(target.version))

    event.listen(ModelRun, "load", count)
    try:
        yield loaded
    finally:
        event.remove(ModelRun, "load", count)


def test_the_retrain_check_at_each_poll_does_not_read_every_run_ever(  # type: ignore[no-untyped-def]
    ws, texts, tmp_path: Path
) -> None:
    projects.create_project(ws, name="bank", labels=LABELS)
    _import(ws, tmp_path, "a", [(texts[k][i], k) for k in LABELS for i in range(10)])
    training.train_project(ws, "bank", kind="linear")
    training.train_project(ws, "bank", kind="linear")
    with _runs_loaded() as early:
        assert not jobs.retrain_decision(ws, "bank").due  # no new label
    for _ in range(4):  # the months go by: a retrain every 20 labels
        training.train_project(ws, "bank", kind="linear")
    with _runs_loaded() as later:
        assert not jobs.retrain_decision(ws, "bank").due
    assert len(later) == len(early), f"runs read: {sorted(early)}, then {sorted(later)}"
