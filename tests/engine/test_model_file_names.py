"""A database and its `db copy` that share one data dir never write over each other's model
files: both have a v2 after their next trainings, and each answers with its own (before, both
wrote models/<project>/v2.npz, and the later training replaced the other's active model)."""

from __future__ import annotations

from pathlib import Path

from engine import database, labeling, training
from engine.config import Settings
from engine.workspace import Workspace
from storage.db import session_scope
from storage.repositories import models, projects
from tests.helpers import label_next, load_slice


def _active_file(ws: Workspace, name: str) -> Path:
    with session_scope(ws.db, read_only=True) as session:
        project = projects.get_project(session=session, name=name)
        assert project.id is not None
        run = models.get_active_model_run(session=session, project_id=project.id)
        assert run is not None and run.artifact_path is not None
        return ws.settings.artifact_file(run.artifact_path)


def test_a_copy_sharing_the_data_dir_keeps_its_own_model_files(
    encoder,
    embedding_cache_dir,
    banking_slice,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (embedding_cache_dir / "embeddings").mkdir(exist_ok=True)
    (data_dir / "embeddings").symlink_to(embedding_cache_dir / "embeddings")
    source_url, copy_url = f"sqlite:///{tmp_path}/a.db", f"sqlite:///{tmp_path}/b.db"
    a = Workspace.open(
        Settings(DATABASE_URL=source_url, LABELBOT_DATA_DIR=data_dir), encoder=encoder
    )
    try:
        truth = load_slice(a, banking_slice[:60], tmp_path)
        label_next(a, truth, 12)
        training.train_project(a, "bank")
        database.copy_to(source_url=source_url, target_url=copy_url)
        b = Workspace.open(
            Settings(DATABASE_URL=copy_url, LABELBOT_DATA_DIR=data_dir), encoder=encoder
        )
        try:
            label_next(b, truth, 6, annotators=("U2",))
            label_next(a, truth, 3, annotators=("U3",))
            run_b = training.train_project(b, "bank")
            file_b = _active_file(b, "bank")
            written = file_b.read_bytes()
            run_a = training.train_project(a, "bank")
            assert run_a.version == run_b.version == 2
            file_a = _active_file(a, "bank")
            assert file_a != file_b and file_a.exists()
            assert file_b.read_bytes() == written  # the copy's model is still its own
            assert labeling.next_task(b, project="bank", annotator="U9") is not None
        finally:
            b.close()
    finally:
        a.close()
