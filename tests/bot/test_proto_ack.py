"""Slack's 3-second budget over real HTTP, with Bolt's own ack timeout (3 s, not the other
tests' 30): a click, a command or a shortcut is answered at once while every listener thread
is busy waiting out Slack's rate limit (slack_sdk sleeps each Retry-After), and is handled
once a thread is free (bot/listeners/registrar.py, ack_first)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.api import create_api
from bot.app import build_app
from bot.services import build_services
from engine import exporting
from engine.workspace import Workspace
from tests.bot.conftest import (
    CHANNEL,
    PROJECT,
    SIGNING_SECRET,
    Bot,
    TrackingExecutor,
    slack_settings,
    true_label,
)
from tests.fakes.server import ServerThread
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_client import SlackSim, example_id
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
    services = build_services(settings, ws=ws)
    services.listener_executor.shutdown()
    services.listener_executor = TrackingExecutor(settings.slack_workers)
    bolt = build_app(settings, services)
    with ServerThread(create_api(settings, services, bolt=bolt)) as server:
        slack = SlackSim(server.url, slack_api, SIGNING_SECRET)
        harness = Bot(ws, services, slack_api, slack, server.url)
        yield harness
        harness.settle()
        slack.close()
    services.listener_executor.shutdown(wait=True)
    services.dispatch_executor.shutdown(wait=True)


def test_a_command_is_answered_while_every_listener_thread_waits_out_a_rate_limit(
    busy_bot: Bot, banking_slice: list[tuple[str, str]], tmp_path: Path
) -> None:
    bot = busy_bot
    truth = load_slice(bot.ws, banking_slice, tmp_path, project=PROJECT, channel_id=CHANNEL)
    experts = [f"U0EXPERT{i}" for i in range(WORKERS)]
    shown = {}
    for user in experts:
        assert bot.slack.command(user).status_code == 200
        bot.settle()
        (shown[user],) = bot.slack.open_examples(user)
    # chat.update rate-limited (Retry-After 2 s, each try): each click's listener sleeps ~4 s
    bot.api.fail_next("chat.update", 429, retry_after=2, times=100)
    clicks = [
        threading.Thread(
            target=bot.slack.choose, args=(u, shown[u], true_label(bot, truth, shown[u]))
        )
        for u in experts
    ]
    for click in clicks:
        click.start()
    bot.api.wait_for("chat.update", WORKERS)  # both listener threads are in their first sleep

    started = time.monotonic()
    answer = bot.slack.command("U0LATE")
    waited = time.monotonic() - started
    assert answer.status_code == 200, answer.text  # not Bolt's 404 "didn't call ack()"
    assert waited < SLACK_WAIT_S

    for click in clicks:
        click.join(timeout=60)
    bot.settle()
    labels = {r["id"]: r["label"] for r in exporting.export_records(bot.ws, PROJECT)}
    for user in experts:
        assert labels[str(example_id(shown[user]))] == true_label(bot, truth, shown[user])
    # the late command is handled once a thread is free: its example is in the DM
    assert len(bot.slack.open_examples("U0LATE")) == 1
