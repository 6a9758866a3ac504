"""Fixes from the security audit, through the real app over HTTP: one Discuss thread however
many clicks race, annotator names that are no Slack ids never become mentions, the bearer token
on every path but the public ones (under a root path too, /openapi.json included), escaped names
in the "already settled" answer, and 400 for a signed body that is no Slack payload -- on SQLite
and PostgreSQL."""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from bot import disputes, ids
from bot.api import create_api
from bot.slack_text import who
from bot.views.digest import digest_message
from bot.views.models import LabelChoice
from bot.views.review import ReviewCard, review_message
from engine import consensus, projects
from engine.digest import Digest
from engine.forecast import fit_learning_curve, stop_signal
from engine.leaderboard import Standing
from storage.db import session_scope
from storage.models import DiscussionThread
from tests.bot.conftest import API_TOKEN, CHANNEL, Bot, slack_settings
from tests.fakes.server import ServerThread
from tests.fakes.signing import FORM, sign, signed_interactivity
from tests.fakes.slack_client import button, example_id

U1 = "U0ALICE"
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
WALTER = "Walter"  # `labelbot label --annotator Walter`: a name, not a Slack id
INJECTED = "U0X> <!channel"  # a crafted --annotator value
EVIL_LABEL = "<https://evil.example|Open the form>"


# --- 1. Concurrent Discuss clicks open one thread -----------------------------------------------


def _team_threads(bot: Bot, eid: int) -> int:
    with session_scope(bot.ws.db, read_only=True) as session:
        query = sa.select(sa.func.count()).select_from(DiscussionThread)
        query = query.where(DiscussionThread.example_id == eid, DiscussionThread.kind == "team")
        return int(session.execute(query).scalar_one())


