"""While PostgreSQL refuses labelbot's database (a real outage of a database of our own: its
connection limit set to 0 and its connections terminated), a click and /label are answered with
an ephemeral that says so (it was "something went wrong", with a traceback each), the REST API
answers 503 with the reason, `labelbot status` is one line with exit code 7, and the scheduler
jobs and the outbox loop log one WARNING line each (they logged a traceback per job per poll:
~2,000 lines a minute); when the database is back everything works again and it is said once.
"""

from __future__ import annotations

import asyncio
import csv
import logging
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from bot.api import _retry_outbox, create_api
from bot.app import DATABASE_UNAVAILABLE
from bot.cli import app as cli
from bot.scheduling import bot_scheduler
from bot.services import build_services
from engine import projects
from engine.config import Settings
from engine.workspace import Workspace
from tests.bot.conftest import API_TOKEN, SIGNING_SECRET, Bot, TrackingExecutor, slack_settings
from tests.conftest import POSTGRES_URL
from tests.fakes.server import ServerThread
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_client import SlackSim, choices

pytestmark = pytest.mark.postgres

U1 = "U0OUTAGE"
PROJECT = "bank"
LABELS = ["card_arrival", "age_limit", "atm_support"]
TEXTS = ["Where is my new card?", "How old must I be?", "The ATM ate my card", "Card not here"]
UNREACHABLE = "the database cannot be reached just now"
UNREACHABLE_LOG = "the database cannot be reached (connection failed:"


class Outage:
    """A database of our own, owned by a role of our own (a superuser ignores CONNECTION
    LIMIT), that can be made to refuse every connection and given back."""

    def __init__(self, admin: sa.Engine, name: str) -> None:
        self.admin = admin
        self.name = name
        self.url = f"postgresql+psycopg://{name}@127.0.0.1:5432/{name}"

    def _sql(self, statement: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(sa.text(statement))

    def start(self) -> None:
        self._sql(f'ALTER DATABASE "{self.name}" CONNECTION LIMIT 0')
        self._sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{self.name}' AND pid <> pg_backend_pid()"
        )

    def end(self) -> None:
        self._sql(f'ALTER DATABASE "{self.name}" CONNECTION LIMIT -1')


@pytest.fixture
def outage() -> Iterator[Outage]:
    name = f"lb_outage_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE ROLE "{name}" LOGIN'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}" OWNER "{name}"'))
    down = Outage(admin, name)
    try:
        yield down
    finally:
        down.end()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'DROP ROLE "{name}"'))
        admin.dispose()


@pytest.fixture
def bot(outage: Outage, encoder, embedding_cache_dir: Path, tmp_path: Path) -> Iterator[Bot]:  # type: ignore[no-untyped-def]
    """The whole bot (FastAPI + Bolt under uvicorn, the fake Slack) on the outage's database,
    with a small project."""
    ws = Workspace.open(
        Settings(DATABASE_URL=outage.url, LABELBOT_DATA_DIR=embedding_cache_dir), encoder=encoder
    )
    projects.create_project(ws, name=PROJECT, labels=LABELS)
    path = tmp_path / "texts.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([["text"], *([t] for t in TEXTS)])
    projects.import_file(ws, project=PROJECT, path=path)
    with FakeSlackAPI(token="xoxb-test-token") as api:
        settings = slack_settings(outage.url, api.api_url, embedding_cache_dir)
        services = build_services(settings, ws=ws)
        services.listener_executor.shutdown()
        services.listener_executor = TrackingExecutor(settings.slack_workers)
        with ServerThread(create_api(settings, services)) as server:
            slack = SlackSim(server.url, api, SIGNING_SECRET)
            harness = Bot(ws, services, api, slack, server.url)
            yield harness
            harness.settle()
            slack.close()
        services.listener_executor.shutdown(wait=True)
        services.dispatch_executor.shutdown(wait=True)
    ws.close()


