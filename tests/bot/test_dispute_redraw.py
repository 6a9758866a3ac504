"""A disagreement thread follows the votes: given again after an Undo, its Settle buttons come
back; a third expert's vote (multi_label_k 3) appears on it -- through real HTTP and the local
Slack Web API, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from bot import ids
from engine import projects
from tests.bot.conftest import CHANNEL, LABELS, PROJECT, Bot
from tests.fakes.slack_client import example_id

ANA, BOB, CY = "U0ANA", "U0BOB", "U0CY"


def _vote(bot: Bot, user: str, label: str, example: int | None = None) -> dict[str, Any]:
    """``user`` asks for work and labels the example (``example``, or the one sent) ``label``."""
    bot.slack.command(user, "")
    bot.settle()
    (message,) = [
        m for m in bot.slack.open_examples(user) if example is None or example_id(m) == example
    ]
    bot.slack.choose(user, message, label)
    bot.settle()
    return message


def _settle_buttons(root: dict[str, Any]) -> list[str]:
    """The labels the root's Settle buttons offer."""
    return [
        e["text"]["text"].removeprefix("Settle: ")
        for block in root["blocks"]
        if block["type"] == "actions"
        for e in block["elements"]
        if e["type"] == "button" and e["action_id"].startswith(ids.SETTLE)
    ]


def _root(bot: Bot) -> dict[str, Any]:
    (root,) = [m for m in bot.api.messages(CHANNEL) if m.get("thread_ts", m["ts"]) == m["ts"]]
    return root


def test_a_disagreement_given_again_after_an_undo_gets_its_settle_buttons_back(
    bot: Bot, bank: Any
) -> None:
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=1.0, audit_share=0.0)
    example = example_id(_vote(bot, ANA, LABELS[0]))
    shown = _vote(bot, BOB, LABELS[2], example)
    assert _settle_buttons(_root(bot)) == [LABELS[0], LABELS[2]]

    (labeled,) = [m for m in bot.slack.dm(BOB) if m["ts"] == shown["ts"]]
    bot.slack.click(BOB, labeled, ids.UNDO)  # they agree again: the buttons go
    bot.settle()
    assert _settle_buttons(_root(bot)) == []

    _vote(bot, BOB, LABELS[3], example)  # and disagree again, on another label
    root = _root(bot)  # the same thread, not a second one
    assert _settle_buttons(root) == [LABELS[0], LABELS[3]]
    assert f"<@{BOB}> chose *{LABELS[3]}*" in str(root["blocks"])


def test_a_third_experts_vote_appears_on_the_thread(bot: Bot, bank: Any) -> None:
    projects.update_settings(
        bot.ws, project=PROJECT, multi_label_share=1.0, multi_label_k=3, audit_share=0.0
    )
    example = example_id(_vote(bot, ANA, LABELS[0]))
    _vote(bot, BOB, LABELS[2], example)
    assert f"<@{CY}>" not in str(_root(bot)["blocks"])
    _vote(bot, CY, LABELS[3], example)
    root = _root(bot)
    assert f"<@{CY}> chose *{LABELS[3]}*" in str(root["blocks"])
    assert _settle_buttons(root) == [LABELS[0], LABELS[2], LABELS[3]]


def _roots(bot: Bot) -> list[dict[str, Any]]:
    return [m for m in bot.api.messages(CHANNEL) if m.get("thread_ts", m["ts"]) == m["ts"]]


def test_discuss_on_an_example_in_dispute_points_to_its_thread(bot: Bot, bank: Any) -> None:
    """A third expert's Discuss on an example the first two disagree on opened a second thread
    beside the disagreement's (found by an audit); it now points to that one."""
    projects.update_settings(
        bot.ws, project=PROJECT, multi_label_share=1.0, multi_label_k=3, audit_share=0.0
    )
    example = example_id(_vote(bot, ANA, LABELS[0]))
    _vote(bot, BOB, LABELS[2], example)
    (dispute,) = _roots(bot)
    bot.slack.command(CY, "")
    bot.settle()
    (message,) = [m for m in bot.slack.open_examples(CY) if example_id(m) == example]
    bot.slack.click(CY, message, ids.DISCUSS)
    bot.settle()
    assert [r["ts"] for r in _roots(bot)] == [dispute["ts"]]  # no second thread
    (note,) = [m for m in bot.slack.dm(CY) if m.get("thread_ts") == message["ts"]]
    assert "open the thread" in note["text"]


