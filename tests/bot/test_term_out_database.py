"""`labelbot export --out` and `predict --out` refuse to write over the SQLite database itself:
`export c --out cli.db` (a name the shell completed) replaced the whole database, every project
in it, with the export, and said "wrote 4 examples"; the next command found "file is not a
database"."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.bot.test_cli import cli_env  # noqa: F401  (the fixture)
from tests.bot.test_cli_audit_fixes import _invoke, _ok, _one_line_error, _project


def _database() -> Path:
    return Path(os.environ["DATABASE_URL"].removeprefix("sqlite:///"))


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize("command", ["export", "predict"])
@pytest.mark.parametrize("name", ["cli.db", "cli.db-wal", "link.db"])
def test_out_naming_the_database_is_refused_and_the_database_kept(
    tmp_path: Path, command: str, name: str
) -> None:
    data = _project(tmp_path)
    if command == "predict":
        _ok("train", "c")  # a model to answer with: the predictions were written over it
    database = _database()
    (tmp_path / "link.db").symlink_to(database)
    before = database.read_bytes()
    args = ["export", "c"] if command == "export" else ["predict", "c", str(data)]
    result = _invoke(*args, "--out", str(tmp_path / name))
    said = "is the database's -wal file" if name.endswith("-wal") else "is the database itself"
    _one_line_error(result, 2, said)
    assert database.read_bytes() == before
    assert "c: 4 examples" in _ok("status", "c")


@pytest.mark.usefixtures("cli_env")
def test_a_hard_link_to_the_database_is_refused_too(tmp_path: Path) -> None:
    _project(tmp_path)
    os.link(_database(), tmp_path / "other-name.db")
    result = _invoke("export", "c", "--out", str(tmp_path / "other-name.db"))
    _one_line_error(result, 2, "is the database itself")


@pytest.mark.usefixtures("cli_env")
def test_another_file_beside_the_database_is_written(tmp_path: Path) -> None:
    _project(tmp_path)
    _ok("export", "c", "--out", str(tmp_path / "cli.db.jsonl"))
    assert len((tmp_path / "cli.db.jsonl").read_text().splitlines()) == 4
