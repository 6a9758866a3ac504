"""A guest account in the channel of a project closed to guests, over real signed Bolt requests
on SQLite and PostgreSQL: `/label`, `guidelines`, `predict` and the Classify shortcut there are
refused as `/label <project>` refuses them (naming only the projects open to them), not answered
from the one project open to guests; `predict <closed project> <text>` is refused too, not read
as text. In a channel of no project, or their own project's, they get their project."""

from __future__ import annotations

import pytest

from bot import ids
from engine import project_settings, projects
from tests.bot.conftest import CHANNEL, PROJECT, Bot
from tests.fakes import payloads
from tests.fakes.signing import signed_interactivity

GUEST, MEMBER = "U0GUEST", "U0MEMBER"
OPEN, OPEN_CHANNEL = "hr", "G0HR"
REFUSED = "not open to guest accounts"


@pytest.fixture
def guest(bot: Bot, bank: dict[str, str]) -> None:
    """`bank` (closed to guests, bound to CHANNEL) and `hr`, the one project open to guests."""
    projects.create_project(bot.ws, name=OPEN, labels=["pay", "leave"], channel_id=OPEN_CHANNEL)
    project_settings.change_settings(bot.ws, project=OPEN, changes={"guests": "allow"})
    bot.api.add_user(GUEST, is_restricted=True)


def _said(bot: Bot, user: str, text: str, channel: str | None = None) -> str:
    before = len(bot.slack.ephemerals(user))
    bot.slack.command(user, text, channel=channel)
    bot.settle()
    return "\n".join(bot.slack.ephemerals(user)[before:])


def _refused(said: str) -> bool:
    """The guest refusal, offering their project and naming nothing of the closed one."""
    return REFUSED in said and f"`/label {OPEN}`" in said and PROJECT not in said


def test_a_guest_in_a_closed_projects_channel_is_refused(bot: Bot, guest: None) -> None:
    for text in ("", "3", "guidelines", "predict my card has not arrived"):
        said = _said(bot, GUEST, text, channel=CHANNEL)
        assert _refused(said), (text, said)
    assert _refused(_said(bot, GUEST, f"predict {PROJECT} my card has not arrived"))  # a DM
    assert not bot.slack.dm(GUEST) and not bot.api.calls("views.open")

    body = payloads.message_shortcut(GUEST, ids.CLASSIFY_SHORTCUT, CHANNEL, "1.000001",
                                     "my card has not arrived")  # fmt: skip
    body["response_url"] = bot.api.response_url(GUEST)
    bot.slack.post(signed_interactivity(bot.slack.secret, body))
    bot.settle()
    assert _refused(bot.slack.ephemerals(GUEST)[-1])


def test_elsewhere_the_guest_gets_their_project_and_members_the_channels(
    bot: Bot, guest: None
) -> None:
    for channel in (None, "C0NOPROJECT", OPEN_CHANNEL):
        said = _said(bot, GUEST, "predict my salary is late", channel=channel)
        assert REFUSED not in said and OPEN in said and PROJECT not in said, (channel, said)
    said = _said(bot, GUEST, "guidelines", channel=OPEN_CHANNEL)
    assert REFUSED not in said and OPEN in said
    # a full member in bank's channel gets bank
    said = _said(bot, MEMBER, "guidelines", channel=CHANNEL)
    assert REFUSED not in said and PROJECT in said
    said = _said(bot, MEMBER, f"predict {PROJECT} my card has not arrived")
    assert REFUSED not in said and PROJECT in said
