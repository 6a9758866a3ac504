"""The model file kept as the best one is the best of the versions that can still answer.

Pruning keeps the active, the pinned and the best version's file (LABELBOT_KEEP_MODELS=0 here:
nothing else). A version trained before a label was retired without a mapping, or on another
encoder, can never be rolled back to; one trained before a merge can (its merged classes add
up). Real trainings on SQLite and PostgreSQL, the model files counted on disk.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine import projects, taxonomy, training
from engine.workspace import Workspace
from storage.db import session_scope
from storage.errors import InvalidInputError
from storage.repositories import models
from storage.repositories import projects as project_repo
from tests.engine.test_audit37_long_life import LABELS, _import, texts, ws
from tests.engine.test_training_recovery import RotatedEncoder

__all__ = ["LABELS", "_import", "texts", "ws"]


def _clean(texts: dict[str, list[str]], labels: list[str]) -> list[tuple[str, str]]:
    return [(texts[k][i], k) for k in labels for i in range(10)]


def _noisy(
    texts: dict[str, list[str]], labels: list[str], rows: range = range(20, 40), share: float = 1.0
) -> list[tuple[str, str]]:
    """Texts of every label, ``share`` of them labeled at random: a model trained on them is
    worse."""
    rng = random.Random(0)
    return [
        (texts[k][i], rng.choice(labels) if rng.random() < share else k)
        for k in labels
        for i in rows
    ]


def _files(ws: Workspace) -> set[str]:
    return {p.name.split("-")[0] for p in (ws.settings.models_root / "bank").iterdir()}


def test_a_version_from_before_a_label_was_retired_gives_up_the_best_slot(  # type: ignore[no-untyped-def]
    ws, texts, tmp_path: Path
) -> None:
    projects.create_project(ws, name="bank", labels=LABELS)
    _import(ws, tmp_path, "a", _clean(texts, LABELS))
    v1 = training.train_project(ws, "bank", kind="linear")
    taxonomy.retire_label(ws, project="bank", label="exchange_rate", actor="ops")
    with pytest.raises(InvalidInputError, match="trained before the taxonomy changed"):
        training.activate_version(ws, "bank", v1.version)
    # the 4 labels left, with some noise: worse than v1 was, the best that can answer now
    _import(ws, tmp_path, "b", _noisy(texts, LABELS[:4], rows=range(10, 20), share=0.3))
    v2 = training.train_project(ws, "bank", kind="linear")
    _import(ws, tmp_path, "c", _noisy(texts, LABELS[:4]))
    training.train_project(ws, "bank", kind="linear")
    runs = {r.version: r for r in training.list_versions(ws, "bank")}
    assert training._quality(runs[1]) > training._quality(runs[2])  # v1 ranks first
    assert training._quality(runs[2]) > training._quality(runs[3])
    files = _files(ws)
    assert f"v{v1.version}" not in files
    assert f"v{v2.version}" in files
    training.activate_version(ws, "bank", v2.version)


def test_a_version_from_before_a_merge_keeps_the_best_slot(  # type: ignore[no-untyped-def]
    ws, texts, tmp_path: Path
) -> None:
    projects.create_project(ws, name="bank", labels=LABELS)
    _import(ws, tmp_path, "a", _clean(texts, LABELS))
    v1 = training.train_project(ws, "bank", kind="linear")
    # v1 still answers: its two classes add up to the label they were merged into
    taxonomy.merge_labels(ws, project="bank", labels=["atm_support", "exchange_rate"], actor="ops")
    _import(ws, tmp_path, "c", _noisy(texts, LABELS[:4]))
    training.train_project(ws, "bank", kind="linear")
    runs = {r.version: r for r in training.list_versions(ws, "bank")}
    assert training._quality(runs[1]) > training._quality(runs[2])
    assert f"v{v1.version}" in _files(ws)
    training.activate_version(ws, "bank", v1.version)


def _forget_encoder(ws: Workspace, version: int) -> None:
    """``version``'s run as recorded before runs kept their encoder: its file alone says."""
    with session_scope(ws.db) as session:
        project_id = project_repo.get_project(session=session, name="bank").id
        assert project_id is not None
        run = next(
            r
            for r in models.list_model_runs(session=session, project_id=project_id)
            if r.version == version
        )
        assert run.id is not None and training.ENCODER_METRIC in run.metrics
        metrics = {k: v for k, v in run.metrics.items() if k != training.ENCODER_METRIC}
        models.finish_model_run(session=session, run_id=run.id, status=run.status, metrics=metrics)


def test_runs_recorded_before_their_encoder_was_kept_are_judged_by_their_file(  # type: ignore[no-untyped-def]
    ws, texts, tmp_path: Path
) -> None:
    projects.create_project(ws, name="bank", labels=LABELS)
    _import(ws, tmp_path, "a", _clean(texts, LABELS))
    v1 = training.train_project(ws, "bank", kind="linear")
    _forget_encoder(ws, v1.version)
    other = Workspace(settings=ws.settings, db=ws.db, _encoder=RotatedEncoder(ws.encoder))
    v2 = training.train_project(other, "bank", kind="linear")
    _forget_encoder(other, v2.version)
    _import(other, tmp_path, "c", _noisy(texts, LABELS))
    v3 = training.train_project(other, "bank", kind="linear")
    assert v3.is_active
    assert _files(other) == {f"v{v2.version}", f"v{v3.version}"}
    training.activate_version(other, "bank", v2.version)


def test_the_prune_reads_only_the_best_candidates_file_when_the_runs_name_their_encoder(  # type: ignore[no-untyped-def]
    ws, texts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    projects.create_project(ws, name="bank", labels=LABELS)
    _import(ws, tmp_path, "a", _clean(texts, LABELS))
    training.train_project(ws, "bank", kind="linear")
    other = Workspace(settings=ws.settings, db=ws.db, _encoder=RotatedEncoder(ws.encoder))
    v2 = training.train_project(other, "bank", kind="linear")
    _import(other, tmp_path, "c", _noisy(texts, LABELS))
    v3 = training.train_project(other, "bank", kind="linear")
    read: list[str] = []
    load = np.load

    def counting(path: Any, *args: Any, **kwargs: Any) -> Any:
        if str(ws.settings.models_root) in str(path):
            read.append(Path(path).name)
        return load(path, *args, **kwargs)

    monkeypatch.setattr(np, "load", counting)
    training._prune_artifacts(other, v3.project_id)
    assert _files(other) == {f"v{v2.version}", f"v{v3.version}"}
    # v1, on the other encoder, is passed over from its run alone; v2, the best candidate, has
    # its file read back once (a damaged file must not keep the best slot: test_review37_prune)
    assert [name.split("-")[0] for name in read] == [f"v{v2.version}"]
    # the same look, with v2 recorded as before runs kept their encoder: its file is read once,
    # for its encoder and its check together
    read.clear()
    _forget_encoder(other, v2.version)
    training._prune_artifacts(other, v3.project_id)
    assert [name.split("-")[0] for name in read] == [f"v{v2.version}"]
    assert _files(other) == {f"v{v2.version}", f"v{v3.version}"}
