"""REST API audit findings: a database that stops answering (no refusal: a partition, a frozen
host) held predict and GET /api/projects for minutes, where a 503 DatabaseUnavailable with
Retry-After is promised (now: within LABELBOT_API_DEADLINE_SECONDS, predict's encoding not
counted), and the 503's detail named the database's host and port (now only the log does);
after a split, the promoted retrain, which had no example of the new labels, listed them in
every `top` at a made-up probability and said nothing (now: left out of `top`, named in
`notes`); predict ignored fields it does not know ({"top_k": 5}): `top_k` is now one, and any
other field is refused with a 422 naming it."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bot import api as http_api
from bot.api import create_api
from bot.services import build_services
from engine import taxonomy, training
from engine.config import Settings
from engine.workspace import Workspace
from tests.bot.conftest import API_TOKEN, PROJECT, Bot, slack_settings, train_bank
from tests.conftest import POSTGRES_URL
from tests.fakes.server import ServerThread
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.stalling import StallingProxy
from tests.helpers import label_next, load_slice

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
PREDICT = f"/api/projects/{PROJECT}/predict"
AGE = "How old do I need to be to open an account?"
DEADLINE_S = 1


@pytest.fixture
def stalling(
    encoder, embedding_cache_dir: Path, banking_slice: list[tuple[str, str]], tmp_path: Path
) -> Iterator[tuple[str, StallingProxy]]:  # type: ignore[no-untyped-def]
    """(the server's URL, the proxy): labelbot serving a trained project from PostgreSQL
    through a :class:`StallingProxy`, with a deadline of ``DEADLINE_S`` s."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    real = make_url(POSTGRES_URL)
    try:
        with StallingProxy((real.host or "127.0.0.1", real.port or 5432)) as proxy:
            url = real.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
            settings = Settings(DATABASE_URL=url, LABELBOT_DATA_DIR=embedding_cache_dir)
            ws = Workspace.open(settings, schema=schema, encoder=encoder)
            truth = load_slice(ws, banking_slice, tmp_path)
            label_next(ws, truth, 40)
            training.train_project(ws, "bank")
            with FakeSlackAPI(token="xoxb-test-token") as slack:
                served = slack_settings(
                    url,
                    slack.api_url,
                    embedding_cache_dir,
                    LABELBOT_API_DEADLINE_SECONDS=DEADLINE_S,
                )
                services = build_services(served, ws=ws)
                with ServerThread(create_api(served, services)) as server:
                    try:
                        yield server.url, proxy
                    finally:
                        proxy.resume()  # the requests left waiting get their answers, and end
                services.listener_executor.shutdown(wait=True)
                services.dispatch_executor.shutdown(wait=True)
            ws.close()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.mark.postgres
def test_a_database_that_stops_answering_is_a_503_within_the_deadline(
    stalling: tuple[str, StallingProxy], caplog: pytest.LogCaptureFixture
) -> None:
    url, proxy = stalling
    # a bounded wait: a request that hangs fails the test instead of holding it
    with httpx.Client(base_url=url, headers=AUTH, timeout=90) as http:
        assert http.get("/api/projects").status_code == 200  # connections in the pool
        assert http.post(PREDICT, json={"texts": [AGE]}).status_code == 200

        proxy.stall()
        with caplog.at_level(logging.WARNING, logger="bot.api"):
            answers = [
                http.get("/api/projects"),
                http.get(f"/api/projects/{PROJECT}/status"),
                http.post(PREDICT, json={"texts": [AGE, "a text it never saw"]}),
                http.get(f"/api/projects/{PROJECT}/export"),
            ]
        for answer in answers:
            assert answer.status_code == 503, answer.text
            assert answer.headers["retry-after"] == "60"
            assert answer.json() == {
                "error": "DatabaseUnavailable",
                "detail": http_api.UNAVAILABLE,
            }
        late = [r.getMessage() for r in caplog.records if "did not answer within" in r.getMessage()]
        assert len(late) == 4 and late[0].startswith("GET /api/projects: 503: "), late

        proxy.resume()  # the same server answers again: within seconds (a pooled connection
        # the stall left mid-query may still cost a request its 1 s deadline on a loaded box)
        deadline = time.monotonic() + 10
        while (back := http.get("/api/projects")).status_code == 503:
            assert time.monotonic() < deadline, back.text
            time.sleep(0.2)
        assert back.json()[0]["name"] == PROJECT

        # a database that refuses connections: the driver's words name its host and port,
        # which the log keeps and the answer does not
        proxy.close()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="bot.api"):
            refused = http.get("/api/projects")
        assert refused.status_code == 503 and refused.headers["retry-after"] == "60"
        assert refused.json()["detail"] == http_api.UNAVAILABLE
        assert str(proxy.port) not in refused.text
        assert any(str(proxy.port) in r.getMessage() for r in caplog.records)


