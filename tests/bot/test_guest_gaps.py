"""What a guest account (users.info is_restricted / is_ultra_restricted) still learned or left
behind in projects closed to guests, over real signed Bolt requests on SQLite and PostgreSQL:
an admins' `/label` verb naming the only project, thread replies kept as comments, a nudge
naming a project that is not theirs; and a batch summary's buttons clicked, made up by hand,
on another expert's DM. bot.flow.open_to says which projects are a user's."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from engine import project_settings, projects, training
from tests.bot.conftest import Bot

GUEST, MEMBER, EXPERT = "U0GUEST", "U0MEMBER", "U0EXPERT"
HR, PRIVATE = "hr_cases", "G0PRIVATE"
OPEN = "handbook"
REFUSED = "not open to guest accounts"


def _import(bot: Bot, project: str, texts: list[str], tmp_path: Path) -> None:
    path = tmp_path / f"{project}.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text"])
        writer.writerows([t] for t in texts)
    projects.import_file(bot.ws, project=project, path=path)
    training.rescore_project(bot.ws, project)


@pytest.fixture
def hr_only(bot: Bot, tmp_path: Path) -> None:
    """The workspace's only project, closed to guests (the default), bound to a private
    channel; a guest account."""
    projects.create_project(bot.ws, name=HR, labels=["harassment", "pay"], channel_id=PRIVATE)
    _import(bot, HR, [f"Confidential complaint #{i}" for i in range(5)], tmp_path)
    bot.api.add_user(GUEST, is_restricted=True)


def _said(bot: Bot, user: str, text: str, *, channel: str | None = None) -> str:
    """`/label <text>` typed by ``user`` (in their DM unless ``channel``): the ephemeral
    answer ("" when none)."""
    before = len(bot.slack.ephemerals(user))
    bot.slack.command(user, text, channel=channel)
    bot.settle()
    return "\n".join(bot.slack.ephemerals(user)[before:])


def _open(bot: Bot, project: str, guests: str = "allow") -> None:
    project_settings.change_settings(bot.ws, project=project, changes={"guests": guests})


@pytest.mark.usefixtures("hr_only")
def test_an_admins_verb_names_no_closed_project_to_a_guest(bot: Bot) -> None:
    """The only project, the channel's, a `#channel` mention: the guest is refused as one
    naming a project that does not exist, which names nothing."""
    unknown = _said(bot, GUEST, "taxonomy no_such_project")
    assert REFUSED in unknown and HR not in unknown
    for text, channel in (
        ("taxonomy", None), ("settings retrain_every=5", None), ("digest", None),
        ("promote 1", None), ("unpin", None), ("settings retrain_every=5", PRIVATE),
        ("taxonomy", PRIVATE), (f"settings <#{PRIVATE}|hr> retrain_every=5", None),
    ):  # fmt: skip
        assert _said(bot, GUEST, text, channel=channel) == unknown, (text, channel)
    assert not bot.api.calls("views.open")
    assert "retrain_every" not in projects.get_project(bot.ws, HR).settings  # nothing changed

    # a full member who is none of its admins is told whose it is, as before
    said = _said(bot, MEMBER, "taxonomy")
    assert "Only project admins can change the labels" in said and HR in said
    # ... and so is a guest once the project is open to guests
    _open(bot, HR)
    said = _said(bot, GUEST, "settings retrain_every=5")
    assert "Only project admins can change settings" in said and HR in said
