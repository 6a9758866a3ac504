"""A scheduled digest whose chart upload fails after its message was posted is sent once, on
SQLite and PostgreSQL: the message is the digest, the chart is best-effort. Before, the failure
left the digest due and every scheduler round (one a minute) posted the whole message again.

The scheduler's own pieces run here (engine.jobs.digest_cycle with bot.scheduling's
digest_sender, the bot's retrying client) against the local fake Slack Web API."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest

from bot.scheduling import digest_sender
from bot.services import Services, build_services
from engine import jobs, projects, training
from engine.workspace import Workspace
from storage.models import utcnow
from tests.bot.conftest import slack_settings
from tests.fakes.slack_api import FakeSlackAPI
from tests.helpers import label_next, load_slice

PROJECT, CHANNEL = "bank", "C0DIGEST"
ROUNDS = 4  # scheduler rounds, a minute apart


@pytest.fixture
def services(
    ws: Workspace,
    slack_api: FakeSlackAPI,
    db_url_and_schema,
    embedding_cache_dir,
    banking_slice,
    tmp_path,
) -> Iterator[Services]:  # type: ignore[no-untyped-def]
    """The bot's services, with a daily digest that is due now (yesterday's went out), of a
    project with a model (before the first one a digest has no chart to upload)."""
    url, _ = db_url_and_schema
    built = build_services(slack_settings(url, slack_api.api_url, embedding_cache_dir), ws=ws)
    truth = load_slice(ws, banking_slice[:40], tmp_path, project=PROJECT, channel_id=CHANNEL)
    label_next(ws, truth, 20, annotators=("U1",))
    training.train_project(ws, PROJECT)
    now = utcnow()
    # at the hour opposite this one: it fired about 12 hours ago, and fires next about 12 hours
    # from now, never within the test's rounds (a midnight digest, with the rounds started just
    # before midnight, was due again at the round after it)
    daily = f"0 {(now.hour + 12) % 24} * * *"
    projects.update_settings(
        ws, project=PROJECT, digest_cron=daily, timezone="UTC",
        last_digest_at=(now - timedelta(days=1)).isoformat(),
    )  # fmt: skip
    yield built
    built.listener_executor.shutdown(wait=True)
    built.dispatch_executor.shutdown(wait=True)


def _rounds(services: Services) -> list[list[str]]:
    send, now = digest_sender(services), utcnow()
    return [
        jobs.digest_cycle(services.ws, send, now=now + timedelta(minutes=m)) for m in range(ROUNDS)
    ]


def test_an_upload_url_refused_with_503_posts_the_digest_once(
    services: Services, slack_api: FakeSlackAPI, caplog: pytest.LogCaptureFixture
) -> None:
    # 3 calls per round (the client retries a 5xx twice): two rounds' worth of 503s
    slack_api.fail_next("files.getUploadURLExternal", status=503, times=6)
    with caplog.at_level(logging.WARNING):
        assert _rounds(services) == [[PROJECT]] + [[]] * (ROUNDS - 1)
    assert len(slack_api.messages(CHANNEL)) == 1
    assert not slack_api.calls("files.completeUploadExternal")  # the chart went without
    assert "digest for bank posted without its chart" in caplog.text
    assert "digest of bank failed" not in caplog.text  # nothing reached digest_cycle
    assert not jobs.digest_due(projects.get_project(services.ws, PROJECT), now=utcnow())


def test_a_file_host_that_fails_posts_the_digest_once(
    services: Services, slack_api: FakeSlackAPI, caplog: pytest.LogCaptureFixture
) -> None:
    """The POST to the upload URL (Slack's file host, not the Web API) fails: urllib raises
    an HTTPError, a URLError like a connection error, which no client retry handler sees."""
    slack_api.fail_next("upload", status=503, times=ROUNDS)
    with caplog.at_level(logging.WARNING):
        assert _rounds(services) == [[PROJECT]] + [[]] * (ROUNDS - 1)
    assert len(slack_api.messages(CHANNEL)) == 1
    assert len(slack_api.calls("upload")) == 1 and not slack_api.uploads
    assert "digest of bank failed" not in caplog.text
