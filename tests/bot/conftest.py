"""Fixtures for Slack tests: the local fake Web API and a client pointed at it."""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient

from bot.api import create_api
from bot.app import build_app
from bot.config import SlackSettings
from bot.services import Services, build_services
from engine import labeling, projects, training
from engine.config import get_settings
from engine.workspace import Workspace
from tests.fakes.server import ServerThread
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_client import SlackSim

BOT_TOKEN = "xoxb-test-token"
SIGNING_SECRET = "test-signing-secret"


@pytest.fixture
def slack_api() -> Iterator[FakeSlackAPI]:
    """A fresh fake Slack Web API per test, listening on 127.0.0.1 (port chosen by the OS)."""
    with FakeSlackAPI(token=BOT_TOKEN) as api:
        yield api


@pytest.fixture
def slack_api_url(slack_api: FakeSlackAPI, monkeypatch: pytest.MonkeyPatch) -> str:
    """SLACK_API_URL set the way production settings will read it."""
    monkeypatch.setenv("SLACK_API_URL", slack_api.api_url)
    return slack_api.api_url


@pytest.fixture
def slack_client(slack_api: FakeSlackAPI) -> WebClient:
    return WebClient(token=BOT_TOKEN, base_url=slack_api.api_url)


@pytest.fixture
def signing_secret() -> str:
    return SIGNING_SECRET


# --- The whole bot: real FastAPI + Bolt under uvicorn on loopback, on SQLite and PostgreSQL ----

API_TOKEN = "test-api-token"
LABELS = ["card_arrival", "age_limit", "atm_support", "change_pin", "exchange_rate"]
PROJECT = "bank"
CHANNEL = "C0PROJECT"


class TrackingExecutor(ThreadPoolExecutor):
    """A listener pool that knows when all work after the acks is done (`settle`)."""

    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix="listener")
        self._busy = 0
        self._idle = threading.Condition()

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        with self._idle:
            self._busy += 1

        def run():  # type: ignore[no-untyped-def]
            try:
                return fn(*args, **kwargs)
            finally:
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()

        return super().submit(run)

    # generous: a loaded CI machine (2 cores, both test workers busy) ran a first /label past 15 s
    def settle(self, timeout: float = 60.0) -> None:
        with self._idle:
            if not self._idle.wait_for(lambda: self._busy == 0, timeout):
                raise AssertionError(f"listeners still busy after {timeout}s")


@dataclass
class Bot:
    """A running labelbot and a Slack to drive it."""

    ws: Workspace
    services: Services
    api: FakeSlackAPI
    slack: SlackSim
    url: str

    def settle(self) -> None:
        """Wait until every listener started so far has finished (acks return before that)."""
        executor = self.services.listener_executor
        assert isinstance(executor, TrackingExecutor)
        executor.settle()


# How long Bolt waits for a listener's ack before answering 404 (Slack's window, and Bolt's
# default, is 3 s). A form applies its change before the ack (tens of ms here), but a CI machine
# running two test workers beside subprocess tests starved one past 3 s. These tests check what
# is answered; latency is measured in bench/ (README, Slack latency), and the tests that are
# about answering in time (test_admin_checks) time the answer themselves.
ACK_WAIT_IN_TESTS = 30


def slack_settings(url: str, api_url: str, data_dir: Path, **extra: object) -> SlackSettings:
    return SlackSettings(
        DATABASE_URL=url,
        LABELBOT_DATA_DIR=data_dir,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=api_url,
        LABELBOT_API_TOKEN=API_TOKEN,
        LABELBOT_OUTBOX_INTERVAL=0,
        **extra,
    )


def taxonomy_form(
    user: str,
    op: str,
    *,
    label_ids: list[str] | tuple[str, ...] = (),
    names: str | None = None,
    description: str | None = None,
    reason: str | None = None,
    private_metadata: str | None = None,
) -> dict[str, object]:
    """The `/label taxonomy` form submitted by ``user`` with change ``op`` (add, rename, merge,
    ...) on the labels ``label_ids``: the form of project PROJECT unless ``private_metadata``
    (the opened view's) says otherwise."""
    from bot import ids
    from tests.fakes import payloads

    def field(value: object) -> dict[str, object]:
        return {ids.TAXONOMY_INPUT: value}

    values = {
        ids.TAXONOMY_OPERATION_BLOCK: field({"selected_option": {"value": op}}),
        ids.TAXONOMY_LABELS_BLOCK: field({"selected_options": [{"value": i} for i in label_ids]}),
        ids.TAXONOMY_NAMES_BLOCK: field({"value": names}),
        ids.TAXONOMY_DESCRIPTION_BLOCK: field({"value": description}),
        ids.TAXONOMY_REASON_BLOCK: field({"value": reason}),
    }
    metadata = private_metadata or json.dumps({"project": PROJECT})
    return payloads.view_submission(user, ids.TAXONOMY_MODAL, values, private_metadata=metadata)


