"""Fix of audit37's finding: "Promote vN" on the held-back notice of a project deleted and created
again under its name promoted the new project's vN. The button names the model run now
("project:version:run"); a notice whose button names none (posted before) is refused when it is
older than the project. Either refusal is an ephemeral answer, and the notice stays as it is.
Through Bolt over signed HTTP against the fake Slack Web API, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot import ids
from bot.views import admin as admin_views
from engine import projects, training
from tests.bot.conftest import CHANNEL, PROJECT, Bot
from tests.bot.test_admin import _active
from tests.bot.test_audit37_isolation import ADMIN, _create_bank, _held_back_notice


def _run_id(bot: Bot, version: int) -> int:
    (run,) = [r for r in training.list_versions(bot.ws, PROJECT) if r.version == version]
    assert run.id is not None
    return run.id


def _post_notice(bot: Bot, *, version: int, run_id: int | None) -> dict[str, Any]:
    """The held-back notice of v``version`` as the bot posts it, its button naming ``run_id``."""
    notice = admin_views.held_back_notice(
        project=PROJECT, version=version, reason="v1 is pinned", audit=None, active=1,
        run_id=run_id,
    )  # fmt: skip
    bot.services.courier.post(notice, channel=CHANNEL)
    posted: dict[str, Any] = bot.api.messages(CHANNEL)[-1]
    assert ids.PROMOTE_MODEL in json.dumps(posted["blocks"])
    return posted


def _now(bot: Bot, ts: object) -> dict[str, Any]:
    (message,) = [m for m in bot.api.messages(CHANNEL) if m["ts"] == ts]
    return message


def test_the_promote_value_names_the_run_and_older_values_still_read() -> None:
    value = admin_views.promote_value("bank-2.x", 4, 17)
    assert admin_views.read_promote_value(value) == ("bank-2.x", 4, 17)
    assert admin_views.parse_promote_value(value) == ("bank-2.x", 4)
    old = admin_views.promote_value("bank-2.x", 4)
    assert admin_views.read_promote_value(old) == ("bank-2.x", 4, None)
    for made_up in ("bank:4:17:1", ":4", "bank", "bank:x", "bank:4:x"):
        with pytest.raises(ValueError):
            admin_views.read_promote_value(made_up)
    notice = admin_views.held_back_notice(
        project="bank", version=4, reason="v3 is pinned", audit=None, active=3, run_id=17
    )
    assert '"bank:4:17"' in json.dumps(notice["blocks"])


def test_an_old_notice_of_a_deleted_project_is_refused_and_left_as_it_is(
    bot: Bot, bank: dict[str, str], tmp_path: Path
) -> None:
    """The notice of the deleted `bank` (its button "bank:2", as notices were posted before the
    run was named) is older than the new `bank`: the click is refused with an ephemeral answer,
    nothing is promoted and the notice is not redrawn as "promoted"."""
    old = _held_back_notice(bot, bank)
    projects.delete_project(bot.ws, PROJECT)
    _create_bank(bot, bank, tmp_path)
    _held_back_notice(bot, bank)

    assert bot.slack.click(ADMIN, old, ids.PROMOTE_MODEL, channel=CHANNEL).status_code == 200
    bot.settle()
    assert _active(bot) == 1
    (told,) = [s for s in bot.slack.ephemerals(ADMIN) if "no longer has" in s]
    assert "Nothing was changed" in told and f"/label models {PROJECT}" in told, told
    assert _now(bot, old["ts"])["text"] == old["text"]  # not "promoted", button kept


def test_a_notice_naming_a_deleted_projects_run_is_refused_whenever_it_was_posted(
    bot: Bot, bank: dict[str, str], tmp_path: Path
) -> None:
    """A button naming the deleted `bank`'s v2 run promotes nothing even on a message posted
    after the new `bank` was created (no guess from the time): the new v2 is another run. A
    button naming the new v2's run promotes it."""
    _held_back_notice(bot, bank)
    gone = _run_id(bot, 2)
    projects.delete_project(bot.ws, PROJECT)
    _create_bank(bot, bank, tmp_path)
    _held_back_notice(bot, bank)
    assert _run_id(bot, 2) != gone

    stale = _post_notice(bot, version=2, run_id=gone)
    assert bot.slack.click(ADMIN, stale, ids.PROMOTE_MODEL, channel=CHANNEL).status_code == 200
    bot.settle()
    assert _active(bot) == 1, "a button naming the deleted project's run promoted today's v2"
    assert any("no longer has" in s for s in bot.slack.ephemerals(ADMIN))
    assert _now(bot, stale["ts"])["text"] == stale["text"]

    fresh = _post_notice(bot, version=2, run_id=_run_id(bot, 2))
    assert bot.slack.click(ADMIN, fresh, ids.PROMOTE_MODEL, channel=CHANNEL).status_code == 200
    bot.settle()
    assert _active(bot) == 2
    assert f"<@{ADMIN}> promoted" in _now(bot, fresh["ts"])["text"]
