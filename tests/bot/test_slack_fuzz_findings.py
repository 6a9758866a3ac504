"""Findings of fuzzing /slack/events with correctly signed but malformed or hostile requests,
through the real app over HTTP (Bolt, FastAPI, the local Slack Web API): a request Slack never
sends is answered 400 with the reason before any listener reads it; a button or form whose
value labelbot cannot read is "out of date", told in an ephemeral note, with nothing stored;
labelbot answers only at Slack's response_urls. None of them may log an error (labelbot's bug),
answer 500, or store a label or comment."""

from __future__ import annotations

import http.server
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

from bot import ids
from bot.scheduling import proposal_poster
from bot.views.labeling import parse_label_value
from tests.bot.conftest import CHANNEL, PROJECT, Bot
from tests.bot.test_proposals_slack import _merge
from tests.fakes import payloads
from tests.fakes.signing import FORM, sign, signed_event, signed_interactivity
from tests.fakes.slack_client import choices, example_id

# What is checked happens before the database is reached, the same on either.
pytestmark = pytest.mark.parametrize("db_url_and_schema", ["sqlite"], indirect=True)

EXPERT, ADMIN = "U0EXPERT", "U0ADMIN"
OUT_OF_DATE = "out of date"


def _labeling_message(bot: Bot) -> dict[str, Any]:
    bot.slack.command(EXPERT, "")
    bot.settle()
    (message,) = bot.slack.open_examples(EXPERT)
    return message


def _annotations(bot: Bot) -> int:
    with bot.ws.db.connect() as connection:
        return int(connection.execute(sa.text("select count(*) from annotations")).scalar_one())


def _post_payload(bot: Bot, payload: dict[str, Any]) -> int:
    response = bot.slack.post(signed_interactivity(bot.slack.secret, payload))
    bot.settle()
    return response.status_code


