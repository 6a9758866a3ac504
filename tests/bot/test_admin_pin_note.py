"""`/label rollback|promote` while another version is pinned: the pin moves to the version
chosen, and the answer says from which one -- the pin the engine moved, read under the lock
it moved it in, not one read before (a pin set meanwhile would go unmentioned). Also
`labelbot models rollback|promote`. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from bot import admin
from bot.cli import app
from bot.cli import models as cli_models
from engine import projects, training
from tests.bot.conftest import PROJECT, Bot
from tests.bot.test_admin import ADMIN, _answer, _trained

MOVED = "The pin moved from v{} to it."


def test_a_rollback_says_where_the_pin_moved_from(bot: Bot, bank: dict[str, str]) -> None:
    _trained(bot, bank, 2)
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    training.pin_version(bot.ws, PROJECT, 1)
    bot.slack.command(ADMIN, f"rollback {PROJECT} 2")
    bot.settle()
    assert "v2 is active" in _answer(bot, ADMIN) and MOVED.format(1) in _answer(bot, ADMIN)
    assert projects.get_project(bot.ws, PROJECT).settings["pinned_version"] == 2
    said = admin.change_model(bot.services, verb="promote", project=PROJECT, version=2)
    assert "pin moved" not in said  # pinned already: nothing moved
    training.unpin(bot.ws, PROJECT)
    said = admin.change_model(bot.services, verb="rollback", project=PROJECT, version=1)
    assert "v1 is active" in said and "pin moved" not in said


def test_the_note_names_the_pin_set_while_the_rollback_ran(
    bot: Bot, bank: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """v1 is pinned by someone else after the rollback to v2 began: v2 takes the pin from v1,
    and the answer says so."""
    _trained(bot, bank, 2)
    real = training.load_pool
    pinned: list[int] = []

    def pin_meanwhile(*args, **kwargs):  # type: ignore[no-untyped-def]
        if not pinned:
            pinned.append(1)
            training.pin_version(bot.ws, PROJECT, 1)
        return real(*args, **kwargs)

    monkeypatch.setattr(training, "load_pool", pin_meanwhile)
    said = admin.change_model(bot.services, verb="rollback", project=PROJECT, version=2)
    assert pinned and "v2 is active" in said and MOVED.format(1) in said
    assert projects.get_project(bot.ws, PROJECT).settings["pinned_version"] == 2


def test_the_cli_says_where_the_pin_moved_from(
    bot: Bot, bank: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _trained(bot, bank, 2)
    monkeypatch.setattr(cli_models, "workspace", lambda create=False: bot.ws)
    runner = CliRunner()
    pin = runner.invoke(app, ["models", "pin", PROJECT, "1"])
    assert pin.exit_code == 0, pin.output
    rollback = runner.invoke(app, ["models", "rollback", PROJECT, "v2"])
    assert rollback.exit_code == 0, rollback.output
    assert f"{PROJECT}: v2 is active. {MOVED.format(1)}" in " ".join(rollback.output.split())
    promote = runner.invoke(app, ["models", "promote", PROJECT, "2"])
    assert promote.output.strip() == f"{PROJECT}: v2 is active"  # the pin was on v2 already
    assert projects.get_project(bot.ws, PROJECT).settings["pinned_version"] == 2


def test_activate_version_reports_the_pin_it_moved(bot: Bot, bank: dict[str, str]) -> None:
    _trained(bot, bank, 2)
    done = training.activate_version(bot.ws, PROJECT, 1)
    assert (done.run.version, done.run.is_active, done.pin_moved_from) == (1, True, None)
    training.pin_version(bot.ws, PROJECT, 1)
    done = training.activate_version(bot.ws, PROJECT, 2)
    assert (done.run.version, done.pin_moved_from) == (2, 1)
    assert training.activate_version(bot.ws, PROJECT, 2).pin_moved_from is None