@pytest.fixture
def bot(
    ws: Workspace, slack_api: FakeSlackAPI, db_url_and_schema, embedding_cache_dir
) -> Iterator[Bot]:  # type: ignore[no-untyped-def]
    url, _ = db_url_and_schema
    settings = slack_settings(url, slack_api.api_url, embedding_cache_dir)
    yield from serving(ws, slack_api, settings, ack_timeout=ACK_WAIT_IN_TESTS)


def serving(
    ws: Workspace, slack_api: FakeSlackAPI, settings: SlackSettings, *, ack_timeout: float | None
) -> Iterator[Bot]:
    """The bot built from ``settings``, served over loopback HTTP, for a fixture to yield;
    ``ack_timeout``: Bolt's wait for a listener's ack (None: Bolt's own, 3 s, as in production)."""
    services = build_services(settings, ws=ws)
    services.listener_executor.shutdown()
    services.listener_executor = TrackingExecutor(settings.slack_workers)
    bolt = build_app(settings, services)
    if ack_timeout is not None:
        for listener in bolt._listeners:  # Bolt's own registry: no public setter
            listener.ack_timeout = ack_timeout
    with ServerThread(create_api(settings, services, bolt=bolt)) as server:
        slack = SlackSim(server.url, slack_api, SIGNING_SECRET)
        harness = Bot(ws, services, slack_api, slack, server.url)
        yield harness
        harness.settle()
        slack.close()
    services.listener_executor.shutdown(wait=True)
    services.dispatch_executor.shutdown(wait=True)


@pytest.fixture
def bank(bot: Bot, banking_slice: list[tuple[str, str]], tmp_path: Path) -> dict[str, str]:
    """The `bank` project (5 Banking77 intents, 150 unlabeled examples, channel CHANNEL) in the
    bot's database; returns the true label of each text."""
    projects.create_project(bot.ws, name=PROJECT, labels=LABELS, channel_id=CHANNEL)
    path = tmp_path / "bank.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text"])
        writer.writerows([t] for t, _ in banking_slice)
    projects.import_file(bot.ws, project=PROJECT, path=path)
    training.rescore_project(bot.ws, PROJECT)
    return dict(banking_slice)


def true_label(bot: Bot, truth: dict[str, str], message: dict[str, object]) -> str:
    """The right answer for the example a labeling message shows."""
    from engine import messaging
    from tests.fakes.slack_client import example_id

    eid = example_id(message)
    assert eid is not None, "not a labeling message"
    return truth[messaging.example_ref(bot.ws, example_id=eid).text]


def train_bank(bot: Bot, bank: dict[str, str], *, labels: int = 30) -> None:
    """Label ``labels`` examples of the bank project by their true label, and train a model."""
    for i in range(labels):
        task = labeling.next_task(bot.ws, project=PROJECT, annotator="U0SEED")
        assert task is not None
        labeling.submit_label(
            bot.ws, project=PROJECT, example_id=task.example_id, label=bank[task.text],
            annotator="U0SEED", source="cli", key=f"seed:{i}",
        )  # fmt: skip
    training.train_project(bot.ws, PROJECT)


# --- The CLI on a test's database ------------------------------------------------------------


def cli_environment(
    monkeypatch: pytest.MonkeyPatch, url: str, data_dir: Path, *, schema: str | None = None
) -> None:
    """`labelbot`'s environment on the database ``url`` (a PostgreSQL ``schema`` goes in the
    URL's search_path, where psycopg takes it from) and ``data_dir``, the settings read afresh."""
    if schema is not None:
        url = f"{url}?options=-csearch_path%3D{schema}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("LABELBOT_DATA_DIR", str(data_dir))
    get_settings.cache_clear()


@pytest.fixture
def cli_env(
    tmp_path: Path, embedding_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """The CLI on a SQLite file of its own, embeddings from the session's cache."""
    cli_environment(monkeypatch, f"sqlite:///{tmp_path / 'cli.db'}", embedding_cache_dir)
    yield
    get_settings.cache_clear()


def cli_on_each(
    databases: Iterator[tuple[str, str | None, Any]],
    monkeypatch: pytest.MonkeyPatch,
    data_dir: Path,
) -> Iterator[Any]:
    """The CLI's environment on each (url, schema, engine) of ``databases`` (tests/storage's
    fresh_database, database_at) in turn: yields the engine."""
    for url, schema, engine in databases:
        cli_environment(monkeypatch, url, data_dir, schema=schema)
        yield engine
        get_settings.cache_clear()


def rest_only_serve(monkeypatch: pytest.MonkeyPatch, directory: Path) -> None:
    """`labelbot serve` as an operator runs the REST API alone: from ``directory`` (no .env), an
    API token, no Slack credential; uvicorn.run returns at once."""
    monkeypatch.chdir(directory)
    monkeypatch.setenv("LABELBOT_API_TOKEN", "rest-token-rest-token-rest-token")
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr("uvicorn.run", lambda api, **kw: None)
