"""An export or predict output killed while written (SIGKILL, a power loss) leaves its
temporary file beside the target; the next write of the same target deletes it once it is
clearly no write in progress, and touches nothing else."""

from __future__ import annotations

import os
import time
from pathlib import Path

from engine.exporting import replacing
from storage.copying import LEFTOVER_AGE


def _aged(path: Path, seconds: float) -> Path:
    path.write_text("half an export")
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_the_next_write_of_a_target_deletes_its_stale_leftovers(tmp_path: Path) -> None:
    old = LEFTOVER_AGE.total_seconds() + 60
    stale = _aged(tmp_path / ".e.jsonl.0ebf7cb4.tmp", old)
    writing = _aged(tmp_path / ".e.jsonl.02042bd4.tmp", 5)  # another process writing now
    other_target = _aged(tmp_path / ".f.jsonl.0ebf7cb4.tmp", old)
    not_ours = _aged(tmp_path / ".e.jsonl.backup.tmp", old)
    with replacing(tmp_path / "e.jsonl") as handle:
        handle.write('{"id": "1"}\n')
    assert (tmp_path / "e.jsonl").read_text() == '{"id": "1"}\n'
    assert not stale.exists()
    assert writing.exists() and other_target.exists() and not_ours.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".e.jsonl.")) == [
        writing.name,
        not_ours.name,
    ]
