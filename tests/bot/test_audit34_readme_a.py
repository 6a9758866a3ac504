"""README audit (intro, "Using it from the terminal", "Set up in Slack"): behaviour that does not
do what the README says, each test written as an expected failure, its mark removed with the fix.

README, `labelbot serve` at start: "Whitespace around a value is dropped, and a variable set
empty counts as not set." LABELBOT_DATA_DIR, LABELBOT_MODELS_DIR, LABELBOT_ENCODER and the Slack
variables do take an empty value as unset (a compose file's `LABELBOT_KEEP_MODELS: ${KEEP}`
with KEEP unset sets it empty), but the numeric settings refuse it: every command, `labelbot
init` and `labelbot train` too, exits 6 with "Input should be a valid number ... (got '')"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app
from engine.config import get_settings
from tests.bot.conftest import BOT_TOKEN, SIGNING_SECRET
from tests.fakes.slack_api import FakeSlackAPI

SLACK_VARS = (
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_API_URL",
    "SLACK_APP_TOKEN",
    "LABELBOT_API_TOKEN",
)


@pytest.fixture
def env(
    tmp_path: Path, embedding_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.chdir(tmp_path)  # no .env from the checkout
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'audit.db'}")
    monkeypatch.setenv("LABELBOT_DATA_DIR", str(embedding_cache_dir))
    for name in SLACK_VARS:
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


@pytest.mark.parametrize("empty", ["", "  "])
@pytest.mark.parametrize(
    "name",
    ["LABELBOT_SCHEDULER_POLL_SECONDS", "LABELBOT_ASSIGNMENT_TTL_MINUTES", "LABELBOT_KEEP_MODELS"],
)
def test_every_command_takes_a_numeric_setting_set_empty_as_not_set(
    env: pytest.MonkeyPatch, name: str, empty: str
) -> None:
    env.setenv(name, empty)
    result = CliRunner().invoke(app, ["init"])
    assert result.exit_code == 0, result.output
    assert "database ready" in result.stdout
    defaults = {
        "LABELBOT_SCHEDULER_POLL_SECONDS": ("scheduler_poll_seconds", 15.0),
        "LABELBOT_ASSIGNMENT_TTL_MINUTES": ("assignment_ttl_minutes", 30.0),
        "LABELBOT_KEEP_MODELS": ("keep_models", 5),
    }
    field, default = defaults[name]
    assert getattr(get_settings(), field) == default


@pytest.mark.parametrize(
    "name", ["LABELBOT_OUTBOX_INTERVAL", "LABELBOT_SLACK_WORKERS", "LABELBOT_API_DEADLINE_SECONDS"]
)
def test_serve_takes_a_numeric_setting_of_the_bots_set_empty_as_not_set(
    env: pytest.MonkeyPatch, slack_api: FakeSlackAPI, name: str
) -> None:
    env.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    env.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    env.setenv("SLACK_API_URL", slack_api.api_url)
    env.setenv(name, "")
    served: list[Any] = []
    env.setattr("uvicorn.run", lambda api, **kw: served.append(api))  # serve returns at once
    result = CliRunner().invoke(app, ["serve", "--no-scheduler"])
    assert result.exit_code == 0, result.output
    assert len(served) == 1


@pytest.mark.parametrize("name", ["_legal", ".hidden", "--"])
def test_a_project_name_refused_for_its_first_character_says_so(
    env: pytest.MonkeyPatch, name: str
) -> None:
    result = CliRunner().invoke(app, ["project", "create", "--labels", "A,B", "--", name])
    assert result.exit_code == 2, result.output
    assert f"invalid project name {name!r}" in result.stderr
    assert "start" in result.stderr or "begin" in result.stderr, result.stderr
