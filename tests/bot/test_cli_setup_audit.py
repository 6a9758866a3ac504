"""A team's first steps from the README's "Using it from the terminal": `labelbot init`, the
data directory, `project set`, the demo's closing lines and `db downgrade`'s list, as they
read at the terminal."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from engine.config import get_settings
from tests.bot.test_cli_audit_fixes import (
    _invoke,
    _ok,
    temp_dir,  # noqa: F401  (the fixture)
)
from tests.bot.test_cli_project_delete import _project, env  # noqa: F401  (a fixture)
from tests.bot.test_cli_ux2 import tiny_demo_data
from tests.bot.test_demo_simulate_audit import TEST, TRAIN
from tests.helpers import labeled_csv


def _data_dir(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    monkeypatch.setenv("LABELBOT_DATA_DIR", str(path))
    get_settings.cache_clear()


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize("under", ["", "sub"])
def test_a_data_dir_that_is_a_file_is_one_line_naming_the_variable(
    under: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LABELBOT_DATA_DIR naming a file (or a folder in one) was a FileExistsError or
    NotADirectoryError traceback from `labelbot init`, and from `import` when it made the
    encoder's folder: a configuration error, exit 6, as DATABASE_URL's folder is."""
    runner = CliRunner()
    assert runner.invoke(app, ["project", "create", "p", "--labels", "a,b"]).exit_code == 0
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("keep\n", encoding="utf-8")
    data_dir = in_the_way / under if under else in_the_way
    _data_dir(monkeypatch, data_dir)
    rows = labeled_csv(tmp_path / "rows.csv", [("my card has not arrived", "a")])
    for args in (["init"], ["import", "p", str(rows)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 6, result.output
        assert "Traceback" not in result.output and result.exception is not None
        line = result.stderr.strip()
        assert line.splitlines() == [line], line
        assert line.startswith(f"error: LABELBOT_DATA_DIR {data_dir}"), line
        assert f"{in_the_way} is a file, not a folder" in line, line
    assert in_the_way.read_text(encoding="utf-8") == "keep\n"


@pytest.mark.usefixtures("cli_env")
def test_the_demo_names_the_folder_to_remove(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    temp_dir: Path,  # noqa: F811
) -> None:
    """The README: each run's database, model files and pool graphs "stay together in one
    temporary folder it names at the end (`rm -r` it when done exploring)"; the demo named only
    the database's URL, so the model files beside it (megabytes a run) went unseen."""
    tiny_demo_data(monkeypatch, TRAIN, TEST)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["demo", "--budget", "4", "--batch", "2"])
    assert result.exit_code == 0, result.output
    (folder,) = temp_dir.glob("labelbot-demo-*")
    assert sorted(p.name for p in folder.iterdir()) == ["demo.db", "graphs", "models"]
    assert (
        f"when done exploring: rm -r {folder} (its database, model files and pool graphs)"
        in result.stderr.splitlines()
    ), result.stderr


def test_db_downgrade_cuts_a_long_migration_title_between_words(
    tmp_path: Path, migrated_sqlite_template: Path
) -> None:
    """`db downgrade`'s list cut a migration's title at 100 characters, mid-word ("… so it is
    no l…"): each long title now ends at a word, within the same width."""
    from alembic.script import ScriptDirectory

    from storage.db import TITLE_CHARS, alembic_config, make_engine, migration_titles

    path = tmp_path / "labelbot.db"
    shutil.copyfile(migrated_sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    titles = dict(migration_titles(engine, since="0001"))
    script = ScriptDirectory.from_config(alembic_config(engine))
    engine.dispose()
    assert titles["0019"].startswith("Indexes for the queue left"), titles
    cut = {name: title[:-1] for name, title in titles.items() if title.endswith("…")}
    assert cut, titles  # some are long
    for name, start in cut.items():
        whole = " ".join((script.get_revision(name).doc or "").split("\n\n")[0].split())
        assert len(start) < TITLE_CHARS and whole.startswith(start), (start, whole)
        assert whole[len(start)] in " ,;:" and not start.endswith(" "), (start, whole)


def test_project_set_help_says_that_alone_it_shows_the_settings() -> None:
    """The README's way to see a project's settings and their defaults is `labelbot project set
    NAME` with no option; its --help said only that it changes them."""
    result = CliRunner().invoke(app, ["project", "set", "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "With no option it changes nothing: `labelbot project set NAME`" in said, said
    assert 'defaults marked "(default)"' in said, said


def test_the_top_level_help_lists_the_exit_codes() -> None:
    """A script calling labelbot learns what each exit code means from `labelbot --help`, as
    the README's list has it; it said nothing of them."""
    result = CliRunner().invoke(app, ["--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert (
        "Errors are one line on stderr; exit codes: 2 bad input, 3 not found, 4 conflict (the "
        "database busy too), 5 stale action, 6 configuration, 7 database unavailable, 1 stopped "
        "short (it says what is left), 130 Ctrl-C, 143 SIGTERM."
    ) in said, said
    assert "LABELBOT_MODELS_DIR" in said, said


@pytest.mark.parametrize("copied", [True, False], ids=["own copy of the data", "empty data dir"])
def test_a_db_copy_with_its_own_data_dir_leaves_the_first_ones_model_files(
    env: dict[str, str],  # noqa: F811 (the imported fixture)
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    copied: bool,
) -> None:
    """The README's way to keep a `db copy` as a backup: give it its own data directory, a
    copy of the first. Its model runs name the first one's files by their absolute paths, and
    `project delete` in the backup removed them there (while saying "its files in" its own
    folder): the live database lost its model. A copy reads and removes its own copy of a
    file; a file it has no copy of is left where it is, and named."""
    _project("trial", tmp_path)
    live = Path(env["LABELBOT_DATA_DIR"])
    (live_model,) = (live / "models" / "trial").glob("v*.npz")
    backup_db = tmp_path / "backup.db"
    _ok("db", "copy", "--to", f"sqlite:///{backup_db}")
    own = tmp_path / "backup-data"
    if copied:
        shutil.copytree(live, own, symlinks=True)
    else:
        own.mkdir()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{backup_db}")
    _data_dir(monkeypatch, own)
    if copied:  # it answers from its own copy: the first one's file is not read
        hidden = live_model.rename(live_model.with_suffix(".away"))
        texts = tmp_path / "texts.csv"
        texts.write_text("text\na lease for the flat\n", encoding="utf-8")
        answered = _invoke("predict", "trial", str(texts))
        hidden.rename(live_model)
        assert answered.exit_code == 0, answered.output

    result = _invoke("project", "delete", "trial", "--yes")

    assert result.exit_code == 0, result.output
    assert live_model.is_file()  # the live database's model is where it was
    assert not (own / "models" / "trial").exists()
    removed = [line for line in result.stdout.splitlines() if line.startswith("removed ")]
    assert all(line.startswith(f"removed {own}/") for line in removed), removed
    said = " ".join(result.stderr.split())
    note = (
        f"note: left 1 model file outside LABELBOT_DATA_DIR and LABELBOT_MODELS_DIR, which "
        f"another database (a `labelbot db copy`) may still name: {live_model}; remove it by "
        "hand if none does"
    )
    assert (note not in said) if copied else (note in said), said


@pytest.mark.usefixtures("cli_env")
def test_project_set_reset_puts_settings_back_to_their_defaults(tmp_path: Path) -> None:
    """A setting once set stayed set: giving the default's value stored it as a choice (it no
    longer followed the default), and `--timezone ''` was refused. `--reset` removes it."""
    _project("trial", tmp_path, train=False)
    _ok("project", "set", "trial", "--retrain-every", "7", "--timezone", "Europe/Berlin")
    shown = _ok("project", "set", "trial", "--reset", "retrain-every, timezone")
    assert "retrain_every = 20 (default)" in shown and "timezone = UTC (default)" in shown, shown
    _ok("project", "set", "trial", "--batch-size", "5", "--rare-minimum", "3")
    everything = _ok("project", "set", "trial", "--reset", "all")
    assert "(default)" in everything and "batch_size = 5" not in everything
    assert all(line.endswith("(default)") for line in everything.splitlines()[1:]), everything
    for given, said in (
        (["--reset", "retrain_evry"], "unknown setting 'retrain_evry' to reset: use"),
        (["--reset", "channel"], "`--channel none` unbinds the project"),
        (["--reset", "a,,b"], "an empty setting name in 'a,,b'"),
        (["--reset", "batch_size", "--batch-size", "9"], "given a value and --reset at once"),
    ):
        refused = _invoke("project", "set", "trial", *given)
        assert refused.exit_code == 2 and said in " ".join(refused.output.split()), refused.output
    assert "batch_size = 20 (default)" in _ok("project", "set", "trial")  # nothing changed