def test_a_disagreement_on_a_discussed_example_says_so_in_the_discussion(
    bot: Bot, bank: Any
) -> None:
    """Discussed first, then disagreed on: the disagreement's post (with its Settle buttons)
    is linked from the Discuss thread, not left beside it unmentioned."""
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=1.0, audit_share=0.0)
    bot.slack.command(ANA, "")
    bot.settle()
    (message,) = bot.slack.open_examples(ANA)
    example = example_id(message)
    bot.slack.click(ANA, message, ids.DISCUSS)
    bot.settle()
    (discussion,) = _roots(bot)
    bot.slack.choose(ANA, message, LABELS[0])
    bot.settle()
    _vote(bot, BOB, LABELS[2], example)
    dispute = next(r for r in _roots(bot) if r["ts"] != discussion["ts"])
    assert _settle_buttons(dispute) == [LABELS[0], LABELS[2]]
    words = [m for m in bot.api.messages(CHANNEL) if m.get("thread_ts") == discussion["ts"]
             and m["ts"] != discussion["ts"]]  # fmt: skip
    assert len(words) == 1 and "The experts now disagree on this example" in words[0]["text"]


def test_a_vote_given_outside_slack_redraws_the_thread_on_the_next_round(
    bot: Bot, bank: Any
) -> None:
    """A third vote from the command line (or an Undo there) left the thread's root as it was
    until the next vote in Slack; the scheduler's dispute job now redraws it, once."""
    from bot.scheduling import dispute_poster
    from engine import labeling

    projects.update_settings(
        bot.ws, project=PROJECT, multi_label_share=1.0, multi_label_k=3, audit_share=0.0
    )
    example = example_id(_vote(bot, ANA, LABELS[0]))
    _vote(bot, BOB, LABELS[2], example)
    job = dispute_poster(bot.services)
    assert job() == 0  # the first round notes each thread's votes
    updates = len(bot.api.calls("chat.update"))
    assert job() == 0 and len(bot.api.calls("chat.update")) == updates  # nothing changed

    task = labeling.next_task(bot.ws, project=PROJECT, annotator=CY)
    assert task is not None and task.example_id == example
    labeling.submit_label(bot.ws, project=PROJECT, example_id=example, label=LABELS[3],
                          annotator=CY, source="cli", key="cli:cy")  # fmt: skip
    assert f"<@{CY}>" not in str(_root(bot)["blocks"])

    job()
    root = _root(bot)
    assert f"<@{CY}> chose *{LABELS[3]}*" in str(root["blocks"])
    assert _settle_buttons(root) == [LABELS[0], LABELS[2], LABELS[3]]
    redrawn = len(bot.api.calls("chat.update"))
    job()
    assert len(bot.api.calls("chat.update")) == redrawn  # once


def test_a_discuss_click_racing_a_disagreement_links_the_two_threads_once(
    bot: Bot, bank: Any
) -> None:
    """A Discuss click looked for the example's threads just before its disagreement opened:
    its root, posted after, was never linked to the disagreement (each side linked only what it
    saw). Whichever thread is recorded second links them, once."""
    from bot import disputes, flow
    from engine import messaging

    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=1.0, audit_share=0.0)
    example = example_id(_vote(bot, ANA, LABELS[0]))
    _vote(bot, BOB, LABELS[2], example)
    (dispute,) = _roots(bot)  # the disagreement opened, no discussion to link

    # the click's root, as posted after its look for threads found none
    ref = messaging.example_ref(bot.ws, example_id=example)
    thread = flow._post_root(bot.services, user=ANA, ref=ref, channel=CHANNEL)

    def words() -> list[dict[str, Any]]:
        return [m for m in bot.api.messages(CHANNEL) if m.get("thread_ts") == thread.thread_ts
                and m["ts"] != thread.thread_ts]  # fmt: skip

    (said,) = words()
    assert "The experts now disagree on this example" in said["text"]
    disputes.link_discussion(bot.services, example_id=example)  # the other side, late
    assert len(words()) == 1 and [r["ts"] for r in _roots(bot)] == [dispute["ts"], thread.thread_ts]
