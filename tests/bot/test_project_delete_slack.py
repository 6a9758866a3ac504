"""After `labelbot project delete`, clicks on the old messages of that project, over real HTTP
on SQLite and PostgreSQL: each one gets a clear answer in Slack (an ephemeral, or a line in the
DM after a modal), never a 500 nor a traceback in the log, and changes nothing; a reply in its
old discussion thread is ignored."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from bot import ids
from engine import discussions, projects
from engine.config import Settings
from engine.workspace import Workspace
from storage.db import session_scope
from storage.models import Annotation, Comment, Example, Flag, Project
from tests.bot.conftest import CHANNEL, PROJECT, Bot, true_label
from tests.fakes import payloads
from tests.fakes.signing import signed_interactivity
from tests.fakes.slack_client import example_id

EXPERT = "U0EXPERT"


@pytest.fixture
def ws(db_url_and_schema, encoder, embedding_cache_dir, tmp_path: Path) -> Iterator[Workspace]:  # type: ignore[no-untyped-def]
    """The bot's workspace, with a data dir of the test's own: the deletion removes files."""
    url, schema = db_url_and_schema
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (embedding_cache_dir / "embeddings").mkdir(exist_ok=True)
    (data_dir / "embeddings").symlink_to(embedding_cache_dir / "embeddings")
    workspace = Workspace.open(
        Settings(DATABASE_URL=url, LABELBOT_DATA_DIR=data_dir), schema=schema, encoder=encoder
    )
    yield workspace
    workspace.close()


def _post(bot: Bot, body: dict[str, Any]) -> int:
    answer = bot.slack.post(signed_interactivity(bot.slack.secret, body))
    bot.settle()
    return answer.status_code


def test_clicks_on_a_deleted_projects_messages_get_a_one_line_answer(
    bot: Bot, bank: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    projects.update_settings(bot.ws, project=PROJECT, admins=[EXPERT])
    bot.slack.command(EXPERT)
    bot.settle()
    (first,) = bot.slack.open_examples(EXPERT)
    bot.slack.choose(EXPERT, first, true_label(bot, bank, first))  # a labeled one, with Undo
    bot.settle()
    labeled = next(m for m in bot.slack.dm(EXPERT) if m["ts"] == first["ts"])
    (waiting,) = bot.slack.open_examples(EXPERT)
    bot.slack.click(EXPERT, waiting, ids.DISCUSS)  # a thread in the project's channel
    bot.settle()
    thread = discussions.team_thread(bot.ws, example_id=example_id(waiting) or 0)
    assert thread is not None
    bot.slack.click(EXPERT, waiting, ids.FLAG)
    bot.settle()
    flag_view = bot.api.calls("views.open")[-1].params["view"]

    eid = example_id(waiting)
    label_id = projects.list_labels(bot.ws, project=PROJECT)[0].id
    clicks = [
        bot.slack.choice_payload(EXPERT, waiting, true_label(bot, bank, waiting)),
        bot.slack.action_payload(EXPERT, waiting, ids.SKIP, str(example_id(waiting))),
        bot.slack.action_payload(EXPERT, waiting, ids.DISCUSS, str(example_id(waiting))),
        bot.slack.action_payload(EXPERT, labeled, ids.UNDO, str(example_id(labeled))),
        bot.slack.action_payload(EXPERT, waiting, ids.BATCH_MORE, PROJECT),
        bot.slack.action_payload(EXPERT, waiting, ids.HOME_START_BATCH, PROJECT),
        bot.slack.action_payload(EXPERT, waiting, ids.SNOOZE, None,
                                 selected_option={"value": f"{eid}|1h"}),
        bot.slack.action_payload(EXPERT, waiting, ids.REVIEW_KEEP, f"1/{eid}/{label_id}"),
        bot.slack.action_payload(EXPERT, waiting, f"{ids.SETTLE}:0", f"{eid}/{label_id}",
                                 channel=CHANNEL),
        *[bot.slack.action_payload(EXPERT, waiting, action, f"{PROJECT}:1", channel=CHANNEL)
          for action in (ids.PROPOSAL_APPROVE, ids.PROPOSAL_REJECT, ids.PROPOSAL_EDIT,
                         ids.PROPOSAL_UNDO, ids.PROMOTE_MODEL)],
    ]  # fmt: skip

    projects.delete_project(bot.ws, PROJECT)
    calls = len(bot.api.calls())
    told_before = len(bot.slack.ephemerals(EXPERT))

    with caplog.at_level(logging.INFO):
        codes = [_post(bot, body) for body in clicks]
        values = {ids.FLAG_REASON_BLOCK: {ids.FLAG_REASON_INPUT: {"value": "a card number"}}}
        flagged = payloads.view_submission(
            EXPERT, ids.FLAG_MODAL, values, private_metadata=flag_view["private_metadata"]
        )
        codes.append(_post(bot, flagged))
        reply = payloads.message_event(CHANNEL, "U0OTHER", "hm", "1800000000.000100",
                                       thread_ts=thread.thread_ts)  # fmt: skip
        codes.append(bot.slack.event(reply).status_code)
        bot.settle()
    assert codes == [200] * len(codes)  # every request handled: no 500
    # each click told why in one line; the flag's form, submitted after, in the DM
    said = bot.slack.ephemerals(EXPERT)[told_before:] + [bot.slack.dm(EXPERT)[-1]["text"]]
    assert len(said) == len(clicks) + 1
    gone = (
        f"No example with id {eid}.",
        f"No project named '{PROJECT}' (projects: none yet).",
        "No review with id 1.",
        "There is no label of yours on this message to undo. Nothing was changed.",
    )
    assert [t for t in said if t.removeprefix(":warning: ") not in gone] == []
    # logged as a user's error (no traceback), and nothing posted but the answers
    assert [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info] == []
    posted = [c for c in bot.api.calls()[calls:] if c.method == "chat.postMessage"]
    assert len(posted) == 1 and posted[0].params["text"].startswith(":warning:")
    assert {c.method for c in bot.api.calls()[calls:]} <= {"response_url", "users.info",
                                                             "chat.postMessage"}  # fmt: skip
    # and nothing stored: the reply in its old thread, the flag, the label
    with session_scope(bot.ws.db, read_only=True) as session:
        for table in (Annotation, Comment, Flag, Example, Project):
            assert session.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0
