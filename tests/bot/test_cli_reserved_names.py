"""A project named like a command word could be created but never reached: `labelbot models
pin` is the action, `/label taxonomy` and `/label 5` in Slack a verb and a batch size. Such
names are refused when the project is created, and nothing is stored."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.bot.test_cli import cli_env  # noqa: F401  (the fixture)


def _invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


@pytest.mark.parametrize(
    "name", ["pin", "resolve", "approve", "Taxonomy", "nudge", "guidelines", "5", "007"]
)
def test_a_command_word_is_refused_as_a_project_name(cli_env: Any, name: str) -> None:  # noqa: F811
    result = _invoke("project", "create", name, "--labels", "a,b")
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: invalid project name {name!r}"), result.output
    assert len(result.output.strip().splitlines()) == 1
    assert _invoke("project", "list").output.startswith("no projects")


def test_names_that_only_contain_a_word_or_a_digit_are_fine(cli_env: Any) -> None:  # noqa: F811
    for name in ("pins", "taxonomy-2026", "5a", "help_desk"):
        result = _invoke("project", "create", name, "--labels", "a,b")
        assert result.exit_code == 0, result.output
    # and the commands reach them, as a name
    result = _invoke("models", "pins")
    assert result.exit_code == 0, result.output


@pytest.mark.usefixtures("cli_env")
def test_a_project_name_outside_ascii_says_which_letters() -> None:
    result = CliRunner().invoke(app, ["project", "create", "café", "--labels", "a,b"])
    assert result.exit_code == 2
    assert "use ASCII letters (a-z, A-Z), digits" in result.output, result.output
