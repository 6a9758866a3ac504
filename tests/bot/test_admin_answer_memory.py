"""How long a users.info answer is kept, over real HTTP on SQLite and PostgreSQL: a workspace
admin's "yes" at most a minute (one demoted in Slack loses labelbot's admin powers within it),
anyone else's answer a few minutes. The checker's clock is moved on, not waited for."""

from __future__ import annotations

import httpx

from engine import projects
from tests.bot.conftest import PROJECT, Bot, taxonomy_form
from tests.fakes.signing import signed_interactivity

ADMIN, MEMBER = "U0WSADMIN", "U0MEMBER"
A_MINUTE_ON = 61.0  # seconds
FIVE_MINUTES_ON = 300.0


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _add_label(bot: Bot, name: str, user: str) -> httpx.Response:
    """Submit the taxonomy form with "add ``name``" (project admins only)."""
    body = taxonomy_form(user, "add", names=name)
    answer = bot.slack.post(signed_interactivity(bot.slack.secret, body))
    bot.settle()
    return answer


def _labels(bot: Bot) -> list[str]:
    return [lb.name for lb in projects.list_labels(bot.ws, project=PROJECT)]


def test_a_demoted_workspace_admin_loses_admin_powers_within_a_minute(
    bot: Bot, bank: dict[str, str]
) -> None:
    clock = Clock()
    bot.services.workspace_admins.clock = clock
    bot.api.add_user(ADMIN, is_admin=True)  # the project names no admins: users.info decides
    assert _add_label(bot, "before", ADMIN).status_code == 200
    assert "before" in _labels(bot)

    bot.api.add_user(ADMIN, is_admin=False)  # demoted in Slack
    clock.now += A_MINUTE_ON
    refused = _add_label(bot, "after_demotion", ADMIN)
    assert "Only project admins can change the labels" in refused.text
    assert "after_demotion" not in _labels(bot)
    assert len(bot.api.calls("users.info")) == 2


def test_a_no_is_kept_a_few_minutes(bot: Bot, bank: dict[str, str]) -> None:
    clock = Clock()
    bot.services.workspace_admins.clock = clock
    bot.api.add_user(MEMBER)
    assert "Only project admins" in _add_label(bot, "first", MEMBER).text
    clock.now += A_MINUTE_ON  # a member's answer outlives an admin's
    assert "Only project admins" in _add_label(bot, "second", MEMBER).text
    assert len(bot.api.calls("users.info")) == 1
    clock.now += FIVE_MINUTES_ON
    bot.api.add_user(MEMBER, is_owner=True)  # made an owner: asked again, and now admin
    assert _add_label(bot, "third", MEMBER).status_code == 200
    assert len(bot.api.calls("users.info")) == 2 and "third" in _labels(bot)
