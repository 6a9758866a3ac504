"""Slack refusing or hanging while an expert labels, over real HTTP against the fake Web API, on
SQLite and PostgreSQL: a refused update of the answered message does not end the loop, a
refused bot token is told plainly, the App Home refresh gets past a refused viewer and stops at
a rate limit, and authorization (auth.test) fails fast while Slack's Web API hangs."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from bot import ids
from bot.scheduling import training_notifier
from engine import projects
from storage.models import ModelRun
from tests.bot.conftest import PROJECT, Bot, true_label
from tests.fakes import payloads
from tests.fakes.signing import signed_interactivity
from tests.fakes.slack_client import choices, example_id

U1 = "U0ALICE"
GONE = "message_not_found"  # the expert deleted the message, say


def _start(bot: Bot) -> dict[str, Any]:
    bot.slack.command(U1)
    bot.settle()
    (message,) = bot.slack.open_examples(U1)
    return message


def _next_examples(bot: Bot, answered: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in bot.slack.open_examples(U1) if m["ts"] != answered["ts"]]


def _annotations(bot: Bot) -> int:
    return int(projects.project_status(bot.ws, PROJECT)["annotations"])


def test_a_refused_update_of_a_labeled_message_keeps_the_loop_going(
    bot: Bot, bank: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    message = _start(bot)
    bot.api.fail_next("chat.update", error=GONE)
    with caplog.at_level(logging.WARNING):
        bot.slack.choose(U1, message, true_label(bot, bank, message))
        bot.settle()
    assert _annotations(bot) == 1
    (nxt,) = _next_examples(bot, message)  # the next example came all the same
    assert example_id(nxt) != example_id(message)
    assert bot.slack.ephemerals(U1) == []  # no "please try again" for a stored label
    assert GONE in caplog.text


def test_a_refused_update_of_a_skipped_message_keeps_the_loop_going(
    bot: Bot, bank: dict[str, str]
) -> None:
    message = _start(bot)
    bot.api.fail_next("chat.update", error=GONE)
    bot.slack.click(U1, message, ids.SKIP)
    bot.settle()
    (nxt,) = _next_examples(bot, message)
    assert example_id(nxt) != example_id(message)
    assert bot.slack.ephemerals(U1) == []


def test_a_refused_update_of_an_undone_message_still_offers_the_example(
    bot: Bot, bank: dict[str, str]
) -> None:
    message = _start(bot)
    bot.slack.choose(U1, message, true_label(bot, bank, message))
    bot.settle()
    labeled = next(m for m in bot.slack.dm(U1) if m["ts"] == message["ts"])
    bot.api.fail_next("chat.update", error=GONE)
    bot.slack.click(U1, labeled, ids.UNDO)
    bot.settle()
    assert _annotations(bot) == 0
    again = [m for m in bot.slack.open_examples(U1) if example_id(m) == example_id(message)]
    assert len(again) == 1 and again[0]["ts"] != message["ts"]  # offered anew, below
    assert bot.slack.ephemerals(U1) == []


def test_a_refused_update_of_a_flagged_message_keeps_the_loop_going(
    bot: Bot, bank: dict[str, str]
) -> None:
    message = _start(bot)
    bot.slack.click(U1, message, ids.FLAG)
    bot.settle()
    (opened,) = bot.api.calls("views.open")
    reason = {ids.FLAG_REASON_INPUT: {"type": "plain_text_input", "value": "a card number"}}
    body = payloads.view_submission(
        U1,
        ids.FLAG_MODAL,
        {ids.FLAG_REASON_BLOCK: reason},
        private_metadata=opened.params["view"]["private_metadata"],
    )
    bot.api.fail_next("chat.update", error=GONE)
    assert bot.slack.post(signed_interactivity(bot.slack.secret, body)).status_code == 200
    bot.settle()
    assert projects.project_status(bot.ws, PROJECT)["open_flags"] == 1
    (nxt,) = _next_examples(bot, message)
    assert example_id(nxt) != example_id(message)
    # the modal has no response_url: an error would have been told in the DM
    assert not [m for m in bot.slack.dm(U1) if "went wrong" in m.get("text", "")]


def test_a_refused_bot_token_after_a_label_is_told_plainly(
    bot: Bot, bank: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """A revoked token refuses the update and the next example alike: the label is stored, and
    the expert hears why nothing more comes, not "try again"; the log has no traceback."""
    message = _start(bot)
    bot.api.fail_next("chat.update", error="token_revoked")
    bot.api.fail_next("chat.postMessage", error="token_revoked")
    with caplog.at_level(logging.WARNING):
        bot.slack.choose(U1, message, true_label(bot, bank, message))
        bot.settle()
    assert _annotations(bot) == 1
    (told,) = bot.slack.ephemerals(U1)
    assert "Slack refused labelbot's bot token (`token_revoked`)" in told
    assert "try again" not in told
    assert not [r for r in caplog.records if r.exc_info]
    (ended,) = [r.getMessage() for r in caplog.records if r.name == "bot.app"]
    assert "block_actions" in ended and "token_revoked" in ended


def _viewers(bot: Bot, *users: str) -> None:
    """``users`` open the App Home tab, in this order (the last is the newest viewer)."""
    for user in users:
        bot.slack.event(payloads.app_home_opened(user))
        bot.settle()
        time.sleep(0.01)


def _promoted(bot: Bot) -> None:
    run = ModelRun(
        project_id=1, version=2, status="ready", is_active=True,
        metrics={"promotion": {"promoted": True}},
    )  # fmt: skip
    training_notifier(bot.services)(PROJECT, run)
    bot.settle()  # the refresh runs on a listener thread, after the retrain job's hook


def test_home_refresh_skips_a_refused_viewer_and_stops_at_a_rate_limit(
    bot: Bot, bank: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    _viewers(bot, "U0D", "U0C", "U0B", "U0A")  # refreshed newest first: U0A, U0B, U0C, U0D
    before = len(bot.api.calls("views.publish"))
    bot.api.fail_next("views.publish", error="user_not_found")  # U0A: deactivated, say
    with caplog.at_level(logging.WARNING):
        _promoted(bot)
    published = [c.params["user_id"] for c in bot.api.calls("views.publish")[before:]]
    assert published == ["U0A", "U0B", "U0C", "U0D"]  # the others are refreshed all the same
    assert "U0A" in caplog.text and "user_not_found" in caplog.text

    # a rate limit on U0A: the round stops there (each call made once), rather than wait out
    # Retry-After for U0A and again for each next viewer
    before = len(bot.api.calls("views.publish"))
    bot.api.fail_next("views.publish", status=429, retry_after=0, times=3)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        _promoted(bot)
    published = [c.params["user_id"] for c in bot.api.calls("views.publish")[before:]]
    assert published == ["U0A"]
    (stopped,) = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert "stopped after 0 of 4 viewers" in stopped and "429" in stopped


def test_requests_fail_fast_while_auth_test_hangs_then_authorize_once(
    bot: Bot, bank: dict[str, str]
) -> None:
    """Bolt authorizes a request (auth.test) before its ack: while Slack's Web API hangs (here
    answering after 3.5 s, past Slack's 3 s and within the client's 10 s timeout), the first
    requests fail within Slack's 3 seconds; once auth.test answers, its answer is kept."""
    hang = 3.5
    bot.api.slow_down("auth.test", hang)
    first = time.monotonic()
    for user in ("U0ALICE", "U0BOB"):
        started = time.monotonic()
        answer = bot.slack.command(user)
        assert time.monotonic() - started < 3
        assert answer.status_code == 500 and answer.json()["error"] == "Internal Server Error"
    bot.api.slow_down("auth.test", 0)
    # the fake answers the calls that hung to clients long gone (a broken pipe on stderr):
    # within this test, whose output pytest keeps
    time.sleep(max(0.0, first + 2 * hang + 0.5 - time.monotonic()))
    assert bot.slack.command(U1).status_code == 200
    bot.settle()
    assert len(bot.slack.open_examples(U1)) == 1
    message = bot.slack.open_examples(U1)[0]
    bot.slack.choose(U1, message, true_label(bot, bank, message))
    bot.settle()
    assert len(bot.api.calls("auth.test")) == 3  # two that hung, one answered and kept
    labeled = next(m for m in bot.slack.dm(U1) if m["ts"] == message["ts"])
    assert not choices(labeled)


