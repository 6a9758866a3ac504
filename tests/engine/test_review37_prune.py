"""Review of 0478797 (pruning keeps the best version that can still answer).

A run recorded with its encoder (``metrics["encoder"]``) was judged from its row alone: a file that
cannot be read (empty or damaged) still took the best slot, and the best version that can answer
lost its file. Now the best candidate's file is read back before it takes the slot. Real trainings
on SQLite and PostgreSQL, files counted on disk.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import training
from engine.workspace import Workspace
from storage.errors import LabelbotError
from tests.engine.test_fix37_prune_best import _files, texts
from tests.engine.test_fix37_prune_damaged import three_versions, ws

__all__ = ["texts", "ws"]


def test_a_damaged_best_file_does_not_keep_the_best_slot(  # type: ignore[no-untyped-def]
    ws, texts, tmp_path: Path
) -> None:
    v1, v2, v3 = three_versions(ws, texts, tmp_path)
    runs = {r.version: r for r in training.list_versions(ws, "bank")}
    assert _files(ws) == {f"v{v1.version}", f"v{v2.version}", f"v{v3.version}"}
    # v1's file damaged (cut short, overwritten): it can never answer again
    assert runs[1].artifact_path is not None
    ws.settings.artifact_file(runs[1].artifact_path).write_bytes(b"not a model")
    # a process of its own (another replica, the next command): no model read before in memory,
    # and a prune keeping only the active and the best one (LABELBOT_KEEP_MODELS=0)
    strict = Workspace(
        settings=ws.settings.model_copy(update={"keep_models": 0}), db=ws.db, _encoder=ws.encoder
    )
    with pytest.raises(LabelbotError, match="not a readable model file"):
        training.activate_version(strict, "bank", v1.version)
    training._prune_artifacts(strict, v3.project_id)
    assert f"v{v2.version}" in _files(ws)
    try:
        training.activate_version(strict, "bank", v2.version)
    except LabelbotError as exc:  # pragma: no cover - what a failure shows
        pytest.fail(f"the best version that can answer lost its file: {exc}")
