"""A digest posted by a process killed outright (SIGKILL) before it marked the digest sent was
posted again by the next round. The post is noted before it is made; the next round looks for
its message in the channel's history (conversations.history, through the local Slack server)
and posts only when it is not there. A real child process, killed by a real SIGKILL, posts to
the same local Slack server; on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import os
import signal
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.digests import post_digest
from bot.scheduling import digest_sender
from bot.services import Services, build_services
from engine import digest, jobs, projects, training
from storage.models import utcnow
from tests.bot.conftest import slack_settings
from tests.helpers import label_next, load_slice

LATER = timedelta(days=8)  # the default schedule (weekly) has a digest due by then


@pytest.fixture
def services(  # type: ignore[no-untyped-def]
    ws, slack_api, db_url_and_schema, embedding_cache_dir, banking_slice, tmp_path: Path
) -> Iterator[Services]:
    """The bot's services (the scheduler's digest sender is theirs), and a project with a
    model whose weekly digest is due by ``utcnow() + LATER``."""
    url, _ = db_url_and_schema
    built = build_services(slack_settings(url, slack_api.api_url, embedding_cache_dir), ws=ws)
    truth = load_slice(ws, banking_slice, tmp_path, channel_id="C42")
    label_next(ws, truth, 20, annotators=("U1", "U2"), source="slack")
    training.train_project(ws, "bank")
    yield built
    built.listener_executor.shutdown(wait=True)
    built.dispatch_executor.shutdown(wait=True)


def _killed_after_posting(services: Services, now: datetime) -> None:
    """Run the scheduler's digest round in a child process SIGKILLed once the digest is
    posted, before the round marks it sent."""
    pid = os.fork()
    if pid == 0:  # the child: never back into pytest
        try:
            services.ws.db.dispose(close=False)  # the parent's connections stay the parent's
            send = digest_sender(services)

            def post_then_die(name: str) -> None:
                send(name)
                os.kill(os.getpid(), signal.SIGKILL)

            jobs.digest_cycle(services.ws, post_then_die, now=now)
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status


def _digests(slack_api) -> list[object]:  # type: ignore[no-untyped-def]
    return [
        c for c in slack_api.calls("chat.postMessage") if "bank digest" in c.params.get("text", "")
    ]


def test_a_digest_posted_by_a_killed_round_is_not_posted_again(  # type: ignore[no-untyped-def]
    services, slack_api, caplog: pytest.LogCaptureFixture
) -> None:
    ws, send = services.ws, digest_sender(services)
    now = utcnow() + LATER
    _killed_after_posting(services, now)
    assert len(_digests(slack_api)) == 1
    assert digest.unfinished_posting(ws, "bank") is not None  # never marked sent
    assert jobs.digest_due(projects.get_project(ws, "bank"), now=now)

    with caplog.at_level(logging.INFO):
        sent = jobs.digest_cycle(ws, send, now=now)
    assert sent == ["bank"]  # marked sent now ...
    assert len(_digests(slack_api)) == 1, "posted twice"  # ... and not posted again
    assert "not posted again" in caplog.text
    assert slack_api.calls("conversations.history")
    assert digest.unfinished_posting(ws, "bank") is None
    assert not jobs.digest_due(projects.get_project(ws, "bank"), now=now)
    # the next digest is posted as ever
    assert jobs.digest_cycle(ws, send, now=now + LATER) == ["bank"]
    assert len(_digests(slack_api)) == 2
    # asked for by hand (`labelbot digest --post`, the admins' "post now"), a digest is
    # posted, a post noted and not marked sent or not
    assert not post_digest(services.client, ws, "bank").earlier
    assert not post_digest(services.client, ws, "bank").earlier
    assert len(_digests(slack_api)) == 4


def test_a_post_noted_and_not_in_the_channel_is_posted(  # type: ignore[no-untyped-def]
    services, slack_api, caplog: pytest.LogCaptureFixture
) -> None:
    """Killed after noting the post and before Slack took it: the history does not show it,
    and the digest is posted (once)."""
    ws = services.ws
    now = utcnow() + LATER
    digest.note_posting(ws, "bank", digest.Posting("C42", "0" * 32, time.time()))
    with caplog.at_level(logging.WARNING):
        assert jobs.digest_cycle(ws, digest_sender(services), now=now) == ["bank"]
    assert len(_digests(slack_api)) == 1
    assert "history does not show it: posting it" in caplog.text
    assert digest.unfinished_posting(ws, "bank") is None


def test_a_post_noted_long_ago_is_not_looked_for(services, slack_api) -> None:  # type: ignore[no-untyped-def]
    """The scheduler back days after a round cut short: a new digest, no search."""
    ws = services.ws
    long_ago = time.time() - timedelta(days=3).total_seconds()
    digest.note_posting(ws, "bank", digest.Posting("C42", "0" * 32, long_ago))
    posted = post_digest(services.client, ws, "bank", look_for_earlier=True)
    assert posted.ts and not posted.earlier
    assert len(_digests(slack_api)) == 1
    assert not slack_api.calls("conversations.history")
