"""The fake Web API behaves like Slack for slack_sdk, and signed requests verify."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier

from tests.bot.conftest import BOT_TOKEN
from tests.fakes import payloads
from tests.fakes.signing import signed_event, signed_interactivity, signed_slash_command
from tests.fakes.slack_api import FakeSlackAPI

SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}


def test_base_url_without_trailing_slash_still_reaches_api(slack_api: FakeSlackAPI) -> None:
    # slack_sdk appends "/" and urljoins the method, so both spellings of SLACK_API_URL work.
    client = WebClient(token=BOT_TOKEN, base_url=slack_api.api_url.rstrip("/"))
    assert client.auth_test()["user_id"] == slack_api.bot_user_id
    assert slack_api.calls("auth.test")[0].headers["authorization"] == f"Bearer {BOT_TOKEN}"


def test_rate_limited_call_is_retried(slack_api: FakeSlackAPI) -> None:
    client = WebClient(
        token=BOT_TOKEN,
        base_url=slack_api.api_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
    )
    slack_api.fail_next("chat.postMessage", status=429, retry_after=0)
    response = client.chat_postMessage(channel="C1", text="hi", blocks=[SECTION])
    assert response["ok"] and response["message"]["blocks"] == [SECTION]
    assert len(slack_api.calls("chat.postMessage")) == 2


def test_post_update_and_replies_round_trip(
    slack_client: WebClient, slack_api: FakeSlackAPI
) -> None:
    first = slack_client.chat_postMessage(channel="U42", text="one", blocks=[SECTION])
    second = slack_client.chat_postMessage(channel="U42", text="two")
    assert first["channel"] == second["channel"] == slack_api.dm_channel("U42")
    assert float(second["ts"]) > float(first["ts"])
    slack_client.chat_update(channel=first["channel"], ts=first["ts"], text="done", blocks=[])
    assert slack_api.messages(first["channel"])[0]["text"] == "done"
    slack_api.add_message(first["channel"], text="why?", user="U42", thread_ts=first["ts"])
    replies = slack_client.conversations_replies(channel=first["channel"], ts=first["ts"])
    assert [m["text"] for m in replies["messages"]] == ["done", "why?"]


def test_form_encoded_blocks_are_decoded(slack_client: WebClient, slack_api: FakeSlackAPI) -> None:
    slack_client.api_call(
        "chat.postMessage", data={"channel": "C1", "text": "x", "blocks": json.dumps([SECTION])}
    )
    assert slack_api.calls("chat.postMessage")[0].params["blocks"] == [SECTION]


@pytest.mark.parametrize(
    ("blocks", "error"),
    [
        ([SECTION] * 51, "51 blocks"),
        (
            [
                {
                    "type": "actions",
                    "elements": [
                        _b := {
                            "type": "button",
                            "action_id": "a",
                            "text": {"type": "plain_text", "text": "x" * 76},
                        }
                    ],
                }
            ],
            "text > 75",
        ),  # noqa: E501
        (
            [
                {
                    "type": "actions",
                    "elements": [
                        {**_b, "action_id": f"a{i}", "text": {"type": "plain_text", "text": "x"}}
                        for i in range(26)
                    ],
                }
            ],
            "26 elements",
        ),  # noqa: E501
        ([{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}], "> 3000"),
    ],
)
def test_block_kit_limits_are_rejected(
    slack_client: WebClient, slack_api: FakeSlackAPI, blocks: list[dict[str, object]], error: str
) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        slack_client.chat_postMessage(channel="C1", text="x", blocks=blocks)
    assert excinfo.value.response["error"] == "invalid_blocks"
    assert any(error in e for e in excinfo.value.response["errors"])


def test_missing_text_fallback_is_recorded(
    slack_client: WebClient, slack_api: FakeSlackAPI
) -> None:
    with pytest.warns(UserWarning):  # slack_sdk warns client-side too
        slack_client.chat_postMessage(channel="C1", blocks=[SECTION])
    assert slack_api.warnings == ["chat.postMessage: blocks without a top-level text fallback"]


def test_programmed_failures(slack_client: WebClient, slack_api: FakeSlackAPI) -> None:
    slack_api.fail_next("chat.postMessage", error="not_in_channel")
    with pytest.raises(SlackApiError) as excinfo:
        slack_client.chat_postMessage(channel="C1", text="x")
    assert excinfo.value.response["error"] == "not_in_channel"
    slack_api.fail_next("views.open", status=503)
    with pytest.raises(SlackApiError) as excinfo:
        slack_client.views_open(
            trigger_id="t",
            view={"type": "modal", "title": {"type": "plain_text", "text": "x"}, "blocks": []},
        )  # noqa: E501
    assert excinfo.value.response.status_code == 503
    assert slack_client.chat_postMessage(channel="C1", text="x")["ok"]


def test_bad_token_is_refused(slack_api: FakeSlackAPI) -> None:
    with pytest.raises(SlackApiError) as excinfo:
        WebClient(token="xoxb-wrong", base_url=slack_api.api_url).auth_test()
    assert excinfo.value.response["error"] == "invalid_auth"


def test_users_views_permalink_and_upload(slack_client: WebClient, slack_api: FakeSlackAPI) -> None:
    slack_api.add_user("U7", tz="Asia/Tokyo", tz_offset=32400, is_admin=True)
    user = slack_client.users_info(user="U7")["user"]
    assert (user["tz"], user["tz_offset"], user["is_admin"]) == ("Asia/Tokyo", 32400, True)
    home = {"type": "home", "blocks": [SECTION]}
    first = slack_client.views_publish(user_id="U7", view=home)["view"]["id"]
    assert slack_client.views_publish(user_id="U7", view=home)["view"]["id"] == first
    link = slack_client.chat_getPermalink(channel="C1", message_ts="1.000200")["permalink"]
    assert link.endswith("/archives/C1/p1000200")
    done = slack_client.files_upload_v2(
        channel="C1", content="a,b\n1,2\n", filename="x.csv", title="X"
    )
    assert slack_api.uploads[done["file"]["id"]] == b"a,b\n1,2\n"
    assert slack_api.wait_for("files.completeUploadExternal", count=1, timeout=1)


def test_wait_for_times_out_with_a_clear_message(slack_api: FakeSlackAPI) -> None:
    with pytest.raises(AssertionError, match="expected 1 chat.update"):
        slack_api.wait_for("chat.update", count=1, timeout=0.05)


def test_signed_requests_verify_with_slack_sdk(signing_secret: str) -> None:
    verifier = SignatureVerifier(signing_secret)
    command = signed_slash_command(signing_secret, payloads.slash_command("U1", "predict hi", "C1"))
    action = signed_interactivity(
        signing_secret, payloads.block_actions("U1", "label_skip", "7", "D1", "1.2", [])
    )
    event = signed_event(signing_secret, payloads.app_home_opened("U1"))
    for request in (command, action, event):
        assert verifier.is_valid_request(request.body, request.headers)
    assert parse_qs(command.body)["command"] == ["/label"]
    assert json.loads(parse_qs(action.body)["payload"][0])["actions"][0]["value"] == "7"
    assert not SignatureVerifier("other-secret").is_valid_request(event.body, event.headers)
    stale = signed_event(signing_secret, payloads.app_home_opened("U1"), timestamp=1)
    assert not verifier.is_valid_request(stale.body, stale.headers)


def test_builders_are_accepted_by_the_fake(
    slack_client: WebClient, slack_api: FakeSlackAPI
) -> None:
    from tests.bot.test_views import MESSAGES, VIEWS

    for message in MESSAGES.values():
        assert slack_client.chat_postMessage(channel="U1", **message)["ok"]
    slack_client.views_publish(user_id="U1", view=VIEWS["home"])
    slack_client.views_open(trigger_id="1.2.3", view=VIEWS["flag"])
    assert slack_api.warnings == []
