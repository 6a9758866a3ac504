"""The scheduler inside the served app (as `labelbot serve` runs it): labels clicked in Slack
trigger a retrain on the N-labels threshold, and the scheduler stops with the server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from bot.api import create_api
from bot.scheduling import attach_scheduler, bot_scheduler
from bot.services import build_services
from engine import projects, training
from engine.workspace import Workspace
from tests.bot.conftest import (
    PROJECT,
    SIGNING_SECRET,
    Bot,
    TrackingExecutor,
    slack_settings,
)
from tests.fakes.server import ServerThread
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_client import SlackSim

U1 = "U0ALICE"
POLL = 0.2  # seconds between the scheduler's checks


class ServedBot(Bot):
    scheduler: Any


@pytest.fixture
def bot(
    ws: Workspace, slack_api: FakeSlackAPI, db_url_and_schema, embedding_cache_dir
) -> Iterator[Bot]:  # type: ignore[no-untyped-def]
    """The `bot` of conftest, with the scheduler attached to the app's lifespan as serve does."""
    url, _ = db_url_and_schema
    settings = slack_settings(
        url, slack_api.api_url, embedding_cache_dir, LABELBOT_SCHEDULER_POLL_SECONDS=POLL
    )
    services = build_services(settings, ws=ws)
    services.listener_executor.shutdown()
    services.listener_executor = TrackingExecutor(settings.slack_workers)
    scheduler = bot_scheduler(services)
    api = attach_scheduler(create_api(settings, services), scheduler)
    assert not scheduler.running
    with ServerThread(api) as server:
        assert scheduler.running
        slack = SlackSim(server.url, slack_api, SIGNING_SECRET)
        harness = ServedBot(ws, services, slack_api, slack, server.url)
        harness.scheduler = scheduler
        yield harness
        harness.settle()
        slack.close()
    assert not scheduler.running  # shut down with the server
    services.listener_executor.shutdown(wait=True)
    services.dispatch_executor.shutdown(wait=True)


def _wait_for_model(bot: Bot, timeout: float = 60.0) -> list[Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [r for r in training.list_versions(bot.ws, PROJECT) if r.status == "ready"]
        if runs:
            return runs
        time.sleep(POLL)
    raise AssertionError(f"no model after {timeout}s")


def test_labels_clicked_in_slack_trigger_a_retrain(bot: Bot, bank: dict[str, str]) -> None:
    from engine import messaging
    from tests.fakes.slack_client import example_id

    projects.update_settings(bot.ws, project=PROJECT, retrain_every=8, retrain_minutes=600)
    bot.slack.command(U1)
    bot.settle()
    time.sleep(3 * POLL)
    assert training.list_versions(bot.ws, PROJECT) == []  # no labels: nothing to do
    for _ in range(8):
        (message,) = bot.slack.open_examples(U1)
        eid = example_id(message)
        assert eid is not None
        text = messaging.example_ref(bot.ws, example_id=eid).text
        assert bot.slack.choose(U1, message, bank[text]).status_code == 200
        bot.settle()
    (run,) = _wait_for_model(bot)
    assert run.version == 1 and run.is_active and run.n_labels <= 8
    # first model: promoted, so no held-back notice goes to the channel
    assert all("held back" not in str(c.params) for c in bot.api.calls("chat.postMessage"))
    assert bot.scheduler.get_job("retrain") is not None
    assert bot.scheduler.get_job("digests") is not None
