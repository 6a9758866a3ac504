"""Audit 35: crash safety and concurrency. A process killed outright (a real SIGKILL of a real
child process) in the middle of its work, and what the next process finds and does; on SQLite
and PostgreSQL, against the local fake Slack Web API."""

from __future__ import annotations

import csv
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlmodel import col

from bot import disputes, taxonomy_flow
from bot.scheduling import dispute_poster
from bot.services import Services, build_services
from engine import consensus, proposing
from engine.workspace import Workspace
from storage.db import session_scope
from storage.models import DiscussionThread
from storage.repositories import feedback
from storage.repositories import projects as project_repo
from tests.bot import test_replica_races as replica_races
from tests.bot.conftest import BOT_TOKEN, slack_settings
from tests.fakes.slack_api import FakeSlackAPI

PROJECT, CHANNEL = "bank", "C0CRASH"
# a proposal stored as the detector stores one; two experts disagreeing on the first example
_propose, _disagree = replica_races._propose, replica_races._disagree
LABELS = ["card_arrival", "age_limit", "atm_support"]


@pytest.fixture
def slack_api() -> Iterator[FakeSlackAPI]:
    with FakeSlackAPI(token=BOT_TOKEN) as api:
        yield api


@pytest.fixture
def services(  # type: ignore[no-untyped-def]
    ws: Workspace, slack_api: FakeSlackAPI, db_url_and_schema, embedding_cache_dir, tmp_path: Path
) -> Iterator[Services]:
    from engine import projects

    url, _ = db_url_and_schema
    built = build_services(slack_settings(url, slack_api.api_url, embedding_cache_dir), ws=ws)
    projects.create_project(ws, name=PROJECT, labels=LABELS, channel_id=CHANNEL)
    path = tmp_path / "bank.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text"])
        writer.writerows([["When will my card arrive?"], ["How old must I be?"], ["ATM?"]])
    projects.import_file(ws, project=PROJECT, path=path, embed=False)
    yield built
    built.listener_executor.shutdown(wait=True)
    built.dispatch_executor.shutdown(wait=True)


def _killed_once_posted(
    services: Services, slack_api: FakeSlackAPI, work: Callable[[], object], channel: str
) -> None:
    """Run ``work`` in a child process and SIGKILL it once Slack has stored its message in
    ``channel`` but before its answer reached the child (the answer comes late): the post is
    made, the child never recorded it."""
    slack_api.lose_answer("chat.postMessage", status=200, late=5.0)
    before = len(slack_api.messages(channel))
    pid = os.fork()
    if pid == 0:  # the child: never back into pytest
        try:
            services.ws.db.dispose(close=False)  # the parent's connections stay the parent's
            work()
        finally:
            os._exit(3)
    deadline = time.monotonic() + 30
    while len(slack_api.messages(channel)) == before and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
    assert len(slack_api.messages(channel)) == before + 1  # Slack has the killed child's post


def test_a_proposal_posted_by_a_killed_replica_is_not_posted_again(
    services: Services, slack_api: FakeSlackAPI
) -> None:
    ws = services.ws
    pid = _propose(ws, "merge", LABELS[:2])
    _killed_once_posted(
        services, slack_api, lambda: taxonomy_flow.post_proposals(services, project=PROJECT),
        CHANNEL,
    )  # fmt: skip
    assert proposing.get_proposal(ws, pid).message_ts is None  # the child never recorded it
    taxonomy_flow.post_proposals(services, project=PROJECT)  # the next round, another process
    posted = slack_api.messages(CHANNEL)
    # one card for the proposal, and it is the one whose buttons the proposal follows
    assert len(posted) == 1, [m.get("text") for m in posted]
    assert proposing.get_proposal(ws, pid).message_ts == posted[0]["ts"]


def test_a_proposal_slack_refused_is_posted_next_round_without_a_search(
    services: Services, slack_api: FakeSlackAPI
) -> None:
    """The note of a post Slack refused outright (nothing stored) goes with the refusal: the
    next round posts the card without reading the channel's history first (Slack allows an
    app outside its Marketplace about one conversations.history call a minute)."""
    ws = services.ws
    pid = _propose(ws, "merge", LABELS[:2])
    slack_api.fail_next("chat.postMessage", error="not_in_channel")
    assert taxonomy_flow.post_all_proposals(services) == 0
    assert slack_api.messages(CHANNEL) == []
    assert taxonomy_flow.post_proposals(services, project=PROJECT) == 1
    (card,) = slack_api.messages(CHANNEL)
    assert proposing.get_proposal(ws, pid).message_ts == card["ts"]
    assert slack_api.calls("conversations.history") == []


