"""`labelbot models pin|rollback|promote NAME VERSION` and `/label pin|rollback|promote <project>
<version>` read a version by one rule and refuse a bad one with one message, over the CLI and
real HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.cli import models as cli_models
from engine import projects
from tests.bot.conftest import PROJECT, Bot

ADMIN = "U0ADMIN"


def _cli(runner: CliRunner, *args: str, code: int) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return " ".join(str(result.output).split())


def _slack(bot: Bot, text: str) -> str:
    bot.slack.command(ADMIN, text)
    bot.settle()
    return bot.slack.ephemerals(ADMIN)[-1]


def test_the_cli_and_slack_read_a_version_alike(
    bot: Bot, bank: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    monkeypatch.setattr(cli_models, "workspace", lambda create=False: bot.ws)
    runner = CliRunner()
    for word in ("²", "v99999999999999999999", "vv3", "3.0"):
        said = f"{word!r} is not a model version (e.g. 3 or v3)"
        for verb in ("pin", "rollback", "promote"):
            assert f"error: {said}" in _cli(runner, "models", verb, PROJECT, word, code=2)
            assert said in _slack(bot, f"{verb} {PROJECT} {word}")
    for word in ("1", "v1", "V1"):  # read as v1, which the project does not have
        assert "has no model v1" in _cli(runner, "models", "pin", PROJECT, word, code=3)
        assert "has no model v1" in _slack(bot, f"pin {PROJECT} {word}")
    assert projects.get_project(bot.ws, PROJECT).settings.get("pinned_version") is None

    said = _cli(runner, "models", PROJECT, "V7", code=2)  # a version where none is taken
    assert f"did you mean `labelbot models pin {PROJECT} V7`?" in said
    usage = _cli(runner, "models", "pin", PROJECT, code=2)
    assert "usage: labelbot models pin NAME VERSION" in usage
