"""App Home with more projects than it shows (20): the user's own projects come first, and a
line says how many more there are, through the real Bolt app and the fake Slack Web API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine import labeling, projects
from tests.bot.conftest import Bot
from tests.fakes import payloads


def _home(bot: Bot, user: str) -> dict[str, Any]:
    bot.slack.event(payloads.app_home_opened(user))
    bot.settle()
    published = [c for c in bot.api.calls("views.publish") if c.params["user_id"] == user]
    return dict(published[-1].params["view"])


def test_home_with_25_projects_shows_the_users_own_first_and_counts_the_rest(
    bot: Bot, bank: Any, tmp_path: Path
) -> None:
    for i in range(24):
        projects.create_project(bot.ws, name=f"p{i:02d}", labels=["a", "b"])
    # U0ANY labels in the newest project only: the one left out before (projects by age)
    path = tmp_path / "p23.csv"
    path.write_text("text\nan example to label\n", "utf-8")
    projects.import_file(bot.ws, project="p23", path=path, embed=False)
    task = labeling.next_task(bot.ws, project="p23", annotator="U0ANY")
    assert task is not None
    labeling.submit_label(
        bot.ws, project="p23", example_id=task.example_id, label="a", annotator="U0ANY",
        source="slack", key="k1",
    )  # fmt: skip

    view = _home(bot, "U0ANY")
    blocks = view["blocks"]  # each project: a divider, then its name (a project with no
    # examples has no "Label 5 now" beside it)
    shown = [blocks[i + 1]["text"]["text"] for i, b in enumerate(blocks) if b["type"] == "divider"]
    assert len(shown) == 20
    assert "p23" in shown[0], shown  # the user's own project first
    assert "5 more projects" in json.dumps(view), "25 projects, 20 shown, and no word of 5 more"
    assert len(view["blocks"]) <= 100
