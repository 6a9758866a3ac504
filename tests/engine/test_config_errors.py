"""An invalid engine setting is a one-line configuration error (exit code 6) that names its
variable, like a Slack setting's, and never pydantic's traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app


@pytest.fixture
def settings_cache():  # type: ignore[no-untyped-def]
    from engine.config import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("variable", "value", "command", "says"),
    [
        ("LABELBOT_KEEP_MODELS", "abc", ["project", "list"], "a valid integer"),
        ("LABELBOT_KEEP_MODELS", "-1", ["status", "p"], "greater than or equal to 0"),
        ("LABELBOT_SCHEDULER_POLL_SECONDS", "0", ["worker"], "greater than or equal to 0.1"),
        ("LABELBOT_SCHEDULER_POLL_SECONDS", "inf", ["worker"], "finite number"),
        ("LABELBOT_ASSIGNMENT_TTL_MINUTES", "soon", ["project", "list"], "a valid number"),
        ("LABELBOT_ASSIGNMENT_TTL_MINUTES", "0", ["project", "list"], "greater than 0"),
        ("LABELBOT_ASSIGNMENT_TTL_MINUTES", "1e12", ["project", "list"], "less than or equal"),
        # serve reads the engine's settings with Slack's credentials, before anything opens
        ("LABELBOT_KEEP_MODELS", "abc", ["serve", "--port", "0"], "a valid integer"),
    ],
)
def test_an_invalid_engine_setting_is_one_line_with_exit_code_6(
    variable: str,
    value: str,
    command: list[str],
    says: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    settings_cache: None,
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the checkout's
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("LABELBOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv(variable, value)
    monkeypatch.setenv("LABELBOT_API_TOKEN", "t")  # serve's REST-only mode: no Slack needed

    result = CliRunner().invoke(app, command)

    assert result.exit_code == 6, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"error: {variable}: ") and says in lines[0], lines[0]
    assert f"(got {value!r})" in lines[0] and "(see README, 'Configuration')" in lines[0]
    assert "Traceback" not in result.output and "pydantic" not in result.output
    assert not (tmp_path / "cli.db").exists()  # refused before anything was opened or created


def test_every_invalid_setting_is_named_in_the_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings_cache: None
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("LABELBOT_KEEP_MODELS", "many")
    monkeypatch.setenv("LABELBOT_SCHEDULER_POLL_SECONDS", "-5")

    result = CliRunner().invoke(app, ["project", "list"])

    assert result.exit_code == 6, result.output
    [line] = result.output.strip().splitlines()
    assert "LABELBOT_KEEP_MODELS: " in line and "LABELBOT_SCHEDULER_POLL_SECONDS: " in line


def test_a_setting_fixed_after_an_error_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings_cache: None
) -> None:
    """The error is not cached: a long-lived process (tests, a REPL) that fixes the variable
    gets its settings on the next call."""
    from engine.config import get_settings
    from storage.errors import ConfigurationError

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LABELBOT_KEEP_MODELS", "abc")
    with pytest.raises(ConfigurationError, match="LABELBOT_KEEP_MODELS"):
        get_settings()
    monkeypatch.setenv("LABELBOT_KEEP_MODELS", "2")
    assert get_settings().keep_models == 2


@pytest.mark.parametrize("around", [(" ", " "), ("", "\n"), ("\t", "  ")])
def test_database_url_is_taken_without_the_spaces_around_it(
    around: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    settings_cache: None,
) -> None:
    """A URL pasted with a space before it was "not a valid database URL", one with a newline
    after it (from a file, `$(cat url)` keeps none, an EnvironmentFile may) named the SQLite
    file "cli.db\\n": dropped, as around a Slack token or a project's text setting."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LABELBOT_DATA_DIR", str(tmp_path / "data"))
    before, after = around
    monkeypatch.setenv("DATABASE_URL", f"{before}sqlite:///{tmp_path / 'cli.db'}{after}")

    result = CliRunner().invoke(app, ["init"])

    assert result.exit_code == 0, result.output
    names = [p.name for p in tmp_path.iterdir()]
    assert "cli.db" in names and [n for n in names if n != n.strip()] == []
    assert f"database ready: sqlite:///{tmp_path / 'cli.db'}\n" in result.output
