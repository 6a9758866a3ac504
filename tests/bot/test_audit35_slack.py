"""Audit 35: Slack as an expert and an admin use it, end to end through Bolt over HTTP with
signed requests against the fake Slack Web API. Each xfail (strict) test is a bug found, kept
until fixed."""

from __future__ import annotations

import json
from pathlib import Path

from bot import ids
from bot.scheduling import training_notifier
from engine import jobs, projects, training
from tests.bot.conftest import CHANNEL, PROJECT, Bot
from tests.bot.test_admin import _active, _label, _trained
from tests.bot.test_limits import _project
from tests.fakes import payloads
from tests.fakes.slack_client import choices

U1, ADMIN = "U0ALICE", "U0ADMIN"


def test_a_batch_cut_short_by_an_empty_queue_still_ends_with_its_summary(
    bot: Bot, tmp_path: Path
) -> None:
    """README, 'Reviews, agreement and the busy expert's rhythm in Slack': "Labeling comes in
    short batches (`/label 5`, …), each ending with a summary ("5 done — 3 agreed with the
    model")". An expert who asks for 5 where 3 are left answers the 3 and is told only that
    nothing is left: the batch's summary (how many done, how many agreed) never comes."""
    _project(bot, tmp_path, "tiny", ["a", "b"], ["one text", "two text", "three text"])
    bot.slack.command(U1, "tiny 5")
    bot.settle()
    for _ in range(3):
        (message,) = bot.slack.open_examples(U1)
        assert bot.slack.choose(U1, message, "a").status_code == 200
        bot.settle()
    texts = [m.get("text", "") for m in bot.slack.dm(U1)]
    assert any(t.startswith("3 done") for t in texts), texts
    # one message ends it, the summary saying that nothing is left (no "5 more" offered)
    summary = bot.slack.dm(U1)[-1]
    assert summary["text"].startswith("3 done"), texts
    assert "nothing left" in json.dumps(summary["blocks"]).lower(), summary
    assert ids.BATCH_MORE not in json.dumps(summary["blocks"]), summary


def test_counts_of_one_read_in_the_singular_in_the_digest_and_app_home(
    bot: Bot, bank: dict[str, str]
) -> None:
    """test_proposals_slack's test_counts_of_one_read_in_the_singular fixed "1 examples …
    are waiting" and "(1 labels)"; the two messages every expert and admin sees most still
    say it: the digest after one new label, and App Home after one's first label
    (tests/bot/test_first_run_audit.py asserts the plural greeting and changes with it)."""
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    bot.slack.command(U1, PROJECT)
    bot.settle()
    (card,) = bot.slack.open_examples(U1)
    bot.slack.choose(U1, card, choices(card)[0].label)
    bot.settle()
    bot.slack.command(ADMIN, f"digest {PROJECT}")
    bot.slack.event(payloads.app_home_opened(U1))
    bot.settle()
    (digest,) = [m for m in bot.api.messages(CHANNEL) if "digest" in m.get("text", "")]
    said = json.dumps(digest["blocks"], ensure_ascii=False)
    assert "1 new labels" not in digest["text"] and "*1 new label*" in said, digest["text"]
    (home,) = [c.params["view"] for c in bot.api.calls("views.publish")]
    greeting = json.dumps(home["blocks"], ensure_ascii=False)
    assert "*1* example today" in greeting, greeting


def test_a_stale_promote_button_does_not_replace_a_newer_model_unasked(
    bot: Bot, bank: dict[str, str]
) -> None:
    """v2 is held back (v1 pinned): the channel's notice says "v1 keeps answering", with
    Promote v2. The admin unpins; v3 trains on more labels and is promoted. The notice still
    says v1 answers and still offers Promote v2: a click on it, days later, makes v2 (fewer
    labels) answer in place of v3 and says only "promoted v2". A stale proposal card is
    refused and redrawn (taxonomy_flow._refuse_stale); this click should be refused too, or
    at least say that v3 answers now."""
    _trained(bot, bank, 1)
    training.pin_version(bot.ws, PROJECT, 1)
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN], retrain_every=5)
    _label(bot, bank, 10)
    (held,) = jobs.retrain_cycle(bot.ws, on_trained=training_notifier(bot.services))
    assert held.version == 2 and _active(bot) == 1
    (notice,) = bot.api.messages(CHANNEL)
    assert "v1 keeps answering" in notice["text"]
    bot.slack.command(ADMIN, f"unpin {PROJECT}")
    bot.settle()
    _label(bot, bank, 10)
    (newer,) = jobs.retrain_cycle(bot.ws, on_trained=training_notifier(bot.services))
    assert newer.version == 3 and _active(bot) == 3

    assert bot.slack.click(ADMIN, notice, ids.PROMOTE_MODEL, channel=CHANNEL).status_code == 200
    bot.settle()
    assert _active(bot) == 3
    (told,) = [said for said in bot.slack.ephemerals(ADMIN) if "v3" in said]
    assert f"`/label promote {PROJECT} 2`" in told, told
    (redrawn,) = bot.api.messages(CHANNEL)  # its button gone, the notice says v3 answers
    assert ids.PROMOTE_MODEL not in json.dumps(redrawn["blocks"]), redrawn
    assert "v3 answers" in redrawn["text"] and "v1 keeps answering" not in redrawn["text"]


def test_promote_on_a_pinned_projects_notice_says_the_pin_moved(
    bot: Bot, bank: dict[str, str]
) -> None:
    """The notice says "held back: v1 is pinned"; an admin clicks Promote v2. The pin moves to
    v2, so every later retrain is held back as well, but the notice now reads only "<@admin>
    promoted bank model v2": `/label promote bank 2` says "The pin moved from v1 to it."."""
    _trained(bot, bank, 1)
    training.pin_version(bot.ws, PROJECT, 1)
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN], retrain_every=5)
    _label(bot, bank, 10)
    jobs.retrain_cycle(bot.ws, on_trained=training_notifier(bot.services))
    (notice,) = bot.api.messages(CHANNEL)
    assert "v1 is pinned" in notice["text"]
    bot.slack.click(ADMIN, notice, ids.PROMOTE_MODEL, channel=CHANNEL)
    bot.settle()
    assert _active(bot) == 2
    settings = projects.get_project(bot.ws, PROJECT).settings
    assert settings.get("pinned_version") == 2  # the pin moved, as the README says
    (updated,) = bot.api.messages(CHANNEL)
    told = [updated["text"], *bot.slack.ephemerals(ADMIN)]
    assert any("pin moved from v1" in said for said in told), told
