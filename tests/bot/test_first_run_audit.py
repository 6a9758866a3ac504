"""A team's first minutes in Slack, over real signed Bolt requests on SQLite and PostgreSQL:
every empty state says what comes next and who does it (an admin in the terminal, an expert
in Slack), in the same words on App Home, in `/label`'s answers and in the DM.

- A project no examples were imported into is not "Nothing left to label ... Thank you!"
  (`/label`, `/label 5`, "Label 5 now"): the answer, and its row on App Home (with no button),
  say an admin imports them with `labelbot import NAME FILE`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot import ids
from bot.views.limits import view_errors
from engine import projects
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
