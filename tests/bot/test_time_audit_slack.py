"""Time audit, Slack side: the zone users.info gives that this machine's tz database lacks is
kept as its UTC offset (not UTC), and a users.info that fails does not lose the command."""

from __future__ import annotations

from datetime import UTC, datetime

from bot import rhythm_flow
from engine import rhythm
from tests.bot.conftest import Bot

U1 = "U0ALICE"


def utc(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 25, hour, minute, tzinfo=UTC)


def test_an_unknown_zone_is_kept_as_its_offset(bot: Bot, bank: dict[str, str]) -> None:
    # a zone newer than this machine's tz database: Slack still gives the offset (UTC-3)
    bot.api.add_user(U1, tz="America/Atlantis", tz_offset=-3 * 3600)
    bot.slack.command(U1, "nudge 09:30")
    bot.settle()
    assert rhythm.rhythm_of(bot.ws, user=U1).tz == "UTC-03:00"
    assert any("09:30 your time (UTC-03:00)" in t for t in bot.slack.ephemerals(U1))
    # 09:30 UTC is 06:30 for them: quiet hours, no nudge; 12:30 UTC is their 09:30
    assert rhythm_flow.send_nudges(bot.services, now=utc(9, 30)) == 0
    assert rhythm_flow.send_nudges(bot.services, now=utc(12, 30)) == 1


def test_a_failing_users_info_keeps_the_stored_zone_and_the_command(bot: Bot) -> None:
    bot.slack.command(U1, "quiet")  # users.info: Europe/Berlin, stored
    bot.settle()
    bot.api.fail_next("users.info", error="ratelimited")
    bot.slack.command(U1, "quiet 22:00-07:00")
    bot.settle()
    stored = rhythm.rhythm_of(bot.ws, user=U1)
    assert (stored.quiet_start, stored.quiet_end) == (22 * 60, 7 * 60)
    assert stored.tz == "Europe/Berlin"
    assert any(
        "Quiet hours set: 22:00–07:00 your time (Europe/Berlin)" in t
        for t in bot.slack.ephemerals(U1)
    )
