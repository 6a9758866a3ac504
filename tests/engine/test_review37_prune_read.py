"""Review of 258e7bb: the best slot goes to the best version whose file reads back.

A file this process cannot read for a reason other than damage (the file of a model an admin
trained with a private umask, 0600 and another user's; a transient error such as too many open
files) is not a damaged file: ``_unreadable_because`` says so itself ("give it read access").
Pruning should not take the best slot from it and delete the file for good: once the read
access is given back, the rollback to the best version must still be possible. Before 258e7bb a
run that named its encoder kept its slot without its file being read. Real trainings on SQLite
and PostgreSQL; the refused read is what ``open`` raises for such a file (the tests run as
root, whom file modes do not stop), for that one path only.

And the other way: a blend's file damaged in its pool or spread array (the bulk of the file,
which ``_file_encoder`` does not read) keeps the best slot, though a rollback refuses it.
"""

from __future__ import annotations

import errno
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from engine import training
from engine.workspace import Workspace
from storage.errors import LabelbotError
from tests.engine.test_fix37_prune_best import _files, texts
from tests.engine.test_fix37_prune_damaged import three_versions, ws

__all__ = ["texts", "ws"]


def _permission(path: Path) -> OSError:
    return PermissionError(errno.EACCES, "Permission denied", str(path))


def _too_many_files(path: Path) -> OSError:
    return OSError(errno.EMFILE, "Too many open files", str(path))


@pytest.mark.parametrize("refusal", [_permission, _too_many_files])
def test_a_best_file_this_process_cannot_read_now_is_not_pruned(  # type: ignore[no-untyped-def]
    ws, texts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refusal: Any
) -> None:
    v1, _, v3 = three_versions(ws, texts, tmp_path)
    runs = {r.version: r for r in training.list_versions(ws, "bank")}
    assert runs[1].artifact_path is not None
    best_file = ws.settings.artifact_file(runs[1].artifact_path).resolve()
    load = np.load

    def refusing_load(file: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, (str, Path)) and Path(file).resolve() == best_file:
            raise refusal(best_file)
        return load(file, *args, **kwargs)

    # another process (nothing read before in memory), keeping only the active and best file
    strict = Workspace(
        settings=ws.settings.model_copy(update={"keep_models": 0}), db=ws.db, _encoder=ws.encoder
    )
    monkeypatch.setattr(np, "load", refusing_load)
    training._prune_artifacts(strict, v3.project_id)
    monkeypatch.setattr(np, "load", load)  # the read access given back
    # v1, the best, is not damaged: its file stays, and a rollback to it works once readable
    assert f"v{v1.version}" in _files(ws)
    assert best_file.exists()
    training.activate_version(strict, "bank", v1.version)


def _member_changed(path: Path, member: str) -> None:
    """The last byte of ``member``'s data flipped: the zip index and every other member read
    back (as tests/engine/test_fix37_prune_damaged.py damages ``bias``)."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
        assert info.compress_type == zipfile.ZIP_STORED
    data = bytearray(path.read_bytes())
    name_len = int.from_bytes(data[info.header_offset + 26 : info.header_offset + 28], "little")
    extra_len = int.from_bytes(data[info.header_offset + 28 : info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    data[start + info.compress_size - 1] ^= 0xFF
    path.write_bytes(bytes(data))
    with zipfile.ZipFile(path) as archive:
        assert archive.read("weight.npy")
        with pytest.raises(zipfile.BadZipFile, match="CRC"):
            archive.read(member)


@pytest.mark.parametrize("member", ["pool.npy", "spread.npy"])
def test_a_best_blend_damaged_in_its_pool_gives_up_the_best_slot(  # type: ignore[no-untyped-def]
    ws, texts, tmp_path: Path, member: str
) -> None:
    v1, v2, v3 = three_versions(ws, texts, tmp_path, kind="blend")
    runs = {r.version: r for r in training.list_versions(ws, "bank")}
    assert runs[1].artifact_path is not None
    _member_changed(ws.settings.artifact_file(runs[1].artifact_path), member)
    strict = Workspace(
        settings=ws.settings.model_copy(update={"keep_models": 0}), db=ws.db, _encoder=ws.encoder
    )
    with pytest.raises(LabelbotError):  # a rollback refuses it: it never answers again
        training.activate_version(strict, "bank", v1.version)
    training._prune_artifacts(strict, v3.project_id)
    # v2, the best that can answer, keeps its file; v1's damaged one goes
    assert _files(ws) == {f"v{v2.version}", f"v{v3.version}"}
