"""Real Slack payloads, as Slack sends them, through the labeling flow over signed HTTP.

tests/fakes/samples/ holds payloads copied from bolt-python's scenario tests (MIT License;
each names its source in ``_source``): their shapes carry what tests/fakes/payloads builds
without (Enterprise Grid's W… users and enterprise fields, a user object with nothing but its
id, another team's id, a thread reply's ``user_profile``, ``source_team`` and
``parent_user_id``, a broadcast reply's ``root``, a modal's ``submit``, ``close`` and ``hash``,
the raw form body of a slash command). Each is sent as it is, with only labelbot's own ids put
in: the user, the channel and message it acts on, the action's id and value, and a
response_url on the fake Web API (labelbot answers only Slack's, and the tests reach nothing
outside 127.0.0.1)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from bot import flow, ids
from engine import exporting, projects
from tests.bot.conftest import CHANNEL, PROJECT, Bot, true_label
from tests.fakes.signing import FORM, sign, signed_event, signed_interactivity
from tests.fakes.slack_client import button, choices, example_id

SAMPLES = Path(__file__).parent.parent / "fakes" / "samples"
GRID_USER = "W111"  # the samples' Enterprise Grid user
U1 = "U0ALICE"


def sample(name: str) -> dict[str, Any]:
    found = json.loads((SAMPLES / f"{name}.json").read_text("utf-8"))
    found.pop("_source")
    return dict(found)


def _command(bot: Bot, user: str, text: str = "") -> None:
    """`/label text` in ``user``'s DM, as the sample's raw form body."""
    raw = sample("slash_command_form_body")
    assert raw["content_type"] == FORM
    form = dict(parse_qsl(raw["raw_body"], keep_blank_values=True))
    assert form == raw["parsed"]
    form.update(user_id=user, channel_id=bot.api.dm_channel(user), channel_name="directmessage",
                command="/label", text=text, response_url=bot.api.response_url(user))  # fmt: skip
    answer = bot.slack.post(sign(bot.slack.secret, urlencode(form), FORM))
    assert answer.status_code == 200, answer.text
    bot.settle()


def _click(
    bot: Bot, user: str, message: dict[str, Any], action: dict[str, Any], *, block_id: str
) -> None:
    """A click on ``message`` in ``user``'s DM, in the shape of the sample of a button in a bot
    message (a user object with only its id, another team's id); ``action`` replaces the
    sample's action fields it names."""
    body = sample("block_actions_button_in_bot_message")
    dm = bot.api.dm_channel(user)
    body["user"] = {"id": user}
    body["container"].update(message_ts=message["ts"], channel_id=dm)
    body["channel"] = {"id": dm}
    body["message"].update(ts=message["ts"], blocks=message["blocks"], text=message["text"])
    body["response_url"] = bot.api.response_url(user)
    (sampled,) = body["actions"]
    body["actions"] = [{**sampled, "block_id": block_id, **action}]
    answer = bot.slack.post(signed_interactivity(bot.slack.secret, body))
    assert answer.status_code == 200, answer.text
    bot.settle()


def test_a_button_click_and_a_menu_pick_in_slacks_own_shape_store_their_labels(
    bot: Bot, bank: dict[str, str]
) -> None:
    _command(bot, U1)
    (message,) = bot.slack.open_examples(U1)
    label = true_label(bot, bank, message)
    choice = next(c for c in choices(message) if c.label == label)
    _click(bot, U1, message, {"action_id": choice.action_id, "value": choice.value},
           block_id=choice.block_id)  # fmt: skip
    (nxt,) = bot.slack.open_examples(U1)
    assert nxt["ts"] != message["ts"]

    # A pick from a static_select: no value of its own, the option chosen as Slack echoes it
    # (its text with "emoji"), the menu's placeholder, and the state of every input.
    projects.add_labels(bot.ws, project=PROJECT, names=[f"extra_{i:02d}" for i in range(11)])
    bot.slack.command(U1)  # posted again with the 16 labels: a menu
    bot.settle()
    (menu_message,) = bot.slack.open_examples(U1)
    block_id, select = button(menu_message, ids.LABEL_SELECT)
    option = next(o for o in select["options"] if o["text"]["text"] == "extra_07")
    picked = {"text": {**option["text"], "emoji": True}, "value": option["value"]}
    _click(bot, U1, menu_message, {
        "type": "static_select", "action_id": ids.LABEL_SELECT, "selected_option": picked,
        "placeholder": {**select["placeholder"], "emoji": True}, "text": None, "value": None,
    }, block_id=block_id)  # fmt: skip
    records = {r["id"]: r["label"] for r in exporting.export_records(bot.ws, PROJECT)}
    assert records[str(example_id(message))] == label
    assert records[str(example_id(menu_message))] == "extra_07"
    assert bot.slack.ephemerals(U1) == []
    answered = next(m for m in bot.slack.dm(U1) if m["ts"] == menu_message["ts"])
    assert not choices(answered) and "extra_07" in answered["text"]


def test_an_enterprise_grid_user_labels_skips_and_flags_from_slacks_shapes(
    bot: Bot, bank: dict[str, str]
) -> None:
    """W111 of the samples: the slash command's raw body, a click shaped as the ephemeral
    sample's (username, the user's team, the organisation's id and name on the team, no
    message object), and the flag form submitted as the view_submission sample."""
    _command(bot, GRID_USER)
    (message,) = bot.slack.open_examples(GRID_USER)
    body = sample("block_actions_button_ephemeral")
    assert body["user"]["id"] == GRID_USER and "message" not in body
    dm = bot.api.dm_channel(GRID_USER)
    body["container"].update(message_ts=message["ts"], channel_id=dm, is_ephemeral=False)
    body["channel"] = {"id": dm, "name": "directmessage"}
    body["response_url"] = bot.api.response_url(GRID_USER)
    block_id, skip = button(message, ids.SKIP)
    body["actions"][0].update(action_id=ids.SKIP, block_id=block_id, value=skip["value"])
    assert bot.slack.post(signed_interactivity(bot.slack.secret, body)).status_code == 200
    bot.settle()
    skipped = next(m for m in bot.slack.dm(GRID_USER) if m["ts"] == message["ts"])
    assert "Skipped" in skipped["text"]

    (nxt,) = bot.slack.open_examples(GRID_USER)
    eid = example_id(nxt)
    assert eid is not None
    form = flow.flag_form(eid, channel=dm, ts=nxt["ts"])
    submitted = sample("view_submission")
    submitted["view"].update(
        callback_id=ids.FLAG_MODAL, private_metadata=form["private_metadata"],
        blocks=form["blocks"],
        state={"values": {ids.FLAG_REASON_BLOCK: {ids.FLAG_REASON_INPUT: {
            "type": "plain_text_input", "value": "two intents in one"}}}},
    )  # fmt: skip
    answer = bot.slack.post(signed_interactivity(bot.slack.secret, submitted))
    assert answer.status_code == 200 and answer.text == "", answer.text  # closed: no errors
    bot.settle()
    record = next(r for r in exporting.export_records(bot.ws, PROJECT) if r["id"] == str(eid))
    assert [f["reason"] for f in record["flags"]] == ["two intents in one"]
    assert len(bot.slack.open_examples(GRID_USER)) == 1  # the next example followed
    flagged = next(m for m in bot.slack.dm(GRID_USER) if m["ts"] == nxt["ts"])
    assert "Flagged by" in flagged["text"] and not choices(flagged)


def test_thread_replies_in_slacks_own_shapes_are_kept_as_comments(
    bot: Bot, bank: dict[str, str]
) -> None:
    """A plain reply (a user of the workspace posting from a shared channel's other team:
    ``source_team``), and one also sent to the channel (``thread_broadcast``, with ``root``),
    each delivered twice as Slack retries: two comments."""
    bot.slack.command(U1)
    bot.settle()
    (message,) = bot.slack.open_examples(U1)
    bot.slack.click(U1, message, ids.DISCUSS)
    bot.settle()
    (root,) = bot.api.messages(CHANNEL)
    plain = sample("event_message_thread_reply_channel")
    broadcast = sample("event_message_thread_broadcast")
    broadcast["event_id"] = "Ev222"  # the samples share their event_id
    for envelope in (plain, broadcast):
        event = envelope["event"]
        assert event.get("thread_ts") and event["thread_ts"] != event["ts"]
        event.update(channel=CHANNEL, thread_ts=root["ts"])
        if "root" in event:
            event["root"].update(ts=root["ts"], thread_ts=root["ts"])
        for retry in ({}, {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}):
            signed = signed_event(bot.slack.secret, envelope)
            headers = {**signed.headers, **retry}
            sent = bot.slack.http.post("/slack/events", content=signed.body, headers=headers)
            assert sent.status_code == 200, sent.text
    bot.settle()
    record = next(
        r for r in exporting.export_records(bot.ws, PROJECT) if r["id"] == str(example_id(message))
    )
    kept = sorted((c["author"], c["text"]) for c in record["comments"])
    assert kept == [("U111", "Hi there!"), ("W222", "When Slack was released?")]


def test_app_home_opened_in_slacks_own_shape_publishes_the_tab(
    bot: Bot, bank: dict[str, str]
) -> None:
    envelope = copy.deepcopy(sample("event_app_home_opened"))
    assert envelope["event"]["tab"] == "home"
    for _ in range(2):  # the same event_id again: Slack's retry publishes nothing more
        assert bot.slack.event(envelope).status_code == 200
        bot.settle()
    (published,) = bot.api.calls("views.publish")
    assert published.params["user_id"] == GRID_USER
    assert PROJECT in json.dumps(published.params["view"])
