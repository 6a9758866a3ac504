"""`labelbot status` and `labelbot models` after a crash: a training killed mid-run (a real
`labelbot train` process, SIGKILLed) shows as stopped, not as training forever, and the next
training clears it; an active model whose file is cut short or gone is said to be so, with what
to do, instead of showing as fine until predict fails."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bot.test_cli_audit_fixes import _ok
from tests.bot.test_cli_project_delete import _project
from tests.bot.test_cli_project_delete import env as env  # noqa: F401  (the fixture)
from tests.helpers import python_child, sigkill

STOPPED = "stopped: the training process ended without finishing; the next training marks it failed"

# `labelbot train c` that gets as far as cross-validating, says so, and waits there to be killed
KILLED_TRAINER = """
import sys
from engine import training
def stuck(*args, **kwargs):
    print("cross-validating", flush=True)
    sys.stdin.readline()
training.cv_metrics = stuck
from bot.cli import app
app(["train", "c"])
"""


@pytest.fixture
def trained(env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, str]]:  # noqa: F811
    _project("c", tmp_path, train=False)
    _ok("train", "c", "--classifier", "linear")
    yield env


def _kill_a_training(env: dict[str, str]) -> None:
    with python_child("-c", KILLED_TRAINER, env={**os.environ, **env}) as trainer:
        assert trainer.stdout is not None
        assert trainer.stdout.readline().strip() == "cross-validating"
        sigkill(trainer)


def _active_file(name: str) -> Path:
    """The active model's file, as the database names it."""
    from engine import training
    from engine.config import get_settings
    from engine.workspace import Workspace

    ws = Workspace.open(get_settings())
    try:
        active = next(r for r in training.list_versions(ws, name) if r.is_active)
        assert active.artifact_path is not None
        return ws.settings.artifact_file(active.artifact_path)
    finally:
        ws.close()


def test_a_killed_training_shows_as_stopped_until_the_next_one(trained) -> None:  # type: ignore[no-untyped-def]
    _kill_a_training(trained)
    status = _ok("status", "c")
    assert f"v2 {STOPPED}" in status.splitlines(), status
    assert "v2 training now" not in status
    info = json.loads(_ok("status", "c", "--json"))
    assert info["training"] == [{"version": 2, "state": "stopped", "description": STOPPED}]
    listed = _ok("models", "c")
    rows = {line.split("│")[1].strip(): line for line in listed.splitlines() if "│ v" in line}
    assert "stopped" in rows["v2"] and "training" not in rows["v2"], listed
    assert f"v2 {STOPPED}" in listed.splitlines(), listed

    _ok("train", "c", "--classifier", "linear")  # marks it failed, as before
    listed = _ok("models", "c")
    rows = {line.split("│")[1].strip(): line for line in listed.splitlines() if "│ v" in line}
    assert "failed" in rows["v2"] and "ready" in rows["v3"], listed
    assert STOPPED not in listed
    status = _ok("status", "c")
    assert STOPPED not in status and "model v3" in status
    assert json.loads(_ok("status", "c", "--json"))["training"] == []


def test_an_active_model_file_cut_short_or_gone_is_said(trained) -> None:  # type: ignore[no-untyped-def]
    path = _active_file("c")
    whole = path.read_bytes()
    info = json.loads(_ok("status", "c", "--json"))
    assert info["model"]["file_problem"] is None
    assert "cannot be read" not in _ok("status", "c") + _ok("models", "c")

    path.write_bytes(whole[: len(whole) // 3])  # a full disk cut it short
    help_line = (
        ": retrain with `labelbot train c`, or roll back to a version whose file is usable with "
        "`labelbot models rollback c VERSION`"
    )
    for shown in (_ok("status", "c"), _ok("models", "c")):
        said = [line for line in shown.splitlines() if line.startswith("model v1 of 'c' ")]
        assert len(said) == 1, shown
        assert said[0].startswith(f"model v1 of 'c' cannot be read: its file {path} "), said
        assert said[0].endswith(help_line), said
    assert "active, but its file is empty or damaged" in " ".join(_ok("models", "c").split())
    info = json.loads(_ok("status", "c", "--json"))
    assert info["model"]["file_problem"].startswith("model v1 of 'c' cannot be read")

    path.unlink()
    for shown in (_ok("status", "c"), _ok("models", "c")):
        said = [line for line in shown.splitlines() if line.startswith("model v1 of 'c' ")]
        assert len(said) == 1, shown
        assert said[0].startswith(f"model v1 of 'c' is missing its file {path} "), said
        assert said[0].endswith(help_line), said

    _ok("train", "c", "--classifier", "linear")  # what the line says to do gets out of it
    status = _ok("status", "c")
    assert "model v2 (" in status and "missing its file" not in status
