"""run_demo refuses a budget or batch below 1 before it makes anything: no temporary database is
left behind by a refused run (the CLI checks too; this is the engine's own guard)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from engine.demo import run_demo
from storage.errors import InvalidInputError


@pytest.mark.parametrize(("budget", "batch"), [(0, 50), (1000, 0), (-5, 10)])
def test_bad_numbers_are_refused_before_anything_is_made(
    budget: int, batch: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(InvalidInputError, match="at least 1"):
        run_demo(budget=budget, batch=batch, out_dir=tmp_path / "out")
    assert list(tmp_path.iterdir()) == []
