"""Audit 37: isolation between projects, channels and people, end to end through Bolt over HTTP
with signed requests against the fake Slack Web API. A team runs several projects at once,
some sharing a channel, and one expert labels in several; a project may be deleted and created
again under the same name. Each xfail (strict) test is a bug found, kept until fixed; on SQLite
and PostgreSQL (the bot fixture's database)."""

from __future__ import annotations

import csv
from pathlib import Path

from bot import ids
from bot.scheduling import training_notifier
from engine import jobs, projects, training
from tests.bot.conftest import CHANNEL, LABELS, PROJECT, Bot
from tests.bot.test_admin import _active, _label, _trained

ADMIN = "U0ADMIN"


def _create_bank(bot: Bot, truth: dict[str, str], tmp_path: Path) -> None:
    """`bank` created (again) as the bank fixture makes it: its labels, channel and texts."""
    projects.create_project(bot.ws, name=PROJECT, labels=LABELS, channel_id=CHANNEL)
    path = tmp_path / "bank-again.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text"])
        writer.writerows([t] for t in truth)
    projects.import_file(bot.ws, project=PROJECT, path=path)
    training.rescore_project(bot.ws, PROJECT)


def _held_back_notice(bot: Bot, truth: dict[str, str]) -> dict[str, object]:
    """v1 trained and pinned, v2 held back: the channel's notice offering "Promote v2"."""
    before = len(bot.api.messages(CHANNEL))
    _trained(bot, truth, 1)
    training.pin_version(bot.ws, PROJECT, 1)
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN], retrain_every=5)
    _label(bot, truth, 10)
    (held,) = jobs.retrain_cycle(bot.ws, on_trained=training_notifier(bot.services))
    assert held.version == 2 and _active(bot) == 1
    notices = bot.api.messages(CHANNEL)[before:]
    (notice,) = [m for m in notices if ids.PROMOTE_MODEL in str(m.get("blocks"))]
    return notice


def test_a_deleted_projects_promote_notice_does_not_promote_its_namesakes_model(
    bot: Bot, bank: dict[str, str], tmp_path: Path
) -> None:
    """`bank` v2 was held back (v1 pinned): its notice in the channel offers "Promote v2", with
    v2's figures. The team deletes `bank` and starts it again under the same name, same
    channel; the new `bank` also gets a v2 held back, and its own notice. An admin clicks the
    OLD notice: the new project's v2, which that notice never described, answers, and the old
    notice is redrawn as "promoted". The button's value is only "project:version"
    (bot.views.admin.promote_value), and both numbers repeat in a project made again."""
    old = _held_back_notice(bot, bank)
    projects.delete_project(bot.ws, PROJECT)
    _create_bank(bot, bank, tmp_path)
    _held_back_notice(bot, bank)

    assert bot.slack.click(ADMIN, old, ids.PROMOTE_MODEL, channel=CHANNEL).status_code == 200
    bot.settle()
    assert _active(bot) == 1, "the deleted project's notice promoted the new project's v2"
