"""What a new user met in the CLI (the UX audit): model files found from any directory, a
command run elsewhere that names the database it looked in and creates none, honest "nothing
left" messages, one accuracy everywhere, quiet start-up logs, options checked first, Ctrl-C
during an import, help text, lines left unwrapped in logs, one-line errors."""

from __future__ import annotations

import logging
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app
from engine.config import Settings, get_settings
from tests.bot.test_cli import _csv, cli_env  # noqa: F401  (the fixture)

TEXTS = [
    ("the receiving party keeps the information confidential", "NDA"),
    ("confidential information excludes what is public", "NDA"),
    ("the tenant pays the rent on the first of each month", "Lease"),
    ("the landlord repairs the roof and the heating", "Lease"),
    ("the employee works forty hours a week", "Employment"),
    ("salary is paid monthly to the employee", "Employment"),
]
LABELS = "NDA,Lease,Employment"


@pytest.fixture(autouse=True)
def _fresh_settings() -> Any:
    """Each test reads the settings of its own environment, and leaves none behind."""
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _ok(runner: CliRunner, *args: str, **kwargs: Any) -> str:
    result = runner.invoke(app, list(args), **kwargs)
    assert result.exit_code == 0, result.output
    return str(result.output)


def _use(monkeypatch: pytest.MonkeyPatch, **env: str | None) -> None:
    """Set (or, for None, unset) environment variables, then read the settings again."""
    for key, value in env.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    get_settings.cache_clear()


# --- H2: model files by absolute path ------------------------------------------------------


def test_a_relative_data_dir_is_made_absolute_when_the_settings_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert Settings(data_dir=Path("data")).data_dir == tmp_path / "data"
    assert Settings().data_dir == tmp_path / ".labelbot"  # the default too
    # a model file a relative data_dir stored (".labelbot/models/NAME/vN.npz") is looked for in
    # the data_dir in force, wherever the command runs
    elsewhere = Settings(data_dir=tmp_path / "kept")
    assert elsewhere.artifact_file(".labelbot/models/p/v4.npz") == (
        tmp_path / "kept" / "models" / "p" / "v4.npz"
    )
    assert elsewhere.artifact_file("/abs/models/p/v4.npz") == Path("/abs/models/p/v4.npz")


