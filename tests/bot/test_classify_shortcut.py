"""The "Classify with labelbot" message shortcut on a message without text (only a file or an
image, a bot's blocks, a blank line), over real HTTP on SQLite and PostgreSQL: it says there is
nothing to classify, under the rules of `/label predict` and the predict API, and never shows
the model's guess for an empty text."""

from __future__ import annotations

from bot import ids
from engine import labeling, projects, training
from tests.bot.conftest import CHANNEL, PROJECT, Bot
from tests.fakes import payloads
from tests.fakes.signing import signed_interactivity

EXPERT, ASKER = "U0EXPERT", "U0ASKER"


def _train(bot: Bot, truth: dict[str, str], n: int = 20) -> None:
    for _ in range(n):
        task = labeling.next_task(bot.ws, project=PROJECT, annotator=EXPERT)
        assert task is not None
        labeling.submit_label(
            bot.ws, project=PROJECT, example_id=task.example_id, label=truth[task.text],
            annotator=EXPERT, source="slack", key=f"{EXPERT}:{task.example_id}",
        )  # fmt: skip
    training.train_project(bot.ws, PROJECT)
    assert training.active_model(bot.ws, PROJECT) is not None


def _classify(bot: Bot, text: str, ts: str) -> str:
    shortcut = payloads.message_shortcut(ASKER, ids.CLASSIFY_SHORTCUT, CHANNEL, ts, text)
    shortcut["response_url"] = bot.api.response_url(ASKER)
    assert bot.slack.post(signed_interactivity(bot.slack.secret, shortcut)).status_code == 200
    bot.settle()
    return bot.slack.ephemerals(ASKER)[-1]


def test_a_message_without_text_has_nothing_to_classify(bot: Bot, bank: dict[str, str]) -> None:
    _train(bot, bank)
    for i, text in enumerate(["", "   ", "\n\t\u00a0"]):
        answer = _classify(bot, text, f"1.{i}")
        assert answer == ":warning: This message has no text to classify.", repr(text)
    too_long = _classify(bot, "card " * 10_001, "2.0")  # 50,005 characters, as imports refuse
    assert too_long.startswith(":warning: Cannot classify this message: text of 50,004")
    answer = _classify(bot, "my new card has not arrived yet", "3.0")
    assert answer.startswith(f"{PROJECT}: ")  # a text is classified as before
    answers = [str(c.params.get("blocks")) for c in bot.api.calls("response_url")]
    assert len([a for a in answers if "Model for" in a]) == 1  # no guess for the others


def test_in_a_channel_of_two_projects_it_says_how_to_ask_one(
    bot: Bot, bank: dict[str, str]
) -> None:
    """`/label bank` would send an example to label, not classify the message: the answer says
    how to ask a project's model, and which projects there are."""
    projects.create_project(bot.ws, name="legal", labels=["nda", "lease"], channel_id=CHANNEL)
    answer = _classify(bot, "my new card has not arrived yet", "4.0")
    assert answer.startswith(":warning: Which project should classify this message?"), answer
    assert f"`/label predict {PROJECT} &lt;text&gt;` (projects: `{PROJECT}` or `legal`)" in answer
    assert "Try `/label" not in answer
    # elsewhere, with one project bound there, it classifies as before
    projects.set_channel(bot.ws, project="legal", channel_id="C0LEGAL")
    _train(bot, bank)
    assert _classify(bot, "my new card has not arrived yet", "5.0").startswith(f"{PROJECT}: ")
