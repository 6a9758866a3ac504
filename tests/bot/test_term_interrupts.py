"""Ctrl-C wherever it lands ends a command with one line and exit 130, nothing half-written.

A signal's KeyboardInterrupt is raised at whatever Python code runs when it arrives; where that
code is a garbage-collection callback (SQLAlchemy's and the import system's weakref callbacks
run many times a second) or a ``__del__``, Python prints "Exception ignored in: ..." with a
traceback and carries on: about one Ctrl-C in seven during a 60,000-example export was lost
that way, the export finishing with exit 0. Ctrl-C while typer built the command (after the
imports, before the command runs) was a traceback, and one during predict's model imports an
exit 130 with nothing said. Each case is driven where it happens: the signal is raised at that
point of a real `labelbot` process."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.bot.test_cli_audit_fixes import _invoke, _ok
from tests.bot.test_cli_project_delete import _project, env  # noqa: F401  (the fixture)

# the signal raised inside a weakref callback, as a garbage collection runs one; then a pause
# in the command's own code, where the Ctrl-C is to end it
IN_A_GC_CALLBACK = """
import signal, sys, time, weakref
from engine import exporting
written = exporting.write_export
def write_export(records, handle, fmt, **kw):
    class Collected:
        pass
    thing = Collected()
    def callback(_ref):
        signal.raise_signal(signal.SIGINT)
        for _ in range(1000):  # the handler runs here, inside the callback
            pass
    ref = weakref.ref(thing, callback)
    del thing
    time.sleep(5)
    return written(records, handle, fmt, **kw)
exporting.write_export = write_export
from bot.console import main
sys.argv = ["labelbot", *sys.argv[1:]]
main()
"""

# Ctrl-C inside the database driver's fetch, in the middle of the export's reads
IN_A_FETCH = """
import signal, sys
from sqlalchemy.engine import cursor
fetched = cursor.CursorFetchStrategy.fetchall
calls = 0
class Fetching:
    def __init__(self, raw):
        self.raw = raw
    def __getattr__(self, name):
        return getattr(self.raw, name)
    def fetchall(self):
        signal.raise_signal(signal.SIGINT)
        return self.raw.fetchall()
def fetchall(self, result, dbapi_cursor):
    global calls
    calls += 1
    return fetched(self, result, Fetching(dbapi_cursor) if calls == 5 else dbapi_cursor)
cursor.CursorFetchStrategy.fetchall = fetchall
from bot.console import main
sys.argv = ["labelbot", *sys.argv[1:]]
main()
"""

# Ctrl-C once the import's transaction has committed, while PostgreSQL's planner statistics are
# refreshed (ANALYZE: a second or more on a big database; SQLite's is a no-op, so stood in for)
AFTER_THE_COMMIT = """
import signal, sys
from engine import projects
def refresh_statistics(db):
    signal.raise_signal(signal.SIGINT)
projects.refresh_statistics = refresh_statistics
from bot.console import main
sys.argv = ["labelbot", *sys.argv[1:]]
main()
"""

# Ctrl-C inside `project delete`'s transaction (deleting a big project's rows takes seconds)
# or once it has committed, while the project's files are removed
DURING_THE_DELETION = """
import signal, sys
from storage.repositories import project_deletion
deleting = project_deletion.delete_project
def delete_project(**kw):
    deleted = deleting(**kw)
    signal.raise_signal(signal.SIGINT)
    return deleted
project_deletion.delete_project = delete_project
from bot.console import main
sys.argv = ["labelbot", *sys.argv[1:]]
main()
"""
WHILE_FILES_GO = """
import signal, sys
from engine import projects
def remove_files(*args, **kw):
    signal.raise_signal(signal.SIGINT)
projects._remove_files = remove_files
from bot.console import main
sys.argv = ["labelbot", *sys.argv[1:]]
main()
"""

# Ctrl-C in a command that has no words of its own for it: `project list` reading the projects
WHILE_LISTING = """
import signal, sys
from engine import projects
def list_projects(ws):
    signal.raise_signal(signal.SIGINT)
projects.list_projects = list_projects
from bot.console import main
sys.argv = ["labelbot", *sys.argv[1:]]
main()
"""

# Ctrl-C while typer turns the app into click commands (after `bot.cli`'s imports)
WHILE_TYPER_BUILDS = """
import signal, sys
import typer.main
built = typer.main.get_command
def get_command(app):
    signal.raise_signal(signal.SIGINT)
    return built(app)
typer.main.get_command = get_command
from bot.console import main
sys.argv = ["labelbot", *sys.argv[1:]]
main()
"""

# Ctrl-C while predict or import loads its model code (torch, scikit-learn: a second or two)
WHILE_LOADING = """
import signal, sys
module = sys.argv.pop(1)
def loading(event, args):
    if event == "import" and args[0] == module:
        signal.raise_signal(signal.SIGINT)
