"""Slack guest accounts (users.info is_restricted / is_ultra_restricted), over real signed Bolt
requests on SQLite and PostgreSQL: refused by default, in every way of reaching a project's
texts (`/label`, `/label <project>`, `guidelines`, `proposals`, `predict`, `models`, the
Home tab and its "Label 5 now", "Show full text", the classify shortcut), and never named a
project that is not theirs; a project's admins open it to guests with `guests=allow`
(`labelbot project set NAME --guests allow`). Slack not saying who is a guest refuses, with a
"could not check" answer. Full members are not held back."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot import ids
from bot.cli import app
from engine import project_settings, projects, training
from tests.bot.conftest import CHANNEL, PROJECT, Bot
from tests.bot.test_cli import cli_env  # noqa: F401  (the fixture)
from tests.fakes import payloads
from tests.fakes.signing import signed_interactivity

GUEST, SINGLE, MEMBER, ADMIN = "U0GUEST", "U0SINGLE", "U0MEMBER", "U0ADMIN"
HR, OTHER = "hr_cases", "handbook"
SECRET = "Confidential complaint"
REFUSED = "not open to guest accounts"


@pytest.fixture
def hr(bot: Bot, bank: dict[str, str], tmp_path: Path) -> None:
    """A confidential project beside `bank`, bound to a private channel; two guests."""
    projects.create_project(bot.ws, name=HR, labels=["harassment", "pay"], channel_id="G0PRIVATE")
    path = tmp_path / "hr.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text"])
        writer.writerows([[f"{SECRET} #{i} about my manager"] for i in range(5)])
    projects.import_file(bot.ws, project=HR, path=path)
    training.rescore_project(bot.ws, HR)
    bot.api.add_user(GUEST, is_restricted=True)  # a multi-channel guest
    bot.api.add_user(SINGLE, is_restricted=True, is_ultra_restricted=True)  # single-channel


def _said(bot: Bot, user: str, text: str) -> str:
    """`/label <text>` typed by ``user`` in a DM: the ephemeral answer ("" when none)."""
    before = len(bot.slack.ephemerals(user))
    bot.slack.command(user, text)
    bot.settle()
    return "\n".join(bot.slack.ephemerals(user)[before:])


def _open(bot: Bot, project: str) -> None:
    project_settings.change_settings(bot.ws, project=project, changes={"guests": "allow"})


@pytest.mark.parametrize("guest", [GUEST, SINGLE])
def test_a_guest_is_refused_every_project_by_default(bot: Bot, hr: None, guest: str) -> None:
    for text in ("", HR, f"{HR} 5", PROJECT, "no_such_project", f"<#{CHANNEL}|bank>",
                 f"guidelines {HR}", "guidelines", f"proposals {HR}", f"models {HR}",
                 f"predict {HR} my manager shouted at me", "predict my card is lost",
                 "nudge 09:30", "taxonomy"):  # fmt: skip
        said = _said(bot, guest, text)
        assert REFUSED in said and HR not in said and PROJECT not in said, (text, said)
    # an admins' command naming the project: refused as the others, naming nothing
    said = _said(bot, guest, f"settings {HR}")
    assert REFUSED in said and "Only project admins" not in said and HR not in said
    assert not bot.slack.dm(guest) and not bot.api.calls("views.open")


def test_a_project_opened_to_guests_is_theirs_and_only_it_is_named(bot: Bot, hr: None) -> None:
    projects.create_project(bot.ws, name=OTHER, labels=["a", "b"])
    _open(bot, PROJECT)
    _open(bot, OTHER)
    which = _said(bot, GUEST, "")  # bare `/label`, several projects: the guest's are listed
    assert f"`/label {PROJECT}`" in which and f"`/label {OTHER}`" in which and HR not in which
    refused = _said(bot, GUEST, HR)
    assert "not open to guest accounts" in refused and HR not in refused
    assert f"`/label {PROJECT}`" in refused
    assert not bot.slack.dm(GUEST)

    assert _said(bot, GUEST, PROJECT) == ""  # delivered, in the DM
    (example,) = bot.slack.open_examples(GUEST)
    assert SECRET not in example["text"]
    assert REFUSED not in _said(bot, GUEST, f"guidelines {PROJECT}")
    assert REFUSED in _said(bot, GUEST, f"guidelines {HR}")


def test_full_members_are_not_held_back(bot: Bot, hr: None) -> None:
    which = _said(bot, MEMBER, "")
    assert f"`/label {HR}`" in which and f"`/label {PROJECT}`" in which
    assert _said(bot, MEMBER, HR) == ""
    (example,) = bot.slack.open_examples(MEMBER)
    assert SECRET in example["text"]
    assert len(bot.api.calls("users.info")) == 1  # asked once, kept


def test_slack_not_saying_who_is_a_guest_refuses(bot: Bot, hr: None) -> None:
    bot.api.fail_next("users.info", status=500)
    said = _said(bot, MEMBER, HR)
    assert "Could not check" in said and "try again" in said.lower()
    assert not bot.slack.dm(MEMBER)
    bot.api.fail_next("users.info", status=200, error="missing_scope", needed="users:read")
    said = _said(bot, MEMBER, HR)
    assert "`missing_scope`" in said and "try again" not in said.lower()
    assert not bot.slack.dm(MEMBER)
    assert _said(bot, MEMBER, HR) == "" and bot.slack.open_examples(MEMBER)  # Slack is back

    # where every project is open to guests, nobody needs asking
    _open(bot, PROJECT)
    _open(bot, HR)
    asked = len(bot.api.calls("users.info"))
    bot.api.fail_next("users.info", status=500)
    assert _said(bot, "U0NEW", HR) == "" and len(bot.api.calls("users.info")) == asked


def test_home_tab_and_its_clicks(bot: Bot, hr: None) -> None:
    _open(bot, PROJECT)
    bot.slack.event(payloads.app_home_opened(GUEST))
    bot.settle()
    (published,) = bot.api.calls("views.publish")
    view = json.dumps(published.params["view"])
    assert PROJECT in view and HR not in view

    # "Label 5 now" as if on a Home listing hr_cases; "Show full text" of an hr_cases example
    home = {"ts": "1.000001", "blocks": []}
    for action, value in ((ids.HOME_START_BATCH, HR), (ids.SHOW_FULL_TEXT, _an_hr_example(bot))):
        body = payloads.block_actions(
            GUEST, action, value, "D0GUEST", home["ts"], [],
            response_url=bot.api.response_url(GUEST),
        )  # fmt: skip
        bot.slack.post(signed_interactivity(bot.slack.secret, body))
        bot.settle()
        assert REFUSED in bot.slack.ephemerals(GUEST)[-1]
    assert not bot.slack.dm(GUEST) and not bot.api.calls("views.open")

    bot.slack.event(payloads.app_home_opened(MEMBER))
    bot.settle()
    assert HR in json.dumps(bot.api.calls("views.publish")[-1].params["view"])


def test_classify_shortcut(bot: Bot, hr: None) -> None:
    body = payloads.message_shortcut(GUEST, ids.CLASSIFY_SHORTCUT, "G0PRIVATE", "1.000002",
                                     "my manager shouted at me")  # fmt: skip
    body["response_url"] = bot.api.response_url(GUEST)
    bot.slack.post(signed_interactivity(bot.slack.secret, body))
    bot.settle()
    assert REFUSED in bot.slack.ephemerals(GUEST)[-1]


def _an_hr_example(bot: Bot) -> str:
    from engine import labeling

    task = labeling.next_task(bot.ws, project=HR, annotator=MEMBER)
    assert task is not None
    return str(task.example_id)


def test_admins_open_a_project_to_guests(bot: Bot, hr: None) -> None:
    projects.update_settings(bot.ws, project=HR, admins=[ADMIN])
    said = _said(bot, ADMIN, f"settings {HR} guests=allow")
    assert "Updated `guests`" in said
    assert _said(bot, SINGLE, HR) == "" and SECRET in bot.slack.open_examples(SINGLE)[0]["text"]
    assert "allow or deny" in _said(bot, ADMIN, f"settings {HR} guests=maybe")
    _said(bot, ADMIN, f"settings {HR} guests=deny")
    assert REFUSED in _said(bot, SINGLE, HR)


@pytest.mark.usefixtures("cli_env")
def test_cli_project_set_guests() -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["project", "create", "p", "--labels", "a,b"]).exit_code == 0
    shown = runner.invoke(app, ["project", "set", "p"])
    assert "guests = deny (default)" in shown.output
    done = runner.invoke(app, ["project", "set", "p", "--guests", "allow"])
    assert done.exit_code == 0, done.output
    assert "guests = allow" in done.output
    refused = runner.invoke(app, ["project", "set", "p", "--guests", "yes please"])
    assert refused.exit_code != 0 and "allow or deny" in refused.output
    assert "--guests" in runner.invoke(app, ["project", "set", "--help"]).output
