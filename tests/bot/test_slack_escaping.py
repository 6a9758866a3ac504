"""Error messages in Slack, over real HTTP on SQLite and PostgreSQL: an engine error that quotes
a label's name reaches Slack escaped (`&`, `<`, `>`), so a name such as "<!channel> & co" can
never broadcast, link or garble; labelbot's own markup in its errors (a channel link) is not
escaped; and a modal's field errors, plain text, show the name as typed."""

from __future__ import annotations

import json
from pathlib import Path

from bot import disputes, ids
from engine import consensus, projects, taxonomy
from tests.bot.conftest import CHANNEL, PROJECT, Bot
from tests.bot.test_security_fixes import _import_vote
from tests.bot.test_taxonomy_slack import _submit
from tests.fakes.slack_client import button

ADMIN, EXPERT = "U0ADMIN", "U0EXPERT"
EVIL = "<!channel> & co"
EVIL_ESCAPED = "&lt;!channel&gt; &amp; co"


def test_an_engine_error_quoting_a_label_name_is_escaped(bot: Bot, tmp_path: Path) -> None:
    """Settling on a label retired since the thread opened: the engine's StaleActionError
    names the label, and the ephemeral answer (response_url) shows it escaped."""
    projects.create_project(bot.ws, name="names", labels=["card", "lost", EVIL], channel_id=CHANNEL)
    projects.update_settings(bot.ws, project="names", admins=[ADMIN])
    _import_vote(bot, tmp_path, label="card", annotator="Walter")
    _import_vote(bot, tmp_path, label="lost", annotator="Ana")
    (found,) = consensus.disagreements(bot.ws, "names")
    assert disputes.open_if_disputed(bot.services, project="names", example_id=found.example_id)
    (root,) = bot.api.messages(CHANNEL)
    taxonomy.retire_label(bot.ws, project="names", label=EVIL, actor=ADMIN, rescore=False)

    _, menu = button(root, f"{ids.SETTLE}:other")  # "Another label…": the label nobody chose
    (option,) = [o for o in menu["options"] if o["text"]["text"] == EVIL]  # plain text
    bot.slack.click(ADMIN, root, f"{ids.SETTLE}:other", selected_option=option, channel=CHANNEL)
    bot.settle()
    (answer,) = bot.slack.ephemerals(ADMIN)
    assert answer == (
        f":warning: The label '{EVIL_ESCAPED}' was retired; pick another (card, lost). "
        "Nothing was changed."
    )
    assert "<!channel>" not in answer
    assert consensus.disagreements(bot.ws, "names")  # nothing was settled


def test_labelbots_own_markup_in_an_error_is_not_escaped(bot: Bot, bank: dict[str, str]) -> None:
    """Discuss when labelbot is not in the project channel: the answer links the channel."""
    bot.slack.command(EXPERT)
    bot.settle()
    (message,) = bot.slack.open_examples(EXPERT)
    bot.api.fail_next("chat.postMessage", error="not_in_channel")
    bot.slack.click(EXPERT, message, ids.DISCUSS)
    bot.settle()
    (answer,) = bot.slack.ephemerals(EXPERT)
    assert answer == (
        f":warning: Labelbot cannot post in <#{CHANNEL}>: invite it with `/invite @labelbot`."
    )


def test_modal_field_errors_are_plain_text_and_not_escaped(bot: Bot, bank: dict[str, str]) -> None:
    """A view's `errors` are plain text: an escaped name would show as "&lt;!channel&gt;"."""
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    projects.add_labels(bot.ws, project=PROJECT, names=[EVIL])
    bot.slack.command(ADMIN, f"taxonomy {PROJECT}")
    bot.settle()
    view = bot.api.calls("views.open")[-1].params["view"]
    assert EVIL_ESCAPED in json.dumps(view["blocks"], ensure_ascii=False)  # the mrkdwn list

    answer = _submit(bot, view, "rename", [EVIL], EVIL).json()
    assert answer["response_action"] == "errors"
    assert answer["errors"] == {ids.TAXONOMY_NAMES_BLOCK: f"Label '{EVIL}' is already called that"}
