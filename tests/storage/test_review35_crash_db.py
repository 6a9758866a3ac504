"""Review 35 of the crash-safety and database fixes (planned posts, verdict claims, migrations'
id counters, another application's Alembic revision): what they still get wrong, on real
SQLite/PostgreSQL against the local fake Slack Web API."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from bot import taxonomy_flow
from bot.services import Services
from engine import proposing
from storage.db import session_scope, upgrade
from storage.errors import ConfigurationError
from tests.conftest import empty_database
from tests.fakes.slack_api import FakeSlackAPI
from tests.storage import test_audit35_crash as audit

# the audit's project, channel, helpers and fixtures (a Slack-backed Services, the fake Slack)
CHANNEL, LABELS, PROJECT = audit.CHANNEL, audit.LABELS, audit.PROJECT
_disagree, _propose = audit._disagree, audit._propose
_killed_once_posted = audit._killed_once_posted
services, slack_api = audit.services, audit.slack_api
KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("db_url_and_schema", KINDS, indirect=True)
def test_a_proposal_whose_search_was_rate_limited_is_not_posted_twice(
    services: Services, slack_api: FakeSlackAPI
) -> None:
    ws = services.ws
    pid = _propose(ws, "merge", LABELS[:2])
    _killed_once_posted(
        services, slack_api, lambda: taxonomy_flow.post_proposals(services, project=PROJECT),
        CHANNEL,
    )  # fmt: skip
    assert proposing.get_proposal(ws, pid).message_ts is None  # the child never recorded it
    # the next round's search is refused: a second conversations.history call within the minute
    slack_api.fail_next("conversations.history", status=429, retry_after=60)
    # raising, and trying again next round, would be fine too
    with contextlib.suppress(Exception):
        taxonomy_flow.post_proposals(services, project=PROJECT)
    assert len(slack_api.calls("conversations.history")) == 1  # it did look, and was refused
    assert len(slack_api.messages(CHANNEL)) == 1, [
        m.get("text") for m in slack_api.messages(CHANNEL)
    ]
    # the round after, the search goes through: the card the killed try posted is recorded
    taxonomy_flow.post_proposals(services, project=PROJECT)
    (card,) = slack_api.messages(CHANNEL)
    assert proposing.get_proposal(ws, pid).message_ts == card["ts"]


@pytest.mark.parametrize("kind", KINDS)
def test_another_applications_schema_with_a_projects_table_is_refused_as_such(
    kind: str, tmp_path: Path
) -> None:
    with empty_database(kind, tmp_path / "shared.db") as (_url, _schema, engine):
        with engine.begin() as conn:  # a project tracker's tables and its Alembic revision
            conn.exec_driver_sql(
                "CREATE TABLE projects (id INTEGER PRIMARY KEY, title VARCHAR(80), owner INTEGER)"
            )
            conn.exec_driver_sql("CREATE TABLE tasks (id INTEGER PRIMARY KEY, project_id INTEGER)")
            conn.exec_driver_sql(
                "CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)"
            )
            conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('4f2a9c1d7e3b')")
        with pytest.raises(ConfigurationError) as refused:
            upgrade(engine)
        said = str(refused.value)
        assert "another application" in said and "4f2a9c1d7e3b" in said, said
        assert "newer labelbot" not in said and "db downgrade" not in said, said


@pytest.mark.parametrize("db_url_and_schema", KINDS, indirect=True)
def test_a_verdict_another_hosts_killed_replica_claimed_is_drawn_by_a_running_replica(
    services: Services, slack_api: FakeSlackAPI
) -> None:
    from bot import disputes
    from bot.scheduling import dispute_poster
    from engine import consensus
    from engine.disputes import DRAWING_FOR
    from storage.repositories import leases

    ws = services.ws
    example = _disagree(ws)
    assert disputes.post_all_disputes(services) == 1  # the thread opens
    (root,) = slack_api.messages(CHANNEL)
    root_ts = root["ts"]
    rounds = dispute_poster(services)  # this replica's scheduler job, running all along
    rounds()
    consensus.adjudicate(  # as `labelbot adjudicate bank #N age_limit --actor ops` does
        ws, project=PROJECT, example_id=example, label="age_limit", actor="ops"
    )
    (settled,) = consensus.disagreements(ws, PROJECT, include_settled=True)
    assert settled.adjudicated is not None and settled.adjudicated.annotation_id is not None
    verdict = int(settled.adjudicated.annotation_id)
    # a replica on another host (web-2) claims the drawing, as claim_verdict does there ...
    name, owner = f"verdict:{verdict}", "web-2:4242:9f3a0c1d2e4b6a80:1a2b3c4d"
    with session_scope(ws.db) as session:
        assert leases.try_acquire(session=session, name=name, owner=owner, ttl=DRAWING_FOR)
    rounds()  # ... while this replica's round comes by: it is being drawn, not by this one
    (root,) = [m for m in slack_api.messages(CHANNEL) if m["ts"] == root_ts]
    assert not str(root.get("text")).startswith("Settled")
    # web-2 is killed before chat.update; DRAWING_FOR later its claim has lapsed (released
    # here: the same row a lapsed claim leaves, expires_at in the past)
    with session_scope(ws.db) as session:
        leases.release(session=session, name=name, owner=owner)
    rounds()
    rounds()
    (root,) = [m for m in slack_api.messages(CHANNEL) if m["ts"] == root_ts]
    assert str(root.get("text")).startswith("Settled as age_limit"), root.get("text")


def _limit_file_size(limit: int) -> Callable[[], None]:
    def limit_it() -> None:  # in the child, before it runs labelbot
        import resource

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past it fails (EFBIG) instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return limit_it


def test_a_backup_whose_file_the_disk_refuses_to_grow_is_one_line_naming_it(
    tmp_path: Path, embedding_cache_dir: Path
) -> None:
    import sqlite3
    import subprocess
    import sys

    database = tmp_path / "labelbot.db"
    env = {
        **os.environ, "DATABASE_URL": f"sqlite:///{database}",
        "LABELBOT_DATA_DIR": str(embedding_cache_dir), "HF_HUB_OFFLINE": "1",
    }  # fmt: skip
    labelbot = [sys.executable, "-c", "from bot.console import main; main()"]
    made = subprocess.run([*labelbot, "init"], env=env, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    with sqlite3.connect(database) as conn:  # a database of some size (its notes, say)
        conn.execute("CREATE TABLE ballast (x TEXT)")
        conn.executemany("INSERT INTO ballast VALUES (?)", [("x" * 1000,)] * 1500)
    conn.close()
    size = database.stat().st_size
    assert size > 1_000_000
    target = tmp_path / "backups" / "b.db"
    target.parent.mkdir()
    # the backup's disk takes ~half the database, then refuses (as a quota does: EDQUOT)
    result = subprocess.run(
        [*labelbot, "db", "backup", str(target)], env=env, capture_output=True, text=True,
        preexec_fn=_limit_file_size(size // 2 // 4096 * 4096), timeout=120,
    )  # fmt: skip
    assert result.returncode == 6, result.stderr  # what the machine refuses, as a full disk
    assert list(target.parent.iterdir()) == []  # nothing left (this much holds today)
    said = result.stderr
    assert "Traceback" not in said and said.startswith("error: "), said
    assert str(target) in said, said


@pytest.mark.parametrize("db_url_and_schema", KINDS, indirect=True)
def test_a_card_the_clients_retry_left_unsure_keeps_its_note(
    services: Services, slack_api: FakeSlackAPI
) -> None:
    import threading

    ws = services.ws
    pid = _propose(ws, "merge", LABELS[:2])
    slack_api.lose_answer("chat.postMessage", status=503)  # stored, the answer a 503
    slack_api.fail_next("conversations.history", status=429, retry_after=60)  # can't tell
    slack_api.slow_down("conversations.history", 0.5)

    def refuse_the_retry() -> None:  # the client's retry, after its search, is rate limited
        slack_api.wait_for("conversations.history", 1, timeout=30)
        slack_api.fail_next("chat.postMessage", status=429, retry_after=60)

    refusing = threading.Thread(target=refuse_the_retry)
    refusing.start()
    with contextlib.suppress(Exception):  # raised: the next round tries again
        taxonomy_flow.post_proposals(services, project=PROJECT)
    refusing.join()
    slack_api.slow_down("conversations.history", 0)
    assert len(slack_api.calls("chat.postMessage")) == 2  # the post, and the client's retry
    assert len(slack_api.messages(CHANNEL)) == 1  # the first try landed
    assert proposing.get_proposal(ws, pid).message_ts is None
    taxonomy_flow.post_proposals(services, project=PROJECT)  # the next round
    cards = slack_api.messages(CHANNEL)
    assert len(cards) == 1, [m.get("text") for m in cards]
    assert proposing.get_proposal(ws, pid).message_ts == cards[0]["ts"]


@pytest.mark.parametrize("db_url_and_schema", KINDS, indirect=True)
def test_a_discussion_root_posted_by_a_killed_replica_is_not_posted_again(
    services: Services, slack_api: FakeSlackAPI
) -> None:
    import sqlalchemy as sa

    from bot import flow
    from engine import discussions, messaging

    ws = services.ws
    with session_scope(ws.db, read_only=True) as session:
        example = int(session.execute(sa.text("SELECT min(id) FROM examples")).scalar_one())
    ref = messaging.example_ref(ws, example_id=example)

    def click() -> discussions.Thread:  # an expert's Discuss click, as flow.discuss opens it
        return flow._team_thread(services, user="U0ANA", ref=ref, channel=CHANNEL)

    _killed_once_posted(services, slack_api, click, CHANNEL)
    assert discussions.team_thread(ws, example_id=example) is None  # never recorded
    thread = click()  # the expert clicks Discuss again (another replica, or the restarted one)
    roots = slack_api.messages(CHANNEL)
    assert len(roots) == 1, [m.get("text") for m in roots]
    assert thread.thread_ts == roots[0]["ts"]
