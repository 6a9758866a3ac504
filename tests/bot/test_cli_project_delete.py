"""`labelbot project delete`: says what will go, deletes with --yes, asks for the project's name
on a terminal (a real pseudo-terminal: typer's runner never gives one), refuses without one, and
an unknown project is exit 3. Another project and the embedding cache are left as they were."""

from __future__ import annotations

import csv
import os
import pty
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.bot.test_cli_audit_fixes import _invoke, _ok

TEXTS = [
    ("the receiving party keeps the information confidential", "NDA"),
    ("confidential information excludes what is public", "NDA"),
    ("the tenant pays the rent on the first of each month", "Lease"),
    ("the landlord repairs the roof and the heating", "Lease"),
]


@pytest.fixture
def env(
    tmp_path: Path, embedding_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """A SQLite database and a data dir of the test's own (its files are what is checked); the
    session's embedding cache is linked in, and must stay."""
    from engine.config import get_settings

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (embedding_cache_dir / "embeddings").mkdir(exist_ok=True)
    (data_dir / "embeddings").symlink_to(embedding_cache_dir / "embeddings")
    values = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "LABELBOT_DATA_DIR": str(data_dir),
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield values
    get_settings.cache_clear()


def _project(name: str, tmp_path: Path, *, train: bool = True) -> None:
    _ok("project", "create", name, "--labels", "NDA,Lease")
    path = tmp_path / f"{name}.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(TEXTS)
    _ok("import", name, str(path))
    if train:
        _ok("train", name, "--classifier", "blend")  # a model file and a pool graph


def _files(env: dict[str, str]) -> set[str]:
    root = Path(env["LABELBOT_DATA_DIR"])
    found = root.rglob("*")
    return {str(p.relative_to(root)) for p in found if p.is_file() and "embeddings" not in p.parts}


def _models(files: set[str], project: str) -> set[str]:
    """The project's model files among ``files`` (named vN-<random>.npz)."""
    return {f for f in files if f.startswith(f"models/{project}/v")}


def _projects() -> list[str]:
    return [line.split()[1] for line in _ok("project", "list").splitlines() if "│" in line]


def test_yes_deletes_says_what_went_and_leaves_the_other_project(
    env: dict[str, str], tmp_path: Path
) -> None:
    _project("trial", tmp_path)
    _project("keep", tmp_path)
    _ok("labels", "add", "trial", "Other")  # a taxonomy change too
    before = _files(env)
    (trial_model,) = _models(before, "trial")
    (keep_model,) = _models(before, "keep")
    kept_export = _ok("export", "keep")

    result = _invoke("project", "delete", "trial", "--yes")

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == (
        "project 'trial' holds 4 examples, 4 labels given, 0 comments, 1 model version, 0 open "
        f"proposals: deleting it removes them all, and its files in {env['LABELBOT_DATA_DIR']}; "
        "it cannot be undone"
    )
    assert lines[1] == "deleted project 'trial': 4 examples, 4 labels, 1 model version"
    removed = {line.removeprefix("removed ") for line in lines[2:]}
    root = env["LABELBOT_DATA_DIR"]
    assert {str(Path(root, p)) for p in before - _files(env)} == removed
    assert f"{root}/{trial_model}" in removed
    assert any(p.startswith(f"{root}/graphs/") and p.endswith("/project-1.npz") for p in removed)
    assert len(removed) == 2
    assert _projects() == ["keep"]
    assert _ok("export", "keep") == kept_export
    assert keep_model in _files(env)
    assert any(Path(root, "embeddings").rglob("*.npz"))  # the shared cache stays


def test_without_a_terminal_it_refuses_and_deletes_nothing(
    env: dict[str, str], tmp_path: Path
) -> None:
    """A script's stdin (here typer's runner's, never a terminal) cannot confirm: even the name
    piped in is refused, in one line naming --yes."""
    _project("trial", tmp_path, train=False)
    result = _invoke("project", "delete", "trial", input="trial\n")
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == (
        "error: not deleted: stdin is not a terminal to confirm on; pass --yes to delete 'trial'"
    )
    assert "holds 4 examples" in result.stdout  # what would have gone, said first
    assert _projects() == ["trial"]
    assert "imported 0 new examples" in _ok("import", "trial", str(tmp_path / "trial.csv"))


@pytest.mark.parametrize("yes", [[], ["--yes"]], ids=["asking", "--yes"])
def test_an_unknown_project_is_exit_3(env: dict[str, str], tmp_path: Path, yes: list[str]) -> None:
    _project("trial", tmp_path, train=False)
    result = _invoke("project", "delete", "trail", *yes)
    assert result.exit_code == 3, result.output
    assert result.output.strip().splitlines() == [
        f"error: no project named 'trail' (projects: trial) in {env['DATABASE_URL']}"
    ]
    assert _projects() == ["trial"]


def _at_a_terminal(env: dict[str, str], typed: str, *args: str) -> tuple[int, str]:
    """`labelbot ARGS` in a subprocess whose stdin and output are a pseudo-terminal, the person
    typing ``typed``; its exit code and everything the terminal showed."""
    main, child = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-c", "from bot.cli import main; main()", *args],
        stdin=child,
        stdout=child,
        stderr=child,
        env={**os.environ, **env, "HF_HUB_OFFLINE": "1", "TERM": "dumb", "COLUMNS": "200"},
        close_fds=True,
    )
    os.close(child)
    os.write(main, typed.encode())  # held by the terminal until the prompt reads it
    shown = b""
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # EIO: the child is gone and the terminal closed
            break
        if not chunk:
            break
        shown += chunk
    os.close(main)
    return process.wait(timeout=60), shown.decode().replace("\r\n", "\n")


def test_at_a_terminal_it_asks_for_the_name(env: dict[str, str], tmp_path: Path) -> None:
    _project("trial", tmp_path)
    before = _files(env)
    code, shown = _at_a_terminal(env, "trail\n", "project", "delete", "trial")
    assert code == 1, shown
    assert "type the project's name (trial) to delete it:" in shown
    assert shown.rstrip().endswith("not deleted: 'trail' is not 'trial'")
    assert _projects() == ["trial"] and _files(env) == before

    code, shown = _at_a_terminal(env, "trial\n", "project", "delete", "trial")
    assert code == 0, shown
    assert "deleted project 'trial': 4 examples, 4 labels, 1 model version" in shown
    assert _projects() == [] and not _models(_files(env), "trial")


def test_help_fits_80_columns() -> None:
    for command in (["project"], ["project", "delete"]):
        result = _invoke(*command, "--help", env={"COLUMNS": "80"}, terminal_width=80)
        assert result.exit_code == 0, result.output
        assert [line for line in result.output.splitlines() if len(line) > 80] == []
    assert "delete  Delete a project with all its data and files." in _ok("project", "--help")
