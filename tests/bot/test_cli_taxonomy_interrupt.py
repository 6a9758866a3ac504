"""Ctrl-C after a taxonomy change is stored (while the queue is ordered again) says the change
stands, in one line: it exited 130 with nothing said, as if the merge had not happened."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import taxonomy
from tests.bot.test_cli_audit_fixes import _invoke, _ok
from tests.bot.test_cli_project_delete import _project, env  # noqa: F401  (the fixture)


def test_ctrl_c_while_the_queue_is_ordered_says_the_merge_stands(
    env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _project("trial", tmp_path, train=False)

    def interrupted(*_: object, **__: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(taxonomy, "refresh_queue", interrupted)
    result = _invoke("labels", "merge", "trial", "NDA", "Lease", "--into", "Contract")
    assert result.exit_code == 130, result.output
    assert "interrupted while ordering the queue: the change is stored" in result.output
    monkeypatch.undo()
    assert "Contract" in _ok("labels", "list", "trial")  # it stands
