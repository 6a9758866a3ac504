"""A taxonomy change made while no labelbot process ran (the bot stopped, `labelbot labels
rename` in a terminal, the bot started again; or every replica restarted in a deploy) is
redrawn on the experts' screens by the first scheduler round of the process that starts
(README: "a change from the CLI or another process is redrawn by the scheduler's next round").
The first round used to note every project's last change as if drawn, so such a change was
never redrawn. A first round after a change the messages on screen already show redraws
nothing."""

from __future__ import annotations

from bot.scheduling import screen_redrawer
from engine import taxonomy
from tests.bot.conftest import PROJECT, Bot
from tests.fakes.slack_client import choices

EXPERT = "U0EXPERT"


def _on_screen(bot: Bot) -> dict[str, object]:
    bot.slack.command(EXPERT)
    bot.settle()
    (message,) = bot.slack.open_examples(EXPERT)
    return message


def test_a_change_made_while_no_process_ran_is_redrawn_by_the_first_round(
    bot: Bot, bank: dict[str, str]
) -> None:
    before = _on_screen(bot)
    assert "change_pin" in {c.label for c in choices(before)}
    # the CLI's call, while no scheduler runs
    taxonomy.rename_label(bot.ws, project=PROJECT, label="change_pin", new_name="pin_change",
                          actor="ops")  # fmt: skip

    redraw = screen_redrawer(bot.services)  # a process starting now
    assert redraw() == 1
    (now,) = bot.slack.open_examples(EXPERT)
    offered = {c.label for c in choices(now)}
    assert now["ts"] == before["ts"] and "pin_change" in offered and "change_pin" not in offered
    assert redraw() == 0  # once


def test_the_first_round_leaves_screens_drawn_after_the_last_change(
    bot: Bot, bank: dict[str, str]
) -> None:
    taxonomy.rename_label(bot.ws, project=PROJECT, label="change_pin", new_name="pin_change",
                          actor="ops")  # fmt: skip
    shown = _on_screen(bot)
    assert "pin_change" in {c.label for c in choices(shown)}
    updates = len(bot.api.calls("chat.update"))

    redraw = screen_redrawer(bot.services)
    assert redraw() == 0
    assert len(bot.api.calls("chat.update")) == updates
