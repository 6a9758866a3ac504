"""Slack's 3-second budget over real HTTP, with Bolt's own ack timeout (3 s, not the other
tests' 30): a click, a command, a shortcut or a modal's submission is answered at once while
every listener thread is busy waiting out Slack's rate limit (slack_sdk sleeps a short
Retry-After, bot.delivery.RATE_LIMIT_WAIT_MAX_S), and is handled once a thread is free
(bot/listeners/registrar.py: ack_first, answered_here)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot import ids
from engine import exporting, flags, projects
from engine.workspace import Workspace
from tests.bot.conftest import (
    CHANNEL,
    PROJECT,
    Bot,
    serving,
    slack_settings,
    taxonomy_form,
    true_label,
)
from tests.fakes import payloads
from tests.fakes.signing import signed_interactivity
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_client import Message, example_id
from tests.helpers import load_slice

WORKERS = 2
# Slack's own deadline: Bolt answers 404 when no ack() came within it
SLACK_WAIT_S = 3.0

# Threads and Slack's timing, not the database: SQLite only.
pytestmark = pytest.mark.parametrize("db_url_and_schema", ["sqlite"], indirect=True)


@pytest.fixture
def busy_bot(
    ws: Workspace, slack_api: FakeSlackAPI, db_url_and_schema, embedding_cache_dir: Path
) -> Iterator[Bot]:  # type: ignore[no-untyped-def]
    """The bot with WORKERS listener threads, and Bolt's ack timeout as in production."""
    url, _ = db_url_and_schema
    settings = slack_settings(
        url, slack_api.api_url, embedding_cache_dir, LABELBOT_SLACK_WORKERS=WORKERS
    )
    yield from serving(ws, slack_api, settings, ack_timeout=None)


def test_a_command_is_answered_while_every_listener_thread_waits_out_a_rate_limit(
    busy_bot: Bot, banking_slice: list[tuple[str, str]], tmp_path: Path
) -> None:
    bot = busy_bot
    truth = load_slice(bot.ws, banking_slice, tmp_path, project=PROJECT, channel_id=CHANNEL)
    # chat.update rate-limited (Retry-After 2 s, each try): each click's listener sleeps ~4 s
    clicks, shown = _hold_every_listener_thread(bot, truth, retry_after=2)

    started = time.monotonic()
    answer = bot.slack.command("U0LATE")
    waited = time.monotonic() - started
    assert answer.status_code == 200, answer.text  # not Bolt's 404 "didn't call ack()"
    assert waited < SLACK_WAIT_S

    for click in clicks:
        click.join(timeout=60)
    bot.settle()
    labels = {r["id"]: r["label"] for r in exporting.export_records(bot.ws, PROJECT)}
    for user in shown:
        assert labels[str(example_id(shown[user]))] == true_label(bot, truth, shown[user])
    # the late command is handled once a thread is free: its example is in the DM
    assert len(bot.slack.open_examples("U0LATE")) == 1


def _hold_every_listener_thread(
    bot: Bot, truth: dict[str, str], retry_after: int
) -> tuple[list[threading.Thread], dict[str, Message]]:
    """WORKERS experts click a label while chat.update is rate-limited (Retry-After
    ``retry_after``, each try): every listener thread is busy in a click's listener, for
    seconds. The clicks' threads, started (their labels are stored), and the message each
    expert clicked on."""
    experts = [f"U0EXPERT{i}" for i in range(WORKERS)]
    shown = {}
    for user in experts:
        assert bot.slack.command(user).status_code == 200
        bot.settle()
        (shown[user],) = bot.slack.open_examples(user)
    bot.api.fail_next("chat.update", 429, retry_after=retry_after, times=100)
    clicks = [
        threading.Thread(
            target=bot.slack.choose, args=(u, shown[u], true_label(bot, truth, shown[u]))
        )
        for u in experts
    ]
    for click in clicks:
        click.start()
    bot.api.wait_for("chat.update", WORKERS)  # both listener threads are in their first sleep
    return clicks, shown


