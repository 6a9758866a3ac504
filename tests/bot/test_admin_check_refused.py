"""users.info refused for good (the bot token revoked or deactivated, the users:read scope
missing), over real HTTP on SQLite and PostgreSQL: the workspace-admin check says so, names
Slack's error and what to do, rather than "try again in a moment", which would not help; a
passing refusal (a rate limit) still says to try again."""

from __future__ import annotations

from typing import Any

import pytest

from bot import ids
from engine import projects
from tests.bot.conftest import PROJECT, Bot, taxonomy_form
from tests.fakes.signing import signed_interactivity

ADMIN = "U0WSADMIN"
TRY_AGAIN = "try again in a moment"
ADVICE = "labelbot project set NAME --admins"


def _submit_add(bot: Bot, name: str) -> str:
    """Submit the taxonomy form with "add ``name``": the error shown on the form."""
    body = taxonomy_form(ADMIN, "add", names=name)
    answer: dict[str, Any] = bot.slack.post(signed_interactivity(bot.slack.secret, body)).json()
    bot.settle()
    assert answer["response_action"] == "errors", answer
    return str(answer["errors"][ids.TAXONOMY_OPERATION_BLOCK])


@pytest.mark.parametrize(
    "error", ["account_inactive", "missing_scope", "invalid_auth", "not_authed"]
)
def test_a_lasting_refusal_names_the_error_and_what_to_do(
    bot: Bot, bank: dict[str, str], error: str
) -> None:
    bot.api.add_user(ADMIN, is_admin=True)  # the project names no admins: users.info decides
    bot.api.fail_next("users.info", status=200, error=error)
    bot.slack.command(ADMIN, "taxonomy")
    bot.settle()
    said = bot.slack.ephemerals(ADMIN)[-1]
    assert f"`{error}`" in said and ADVICE in said and TRY_AGAIN not in said.lower()
    assert not bot.api.calls("views.open")

    bot.api.fail_next("users.info", status=200, error=error)
    on_form = _submit_add(bot, "refused_label")
    assert f"`{error}`" in on_form and ADVICE in on_form and TRY_AGAIN not in on_form.lower()
    labels = [lb.name for lb in projects.list_labels(bot.ws, project=PROJECT)]
    assert "refused_label" not in labels


def test_a_passing_refusal_still_says_to_try_again(bot: Bot, bank: dict[str, str]) -> None:
    bot.api.add_user(ADMIN, is_admin=True)
    bot.api.fail_next("users.info", status=200, error="ratelimited")
    bot.slack.command(ADMIN, "taxonomy")
    bot.settle()
    said = bot.slack.ephemerals(ADMIN)[-1]
    assert TRY_AGAIN in said.lower() and ADVICE not in said
