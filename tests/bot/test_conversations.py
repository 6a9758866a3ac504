"""Discuss (a thread whose replies are kept), Flag (a modal), the App Home tab, duplicates."""

from __future__ import annotations

import json

from bot import ids
from engine import exporting, projects
from tests.bot.conftest import CHANNEL, PROJECT, Bot, true_label
from tests.fakes import payloads
from tests.fakes.signing import signed_interactivity
from tests.fakes.slack_client import example_id

U1, U2, U3 = "U0ALICE", "U0BOB", "U0CAROL"


def _start(bot: Bot, user: str = U1) -> dict:  # type: ignore[type-arg]
    bot.slack.command(user)
    bot.settle()
    (message,) = bot.slack.open_examples(user)
    return message


def _comments(bot: Bot, eid: int | None) -> list[str]:
    record = next(r for r in exporting.export_records(bot.ws, PROJECT) if r["id"] == str(eid))
    return [c["text"] for c in record["comments"]]


def test_discuss_opens_a_thread_and_keeps_replies_once(bot: Bot, bank: dict[str, str]) -> None:
    message = _start(bot)
    eid = example_id(message)
    bot.slack.click(U1, message, ids.DISCUSS)
    bot.settle()
    (root,) = bot.api.messages(CHANNEL)
    assert f"Example #{eid}" in json.dumps(root["blocks"]) and f"<@{U1}>" in json.dumps(root)
    dm_note = [m for m in bot.slack.dm(U1) if m.get("thread_ts") == message["ts"]]
    assert len(dm_note) == 1 and "open the thread" in dm_note[0]["text"]

    reply = payloads.message_event(
        CHANNEL,
        U3,
        "Looks like card_arrival to me",
        "1700000000.000100",
        thread_ts=root["ts"],
        event_id="Ev0REPLY",
    )
    for _ in range(2):  # Slack retries an event it thinks timed out: same event_id
        assert bot.slack.event(reply).status_code == 200
    redelivered = payloads.message_event(
        CHANNEL, U3, "Looks like card_arrival to me", "1700000000.000100", thread_ts=root["ts"]
    )
    bot.slack.event(redelivered)  # same message under a new event id: still stored once
    broadcast = payloads.message_event(
        CHANNEL,
        U2,
        "Agreed (also sent to channel)",
        "1700000000.000200",
        thread_ts=root["ts"],
        subtype="thread_broadcast",
    )
    bot.slack.event(broadcast)
    in_dm = payloads.message_event(
        bot.api.dm_channel(U1), U1, "ok, thanks", "1700000000.000300", thread_ts=message["ts"]
    )
    bot.slack.event(in_dm)
    own = payloads.message_event(
        CHANNEL, "UBOT", "bot talking", "1700000000.000400", thread_ts=root["ts"]
    )
    own["event"]["bot_id"] = "BBOT"
    bot.slack.event(own)
    elsewhere = payloads.message_event(
        CHANNEL, U3, "unrelated thread", "1700000000.000500", thread_ts="1690000000.000001"
    )
    bot.slack.event(elsewhere)
    bot.settle()
    assert sorted(_comments(bot, eid)) == [  # listeners run concurrently: order may vary
        "Agreed (also sent to channel)",
        "Looks like card_arrival to me",
        "ok, thanks",
    ]
    # A second Discuss on the same example links the same thread instead of opening another.
    bot.slack.click(U1, message, ids.DISCUSS)
    bot.settle()
    assert len(bot.api.messages(CHANNEL)) == 1


def test_replies_delivered_out_of_order_are_kept_in_the_order_written(
    bot: Bot, bank: dict[str, str]
) -> None:
    """Slack does not promise event order: the answer arrived before its question and the
    export listed it first, dated on arrival. Comments are dated by their Slack ts."""
    message = _start(bot)
    eid = example_id(message)
    bot.slack.click(U1, message, ids.DISCUSS)
    bot.settle()
    (root,) = bot.api.messages(CHANNEL)
    question = payloads.message_event(CHANNEL, U2, "is it a card question?", "1700000060.000100",
                                      thread_ts=root["ts"])  # fmt: skip
    answer = payloads.message_event(CHANNEL, U3, "yes: card_arrival", "1700000120.000200",
                                    thread_ts=root["ts"])  # fmt: skip
    for event in (answer, question):  # the later one first
        assert bot.slack.event(event).status_code == 200
        bot.settle()
    record = next(r for r in exporting.export_records(bot.ws, PROJECT) if r["id"] == str(eid))
    kept = [(c["text"], c["created_at"][:19]) for c in record["comments"]]
    assert kept == [
        ("is it a card question?", "2023-11-14T22:14:20"),
        ("yes: card_arrival", "2023-11-14T22:15:20"),
    ]


def test_discuss_without_the_bot_in_the_channel_says_how_to_fix(
    bot: Bot, bank: dict[str, str]
) -> None:
    message = _start(bot)
    bot.api.fail_next("chat.postMessage", error="not_in_channel")
    bot.slack.click(U1, message, ids.DISCUSS)
    bot.settle()
    assert "/invite @labelbot" in bot.slack.ephemerals(U1)[-1]


