"""Slack sends a typed `&`, `<` and `>` in `/label`'s text as `&amp;`, `&lt;`, `&gt;`: the
command reads its words as typed (decoded once, where it parses them), so what it quotes back is
what was typed; predict's text is read from Slack's, and decoded once too. Over real HTTP on
SQLite and PostgreSQL."""

from __future__ import annotations

import json

from bot.app import UNEXPECTED
from engine import projects
from tests.bot.conftest import PROJECT, Bot

ADMIN, EXPERT = "U0ADMIN", "U0EXPERT"


def _answer(bot: Bot, user: str, text: str) -> str:
    bot.slack.command(user, text)
    bot.settle()
    answer = bot.slack.ephemerals(user)[-1]
    assert answer != UNEXPECTED, text
    return answer


def test_words_are_quoted_back_as_typed(bot: Bot, bank: dict[str, str]) -> None:
    """A typed "R&D" is quoted as "R&D" (escaped once for mrkdwn: "R&amp;D"), not as Slack's
    "R&amp;D" (which Slack would show to the user, escaped again)."""
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    for user, text, said in [
        (EXPERT, "R&amp;D", "No project named 'R&amp;D'"),
        (EXPERT, "taxonomy R&amp;D", "No project named 'R&amp;D'"),
        (EXPERT, "models R&amp;D", "No project named 'R&amp;D'"),
        (ADMIN, f"pin {PROJECT} 3&amp;", "'3&amp;' is not a model version"),
        (ADMIN, f"settings {PROJECT} timezone=A&amp;B", "Unknown timezone 'A&amp;B'"),
        (ADMIN, f"settings {PROJECT} timezone=&lt;here&gt;", "Unknown timezone '&lt;here&gt;'"),
    ]:
        answer = _answer(bot, user, text)
        assert said in answer and "&amp;amp;" not in answer and "&amp;lt;" not in answer, text
    assert "timezone" not in projects.get_project(bot.ws, PROJECT).settings


def test_slack_markup_is_left_as_it_is(bot: Bot, bank: dict[str, str]) -> None:
    """Decoding leaves Slack's markup alone: a channel mention still names its project."""
    projects.create_project(bot.ws, name="other", labels=["a", "b"], channel_id="C0OTHER")
    assert "*other* has no models yet" in _answer(bot, EXPERT, "models <#C0OTHER|other>")
    assert "No examples to label in *other* yet" in _answer(bot, EXPERT, "<#C0OTHER|other>")


def test_predict_reads_its_text_once(bot: Bot, bank: dict[str, str]) -> None:
    """Typed: `fees & charges <today> &lt;`. Slack sends `fees &amp; charges &lt;today&gt;
    &amp;lt;`; the model is asked about what was typed, and the answer quotes it escaped once
    (decoded twice, the typed `&lt;` would become `<`). A project named first is still one."""
    for text in (
        "predict fees &amp; charges &lt;today&gt; &amp;lt;",
        f"predict {PROJECT} fees &amp; charges &lt;today&gt; &amp;lt;",
    ):
        assert _answer(bot, EXPERT, text) == f"No model yet for {PROJECT}"
        blocks = json.dumps(bot.api.calls("response_url")[-1].params["blocks"])
        assert ">fees &amp; charges &lt;today&gt; &amp;lt;" in blocks, blocks
