"""A label name with a comma, typed in `labelbot labels rename|merge` or in the `/label taxonomy`
form's rename and merge: each gets the engine's one message (engine.taxonomy.new_label_name)
and nothing changes, over the CLI and real HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from bot import ids
from bot.cli import app
from bot.cli import taxonomy as cli_taxonomy
from engine import projects, taxonomy
from tests.bot.conftest import PROJECT, Bot
from tests.bot.test_taxonomy_slack import _open_modal, _submit

ADMIN = "U0ADMIN"
COMMA = "a label name cannot contain a comma: 'x,y' (lists of labels are comma-separated)"


def _form(bot: Bot, op: str, labels: list[str], names: str) -> dict[str, Any]:
    """Submit the `/label taxonomy` form; Slack's answer."""
    response = _submit(bot, _open_modal(bot), op, labels, names)
    answer: dict[str, Any] = json.loads(response.content or b"{}")
    return answer


def _labels(bot: Bot) -> list[str]:
    return [lb.name for lb in projects.list_labels(bot.ws, project=PROJECT)]


def test_the_cli_and_the_slack_form_get_the_engines_message(
    bot: Bot, bank: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    monkeypatch.setattr(cli_taxonomy, "workspace", lambda create=False: bot.ws)
    before = _labels(bot)
    runner = CliRunner()
    for args in (
        ["labels", "rename", PROJECT, "change_pin", "x,y"],
        ["labels", "merge", PROJECT, "age_limit", "exchange_rate", "--into", "x,y"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        assert " ".join(result.output.split()) == f"error: {COMMA}"

    for op, labels in (("rename", ["change_pin"]), ("merge", ["age_limit", "exchange_rate"])):
        answer = _form(bot, op, labels, "x,y")
        assert answer == {
            "response_action": "errors",
            "errors": {ids.TAXONOMY_NAMES_BLOCK: "A" + COMMA[1:]},
        }, op
    assert _labels(bot) == before
    assert taxonomy.label_history(bot.ws, project=PROJECT) == []

    # add and split take a list: the form splits it at its commas, as before
    assert _form(bot, "split", ["card_arrival"], "card_delivery, card_tracking") == {}
    assert {"card_delivery", "card_tracking"} <= set(_labels(bot))


def test_an_empty_name_in_the_forms_list_is_refused_as_in_the_cli(
    bot: Bot, bank: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`a,,b`, a comma at either end or a name of spaces in the form's list (add, split, the
    label a retire maps to) was dropped without a word: it is refused on the names field with
    the CLI's message (`labels add`), and nothing changes. The spaces around each name go."""
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    monkeypatch.setattr(cli_taxonomy, "workspace", lambda create=False: bot.ws)
    before = _labels(bot)
    cli = CliRunner().invoke(app, ["labels", "add", PROJECT, "new_a,,new_b"])
    assert cli.exit_code == 2 and cli.stderr.startswith("error: an empty label name in ")
    for op, labels, names in (
        ("add", [], "new_a,,new_b"),
        ("add", [], "new_a, new_b,"),
        ("split", ["card_arrival"], ", new_a, new_b"),
        ("split", ["card_arrival"], "new_a, ,new_b"),
        ("retire", ["card_arrival"], "age_limit,"),
    ):
        said = CliRunner().invoke(app, ["labels", "add", PROJECT, names]).stderr
        message = said.removeprefix("error: ").strip()
        assert message.startswith("an empty label name in "), said
        assert _form(bot, op, labels, names) == {
            "response_action": "errors",
            "errors": {ids.TAXONOMY_NAMES_BLOCK: message[:1].upper() + message[1:]},
        }, (op, names)
    assert _labels(bot) == before
    assert taxonomy.label_history(bot.ws, project=PROJECT) == []

    assert _form(bot, "add", [], "  new_a ,new_b  ") == {}
    assert _labels(bot) == [*before, "new_a", "new_b"]