def _no_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_click_with_no_actions_is_answered_400_not_500(
    bot: Bot, bank: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """Bolt builds every middleware's arguments from ``actions[0]``: an empty list made it fail
    (and its error handler, building the same arguments) with a 500."""
    message = _labeling_message(bot)
    choice = choices(message)[0]
    payload = bot.slack.action_payload(EXPERT, message, choice.action_id, choice.value,
                                       block_id=choice.block_id)  # fmt: skip
    payload["actions"] = []
    response = bot.slack.post(signed_interactivity(bot.slack.secret, payload))
    bot.settle()
    assert response.status_code == 400
    assert "actions" in response.text
    assert _no_errors(caplog) == []
    assert _annotations(bot) == 0


@pytest.mark.parametrize(
    ("action_id", "value"),
    [
        ("label", "{eid}/1/2/3"),  # not "<example id>/<label id>"
        ("label", "-1/-1"),
        ("label", "{eid}/99999999999999999999999"),  # past any row id
        (ids.SKIP, ""),
        (ids.UNDO, "{eid}|1h"),
        (ids.DISCUSS, "٣"),  # a digit int() takes, but no id labelbot wrote
        (ids.FLAG, "{eid}/1"),
        (ids.SHOW_FULL_TEXT, "1e3"),
        (ids.REVIEW_KEEP, "/"),
        (ids.PROMOTE_MODEL, f"{PROJECT}:latest"),
        (ids.PROPOSAL_APPROVE, f"{PROJECT}:"),
        (ids.SNOOZE, "x|1h"),
        (f"{ids.SETTLE}:0", "|{eid}"),
    ],
)
def test_a_button_value_labelbot_cannot_read_is_out_of_date(
    bot: Bot, bank: dict[str, str], caplog: pytest.LogCaptureFixture, action_id: str, value: str
) -> None:
    """Each listener parsed its value with int() or a split: a value it could not read was
    logged as labelbot's bug and answered "something went wrong"."""
    message = _labeling_message(bot)
    eid = example_id(message)
    choice = choices(message)[0]
    action_id = choice.action_id if action_id == "label" else action_id
    value = value.format(eid=eid)
    option = {"text": {"type": "plain_text", "text": "x"}, "value": value}
    payload = bot.slack.action_payload(
        EXPERT, message, action_id, value, block_id=choice.block_id,
        selected_option=option if action_id == ids.SNOOZE else None,
    )  # fmt: skip
    assert _post_payload(bot, payload) == 200
    answer = bot.slack.ephemerals(EXPERT)[-1]
    assert OUT_OF_DATE in answer and "Nothing was changed" in answer
    assert _no_errors(caplog) == []
    assert _annotations(bot) == 0


def test_a_label_click_of_well_formed_value_still_stores_the_label(
    bot: Bot, bank: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """The checks leave Slack's own clicks alone."""
    message = _labeling_message(bot)
    choice = choices(message)[0]
    assert parse_label_value(choice.value)[0] == example_id(message)
    assert bot.slack.choose(EXPERT, message, choice.label).status_code == 200
    bot.settle()
    assert _annotations(bot) == 1
    assert _no_errors(caplog) == []


def test_a_flag_form_without_its_reason_field_asks_for_one(
    bot: Bot, bank: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """The flag form read its field before the ack: a KeyError there was answered 500."""
    message = _labeling_message(bot)
    meta = json.dumps({"example_id": example_id(message)})
    payload = payloads.view_submission(EXPERT, ids.FLAG_MODAL, {}, private_metadata=meta)
    response = bot.slack.post(signed_interactivity(bot.slack.secret, payload))
    bot.settle()
    assert response.status_code == 200
    assert response.json()["response_action"] == "errors"
    assert ids.FLAG_REASON_BLOCK in response.json()["errors"]
    assert _no_errors(caplog) == []


@pytest.mark.parametrize("meta", ["not json", "null", '{"proposal": 1}'])
def test_a_form_whose_metadata_labelbot_cannot_read_is_closed_as_out_of_date(
    bot: Bot, bank: dict[str, str], caplog: pytest.LogCaptureFixture, meta: str
) -> None:
    """The taxonomy and proposal forms read their private_metadata before the ack: a
    JSONDecodeError or KeyError there was answered 500."""
    from engine import projects

    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    _merge(bot)
    proposal_poster(bot.services)()
    before = len(bot.api.calls("chat.postMessage"))
    for callback in (ids.TAXONOMY_MODAL, ids.PROPOSAL_MODAL):
        payload = payloads.view_submission(ADMIN, callback, {}, private_metadata=meta)
        assert _post_payload(bot, payload) == 200
    told = [c.params.get("text", "") for c in bot.api.calls("chat.postMessage")[before:]
            if c.params.get("channel") == ADMIN]  # fmt: skip
    assert len(told) == 2 and all(OUT_OF_DATE in t for t in told)
    assert _no_errors(caplog) == []


def test_a_thread_reply_with_a_lone_surrogate_is_refused_and_stores_nothing(
    bot: Bot, bank: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """A lone surrogate ("\\udfff") is legal JSON but no UTF-8: storing the comment failed in
    the driver (logged as labelbot's bug); PostgreSQL also refuses a NUL."""
    message = _labeling_message(bot)
    bot.slack.click(EXPERT, message, ids.DISCUSS)
    bot.settle()
    thread = [m for m in bot.api.messages(CHANNEL) if not m.get("thread_ts")][-1]["ts"]
    for text in ("broken \udfff", "nul \x00 inside"):
        envelope = payloads.message_event(CHANNEL, EXPERT, text, "1796000000.000100", thread)
        response = bot.slack.post(signed_event(bot.slack.secret, envelope))
        bot.settle()
        assert response.status_code == 400
    with bot.ws.db.connect() as connection:
        assert connection.execute(sa.text("select count(*) from comments")).scalar_one() == 0
    assert _no_errors(caplog) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("user_id", None),
        ("user_id", ""),
        ("channel_id", None),
        ("trigger_id", None),
        ("response_url", None),
    ],  # fmt: skip
)
def test_a_slash_command_without_its_user_or_channel_is_answered_400(
    bot: Bot, bank: dict[str, str], caplog: pytest.LogCaptureFixture, field: str, value: Any
) -> None:
    form = payloads.slash_command(EXPERT, "", bot.api.dm_channel(EXPERT),
                                  response_url=bot.api.response_url(EXPERT))  # fmt: skip
    if value is None:
        del form[field]
    else:
        form[field] = value
    response = bot.slack.post(sign(bot.slack.secret, urlencode(form), FORM))
    bot.settle()
    assert response.status_code == 400 and field in response.json()["detail"]
    assert response.json()["error"] == "Bad Request"  # JSON, as every other error
    assert _no_errors(caplog) == []


@pytest.mark.parametrize("broken", ["message", "channel", "user"])
def test_a_shortcut_of_another_shape_is_answered_400(
    bot: Bot, bank: dict[str, str], caplog: pytest.LogCaptureFixture, broken: str
) -> None:
    payload = payloads.message_shortcut(EXPERT, ids.CLASSIFY_SHORTCUT, CHANNEL, "1.1", "my card")
    payload["response_url"] = bot.api.response_url(EXPERT)
    payload[broken] = "x"
    assert _post_payload(bot, payload) == 400
    assert _no_errors(caplog) == []


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_POST(self) -> None:  # noqa: N802
        _Recorder.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(params=["127.0.0.2", "127.0.0.1"], ids=["another-host", "another-port"])
def elsewhere(request: pytest.FixtureRequest) -> Iterator[str]:
    """An HTTP server on loopback that is not Slack's, recording what is posted to it: on
    another host than the fake Web API (127.0.0.1), or on that host at another port (a port of
    SLACK_API_URL's host was trusted too)."""
    _Recorder.hits = []
    server = http.server.ThreadingHTTPServer((request.param, 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{request.param}:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("kind", ["command", "click"])
def test_labelbot_answers_only_at_slacks_response_urls(
    bot: Bot, bank: dict[str, str], caplog: pytest.LogCaptureFixture, elsewhere: str, kind: str
) -> None:
    """labelbot posted its answer to whatever response_url the payload named (SSRF): only
    hooks.slack.com and the Web API's own origin (SLACK_API_URL: host and port) are Slack's."""
    target = f"{elsewhere}/internal/admin"
    if kind == "command":
        form = payloads.slash_command(EXPERT, "help", bot.api.dm_channel(EXPERT),
                                      response_url=target)  # fmt: skip
        response = bot.slack.post(sign(bot.slack.secret, urlencode(form), FORM))
    else:
        message = _labeling_message(bot)
        payload = bot.slack.action_payload(EXPERT, message, ids.SKIP, "-1")
        payload["response_url"] = target
        response = bot.slack.post(signed_interactivity(bot.slack.secret, payload))
    bot.settle()
    assert response.status_code == 400 and "response_url" in response.json()["detail"]
    assert _Recorder.hits == []
    assert _no_errors(caplog) == []


def test_a_response_url_of_slacks_web_api_host_is_answered(
    bot: Bot, bank: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    assert bot.slack.command(EXPERT, "help").status_code == 200
    bot.settle()
    assert "/label" in bot.slack.ephemerals(EXPERT)[-1]
    assert _no_errors(caplog) == []


@pytest.mark.parametrize("field", ["user", "team", "channel"])
def test_a_user_team_or_channel_that_is_a_number_is_answered_400(
    bot: Bot, bank: dict[str, str], field: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Bolt's request builder raised TypeError on a number where Slack sends an object: the
    server closed the connection (a 500) instead of answering."""
    message = _labeling_message(bot)
    choice = choices(message)[0]
    payload = bot.slack.action_payload(EXPERT, message, choice.action_id, choice.value,
                                       block_id=choice.block_id)  # fmt: skip
    payload[field] = 5
    response = bot.slack.post(signed_interactivity(bot.slack.secret, payload))
    bot.settle()
    assert response.status_code == 400
    assert _no_errors(caplog) == []
    assert _annotations(bot) == 0