def _problems(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Lines logged as errors, or with a traceback."""
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def _warnings(caplog: pytest.LogCaptureFixture, *words: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and all(w in r.getMessage() for w in words)
    ]


def test_slack_during_an_outage_says_the_database_cannot_be_reached(
    bot: Bot, outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    assert bot.slack.command(U1).status_code == 200
    bot.settle()
    [message] = bot.slack.open_examples(U1)
    label = choices(message)[0].label

    outage.start()
    caplog.clear()
    with caplog.at_level(logging.INFO):
        assert bot.slack.choose(U1, message, label).status_code == 200
        assert bot.slack.command(U1).status_code == 200
        bot.settle()
    told = bot.slack.ephemerals(U1)
    assert told == [f":warning: {DATABASE_UNAVAILABLE}"] * 2, told
    assert "nothing was stored" in DATABASE_UNAVAILABLE and "in a minute" in DATABASE_UNAVAILABLE
    assert _problems(caplog) == []
    logged = _warnings(caplog, UNREACHABLE, U1)
    assert len(logged) == 2 and "too many connections" in logged[0], logged

    outage.end()  # back: the same click is stored
    assert bot.slack.choose(U1, message, label).status_code == 200
    bot.settle()
    assert len(bot.slack.ephemerals(U1)) == 2  # nothing new to apologise for
    assert any(f"Labeled {label}" in m.get("text", "") for m in bot.slack.dm(U1))


def test_the_rest_api_answers_503_and_logs_the_reason(
    bot: Bot, outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    import httpx

    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    outage.start()
    with caplog.at_level(logging.WARNING):
        answer = httpx.get(f"{bot.url}/api/projects/{PROJECT}/status", headers=auth, timeout=30)
    assert answer.status_code == 503, answer.text
    assert answer.headers["retry-after"] == "60"
    body = answer.json()
    assert body["error"] == "DatabaseUnavailable"
    # the driver's words name the database's host and port: the log has them, not the answer
    assert body["detail"].startswith(UNREACHABLE) and "5432" not in body["detail"]
    (logged,) = _warnings(caplog, f"GET /api/projects/{PROJECT}/status: 503:", UNREACHABLE)
    assert "too many connections" in logged
    outage.end()
    answer = httpx.get(f"{bot.url}/api/projects/{PROJECT}/status", headers=auth, timeout=30)
    assert answer.status_code == 200, answer.text


def test_scheduler_jobs_log_one_warning_each_and_the_recovery_once(
    bot: Bot, outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    scheduler = bot_scheduler(bot.services, poll_seconds=60)
    jobs = {job.id: job.func for job in scheduler.get_jobs()}
    assert {"retrain", "proposals", "reviews", "tidy", "digests", "send_nudges"} <= set(jobs)
    outage.start()
    with caplog.at_level(logging.INFO):
        for _ in range(3):  # three polls of every job: one line each, not a traceback a poll
            for run in jobs.values():
                run()
        assert _problems(caplog) == []
        for job in jobs:
            assert len(_warnings(caplog, f"scheduler: {job} skipped: {UNREACHABLE_LOG}")) == 1, job
        assert len(caplog.records) == len(jobs), [r.getMessage() for r in caplog.records]

        outage.end()
        caplog.clear()
        for run in jobs.values():
            run()
    back = [r.getMessage() for r in caplog.records if "reachable again" in r.getMessage()]
    assert back == ["scheduler: database reachable again"]
    assert _problems(caplog) == []


def test_the_outbox_loop_logs_one_warning_and_the_recovery_once(
    bot: Bot, outage: Outage, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    courier = bot.services.courier
    flush = courier.flush
    rounds: list[object] = []

    def counted() -> Any:
        try:
            return flush()
        finally:
            rounds.append(None)

    monkeypatch.setattr(courier, "flush", counted)

    async def scenario() -> None:
        async def until(done: Callable[[], bool]) -> None:
            while not done():
                await asyncio.sleep(0.01)

        task = asyncio.create_task(_retry_outbox(bot.services, 0.01))
        await until(lambda: len(rounds) >= 4)  # four rounds into the outage
        assert _problems(caplog) == []
        assert len(_warnings(caplog, "outbox: flush skipped:", UNREACHABLE_LOG)) == 1
        outage.end()
        seen = len(rounds)
        await until(lambda: len(rounds) >= seen + 2)
        task.cancel()

    outage.start()
    with caplog.at_level(logging.INFO):
        asyncio.run(scenario())
    back = [r.getMessage() for r in caplog.records if "reachable again" in r.getMessage()]
    assert back == ["outbox: database reachable again"]
    assert _problems(caplog) == []


def test_labelbot_status_during_an_outage_is_one_line_with_exit_code_7(
    outage: Outage, embedding_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine.config import get_settings

    monkeypatch.setenv("DATABASE_URL", outage.url)
    monkeypatch.setenv("LABELBOT_DATA_DIR", str(embedding_cache_dir))
    get_settings.cache_clear()
    try:
        assert (
            CliRunner().invoke(cli, ["project", "create", PROJECT, "--labels", "A,B"]).exit_code
            == 0
        )
        outage.start()
        result = CliRunner().invoke(cli, ["status", PROJECT])
        outage.end()
        assert result.exit_code == 7, result.output
        [line] = result.output.strip().splitlines()
        assert line.startswith(f"error: the database '{outage.name}' at 127.0.0.1:5432 cannot be")
        assert "too many connections" in line and "try again in a minute" in line
        assert CliRunner().invoke(cli, ["status", PROJECT]).exit_code == 0
    finally:
        get_settings.cache_clear()