sys.addaudithook(loading)
from bot.console import main
sys.argv = ["labelbot", *sys.argv[1:]]
main()
"""


def _run(script: str, values: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        env={**os.environ, **values, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"},
        text=True,
        timeout=120,
    )


def test_ctrl_c_in_a_garbage_collection_callback_still_stops_the_export(
    env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    _project("trial", tmp_path, train=False)
    out = tmp_path / "e.jsonl"
    out.write_text("yesterday's export\n")
    done = _run(IN_A_GC_CALLBACK, env, "export", "trial", "--out", str(out))
    assert done.returncode == 130, done.stderr
    assert done.stderr.splitlines() == [
        f"interrupted while exporting: nothing was written to {out} (a file there is left as "
        "it was)"
    ], done.stderr
    assert out.read_text() == "yesterday's export\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == []


def test_ctrl_c_inside_a_database_read_is_one_line_without_the_drivers_traceback(
    env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    """SQLAlchemy closes the connection on the KeyboardInterrupt and then logs that it could not
    close the cursor ("Error closing cursor", two tracebacks), printed above the one line."""
    _project("trial", tmp_path, train=False)
    out = tmp_path / "e.jsonl"
    done = _run(IN_A_FETCH, env, "export", "trial", "--out", str(out))
    assert done.returncode == 130, done.stderr
    assert done.stderr.splitlines() == [
        f"interrupted while exporting: nothing was written to {out} (a file there is left as "
        "it was)"
    ], done.stderr
    assert not out.exists()


def test_ctrl_c_after_the_import_committed_says_the_rows_are_stored(
    env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    """It said "the import is one transaction, so nothing was stored; run it again" of rows
    that were stored."""
    _ok("project", "create", "trial", "--labels", "NDA,Lease")
    texts = tmp_path / "texts.csv"
    # texts no other test embedded (the data folder may share the session's embedding cache):
    # the count still to embed is theirs
    tag = uuid.uuid4().hex
    texts.write_text(
        f"text,label\nthe tenant pays the rent {tag},Lease\nkeep it secret {tag},NDA\n"
    )
    done = _run(AFTER_THE_COMMIT, env, "import", "trial", str(texts))
    assert done.returncode == 130, done.stderr
    assert done.stderr.splitlines() == [
        "interrupted after storing the file: its 2 new examples and 2 labels are stored, but "
        "2 of the project's texts are not embedded yet; run the same import again to finish "
        "embedding (what is stored is skipped as already in the project)"
    ], done.stderr
    assert "2 examples, 2 labeled" in _ok("status", "trial")
    again = _ok("import", "trial", str(texts))
    assert again.startswith("imported 0 new examples; 2 already in the project"), again


def test_ctrl_c_during_a_project_deletion_says_nothing_was_deleted(
    env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    """It exited 130 with nothing said (typer's silent exit for a KeyboardInterrupt)."""
    _project("trial", tmp_path)
    done = _run(DURING_THE_DELETION, env, "project", "delete", "trial", "--yes")
    assert done.returncode == 130, done.stderr
    assert done.stderr.splitlines() == [
        "interrupted while deleting project 'trial': it is one transaction, so nothing was deleted"
    ], done.stderr
    assert "trial: 4 examples" in _ok("status", "trial")


def test_ctrl_c_once_the_rows_are_deleted_names_the_files_left(
    env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    _project("trial", tmp_path)
    data = Path(env["LABELBOT_DATA_DIR"])
    done = _run(WHILE_FILES_GO, env, "project", "delete", "trial", "--yes")
    assert done.returncode == 130, done.stderr
    [said] = done.stderr.splitlines()
    assert said.startswith(
        "interrupted after deleting project 'trial': its rows are gone for good, but its files "
        f"may not all be: remove {data / 'models' / 'trial'} and "
        f"{data / 'graphs'}/*/project-1.npz by hand"
    ), said
    assert "no project named 'trial'" in _invoke("status", "trial").output


def test_ctrl_c_in_a_command_without_words_for_it_still_says_one_line(
    env: dict[str, str],  # noqa: F811
) -> None:
    """typer ends a command on a KeyboardInterrupt with exit 130 and nothing said."""
    _ok("project", "create", "trial", "--labels", "NDA,Lease")
    done = _run(WHILE_LISTING, env, "project", "list")
    assert done.returncode == 130, done.stderr
    assert done.stderr.splitlines() == ["interrupted before it finished"]


def test_ctrl_c_while_typer_builds_the_command_is_one_line(
    env: dict[str, str],  # noqa: F811
) -> None:
    done = _run(WHILE_TYPER_BUILDS, env, "project", "list")
    assert done.returncode == 130, done.stderr
    assert done.stderr.splitlines() == ["interrupted while starting; nothing was done"]


@pytest.mark.parametrize(
    ("command", "module"), [("predict", "engine.predicting"), ("import", "engine.training")]
)
def test_ctrl_c_while_predict_or_import_loads_its_model_code_is_one_line(
    env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    command: str,
    module: str,
) -> None:
    _ok("project", "create", "trial", "--labels", "NDA,Lease")
    texts = tmp_path / "new.csv"
    texts.write_text("text\nthe tenant pays the rent\n")
    args = [command, "trial", str(texts)]
    if command == "predict":
        args += ["--out", str(tmp_path / "p.jsonl")]
    done = _run(WHILE_LOADING, env, module, *args)
    assert done.returncode == 130, done.stderr
    assert done.stderr.splitlines() == ["interrupted while starting; nothing was done"]
    assert not (tmp_path / "p.jsonl").exists()
    assert "0 examples" in _ok("status", "trial")  # nothing imported