def test_flag_asks_a_reason_and_takes_the_example_out(bot: Bot, bank: dict[str, str]) -> None:
    message = _start(bot)
    eid = example_id(message)
    bot.slack.click(U1, message, ids.FLAG)
    bot.settle()
    (opened,) = bot.api.calls("views.open")
    view = opened.params["view"]
    assert view["callback_id"] == ids.FLAG_MODAL

    def submit(reason: str):  # type: ignore[no-untyped-def]
        values = {
            ids.FLAG_REASON_BLOCK: {
                ids.FLAG_REASON_INPUT: {"type": "plain_text_input", "value": reason}
            }
        }
        body = payloads.view_submission(
            U1, ids.FLAG_MODAL, values, private_metadata=view["private_metadata"]
        )
        return bot.slack.post(signed_interactivity(bot.slack.secret, body))

    empty = submit("   ")
    assert empty.json() == {
        "response_action": "errors",
        "errors": {ids.FLAG_REASON_BLOCK: "Say briefly what is wrong."},
    }
    bot.settle()
    assert projects.project_status(bot.ws, PROJECT)["open_flags"] == 0
    assert submit("contains a card number").status_code == 200
    bot.settle()
    status = projects.project_status(bot.ws, PROJECT)
    assert status["open_flags"] == 1 and status["queue"] == 149
    flagged = next(m for m in bot.slack.dm(U1) if m["ts"] == message["ts"])
    assert "Flagged" in flagged["text"] and "card number" in flagged["text"]
    (nxt,) = bot.slack.open_examples(U1)
    assert example_id(nxt) != eid
    bot.slack.command(U2)
    bot.settle()
    assert example_id(bot.slack.open_examples(U2)[0]) != eid  # out of the queue for everyone


def test_app_home_shows_counts_and_starts_a_batch(bot: Bot, bank: dict[str, str]) -> None:
    message = _start(bot)
    bot.slack.choose(U1, message, true_label(bot, bank, message))
    bot.settle()
    opened = payloads.app_home_opened(U1)
    for _ in range(2):  # a redelivery (same event_id) publishes once
        bot.slack.event(opened)
    bot.settle()
    (published,) = bot.api.calls("views.publish")
    home = json.dumps(published.params["view"])
    assert "you labeled *1* example today" in home and PROJECT in home

    button = {"type": "home", "blocks": published.params["view"]["blocks"], "ts": "0"}
    bot.slack.command(U2)  # Bob starts a batch of 5 from his Home tab
    bot.settle()
    bot.slack.click(U2, button, ids.HOME_START_BATCH)
    bot.settle()
    for _ in range(5):
        waiting = bot.slack.open_examples(U2)[-1]
        bot.slack.choose(U2, waiting, true_label(bot, bank, waiting))
        bot.settle()
    assert bot.slack.dm(U2)[-1]["text"].startswith("5 done — ")  # the batch's summary


def test_replies_are_kept_as_people_wrote_them_files_included(
    bot: Bot, bank: dict[str, str]
) -> None:
    """Slack sends `&`, `<`, `>` escaped and links and mentions as markup; a reply with a file
    attached comes as a `file_share` message. Comments keep the text as it reads in Slack."""
    message = _start(bot)
    eid = example_id(message)
    bot.slack.click(U1, message, ids.DISCUSS)
    bot.settle()
    (root,) = bot.api.messages(CHANNEL)
    typed = "Q&amp;A: fees &gt; 5 EUR, ask <@U0BOB|bob>, see <https://bank.example/faq|the FAQ>"
    escaped = payloads.message_event(CHANNEL, U3, typed, "1700000000.000100", thread_ts=root["ts"])
    with_file = payloads.message_event(
        CHANNEL, U2, "Screenshot: this is card_arrival", "1700000000.000200",
        thread_ts=root["ts"], subtype="file_share",
    )  # fmt: skip
    with_file["event"]["files"] = [{"id": "F1", "name": "screenshot.png", "title": "shot"}]
    only_file = payloads.message_event(
        CHANNEL, U2, "", "1700000000.000300", thread_ts=root["ts"], subtype="file_share"
    )
    only_file["event"]["files"] = [{"id": "F2", "name": "contract.pdf"}]
    for event in (escaped, with_file, only_file):
        assert bot.slack.event(event).status_code == 200
    bot.settle()
    assert sorted(_comments(bot, eid)) == [
        "Q&A: fees > 5 EUR, ask @bob, see the FAQ (https://bank.example/faq)",
        "Screenshot: this is card_arrival\n[attached: screenshot.png]",
        "[attached: contract.pdf]",
    ]


def test_the_shortcut_reads_the_message_as_typed(bot: Bot, bank: dict[str, str]) -> None:
    """The shortcut's message text comes escaped; the answer quotes it escaped once."""
    shortcut = payloads.message_shortcut(
        U2, ids.CLASSIFY_SHORTCUT, CHANNEL, "1.1", "Fees &amp; limits &lt;today&gt;"
    )
    shortcut["response_url"] = bot.api.response_url(U2)
    assert bot.slack.post(signed_interactivity(bot.slack.secret, shortcut)).status_code == 200
    bot.settle()
    (call,) = [c for c in bot.api.calls("response_url") if c.params["_to"] == U2]
    quoted = call.params["blocks"][0]["text"]["text"]
    assert "Fees &amp; limits &lt;today&gt;" in quoted and "&amp;amp;" not in quoted