def test_predict_takes_top_k_and_refuses_fields_it_does_not_know(
    bot: Bot, bank: dict[str, str]
) -> None:
    train_bank(bot, bank)

    def post(body: dict[str, object]) -> httpx.Response:
        return bot.slack.http.post(PREDICT, json=body, headers=AUTH)

    def tops(body: dict[str, object]) -> list[list[str]]:
        answer = post(body)
        assert answer.status_code == 200, answer.text
        assert answer.json()["notes"] == []  # every label has examples: all can be listed
        return [[t["label"] for t in p["top"]] for p in answer.json()["predictions"]]

    assert [len(t) for t in tops({"texts": [AGE, "card?"]})] == [3, 3]  # as before
    assert [len(t) for t in tops({"texts": [AGE], "top_k": 5})] == [5]
    assert tops({"texts": [AGE], "top_k": 1}) == [["age_limit"]]

    extra = post({"texts": [AGE], "top_k": 2, "text": "ignored too"})
    assert extra.status_code == 422
    assert [(p["type"], p["loc"]) for p in extra.json()["detail"]] == [
        ("extra_forbidden", ["body", "text"])
    ]
    for bad in (0, -1, "2", 2.5, True):
        refused = post({"texts": [AGE], "top_k": bad})
        assert refused.status_code == 422, bad
        assert [p["loc"] for p in refused.json()["detail"]] == [["body", "top_k"]], bad
    over = post({"texts": [AGE], "top_k": 6})  # the project has 5 labels
    assert over.status_code == 422
    assert over.json() == {
        "error": "InvalidInputError",
        "detail": f"top_k is 6: project {PROJECT!r} has 5 labels, ask for 1 to 5",
    }


def test_a_retrain_after_a_split_names_the_labels_it_never_answers(
    bot: Bot, bank: dict[str, str]
) -> None:
    train_bank(bot, bank)
    taxonomy.split_label(
        bot.ws, project=PROJECT, label="atm_support", into=["atm_find", "atm_fee"], actor="U0A"
    )
    # the split's examples went back to the queue: v2 has none of atm_find and atm_fee
    training.train_project(bot.ws, PROJECT)
    pool_text = next(t for t, label in bank.items() if label == "atm_support")
    texts = ["Where is the nearest ATM?", "The ATM charged me a fee", AGE, pool_text]
    for top_k, listed in ((None, 3), (4, 4)):
        body = {"texts": texts} if top_k is None else {"texts": texts, "top_k": top_k}
        answer = bot.slack.http.post(PREDICT, json=body, headers=AUTH)
        assert answer.status_code == 200, answer.text
        said = answer.json()
        assert said["model_version"] == 2
        assert said["notes"] == [
            "model v2 had no labeled examples of atm_find, atm_fee: it never answers them "
            "until a model is trained with some"
        ]
        for prediction in said["predictions"]:
            names = [t["label"] for t in prediction["top"]]
            # the labels with examples only: 4 of the 6 labels today
            assert len(names) == listed and not {"atm_find", "atm_fee"} & set(names), names
            assert names[0] == prediction["label"]
