"""`labelbot models` shows the kind of classifier only for a version that produced a model: a
failed or stopped run showed "linear", the stored default, for a model it never made."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine import training
from engine.config import get_settings
from engine.workspace import Workspace
from storage.db import session_scope
from storage.repositories import models, projects
from tests.bot.test_cli_audit_fixes import _invoke, _ok
from tests.bot.test_cli_project_delete import _project
from tests.bot.test_cli_project_delete import env as env  # noqa: F401  (the fixture)


def _kinds(shown: str) -> dict[str, str]:
    """Version -> its kind cell, from the table `labelbot models` prints."""
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in shown.splitlines()]
    return {row[0]: row[3] for row in rows if row and row[0].startswith("v")}


def test_a_failed_or_stopped_run_shows_no_kind(  # noqa: F811
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _project("c", tmp_path)  # v1: a blend

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("out of memory")

    with monkeypatch.context() as patch:
        patch.setattr(training, "cv_metrics", broken)
        assert _invoke("train", "c", "--classifier", "blend").exit_code != 0  # v2 failed
    ws = Workspace.open(get_settings())
    try:  # v3: a training whose process was killed (left "training", no lease)
        with session_scope(ws.db) as session:
            found = projects.get_project(session=session, name="c")
            assert found.id is not None
            models.start_model_run(
                session=session, project_id=found.id, n_labels=4, classes=["NDA", "Lease"]
            )
    finally:
        ws.close()
    shown = _ok("models", "c")
    assert "stopped" in shown and "failed" in shown
    assert _kinds(shown) == {"v1": "blend", "v2": "-", "v3": "-"}, shown
