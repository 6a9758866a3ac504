"""A rate limit that asks for a long wait holds no listener thread: the bot's client waits out
a short Retry-After only (bot.delivery.RATE_LIMIT_WAIT_MAX_S), and a longer one fails the call
at once, so the Courier queues the message in the outbox, which sends it later. slack_sdk's
own handler slept each Retry-After (30-60 s, twice) in the click's listener thread, the
clicked message keeping its buttons all along -- over real HTTP and the fake Slack."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.delivery import RATE_LIMIT_WAIT_MAX_S, ShortRateLimitRetries
from engine import exporting
from storage.db import session_scope
from storage.repositories.slack import outbox_now
from tests.bot.conftest import PROJECT, Bot, true_label
from tests.fakes.slack_client import choices, example_id

EXPERT = "U0EXPERT"
LONG_WAIT_S = 10  # Slack's Retry-After: past RATE_LIMIT_WAIT_MAX_S

SQLITE = pytest.mark.parametrize("db_url_and_schema", ["sqlite"], indirect=True)


def _labeled(bot: Bot) -> dict[str, str]:
    return {r["id"]: r["label"] for r in exporting.export_records(bot.ws, PROJECT)}


@SQLITE
def test_a_click_rate_limited_for_long_frees_its_thread_and_is_shown_by_the_outbox(
    bot: Bot, bank: dict[str, str]
) -> None:
    assert LONG_WAIT_S > RATE_LIMIT_WAIT_MAX_S
    bot.slack.command(EXPERT)
    bot.settle()
    (shown,) = bot.slack.open_examples(EXPERT)
    label = true_label(bot, bank, shown)
    bot.api.fail_next("chat.update", 429, retry_after=LONG_WAIT_S)

    started = time.monotonic()
    assert bot.slack.choose(EXPERT, shown, label).status_code == 200
    bot.settle()
    assert time.monotonic() - started < LONG_WAIT_S / 2  # not slept out on a listener thread
    assert len(bot.api.calls("chat.update")) == 1  # one try: no retry after a long wait
    assert _labeled(bot)[str(example_id(shown))] == label  # the label is stored
    (still,) = [m for m in bot.slack.dm(EXPERT) if m["ts"] == shown["ts"]]
    assert choices(still)  # its edit waits in the outbox

    assert bot.services.courier.flush() == 0  # due once Slack's Retry-After has passed
    with session_scope(bot.ws.db, read_only=True) as session:
        later = outbox_now(session=session) + timedelta(seconds=LONG_WAIT_S + 1)
    assert bot.services.courier.flush(now=later) == 1
    (edited,) = [m for m in bot.slack.dm(EXPERT) if m["ts"] == shown["ts"]]
    assert not choices(edited)  # shown as labeled: no buttons left to click
    assert len(bot.slack.open_examples(EXPERT)) == 1  # the next example, sent meanwhile


@SQLITE
def test_a_short_retry_after_is_still_waited_out(bot: Bot, bank: dict[str, str]) -> None:
    """Within RATE_LIMIT_WAIT_MAX_S the client waits and tries again: nothing is queued."""
    bot.slack.command(EXPERT)
    bot.settle()
    (shown,) = bot.slack.open_examples(EXPERT)
    bot.api.fail_next("chat.update", 429, retry_after=1)
    assert bot.slack.choose(EXPERT, shown, true_label(bot, bank, shown)).status_code == 200
    bot.settle()
    assert len(bot.api.calls("chat.update")) == 2
    (edited,) = [m for m in bot.slack.dm(EXPERT) if m["ts"] == shown["ts"]]
    assert not choices(edited)
    assert bot.services.courier.flush() == 0


@pytest.mark.parametrize(
    ("retry_after", "waited"),
    [("0", True), ("1.5", True), (None, True), ("3", True), ("4", False), ("60", False),
     ("soon", False), ("-1", False)],
)  # fmt: skip
def test_which_rate_limits_are_waited_out(retry_after: str | None, waited: bool) -> None:
    """A Retry-After up to RATE_LIMIT_WAIT_MAX_S (none at all: slack_sdk's 1 s); one that is no
    number is the caller's too (slack_sdk's handler raised ValueError on "1.5")."""
    assert RATE_LIMIT_WAIT_MAX_S == 3.0
    headers = {} if retry_after is None else {"Retry-After": [retry_after]}
    answer = HttpResponse(status_code=429, headers=headers, data=b'{"ok":false}')
    request = HttpRequest(method="POST", url="https://slack.test/api/chat.update", headers={})
    handler = ShortRateLimitRetries()
    retried = handler.can_retry(state=RetryState(), request=request, response=answer)
    assert retried is waited