def test_concurrent_discuss_clicks_post_one_thread(bot: Bot, bank: dict[str, str]) -> None:
    bot.slack.command(U1)
    bot.settle()
    (message,) = bot.slack.open_examples(U1)
    eid = example_id(message)
    assert eid is not None
    # A slow Slack widens the race: each click used to see "no thread" while the first posted.
    bot.api.slow_down("chat.postMessage", 0.3, channel=CHANNEL)
    block_id, el = button(message, ids.DISCUSS)
    clicks = [
        signed_interactivity(
            bot.slack.secret,
            bot.slack.action_payload(U1, message, ids.DISCUSS, el["value"], block_id=block_id),
        )
        for _ in range(4)
    ]
    barrier = threading.Barrier(len(clicks))
    statuses: list[int] = []

    def click(signed) -> None:  # type: ignore[no-untyped-def]
        barrier.wait()
        statuses.append(bot.slack.post(signed).status_code)

    threads = [threading.Thread(target=click, args=(c,)) for c in clicks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    bot.settle()

    assert statuses == [200] * 4
    roots = [m for m in bot.api.messages(CHANNEL) if f"Example #{eid}" in json.dumps(m)]
    assert len(roots) == 1, f"{len(roots)} discussion threads posted"
    assert _team_threads(bot, eid) == 1
    # The link to that one thread is posted once under the message, and no click errs.
    notes = [m for m in bot.slack.dm(U1) if m.get("thread_ts") == message["ts"]]
    assert len(notes) == 1 and "open the thread" in notes[0]["text"]
    assert len({c.params["message_ts"] for c in bot.api.calls("chat.getPermalink")}) == 1
    assert bot.slack.ephemerals(U1) == []


# --- 2. and 5. Names that are no Slack ids; the "already settled" answer ------------------------


def test_only_slack_user_ids_become_mentions() -> None:
    assert who("U012AB3CD") == "<@U012AB3CD>" and who("W0123ABC") == "<@W0123ABC>"
    for name in (WALTER, "Uwe", "Wendy", "import", "U", "U0a"):
        assert who(name) == name
    assert who(INJECTED) == "U0X&gt; &lt;!channel"
    assert who("<@U012AB3CD>") == "&lt;@U012AB3CD&gt;"


def test_review_and_digest_show_names_as_text() -> None:
    labels = [LabelChoice("a", None, 1), LabelChoice("b", None, 2)]
    card = ReviewCard(
        review_id=1, example_id=2, text="t", project="p", given="a", given_by=INJECTED,
        suggested="b", confidence=0.9, labels=labels,
    )  # fmt: skip
    review = json.dumps(review_message(card))
    assert "U0X&gt; &lt;!channel labeled this *a*" in review and "<!channel>" not in review

    forecast = fit_learning_curve([], [])
    d = Digest(
        project="bank", channel=None, since=None, labels_since=6,
        by_annotator=[(WALTER, 3), (INJECTED, 2), ("U012AB3CD", 1)], total_labels=6,
        model_version=None, accuracy=None, accuracy_change=None, weakest=[], per_class_f1={},
        curve=[], forecast=forecast, target=0.9, stop=stop_signal(forecast, [], 0.0),
        open_flags=0, open_discussions=0, generated_at=datetime(2026, 1, 1),
    )  # fmt: skip
    board = [Standing(WALTER, 3, 2), Standing(INJECTED, 2, 1), Standing("U012AB3CD", 1, 1)]
    digest = json.dumps(digest_message(d, leaderboard=board))
    assert "Walter 3, U0X&gt; &lt;!channel 2, <@U012AB3CD> 1" in digest
    assert ":first_place_medal: Walter 3" in digest
    assert ":second_place_medal: U0X&gt; &lt;!channel 2" in digest
    assert "<@Walter>" not in digest and "<!channel>" not in digest


def _mrkdwn(found: object) -> list[str]:
    """Every text Slack reads as mrkdwn in a message: its fallback text and mrkdwn objects."""
    if isinstance(found, dict):
        here = [found["text"]] if isinstance(found.get("text"), str) and "blocks" in found else []
        if found.get("type") == "mrkdwn":
            here.append(found["text"])
        return here + [t for v in found.values() for t in _mrkdwn(v)]
    if isinstance(found, list):
        return [t for v in found for t in _mrkdwn(v)]
    return []


def _import_vote(
    bot: Bot, tmp_path: Path, *, label: str, annotator: str, project: str = "names"
) -> None:
    """``annotator``'s ``label`` for "where is my new card" (and three texts unlabeled) imported
    into ``project``."""
    path = tmp_path / f"{len(list(tmp_path.iterdir()))}.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerow(["where is my new card", label])
        writer.writerows([f"another text {i}", ""] for i in range(3))
    projects.import_file(bot.ws, project=project, path=path, annotator=annotator)


def test_a_disagreement_between_named_annotators_mentions_nobody(bot: Bot, tmp_path: Path) -> None:
    projects.create_project(bot.ws, name="names", labels=["card", EVIL_LABEL], channel_id=CHANNEL)
    projects.update_settings(bot.ws, project="names", admins=["U0ADMIN"])
    _import_vote(bot, tmp_path, label="card", annotator=WALTER)
    _import_vote(bot, tmp_path, label=EVIL_LABEL, annotator=INJECTED)
    (found,) = consensus.disagreements(bot.ws, "names")
    assert disputes.open_if_disputed(bot.services, project="names", example_id=found.example_id)

    (root,) = bot.api.messages(CHANNEL)
    posted = json.dumps(_mrkdwn(root))  # plain_text (a button's label) shows as typed
    assert "Walter chose *card*" in posted and "<@Walter>" not in posted
    assert "U0X&gt; &lt;!channel chose" in posted
    assert "<!channel>" not in posted and "<https://evil" not in posted

    # Settled from the terminal by "alice"; then an admin clicks a button still on the root.
    consensus.adjudicate(
        bot.ws, project="names", example_id=found.example_id, label=EVIL_LABEL, actor="alice"
    )
    bot.slack.click("U0ADMIN", root, f"{ids.SETTLE}:0", channel=CHANNEL)
    bot.settle()
    (answer,) = bot.slack.ephemerals("U0ADMIN")
    assert answer == (
        ":warning: This was already settled as *&lt;https://evil.example|Open the form&gt;* "
        "by alice. Nothing was changed."
    )


# --- 3. and 4. The bearer token on every path but the public ones -------------------------------


def test_every_path_but_the_public_ones_needs_the_token(bot: Bot) -> None:
    http = bot.slack.http
    assert http.get("/healthz").status_code == 200
    assert http.get("/slack/events").status_code == 405  # reached without the token
    for path in ("/openapi.json", "/api/projects", "/docs", "/anything"):
        answer = http.get(path)
        assert answer.status_code == 401, path
        assert answer.json()["error"] == "Unauthorized"
    schema = http.get("/openapi.json", headers=AUTH)
    assert schema.status_code == 200 and "/api/projects" in schema.json()["paths"]


@pytest.fixture
def rooted(bot: Bot, db_url_and_schema, embedding_cache_dir) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The same app served under a root path, as behind a proxy that strips the prefix
    `/labelbot` (uvicorn --root-path): uvicorn puts the prefix back in front of
    scope["path"], and the router strips it again."""
    url, _ = db_url_and_schema
    settings = slack_settings(url, bot.api.api_url, embedding_cache_dir)
    server = ServerThread(create_api(settings, bot.services))
    server.server.config.root_path = "/labelbot"
    with server:
        yield server.url


def test_a_root_path_does_not_bypass_the_token(bot: Bot, rooted: str) -> None:
    projects.create_project(bot.ws, name="secret", labels=["a", "b"])
    with httpx.Client(base_url=rooted) as http:
        for path in ("/api/projects", "/openapi.json", "/labelbot/api/projects"):
            answer = http.get(path)
            assert answer.status_code == 401, path
            assert "secret" not in answer.text
        listed = http.get("/api/projects", headers=AUTH)
        assert listed.status_code == 200 and [p["name"] for p in listed.json()] == ["secret"]
        assert http.get("/openapi.json", headers=AUTH).status_code == 200
        # public under the prefix too: answered, not refused for want of the token (its "ok"
        # is false when the database takes over 2 s, as under a loaded CI machine)
        health = http.get("/healthz")
        assert health.status_code in (200, 503) and "ok" in health.json(), health.text


# --- 7. A signed body that is no Slack payload -------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type"),
    [("payload=%7B%7D", FORM), ("{}", "application/json"), ('{"type": ""}', "application/json")],
)
def test_a_signed_object_that_is_no_slack_payload_is_400(
    bot: Bot, body: str, content_type: str
) -> None:
    answer = bot.slack.post(sign(bot.slack.secret, body, content_type))
    assert answer.status_code == 400
    assert answer.json() == {"error": "Bad Request", "detail": "the body is not a Slack payload"}
