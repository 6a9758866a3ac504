"""The `/label` command's surface: what it says, as Slack shows it. mrkdwn holds no raw "<" but
Slack's markup (a placeholder such as `<project>` reads as a link, and its brackets vanish).
Over real signed Bolt requests on SQLite and PostgreSQL: a mistyped command or project is
answered with the closest commands and projects (none closed to a guest); words left over
after `models`, `digest` and `unpin` are refused with the usage, not dropped; an admin's
`settings admins=...` that would leave them out is refused; `channel=` points to the CLI."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.listeners.commands import USAGE
from bot.views import HomeStats, ModelVersion, ProjectProgress, home_tab, info_message
from bot.views.admin import versions_message
from engine import projects
from tests.bot.conftest import CHANNEL, PROJECT, Bot
from tests.bot.test_views import MESSAGES, VIEWS

MEMBER, GUEST, ADMIN, PROJECT_ADMIN = "U0MEMBER", "U0GUEST", "U0WSADMIN", "U0PADMIN"

# Slack's markup in mrkdwn: <@U…>/<@W…>, <#C…>/<#G…>, <!here>/<!date^…|…>, <https://…|…>,
# <mailto:…> (https://docs.slack.dev/messaging/formatting-message-text#advanced).
MARKUP = re.compile(r"<(?:@[UW][A-Z0-9]+|#[CG][A-Z0-9]+|!|https?://|mailto:)[^<>]*>")


def stray_brackets(text: str) -> list[str]:
    """Each raw "<" of mrkdwn ``text`` that opens no Slack markup, up to the next space."""
    return [m.group() for m in re.finditer(r"<\S*", text) if not MARKUP.match(text, m.start())]


def mrkdwn_texts(payload: Any) -> list[str]:
    """Every mrkdwn text of a message or view: its text objects, and a message's top-level
    text (the notification's, read as mrkdwn too)."""
    found: list[str] = []
    if isinstance(payload, dict):
        if payload.get("type") == "mrkdwn" and isinstance(payload.get("text"), str):
            found.append(payload["text"])
        for value in payload.values():
            found += mrkdwn_texts(value)
    elif isinstance(payload, list):
        for value in payload:
            found += mrkdwn_texts(value)
    return found


def _all_texts(payload: dict[str, Any]) -> list[str]:
    top = [payload["text"]] if isinstance(payload.get("text"), str) else []
    return top + mrkdwn_texts(payload.get("blocks", []))


MANY = HomeStats(
    user_id="U1",
    labeled_today=0,
    labeled_total=0,
    projects=[ProjectProgress(name=f"p{i}", labeled=0, total=10) for i in range(30)],
)
VERSIONS = [ModelVersion(1, "2025-01-01 09:00", 40, "linear", 0.7, 0.65, "ready", active=True)]
SURFACE: dict[str, dict[str, Any]] = {
    "help": info_message(USAGE),
    "home_many_projects": home_tab(MANY),
    "models": versions_message("a<b", VERSIONS),
    **MESSAGES,
    **VIEWS,
}


def test_the_checker_tells_markup_from_a_placeholder() -> None:
    assert stray_brackets("<@U123> in <#C1|x>, <!here>, <https://a.b|c>, <mailto:a@b>") == []
    assert stray_brackets("`/label <project>` &lt;ok&gt;") == ["<project>`"]


@pytest.mark.parametrize("name", SURFACE)
def test_no_mrkdwn_placeholder_reads_as_markup(name: str) -> None:
    payload = SURFACE[name]
    texts = _all_texts(payload) if "blocks" in payload else mrkdwn_texts(payload)
    assert texts
    for text in texts:
        assert stray_brackets(text) == [], text


def _said(bot: Bot, user: str, text: str, channel: str | None = None) -> str:
    """`/label <text>` typed by ``user`` (in their DM unless ``channel``): the ephemeral answer."""
    before = len(bot.slack.ephemerals(user))
    bot.slack.command(user, text, channel=channel)
    bot.settle()
    return "\n".join(bot.slack.ephemerals(user)[before:])


def test_a_typo_is_answered_with_the_closest_commands_and_projects(
    bot: Bot, bank: dict[str, str]
) -> None:
    for typed, meant in (("halp", "help"), ("hepl", "help"), ("predit my card", "predict"),
                         ("modles", "models"), ("Bank", PROJECT), ("BANK 5", PROJECT),
                         ("5 bnak", PROJECT)):  # fmt: skip
        said = _said(bot, MEMBER, typed)
        word = next(w for w in typed.split() if not w.isdecimal())
        assert f"Unknown command or project '{word}': did you mean " in said, (typed, said)
        assert f"`/label {meant}`" in said and "`/label help` lists the commands" in said
    assert not bot.slack.dm(MEMBER)
    # a word like nothing known is answered as before; a project's own name still labels
    assert "No project named 'xyzzy'" in _said(bot, MEMBER, "xyzzy")
    assert "`/label help` lists the commands" in _said(bot, MEMBER, "xyzzy")
    assert _said(bot, MEMBER, f"{PROJECT} 2") == "" and bot.slack.open_examples(MEMBER)


def test_a_channel_two_projects_share_asks_which_one(bot: Bot, bank: dict[str, str]) -> None:
    """Both projects post in the channel; `/label` there (or `/label #channel`) without a
    project's name is not guessed to be the one created first: it asks, naming both."""
    projects.create_project(bot.ws, name="legal", labels=["nda", "lease"], channel_id=CHANNEL)
    for typed, channel, size in (("", CHANNEL, ""), ("2", CHANNEL, " 2"),
                                 (f"<#{CHANNEL}|labeling>", None, "")):  # fmt: skip
        said = _said(bot, MEMBER, typed, channel=channel)
        assert f"Which project? <#{CHANNEL}> is the channel of 2 projects: try " in said, said
        # `/label 2` is offered with its batch size: `/label bank` alone sends one example
        assert f"`/label {PROJECT}{size}` or `/label legal{size}`" in said, said
    assert not bot.slack.dm(MEMBER)
    # named, each is itself (legal has no examples yet); a channel of one project is its own
    assert _said(bot, MEMBER, "legal", channel=CHANNEL).startswith(
        ":warning: No examples to label in *legal* yet"
    )
    projects.set_channel(bot.ws, project="legal", channel_id="C0LEGAL")
    said = _said(bot, MEMBER, "", channel=CHANNEL)
    assert said.startswith(f"Your next example of *{PROJECT}* is in your direct messages")


def test_a_guest_is_suggested_no_project_closed_to_them(bot: Bot, bank: dict[str, str]) -> None:
    bot.api.add_user(GUEST, is_restricted=True)
    said = _said(bot, GUEST, "bnak")
    assert "not open to guest accounts" in said and PROJECT not in said
    said = _said(bot, GUEST, "halp")
    assert "`/label help`" in said and PROJECT not in said


@pytest.mark.parametrize("typed", ["models bank extra", "digest bank extra", "unpin bank extra",
                                   "unpin 3", "digest extra=1"])  # fmt: skip
def test_words_left_over_are_refused_with_the_usage(
    bot: Bot, bank: dict[str, str], typed: str
) -> None:
    bot.api.add_user(ADMIN, is_admin=True)  # a workspace admin: bank names no admins
    verb = typed.split()[0]
    said = _said(bot, ADMIN, typed)
    assert f"`/label {verb}` takes a project and nothing else" in said, said
    assert f"`/label {verb} [project]`" in said and "not a model version" not in said
    assert not bot.api.messages(CHANNEL)  # no digest posted


@pytest.mark.parametrize(
    ("typed", "usage"),
    [
        ("taxonomy bank extra", "`/label taxonomy` takes a project and nothing else, not 'extra'"),
        ("proposals bank extra", "`/label proposals` takes a project and nothing else"),
        ("pin bank 1 extra", "`/label pin` takes a project and a version, not '1 extra'"),
        ("rollback 1 2", "`/label rollback [project] &lt;version&gt;`"),  # escaped in mrkdwn
    ],
)
def test_taxonomy_proposals_and_versions_refuse_words_left_over(
    bot: Bot, bank: dict[str, str], typed: str, usage: str
) -> None:
    """They said "No project named 'bank extra'" and "'1 extra' is not a model version"."""
    bot.api.add_user(ADMIN, is_admin=True)
    said = _said(bot, ADMIN, typed)
    assert usage in said, said
    assert "No project named" not in said and "not a model version" not in said


def _admins(bot: Bot) -> list[str]:
    return list(projects.get_project(bot.ws, PROJECT).settings.get("admins") or [])


def test_an_admin_cannot_leave_themselves_out_of_the_admins(bot: Bot, bank: dict[str, str]) -> None:
    bot.api.add_user(ADMIN, is_admin=True)  # a workspace admin: bank names no admins
    said = _said(bot, ADMIN, f"settings {PROJECT} admins=U0BOGUS")
    assert f"You would no longer be an admin of {PROJECT}" in said, said
    assert f"`admins=U0BOGUS,{ADMIN}`" in said and "Nothing was changed" in said
    assert _admins(bot) == []
    said = _said(bot, ADMIN, f"settings {PROJECT} admins=<@{PROJECT_ADMIN}|pa>,<@{ADMIN}|me>")
    assert "Updated `admins`" in said and _admins(bot) == [PROJECT_ADMIN, ADMIN]

    # a project admin who is no workspace admin: no admins would leave them out too
    said = _said(bot, PROJECT_ADMIN, f"settings {PROJECT} admins=")
    assert "workspace's admins and owners" in said and f"`admins={PROJECT_ADMIN}`" in said
    said = _said(bot, PROJECT_ADMIN, f"settings {PROJECT} admins={ADMIN}")
    assert "You would no longer be an admin" in said
    assert _admins(bot) == [PROJECT_ADMIN, ADMIN]
    said = _said(bot, PROJECT_ADMIN, f"settings {PROJECT} admins={PROJECT_ADMIN}")
    assert "Updated `admins`" in said and _admins(bot) == [PROJECT_ADMIN]
    # a workspace admin may clear the list: they administer it still
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    assert "Updated `admins`" in _said(bot, ADMIN, f"settings {PROJECT} admins=")
    assert _admins(bot) == []


def test_admins_slack_does_not_know_or_deactivated_are_refused(
    bot: Bot, bank: dict[str, str]
) -> None:
    """A well-formed id of no one (a typo) or a deactivated account could never click as an
    admin: users.info says so, and nothing changes. Slack not answering leaves them unchecked."""
    bot.api.add_user(ADMIN, is_admin=True)
    bot.api.forget_user("U0TYPO")
    bot.api.add_user("U0GONE", deleted=True)
    said = _said(bot, ADMIN, f"settings {PROJECT} admins={ADMIN},U0TYPO,<@U0GONE|gone>")
    assert "Cannot make them admins: U0TYPO is no Slack user labelbot can see; U0GONE's " in said
    assert "account is deactivated. Use the member ID" in said and "Nothing was changed" in said
    assert _admins(bot) == []
    said = _said(bot, ADMIN, f"settings {PROJECT} admins={ADMIN},{PROJECT_ADMIN}")
    assert "Updated `admins`" in said and _admins(bot) == [ADMIN, PROJECT_ADMIN]
    # users.info failing (here for an id not asked before): unchecked rather than refused
    bot.api.fail_next("users.info", status=500, times=5)
    said = _said(bot, ADMIN, f"settings {PROJECT} admins={ADMIN},U0NEW")
    assert "Updated `admins`" in said and _admins(bot) == [ADMIN, "U0NEW"]


def test_the_manifest_hint_says_what_the_help_says() -> None:
    manifest = yaml.safe_load((Path(__file__).parents[2] / "manifest.yml").read_text("utf-8"))
    hint = manifest["features"]["slash_commands"][0]["usage_hint"]
    optional = re.findall(r"`/label (\w+) \[project\]", USAGE)
    assert {"models", "digest", "guidelines", "unpin", "settings", "taxonomy", "predict"} <= set(
        optional
    )
    for verb in optional:
        assert f"{verb} [project]" in hint, verb
    # every verb falls back to the channel's project: none is written as needing one
    assert not re.findall(r"`/label [\w|]+ &lt;project&gt;", USAGE)
    assert "pin [project] &lt;version&gt;" in USAGE and "pin [project] <v>" in hint


def test_settings_point_to_the_cli_for_the_channel_and_say_who_may_change_them(
    bot: Bot, bank: dict[str, str]
) -> None:
    bot.api.add_user(ADMIN, is_admin=True)
    before = projects.get_project(bot.ws, PROJECT)
    said = _said(bot, ADMIN, f"settings {PROJECT} channel=C0XYZ")
    assert "Unknown setting 'channel'" in said
    assert "`labelbot project set NAME --channel C0123ABCD`" in said
    after = projects.get_project(bot.ws, PROJECT)
    assert (after.channel_id, after.settings) == (before.channel_id, before.settings)

    said = _said(bot, MEMBER, f"settings {PROJECT} retrain_every=1")
    assert f"Only project admins can change settings in *{PROJECT}*" in said
    assert "workspace's admins and owners while it names none" in said
