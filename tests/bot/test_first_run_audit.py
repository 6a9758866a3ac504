"""A team's first minutes in Slack, over real signed Bolt requests on SQLite and PostgreSQL:
every empty state says what comes next and who does it (an admin in the terminal, an expert
in Slack), in the same words on App Home, in `/label`'s answers and in the DM.

- A project no examples were imported into is not "Nothing left to label ... Thank you!"
  (`/label`, `/label 5`, "Label 5 now"): the answer, and its row on App Home (with no button),
  say an admin imports them with `labelbot import NAME FILE`.
- App Home greets someone who has labeled nothing yet with how to begin, not "you labeled 0
  examples ... Thank you!"; "no model yet" says what brings one; with no projects it says how
  an admin creates one and imports its examples; a guest account with no project open to
  guests is told that, not that there are no projects.
- "Which project?" names 20 projects and says how many more there are.
- Home with 35 projects of 100-character names and 45 long labels full of `<`, `&`, `*` stays
  within Slack's Block Kit limits, every user name escaped."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from bot import ids
from bot.views.limits import view_errors
from engine import project_settings, projects
from tests.bot.conftest import PROJECT, Bot
from tests.fakes import payloads

EXPERT, GUEST = "U0EXPERT", "U0GUEST"
EMPTY = "legal"
NO_EXAMPLES = (
    f"No examples to label in *{EMPTY}* yet: an admin imports them with "
    f"`labelbot import {EMPTY} FILE`, then `/label {EMPTY}` sends you the first."
)


def _said(bot: Bot, user: str, text: str, channel: str | None = None) -> str:
    """`/label <text>` typed by ``user`` (in their DM unless ``channel``): the ephemeral answer."""
    before = len(bot.slack.ephemerals(user))
    bot.slack.command(user, text, channel=channel)
    bot.settle()
    return "\n".join(bot.slack.ephemerals(user)[before:])


def _home(bot: Bot, user: str) -> dict[str, Any]:
    bot.slack.event(payloads.app_home_opened(user))
    bot.settle()
    published = [c for c in bot.api.calls("views.publish") if c.params["user_id"] == user]
    view = dict(published[-1].params["view"])
    assert view_errors(view) == [], view_errors(view)
    return view


def _texts(view: dict[str, Any]) -> str:
    return json.dumps(view, ensure_ascii=False)


def _import(bot: Bot, project: str, tmp_path: Path, n: int = 3) -> None:
    path = tmp_path / f"{project}.csv"
    path.write_text("text\n" + "".join(f"clause {i} of {project}\n" for i in range(n)), "utf-8")
    projects.import_file(bot.ws, project=project, path=path, embed=False)


def test_a_project_without_examples_says_who_imports_them(
    bot: Bot, bank: dict[str, str], tmp_path: Path
) -> None:
    projects.create_project(bot.ws, name=EMPTY, labels=["nda", "lease"])
    for typed in (EMPTY, f"{EMPTY} 5", f"5 {EMPTY}"):
        said = _said(bot, EXPERT, typed)
        assert said == f":warning: {NO_EXAMPLES}", (typed, said)
    assert not bot.slack.dm(EXPERT)

    # App Home: no "Label 5 now" that can only answer "none", but who adds examples
    view = _home(bot, EXPERT)
    (row,) = [b for b in view["blocks"] if b.get("text", {}).get("text", "").startswith("*legal*")]
    assert "accessory" not in row
    assert row["text"]["text"] == (
        f"*{EMPTY}*\nNo examples to label yet: an admin imports them with "
        f"`labelbot import {EMPTY} FILE`."
    )
    bank_row = next(b for b in view["blocks"] if b.get("text", {}).get("text") == f"*{PROJECT}*")
    assert bank_row["accessory"]["action_id"] == ids.HOME_START_BATCH

    # "Label 5 now" on a Home drawn before (or a hand-made click): the same answer
    stale = {"ts": "1.000001", "blocks": [{**row, "accessory": {**bank_row["accessory"],
                                                                 "value": EMPTY}}]}  # fmt: skip
    told = len(bot.slack.ephemerals(EXPERT))
    bot.slack.click(EXPERT, stale, ids.HOME_START_BATCH)
    bot.settle()
    answers = bot.slack.ephemerals(EXPERT)[told:] + [m["text"] for m in bot.slack.dm(EXPERT)]
    assert answers == [f":warning: {NO_EXAMPLES}"], answers

    # once imported, the same command sends the first example
    _import(bot, EMPTY, tmp_path)
    assert _said(bot, EXPERT, EMPTY) == "" and bot.slack.open_examples(EXPERT)
    # and a project whose examples are all done is still "nothing left"
    assert "Nothing left to label" not in _said(bot, EXPERT, EMPTY)


def test_home_greets_a_newcomer_with_how_to_begin(bot: Bot, bank: dict[str, str]) -> None:
    view = _home(bot, EXPERT)
    greeting = view["blocks"][1]["text"]["text"]
    assert greeting.startswith(f"Welcome, <@{EXPERT}>! You have not labeled any examples yet.")
    assert "Click *Label 5 now* beside a project" in greeting and "`/label help`" in greeting
    assert "Thank you" not in greeting
    assert (
        "*Estimated accuracy*\\nno model yet: the first trains once a few examples per class "
        "are labeled"
    ) in _texts(view)

    # after their first label: their counts, as before
    bot.slack.command(EXPERT, PROJECT)
    bot.settle()
    (card,) = bot.slack.open_examples(EXPERT)
    bot.slack.choose(EXPERT, card, "card_arrival")
    bot.settle()
    greeting = _home(bot, EXPERT)["blocks"][1]["text"]["text"]
    assert greeting == f"<@{EXPERT}>, you labeled *1* example today and *1* in all. Thank you!"


def test_home_with_no_projects_says_how_an_admin_starts_one(bot: Bot) -> None:
    view = _home(bot, EXPERT)
    said = _texts(view)
    assert (
        "No projects yet: an admin creates one with `labelbot project create NAME --labels A,B` "
        "and imports its examples with `labelbot import NAME FILE`."
    ) in said
    assert "Click *Label 5 now*" not in said  # no button to click
    assert "no projects yet" in _said(bot, EXPERT, "")


def test_home_of_a_guest_with_no_project_open_to_guests(bot: Bot, bank: dict[str, str]) -> None:
    bot.api.add_user(GUEST, is_restricted=True)
    said = _texts(_home(bot, GUEST))
    assert "No project is open to guest accounts yet: ask a project admin" in said
    assert "`labelbot project set NAME --guests allow`" in said
    assert "No projects yet" not in said and PROJECT not in said
    project_settings.change_settings(bot.ws, project=PROJECT, changes={"guests": "allow"})
    said = _texts(_home(bot, GUEST))
    assert PROJECT in said and "open to guest accounts" not in said


def test_which_project_says_how_many_it_left_out(bot: Bot) -> None:
    for i in range(35):
        projects.create_project(bot.ws, name=f"p{i:02d}", labels=["a", "b"])
    said = _said(bot, EXPERT, "")
    assert said.startswith(":warning: Which project? Try `/label p00`, `/label p01`")
    assert "`/label p19`, … and 15 more projects." in said and "p20" not in said, said


def test_home_with_many_long_named_projects_and_labels_stays_in_slacks_limits(
    bot: Bot, tmp_path: Path
) -> None:
    labels = [f"{'<a & b> *c*' * 17}{i:03d}" for i in range(45)]  # 190 characters each
    for i in range(35):
        name = f"p{i:02d}" + "x" * 97  # 100: the longest a name may be
        projects.create_project(bot.ws, name=name, labels=labels)
        _import(bot, name, tmp_path)
    view = _home(bot, EXPERT)  # checked against Block Kit's limits
    said = _texts(view)
    assert "… and 15 more projects" in said
    assert "&lt;a &amp; b&gt;" in said and not re.search(r"<a |& b", said)
    assert "Click *Label 5 now*" in said