@pytest.mark.usefixtures("cli_env")
def test_a_model_trained_in_one_directory_answers_from_another(
    tmp_path: Path, embedding_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The audit's H2: with LABELBOT_DATA_DIR relative (or the default), model files were stored
    by a path relative to the working directory, and `predict` elsewhere said "missing its
    file" (and told the user to retrain)."""
    from bot.cli.common import workspace
    from engine import training

    trained_in, asked_from = tmp_path / "work", tmp_path / "elsewhere"
    trained_in.mkdir()
    asked_from.mkdir()
    (trained_in / "data").symlink_to(embedding_cache_dir)  # the session's embeddings, by a
    monkeypatch.chdir(trained_in)  # relative name
    _use(monkeypatch, LABELBOT_DATA_DIR="data")
    runner = CliRunner()
    _ok(runner, "project", "create", "h2abs", "--labels", LABELS)
    _ok(runner, "import", "h2abs", str(_csv(tmp_path / "seed.csv", TEXTS)))
    _ok(runner, "train", "h2abs")
    ws = workspace()
    (run,) = training.list_versions(ws, "h2abs")
    ws.close()
    assert run.artifact_path is not None and Path(run.artifact_path).is_absolute()

    monkeypatch.chdir(asked_from)
    _use(monkeypatch, LABELBOT_DATA_DIR=str(embedding_cache_dir))
    predicted = runner.invoke(app, ["predict", "h2abs", str(tmp_path / "seed.csv")])
    assert predicted.exit_code == 0, predicted.output
    assert '"label": "NDA"' in predicted.output


# --- M1: a command run from another directory ----------------------------------------------


def test_a_command_run_elsewhere_names_the_database_and_creates_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _use(
        monkeypatch, DATABASE_URL=None, LABELBOT_DATA_DIR=None
    )  # the default sqlite:///labelbot.db
    runner = CliRunner()
    missing = runner.invoke(app, ["status", "contracts"])
    assert missing.exit_code == 3
    assert "no project named 'contracts'" in missing.output
    assert f"no database at {tmp_path / 'labelbot.db'}" in missing.output
    assert "relative to the current directory" in missing.output
    listed = _ok(runner, "project", "list")
    assert "no projects" in listed and str(tmp_path / "labelbot.db") in listed
    models = runner.invoke(app, ["models", "contracts"])
    assert models.exit_code == 3 and "no database at" in models.output
    assert not (tmp_path / "labelbot.db").exists()  # no empty database left behind

    _ok(runner, "init")
    empty = runner.invoke(app, ["status", "contracts"])
    assert empty.exit_code == 3
    assert (
        f"no project named 'contracts' (projects: none yet) in sqlite:///{tmp_path}/labelbot.db"
        in " ".join(empty.output.split())
    )


def test_the_database_shown_hides_a_postgresql_password() -> None:
    shown = Settings(database_url="postgresql+psycopg://bob:hunter2@db.example:5432/lb")
    assert shown.database_shown() == "postgresql+psycopg://bob:***@db.example:5432/lb"
    assert shown.sqlite_file() is None


# --- M2: why there is nothing to label -----------------------------------------------------


@pytest.mark.usefixtures("cli_env")
def test_label_says_why_nothing_is_left(tmp_path: Path) -> None:
    runner = CliRunner()
    _ok(runner, "project", "create", "p", "--labels", "a,b")
    never = _ok(runner, "label", "p", "--annotator", "ann", input="q\n")
    assert "no examples yet: import some with `labelbot import p FILE`" in never
    assert "thank you" not in never

    texts = [("first text", ""), ("second text", ""), ("third text", "")]
    _ok(runner, "import", "p", str(_csv(tmp_path / "p.csv", texts)))
    skipped = _ok(runner, "label", "p", "--annotator", "ann", input="s\ns\ns\n")
    assert "s = skip (not shown to you again)" in skipped
    said = " ".join(skipped.split())
    assert "nothing left for you (ann): you skipped the 3 examples still waiting" in said
    assert "--annotator SOMEONE" in said and "thank you" not in said
    again = " ".join(_ok(runner, "label", "p", "--annotator", "ann", input="q\n").split())
    assert "you skipped the 3 examples still waiting" in again  # and on the next run too

    done = _ok(runner, "label", "p", "--annotator", "bob", input="1\n1\n2\n")
    assert "nothing left to label in this project — thank you!" in done
    after = " ".join(_ok(runner, "label", "p", "--annotator", "ann", input="q\n").split())
    assert "nothing left to label in this project — thank you!" in after


# --- M6: one accuracy in `project list` and `status` -----------------------------------------

AUDITED = {
    "accuracy": 0.847, "macro_f1": 0.84, "n_labels": 60, "folds": 5,
    "audit": {"accuracy": 0.75, "low": 0.356, "high": 0.942, "n": 4, "confidence": 0.9},
}  # fmt: skip


@pytest.mark.usefixtures("cli_env")
def test_project_list_shows_the_estimate_status_headlines(tmp_path: Path) -> None:
    from bot.cli.common import workspace
    from storage.db import session_scope
    from storage.repositories import models
    from storage.repositories import projects as project_repo

    runner = CliRunner()
    _ok(runner, "project", "create", "cv", "--labels", LABELS)
    _ok(runner, "import", "cv", str(_csv(tmp_path / "cv.csv", TEXTS)))
    _ok(runner, "train", "cv")
    status = " ".join(_ok(runner, "status", "cv").split())
    cv = re.search(r"cross-validated accuracy (\d\.\d{3})", status)
    assert cv is not None
    listed = _ok(runner, "project", "list")
    assert f"v1 CV {cv.group(1)}" in listed
    assert "CV = cross-validated" in " ".join(listed.split())

    _ok(runner, "project", "create", "audited", "--labels", "NDA,Lease")
    ws = workspace()
    with session_scope(ws.db) as session:  # a model measured on 4 audit labels, as in the audit
        pid = int(project_repo.get_project(session=session, name="audited").id or 0)
        run = models.start_model_run(
            session=session, project_id=pid, n_labels=60, classes=["NDA", "Lease"]
        )
        models.finish_model_run(
            session=session, run_id=int(run.id or 0), status="ready", metrics=AUDITED
        )
        models.activate_model_run(session=session, project_id=pid, run_id=int(run.id or 0))
    ws.close()
    assert "accuracy 75.0%" in _ok(runner, "status", "audited")
    listed = _ok(runner, "project", "list")
    assert "v1 audit 75.0% (n=4)" in listed
    assert "0.847" not in listed  # the cross-validated figure is not passed off as "acc"

    # a pinned version's figure, or one from before a taxonomy change, says so, as status does
    _ok(runner, "models", "pin", "cv", "1")
    _ok(runner, "labels", "rename", "cv", LABELS.split(",")[0], "Renamed")
    listed = " ".join(_ok(runner, "project", "list").split())
    assert f"v1 CV {cv.group(1)} (pinned, before the taxonomy change)" in listed
    assert "v1 audit 75.0% (n=4) │" in listed  # the other project: neither


# --- M8: quiet start-up logs ---------------------------------------------------------------


def test_start_up_logs_leave_out_alembic_and_the_bolt_token_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from slack_bolt import App
    from slack_sdk import WebClient

    from bot.cli.logs import configure_logging
    from engine.workspace import Workspace

    class Records(logging.Handler):
        def __init__(self) -> None:
            super().__init__(logging.DEBUG)
            self.seen: list[logging.LogRecord] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.seen.append(record)

    levels = {n: logging.getLogger(n).level for n in ("", "alembic", "apscheduler")}
    records = Records()
    root = logging.getLogger()
    root.addHandler(records)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-the-environment")  # Bolt reads it itself
    try:

        def start(level: str, n: int) -> list[str]:
            records.seen.clear()
            configure_logging(level)
            root.setLevel(logging.getLevelName(level.upper()))
            Workspace.open(Settings(database_url=f"sqlite:///{tmp_path}/{n}.db")).close()
            App(client=WebClient(token="xoxb-1"), signing_secret="s",
                token_verification_enabled=False)  # fmt: skip
            return [f"{r.name}: {r.getMessage()}" for r in records.seen]

        quiet = start("info", 1)
        assert not [line for line in quiet if line.startswith("alembic")], quiet
        assert not [line for line in quiet if "will be unused" in line], quiet
        verbose = start("debug", 2)
        assert [line for line in verbose if line.startswith("alembic")]
    finally:
        root.removeHandler(records)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


# --- L2, L3: names split on commas; options checked before the files ------------------------


@pytest.mark.usefixtures("cli_env")
def test_labels_add_splits_on_commas_and_a_new_name_cannot_hold_one() -> None:
    runner = CliRunner()
    _ok(runner, "project", "create", "p", "--labels", "a,b")
    added = _ok(runner, "labels", "add", "p", "c,d", "e")
    assert "added 3 labels: c, d, e" in added
    listed = _ok(runner, "labels", "list", "p")
    assert "c,d" not in listed
    renamed = runner.invoke(app, ["labels", "rename", "p", "e", "x,y"])
    assert renamed.exit_code == 2 and "cannot contain a comma" in renamed.output


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize(
    ("option", "said"),
    [
        (["--strategy", "foo"], "unknown strategy 'foo'"),
        (["--classifier", "zz"], "unknown classifier 'zz'"),
        (["--batch", "0"], "--batch"),
        (["--seeds", "0"], "--seeds"),
    ],
)
def test_simulate_checks_its_options_before_reading_the_files(
    tmp_path: Path, option: list[str], said: str
) -> None:
    """The files do not exist: an option checked first is the error, not the file."""
    missing = str(tmp_path / "nowhere.csv")
    result = CliRunner().invoke(app, ["simulate", missing, "--test", missing, *option])
    assert result.exit_code == 2, result.output
    assert said in result.output and "nowhere.csv" not in result.output


# --- L4: Ctrl-C during an import -----------------------------------------------------------


@pytest.mark.usefixtures("cli_env")
def test_ctrl_c_during_an_import_says_what_is_stored_and_a_rerun_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine import projects, training

    runner = CliRunner()
    _ok(runner, "project", "create", "p", "--labels", LABELS)
    # texts no other test embedded into the session's shared cache: the count still to embed
    tag = uuid.uuid4().hex
    data = _csv(tmp_path / "p.csv", [(f"{text} {tag}", label) for text, label in TEXTS])

    def interrupt(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(projects, "import_file", interrupt)
        stopped = runner.invoke(app, ["import", "p", str(data)])
    assert stopped.exit_code == 130
    assert "interrupted while reading and storing the file" in stopped.output
    assert "nothing was stored" in stopped.output

    with monkeypatch.context() as m:
        m.setattr(training, "load_pool", interrupt)  # as if Ctrl-C came during the embedding
        stopped = runner.invoke(app, ["import", "p", str(data)])
    assert stopped.exit_code == 130
    said = " ".join(stopped.output.split())
    assert "interrupted while embedding: the file's 6 new examples and 6 labels are stored" in said
    assert "but 6 of the project's texts are not embedded yet" in said
    assert "run the same import again to finish" in said
    assert len(stopped.output.strip().splitlines()) == 1 and "Traceback" not in stopped.output
    assert "6 examples, 6 labeled" in _ok(runner, "status", "p")

    again = _ok(runner, "import", "p", str(data))
    assert "imported 0 new examples; 6 already in the project" in again


# --- L10, L11, L15: help, unwrapped lines, one-line errors ----------------------------------


def test_help_names_arguments_plainly() -> None:
    runner = CliRunner()
    imported = _ok(runner, "import", "--help")
    assert "import [OPTIONS] NAME FILE" in imported
    assert "{" not in imported.split("\n\n")[0]
    for command in ("models", "proposals", "flags"):
        helped = _ok(runner, command, "--help")
        assert "list[str]" not in helped and "{words}" not in helped, helped
    assert "models [OPTIONS] NAME | ACTION NAME [VERSION]" in _ok(runner, "models", "--help")
    assert "LABEL..." in _ok(runner, "labels", "add", "--help")


@pytest.mark.usefixtures("cli_env")
def test_long_lines_are_not_wrapped_when_output_is_not_a_terminal(tmp_path: Path) -> None:
    runner = CliRunner()
    _ok(runner, "project", "create", "p", "--labels", LABELS)
    _ok(runner, "import", "p", str(_csv(tmp_path / "p.csv", TEXTS)))
    _ok(runner, "train", "p")
    lines = _ok(runner, "status", "p").splitlines()
    model = [line for line in lines if line.startswith("model v1")]
    assert len(model) == 1 and model[0].endswith("(no audit labels yet)"), lines


@pytest.mark.usefixtures("cli_env")
def test_an_encoder_that_cannot_load_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    _ok(runner, "project", "create", "p", "--labels", LABELS)
    _use(monkeypatch, LABELBOT_ENCODER="no-such-org/no-such-encoder")
    result = runner.invoke(app, ["import", "p", str(_csv(tmp_path / "p.csv", TEXTS[:2]))])
    assert result.exit_code == 6, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert "LABELBOT_ENCODER" in result.output
    assert "internet connection" not in result.output.lower()
