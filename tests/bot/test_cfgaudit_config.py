"""Configuration edges found by an audit of the README's Configuration section, run as a person
runs them (typer's runner): each was a traceback or a misleading line."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from bot.cli import app
from engine.config import get_settings
from storage.errors import ConfigurationError


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, str(result.output)


def _one_line(code: int, output: str, expected: int) -> None:
    assert code == expected, output
    assert "Traceback" not in output
    assert len(output.strip().splitlines()) == 1, output


@pytest.mark.parametrize("value", ["1e14", "1e308", "86401"])
def test_a_poll_interval_past_a_day_is_refused_naming_the_variable(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LABELBOT_SCHEDULER_POLL_SECONDS=1e14 passed the settings and stopped `worker` and
    `serve` with APScheduler's OverflowError traceback ("days=1157407407; must have magnitude
    <= 999999999"); 1e308 too."""
    monkeypatch.setenv("LABELBOT_SCHEDULER_POLL_SECONDS", value)
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigurationError, match="LABELBOT_SCHEDULER_POLL_SECONDS"):
            get_settings()
    finally:
        get_settings.cache_clear()


def test_worker_poll_seconds_past_a_day_is_refused(cli_env: None) -> None:
    code, output = _run("worker", "--poll-seconds", "1e14")
    _one_line(code, output, 2)
    assert "--poll-seconds must be at least 0.1 and at most 86,400 (a day)" in output


def test_the_bundled_encoder_named_with_spaces_around_it_is_the_bundled_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A space after the name (a pasted value, an env file) made every new text fail: "encoder
    ' all-MiniLM-L6-v2 ' cannot be loaded offline"; DATABASE_URL drops such spaces already."""
    monkeypatch.setenv("LABELBOT_ENCODER", " all-MiniLM-L6-v2 \n")
    get_settings.cache_clear()
    try:
        assert get_settings().encoder == "all-MiniLM-L6-v2"
    finally:
        get_settings.cache_clear()


def test_reset_all_with_other_names_says_all_goes_alone(cli_env: None) -> None:
    """`--reset all,timezone` said "unknown setting 'all' to reset: use …, or all"."""
    assert _run("project", "create", "p", "--labels", "a,b")[0] == 0
    assert _run("project", "set", "p", "--timezone", "Europe/Berlin")[0] == 0
    code, output = _run("project", "set", "p", "--reset", "all,timezone")
    _one_line(code, output, 2)
    assert "'all' resets every setting: give it alone (--reset all)" in output
    assert "timezone = Europe/Berlin" in _run("project", "set", "p")[1].splitlines()


def test_a_timezone_in_another_case_is_stored_as_its_zone_is_named(cli_env: None) -> None:
    """`--timezone europe/berlin` (or `timezone=utc` in Slack) was "unknown timezone": zone
    names are matched in any case and stored as the zone database spells them."""
    assert _run("project", "create", "p", "--labels", "a,b")[0] == 0
    code, output = _run("project", "set", "p", "--timezone", "europe/berlin")
    assert code == 0, output
    assert "timezone = Europe/Berlin" in output.splitlines()
    code, output = _run("project", "set", "p", "--timezone", "utc")
    assert code == 0, output
    assert "timezone = UTC" in output.splitlines()
    code, output = _run("project", "set", "p", "--timezone", "Mars/Olympus")
    _one_line(code, output, 2)
    assert "unknown timezone 'Mars/Olympus'" in output
    assert "timezone = UTC" in _run("project", "set", "p")[1].splitlines()
