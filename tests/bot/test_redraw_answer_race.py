"""A taxonomy change's redraw pass reads the messages on screen, then updates them one by one: an
expert who answers meanwhile (a label, Skip) had their message's buttons taken away, and the
pass then drew them back, on an example already labeled, or out with another expert by then
(two replicas and a worker: an example live in two experts' DMs for 35 s). Each message is
read again just before its update."""

from __future__ import annotations

from typing import Any

import pytest

from bot.scheduling import screen_redrawer
from engine import taxonomy
from tests.bot.conftest import PROJECT, Bot
from tests.fakes.slack_client import choices


def test_an_answer_during_a_redraw_pass_stays_answered(
    bot: Bot, bank: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for user in ("U0ANA", "U0BOB"):
        bot.slack.command(user)
        bot.settle()
    (answered,) = bot.slack.open_examples("U0BOB")
    redraw = screen_redrawer(bot.services)
    assert redraw() == 0
    taxonomy.rename_label(bot.ws, project=PROJECT, label="change_pin", new_name="pin_change",
                          actor="ops")  # the CLI's  # fmt: skip
    update = bot.services.courier.update
    clicked: list[bool] = []

    def bob_answers_first(message: dict[str, Any], *, channel: str, ts: str) -> bool:
        if not clicked:  # the pass has read both screens and updates ana's first
            clicked.append(True)
            bot.slack.choose("U0BOB", answered, choices(answered)[0].label)
            bot.settle()
        return update(message, channel=channel, ts=ts)

    monkeypatch.setattr(bot.services.courier, "update", bob_answers_first)
    redraw()
    (live,) = bot.slack.open_examples("U0BOB")  # his next example, not the one he labeled
    assert live["ts"] != answered["ts"]
    (ana,) = bot.slack.open_examples("U0ANA")
    assert "pin_change" in {c.label for c in choices(ana)}  # the others are redrawn