def _submitted(bot: Bot, body: dict[str, object]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    answer = bot.slack.post(signed_interactivity(bot.slack.secret, body))
    return answer, time.monotonic() - started


def test_a_flag_is_answered_while_every_listener_thread_waits_out_a_rate_limit(
    busy_bot: Bot, banking_slice: list[tuple[str, str]], tmp_path: Path
) -> None:
    """The Flag form is closed at once (answered 200 on the thread that answers Slack); the flag
    is stored once a listener thread is free."""
    bot = busy_bot
    truth = load_slice(bot.ws, banking_slice, tmp_path, project=PROJECT, channel_id=CHANNEL)
    flagger = "U0FLAGGER"
    bot.slack.command(flagger)
    bot.settle()
    (message,) = bot.slack.open_examples(flagger)
    bot.slack.click(flagger, message, ids.FLAG)
    bot.settle()
    form = bot.api.calls("views.open")[-1].params["view"]
    values = {
        ids.FLAG_REASON_BLOCK: {
            ids.FLAG_REASON_INPUT: {"type": "plain_text_input", "value": "two intents"}
        }
    }
    empty = {ids.FLAG_REASON_BLOCK: {ids.FLAG_REASON_INPUT: {"type": "plain_text_input"}}}
    clicks, _ = _hold_every_listener_thread(bot, truth, retry_after=2)

    refused, waited = _submitted(bot, payloads.view_submission(
        flagger, ids.FLAG_MODAL, empty, private_metadata=form["private_metadata"]
    ))  # fmt: skip
    assert waited < SLACK_WAIT_S and refused.status_code == 200, refused.text
    assert refused.json() == {
        "response_action": "errors",
        "errors": {ids.FLAG_REASON_BLOCK: "Say briefly what is wrong."},
    }
    answer, waited = _submitted(bot, payloads.view_submission(
        flagger, ids.FLAG_MODAL, values, private_metadata=form["private_metadata"]
    ))  # fmt: skip
    assert answer.status_code == 200, answer.text  # not Bolt's 404 "didn't call ack()"
    assert waited < SLACK_WAIT_S
    assert answer.text == ""  # the form closes

    for click in clicks:
        click.join(timeout=60)
    bot.settle()
    flagged = flags.list_flags(bot.ws, PROJECT)
    assert [(f.example_id, f.annotator, f.reason) for f in flagged] == [
        (example_id(message), flagger, "two intents")
    ]


def test_a_taxonomy_change_is_answered_while_every_listener_thread_waits_out_a_rate_limit(
    busy_bot: Bot, banking_slice: list[tuple[str, str]], tmp_path: Path
) -> None:
    """The form's errors, and its closing once the change is applied, are answered at once;
    the notices follow once a listener thread is free."""
    bot = busy_bot
    truth = load_slice(bot.ws, banking_slice, tmp_path, project=PROJECT, channel_id=CHANNEL)
    admin = "U0ADMIN"
    projects.update_settings(bot.ws, project=PROJECT, admins=[admin])
    first, second, *_ = projects.list_labels(bot.ws, project=PROJECT)
    clicks, _ = _hold_every_listener_thread(bot, truth, retry_after=2)

    taken, waited = _submitted(
        bot, taxonomy_form(admin, "rename", label_ids=[str(first.id)], names=second.name)
    )
    assert waited < SLACK_WAIT_S and taken.status_code == 200, taken.text
    errors = taken.json()["errors"]
    assert f"label '{second.name}' already exists" in errors[ids.TAXONOMY_NAMES_BLOCK]
    renamed, waited = _submitted(
        bot, taxonomy_form(admin, "rename", label_ids=[str(first.id)], names="renamed_now")
    )
    assert waited < SLACK_WAIT_S and renamed.status_code == 200, renamed.text
    assert renamed.text == ""  # applied before the answer: the form closes
    assert "renamed_now" in {lb.name for lb in projects.list_labels(bot.ws, project=PROJECT)}

    for click in clicks:
        click.join(timeout=60)
    bot.settle()
    assert any(f"renamed {first.name} to renamed_now" in m["text"] for m in bot.slack.dm(admin))
