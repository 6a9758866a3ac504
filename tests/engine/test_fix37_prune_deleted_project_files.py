"""`project delete` removes the project's own files only, whatever its folder holds besides.

LABELBOT_MODELS_DIR may be the data directory itself: a project's model folder is then
``<data dir>/<name>``, and a project called `graphs` has every project's pool graphs for a
folder (``<data dir>/graphs/<encoder>/project-N.npz``). Deleting it removes its model files,
their temporary files and its own pool graph; the other projects' graphs stay, and so does the
folder. On SQLite and PostgreSQL, with real trainings.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import projects, training
from engine.workspace import Workspace
from tests.helpers import SLICE_LABELS, labeled_csv, own_data_workspace


@pytest.fixture
def ws(db_url_and_schema, encoder, embedding_cache_dir, tmp_path: Path) -> Iterator[Workspace]:  # type: ignore[no-untyped-def]
    """LABELBOT_MODELS_DIR is the data directory."""
    with own_data_workspace(
        db_url_and_schema, encoder, embedding_cache_dir, tmp_path, models_in_data_dir=True
    ) as workspace:
        yield workspace


def _trained(ws: Workspace, name: str, rows: list[tuple[str, str]], tmp_path: Path) -> int:
    """Project ``name`` made from ``rows``, labeled, and trained with its pool graph."""
    projects.create_project(ws, name=name, labels=SLICE_LABELS)
    projects.import_file(ws, project=name, path=labeled_csv(tmp_path / f"{name}.csv", rows))
    run = training.train_project(ws, name, kind="blend")  # a blend reads the pool graph
    return run.project_id


def _every_file(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file()}


def test_deleting_a_project_named_graphs_leaves_the_other_projects_graphs(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path
) -> None:
    data = ws.settings.data_dir
    graphs = data / "graphs"
    bank = _trained(ws, "bank", banking_slice[:50], tmp_path)
    gone = _trained(ws, "graphs", banking_slice[50:100], tmp_path)
    encoder_graphs = Path("graphs", ws.encoder.name)
    (own,) = [p for p in graphs.iterdir() if p.name.startswith("v1-")]  # graphs' model file
    assert (encoder_graphs / f"project-{bank}.npz") in _every_file(data)
    # what a killed training and an older labelbot left in its folder, and a file not its own
    leftovers = [graphs / ".v2-0123abcd.npz.x1y2z3w4.tmp", graphs / "v7.npz"]
    for path in [*leftovers, graphs / "README.txt"]:
        path.write_bytes(b"x")
    before = _every_file(data)

    report = projects.delete_project(ws, "graphs")

    removed = {own, *leftovers, data / encoder_graphs / f"project-{gone}.npz"}
    assert set(report.files) == removed and not report.kept
    assert _every_file(data) == before - {p.relative_to(data) for p in removed}
    assert (encoder_graphs / f"project-{bank}.npz") in _every_file(data)
    assert (graphs / "README.txt").is_file()
    training.train_project(ws, "bank", kind="blend")  # bank goes on, with its graph


def test_the_folder_of_a_deleted_project_goes_once_its_files_have(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path
) -> None:
    data = ws.settings.data_dir
    _trained(ws, "shop", banking_slice[:50], tmp_path)
    (data / "shop" / ".v2.npz.abcd_123.tmp").write_bytes(b"x")
    assert len(list((data / "shop").iterdir())) == 2
    report = projects.delete_project(ws, "shop")
    assert len(report.files) == 3 and not report.kept  # its model, the temporary, its graph
    assert not (data / "shop").exists()
