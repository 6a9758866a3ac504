"""A best version whose model file is damaged gives up the best slot to the next that can answer.

Pruning keeps the active, the pinned and the best version's file; the best is the best that a
rollback could still make answer, and a file that does not read back never answers (a rollback
refuses it). Damaged in each way a file is found: emptied, cut short (its zip index lost), or one
of its small arrays changed on disk (its index whole, only the member's CRC says so), whether its
run names its encoder or, recorded before runs kept it, only its file does. Real trainings on
SQLite and PostgreSQL, files counted on disk.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine import projects, training
from engine.workspace import Workspace
from storage.errors import LabelbotError
from storage.models import ModelRun
from tests.engine.test_fix37_prune_best import (
    LABELS,
    _clean,
    _files,
    _forget_encoder,
    _import,
    _noisy,
    texts,
)
from tests.helpers import own_data_workspace

__all__ = ["texts"]


@pytest.fixture
def ws(db_url_and_schema, encoder, embedding_cache_dir, tmp_path: Path) -> Iterator[Workspace]:  # type: ignore[no-untyped-def]
    with own_data_workspace(
        db_url_and_schema, encoder, embedding_cache_dir, tmp_path, LABELBOT_KEEP_MODELS=10
    ) as workspace:
        yield workspace


def _emptied(path: Path) -> None:
    path.write_bytes(b"")


def _cut_short(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _bias_changed(path: Path) -> None:
    """The last byte of the ``bias`` array's data flipped: the zip index and every other member
    read back, and the arrays read to find the encoder (``encoder``, ``weight``) too."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("bias.npy")
        assert info.compress_type == zipfile.ZIP_STORED
    data = bytearray(path.read_bytes())
    # the local file header: 30 bytes, then the member's name and extra field
    name_len = int.from_bytes(data[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_len = int.from_bytes(data[info.header_offset + 28 : info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    data[start + info.compress_size - 1] ^= 0xFF
    path.write_bytes(bytes(data))
    with zipfile.ZipFile(path) as archive:  # the damage is the member's alone
        assert archive.read("weight.npy")
        with pytest.raises(zipfile.BadZipFile, match="CRC"):
            archive.read("bias.npy")


def three_versions(
    ws: Workspace, texts: dict[str, list[str]], tmp_path: Path, kind: str = "linear"
) -> tuple[ModelRun, ModelRun, ModelRun]:
    """v1 (clean labels), v2 (a few noisy) and v3 (noisy, active): best to worst."""
    projects.create_project(ws, name="bank", labels=LABELS)
    _import(ws, tmp_path, "a", _clean(texts, LABELS))
    v1 = training.train_project(ws, "bank", kind=kind)
    _import(ws, tmp_path, "b", _noisy(texts, LABELS, rows=range(10, 20), share=0.3))
    v2 = training.train_project(ws, "bank", kind=kind)
    _import(ws, tmp_path, "c", _noisy(texts, LABELS))
    v3 = training.train_project(ws, "bank", kind=kind)
    training.activate_version(ws, "bank", v3.version)
    runs = {r.version: r for r in training.list_versions(ws, "bank")}
    assert training._quality(runs[1]) > training._quality(runs[2]) > training._quality(runs[3])
    return v1, v2, v3


@pytest.mark.parametrize("damage", [_emptied, _cut_short, _bias_changed])
@pytest.mark.parametrize("recorded", [True, False], ids=["run-names-encoder", "file-names-it"])
def test_a_damaged_best_file_gives_up_the_best_slot(  # type: ignore[no-untyped-def]
    ws, texts, tmp_path: Path, damage: Callable[[Path], None], recorded: bool
) -> None:
    v1, v2, v3 = three_versions(ws, texts, tmp_path)
    if not recorded:
        _forget_encoder(ws, v1.version)
    runs = {r.version: r for r in training.list_versions(ws, "bank")}
    assert runs[1].artifact_path is not None
    damage(ws.settings.artifact_file(runs[1].artifact_path))
    # another process (nothing read before in memory), keeping only the active and best file
    strict = Workspace(
        settings=ws.settings.model_copy(update={"keep_models": 0}), db=ws.db, _encoder=ws.encoder
    )
    with pytest.raises(LabelbotError):
        training.activate_version(strict, "bank", v1.version)
    training._prune_artifacts(strict, v3.project_id)
    # v2, the best that can answer, keeps its file; v1's damaged one is pruned
    assert _files(ws) == {f"v{v2.version}", f"v{v3.version}"}
    training.activate_version(strict, "bank", v2.version)