def test_a_disagreement_thread_opened_by_a_killed_replica_is_not_opened_again(
    services: Services, slack_api: FakeSlackAPI
) -> None:
    import sqlalchemy as sa

    ws = services.ws
    example = _disagree(ws)
    _killed_once_posted(
        services, slack_api,
        lambda: disputes.open_if_disputed(services, project=PROJECT, example_id=example),
        CHANNEL,
    )  # fmt: skip
    assert "U0CAT" not in str(slack_api.messages(CHANNEL)[0]["blocks"])
    with session_scope(ws.db) as session:  # a third expert votes meanwhile
        found = project_repo.get_project(session=session, name=PROJECT)
        third = project_repo.list_labels(session=session, project_id=int(found.id or 0))[2]
        feedback.add_annotation(
            session=session, example_id=example, label_id=int(third.id or 0), annotator="U0CAT",
            source="slack", key=f"test:U0CAT:{example}",
        )  # fmt: skip
    disputes.post_all_disputes(services)  # the scheduler's next round, in another process
    roots = slack_api.messages(CHANNEL)
    with session_scope(ws.db, read_only=True) as session:
        recorded = session.execute(sa.select(col(DiscussionThread.thread_ts))).scalars().all()
    # one thread for the disagreement, and it is the one labelbot reads replies from
    assert len(roots) == 1, [m.get("text") for m in roots]
    assert recorded == [roots[0]["ts"]]
    # drawn as the disagreement stands now, not as the killed replica saw it
    assert "U0CAT" in str(roots[0]["blocks"])


def test_a_verdict_a_killed_replica_had_claimed_is_still_drawn(
    services: Services, slack_api: FakeSlackAPI
) -> None:
    from engine import disputes as engine_disputes

    ws = services.ws
    example = _disagree(ws)
    assert disputes.post_all_disputes(services) == 1  # the thread opens
    (root,) = slack_api.messages(CHANNEL)
    assert "Settled" not in str(root.get("text"))
    root_ts = root["ts"]
    consensus.adjudicate(  # as `labelbot adjudicate bank #N age_limit --actor ops` does
        ws, project=PROJECT, example_id=example, label="age_limit", actor="ops"
    )
    (settled,) = consensus.disagreements(ws, PROJECT, include_settled=True)
    assert settled.adjudicated is not None and settled.adjudicated.annotation_id is not None
    verdict = int(settled.adjudicated.annotation_id)

    pid = os.fork()
    if pid == 0:  # a replica's round: it claims the verdict's drawing, then is killed
        try:
            ws.db.dispose(close=False)  # the parent's connections stay the parent's
            if engine_disputes.claim_verdict(ws, annotation_id=verdict) is not None:
                os.kill(os.getpid(), signal.SIGKILL)
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status

    # the scheduler's rounds that follow, here (a replica on this host, the killed one restarted)
    rounds = dispute_poster(services)
    rounds()
    rounds()
    (root,) = [m for m in slack_api.messages(CHANNEL) if m["ts"] == root_ts]
    assert str(root.get("text")).startswith("Settled as age_limit"), root.get("text")


@pytest.mark.parametrize("db_url_and_schema", ["sqlite"], indirect=True)
def test_a_killed_backups_leftover_is_deleted_by_the_next_backup(  # type: ignore[no-untyped-def]
    ws: Workspace, db_url_and_schema, tmp_path: Path
) -> None:
    from engine.database import backup_to

    url, _ = db_url_and_schema
    folder = tmp_path / "backups"
    folder.mkdir()
    # what a SIGKILL during `labelbot db backup backups/b.db` leaves (seen with a 114 MB
    # database: `.b.db.cmqigh3u.tmp`, 18 MB, and `.b.db.cmqigh3u.tmp-journal`), a day old
    leftovers = [folder / ".b.db.cmqigh3u.tmp", folder / ".b.db.cmqigh3u.tmp-journal"]
    then = time.time() - 86_400
    for path in leftovers:
        path.write_bytes(b"SQLite format 3\x00" + b"\x00" * 4096)
        os.utime(path, (then, then))
    # a backup of the same file still being written (its file is fresh) and another file's
    # temporary file are not this backup's to delete
    running, other = folder / ".b.db.k2v9x0qa.tmp", folder / ".c.db.cmqigh3u.tmp"
    running.write_bytes(b"SQLite format 3\x00")
    other.write_bytes(b"SQLite format 3\x00")
    os.utime(other, (then, then))
    made = backup_to(url, folder / "b.db")
    assert made.path == folder / "b.db" and made.size > 0
    assert sorted(p.name for p in folder.iterdir()) == sorted(["b.db", running.name, other.name])
