"""The REST status is `labelbot status --json`, figure for figure (the active model's file
problem and stopped runs included), and the digest posted in Slack says which model its
figures are, as `labelbot status` does: a pinned version, trained before the latest taxonomy
change."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from bot.cli import app
from engine import projects, taxonomy, training
from storage.db import session_scope
from storage.repositories import models
from storage.repositories import projects as project_repo
from tests.bot.conftest import API_TOKEN, CHANNEL, PROJECT, Bot, train_bank

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
ADMIN = "U0ADMIN"


def _cli(bot: Bot, monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    """`labelbot status bank ARGS` on the bot's database (its workspace, SQLite or a
    PostgreSQL schema, which the CLI's settings cannot name)."""
    monkeypatch.setattr("bot.cli.data.workspace", lambda: bot.ws)
    result = CliRunner().invoke(app, ["status", PROJECT, *args], terminal_width=200)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_rest_status_is_cli_status_json(
    bot: Bot, bank: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    train_bank(bot, bank, labels=30)
    with session_scope(bot.ws.db, read_only=True) as session:
        pid = int(project_repo.get_project(session=session, name=PROJECT).id or 0)
        run = models.get_active_model_run(session=session, project_id=pid)
        assert run is not None and run.artifact_path
    bot.ws.settings.artifact_file(run.artifact_path).unlink()  # a cleaned data folder

    cli = json.loads(_cli(bot, monkeypatch, "--json"))
    rest = bot.slack.http.get(f"/api/projects/{PROJECT}/status", headers=AUTH).json()
    assert rest == cli
    assert rest["model"]["file_problem"]  # what predict would run into, said before it
    assert rest["training"] == []


def test_slack_digest_says_which_model_its_figures_are(
    bot: Bot, bank: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    train_bank(bot, bank, labels=30)  # v1
    train_bank(bot, bank, labels=10)  # v2
    training.pin_version(bot.ws, PROJECT, 1)
    taxonomy.merge_labels(bot.ws, project=PROJECT, labels=["atm_support", "change_pin"],
                          into="atm_support", actor=ADMIN)  # fmt: skip
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    model = projects.status_report(bot.ws, PROJECT)["model"]
    assert (model["version"], model["pinned"], model["before_taxonomy_change"]) == (1, True, True)

    bot.slack.command(ADMIN, "digest", channel=CHANNEL)
    bot.settle()
    (posted,) = bot.api.calls("chat.postMessage")
    blocks = str(posted.params["blocks"])
    assert "Model v1:" in blocks
    assert "v1 is pinned" in blocks
    assert "trained before the latest taxonomy change" in blocks
    # its "labeled" is examples, as status counts them (its "in all" is votes)
    labeled = projects.status_report(bot.ws, PROJECT)["labeled"]
    assert f"; {labeled} examples labeled)" in blocks
    # `labelbot status` says the same of the same model
    said = _cli(bot, monkeypatch)
    assert "model v1 (" in said and "v1 is pinned: retrains are kept, not promoted" in said
    assert "model v1 was trained before the latest taxonomy change" in said
