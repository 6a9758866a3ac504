"""A click on a message already answered: the answer is shown again, never a second one.

Found by an audit: when the chat.update of a labeled message never reached Slack (rate limited
three times, queued), the expert still saw its buttons, and their next click on it was silently
ignored (the handler took it for a retry whose answer Slack had shown).
"""

from __future__ import annotations

from bot import ids
from bot.delivery import UPDATE
from engine import messaging, projects
from tests.bot.conftest import PROJECT, Bot, true_label
from tests.bot.test_outbox_superseded import U1, _now
from tests.fakes.signing import signed_interactivity
from tests.fakes.slack_client import button, choices

POST = "chat.postMessage"


def test_a_click_on_a_message_whose_answer_was_lost_shows_the_answer(
    bot: Bot, bank: dict[str, str]
) -> None:
    bot.slack.command(U1)
    bot.settle()
    (m,) = bot.slack.open_examples(U1)
    right = true_label(bot, bank, m)
    other = next(c.label for c in choices(m) if c.label != right)
    bot.api.fail_next(UPDATE, status=429, retry_after=0, times=3)
    bot.slack.choose(U1, m, right)
    bot.settle()
    assert choices(_now(bot, m["ts"]))  # the expert still sees the buttons
    posts = len(bot.api.calls(POST))
    bot.slack.choose(U1, m, other)
    bot.settle()
    shown = _now(bot, m["ts"])
    assert choices(shown) == []
    assert str(shown["text"]).startswith(f"Labeled {right} by <@{U1}>")
    button(shown, ids.UNDO)
    (said,) = bot.slack.ephemerals(U1)
    assert f"*{right}*" in said and "Undo" in said
    assert projects.project_status(bot.ws, PROJECT)["annotations"] == 1
    assert len(bot.api.calls(POST)) == posts  # the next example was there already
    assert len(bot.slack.open_examples(U1)) == 1
    # the queued update is older than the redraw: never sent
    assert messaging.outbox_size(bot.ws) == 0
    assert bot.services.courier.flush() == 0
    # Undo on the redrawn message changes the label
    assert bot.slack.click(U1, shown, ids.UNDO).status_code == 200
    bot.settle()
    assert projects.project_status(bot.ws, PROJECT)["annotations"] == 0


def test_a_retried_click_updates_once_more_and_sends_no_second_example(
    bot: Bot, bank: dict[str, str]
) -> None:
    bot.slack.command(U1)
    bot.settle()
    (m,) = bot.slack.open_examples(U1)
    payload = bot.slack.choice_payload(U1, m, true_label(bot, bank, m))
    assert bot.slack.post(signed_interactivity(bot.slack.secret, payload)).status_code == 200
    bot.settle()
    updates, posts = len(bot.api.calls(UPDATE)), len(bot.api.calls(POST))
    # Slack redelivers the same click (its answer timed out)
    assert bot.slack.post(signed_interactivity(bot.slack.secret, payload)).status_code == 200
    bot.settle()
    assert len(bot.api.calls(UPDATE)) <= updates + 1
    assert len(bot.api.calls(POST)) == posts
    assert bot.slack.ephemerals(U1) == []
    assert projects.project_status(bot.ws, PROJECT)["annotations"] == 1
    assert len(bot.slack.open_examples(U1)) == 1
    button(_now(bot, m["ts"]), ids.UNDO)
