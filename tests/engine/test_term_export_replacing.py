"""An --out file is written beside its target and renamed over it once complete; Ctrl-C at any
point of that leaves no temporary file behind, also while the leftovers of earlier killed
writes are being swept (a scan of the folder, before the export itself starts)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import exporting
from storage.errors import InvalidInputError


def test_ctrl_c_while_the_leftovers_are_swept_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "e.jsonl").write_text("yesterday's export\n")

    def interrupted(target: Path, *, keep: Path, now: float | None = None) -> list[Path]:
        raise KeyboardInterrupt

    monkeypatch.setattr(exporting, "_sweep_leftovers", interrupted)
    with pytest.raises(KeyboardInterrupt), exporting.replacing(tmp_path / "e.jsonl") as handle:
        handle.write("never written\n")
    assert [p.name for p in tmp_path.iterdir()] == ["e.jsonl"]
    assert (tmp_path / "e.jsonl").read_text() == "yesterday's export\n"


def test_a_temporary_name_taken_by_another_file_is_refused_and_that_file_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The temporary file is made with "x": a file already of that name is not this write's,
    and is not deleted on the way out."""
    monkeypatch.setattr(exporting.secrets, "token_hex", lambda _n: "0badc0de")
    theirs = tmp_path / ".e.jsonl.0badc0de.tmp"
    theirs.write_text("another write in progress\n")
    with pytest.raises(InvalidInputError), exporting.replacing(tmp_path / "e.jsonl"):
        pass
    assert theirs.read_text() == "another write in progress\n"