def test_a_refused_bot_token_at_authorization_is_told_plainly(
    bot: Bot, bank: dict[str, str]
) -> None:
    bot.api.fail_next("auth.test", error="invalid_auth")
    answer = bot.slack.command(U1)
    assert answer.status_code == 200 and "Slack refused labelbot's bot token" in answer.text
    assert bot.slack.command(U1).status_code == 200  # asked again, not kept
    bot.settle()
    assert len(bot.slack.open_examples(U1)) == 1


def test_a_rate_limited_auth_test_fails_the_request_fast(bot: Bot, bank: dict[str, str]) -> None:
    """One try: no Retry-After sleep before the answer Slack waits 3 seconds for."""
    bot.api.fail_next("auth.test", status=429, retry_after=30)
    started = time.monotonic()
    answer = bot.slack.command(U1)
    assert time.monotonic() - started < 3 and answer.status_code == 500


def test_a_refused_redraw_after_a_taxonomy_change_does_not_stop_the_others(
    bot: Bot, bank: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """After a change, each waiting message is redrawn with today's labels; one that Slack
    refuses (deleted by its expert) is logged and the next is still redrawn."""
    from bot import flow
    from engine import taxonomy

    first = _start(bot)
    bot.slack.command("U0BOB")
    bot.settle()
    (second,) = bot.slack.open_examples("U0BOB")
    taxonomy.add_labels(bot.ws, project=PROJECT, names=["brand_new"], actor="t", rescore=False)
    bot.api.fail_next("chat.update", error=GONE)  # the first redraw, whichever it is
    with caplog.at_level(logging.INFO):
        assert flow.redraw_on_screen(bot.services, project=PROJECT) == 2
    shown = [x for user in (U1, "U0BOB") for x in bot.slack.open_examples(user)]
    assert sorted(example_id(x) for x in shown) == sorted(map(example_id, (first, second)))
    redrawn = [x for x in shown if "brand_new" in [c.text for c in choices(x)]]
    assert len(redrawn) == 1  # the other one, although the first was refused
    assert len(bot.api.calls("chat.update")) == 2
    assert GONE in caplog.text
