"""Audit 35: Slack as an expert and an admin use it, end to end through Bolt over HTTP with
signed requests against the fake Slack Web API. Each xfail (strict) test is a bug found, kept
until fixed."""

from __future__ import annotations

import pytest

from tests.bot.conftest import Bot
from tests.bot.test_limits import _project

U1 = "U0ALICE"


@pytest.mark.xfail(
    strict=True,
    reason="a batch the queue runs dry in ends with 'Nothing left to label' and no summary "
    "(README: each batch ends with one): bot/flow.py _continue sends the summary only when "
    "count.remaining <= 0, else next_or_done posts queue_empty",
)
def test_a_batch_cut_short_by_an_empty_queue_still_ends_with_its_summary(
    bot: Bot, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """README, 'Reviews, agreement and the busy expert's rhythm in Slack': "Labeling comes in
    short batches (`/label 5`, …), each ending with a summary ("5 done — 3 agreed with the
    model")". An expert who asks for 5 where 3 are left answers the 3 and is told only that
    nothing is left: the batch's summary (how many done, how many agreed) never comes, and the
    batch stays open in the database."""
    _project(bot, tmp_path, "tiny", ["a", "b"], ["one text", "two text", "three text"])
    bot.slack.command(U1, "tiny 5")
    bot.settle()
    for _ in range(3):
        (message,) = bot.slack.open_examples(U1)
        assert bot.slack.choose(U1, message, "a").status_code == 200
        bot.settle()
    texts = [m.get("text", "") for m in bot.slack.dm(U1)]
    assert any(t.startswith("3 done") for t in texts), texts
