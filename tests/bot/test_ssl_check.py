"""Slack's SSL check (`ssl_check=1`, sent to a slash command's Request URL) is answered 200 with an
empty body as Bolt's own SslCheck answers it, before its signature check, signed or not: it acts
on nothing, and refusing it would log a wrong-signing-secret warning for Slack's own probe.
Anything else unsigned stays refused."""

from __future__ import annotations

import httpx

FORM = {"content-type": "application/x-www-form-urlencoded"}


def test_an_unsigned_ssl_check_is_answered_and_does_nothing(bot) -> None:  # type: ignore[no-untyped-def]
    before = len(bot.api.calls())
    answer = httpx.post(f"{bot.url}/slack/events", content="ssl_check=1&token=abc", headers=FORM)
    assert answer.status_code == 200 and answer.text == ""
    assert len(bot.api.calls()) == before  # not even auth.test
    # a slash command without a signature is still refused, ssl_check or not in its name
    command = "command=%2Flabel&text=&user_id=U1&channel_id=C1&ssl_check=0"
    refused = httpx.post(f"{bot.url}/slack/events", content=command, headers=FORM)
    assert refused.status_code == 401
    # and a body too large for a probe is not read to find out
    big = "ssl_check=1&pad=" + "x" * 5000
    assert httpx.post(f"{bot.url}/slack/events", content=big, headers=FORM).status_code == 401
