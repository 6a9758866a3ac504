"""The busy expert's rhythm through real HTTP: the end-of-batch summary with "5 more" / "Done
for now", Snooze on the labeling message, `/label nudge|quiet|leaderboard`, and the nudge job
on a controllable clock with the time zone users.info gives (Europe/Berlin in the fake)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot import ids, rhythm_flow
from engine import rhythm
from tests.bot.conftest import PROJECT, Bot, true_label
from tests.fakes.slack_client import button

U1 = "U0ALICE"
BERLIN = ZoneInfo("Europe/Berlin")  # where users.info in the fake says U1 lives


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


def _answer(bot: Bot, truth: dict[str, str], user: str) -> None:
    from tests.bot.conftest import true_label

    (message,) = bot.slack.open_examples(user)
    bot.slack.choose(user, message, true_label(bot, truth, message))
    bot.settle()


def _summaries(bot: Bot, user: str) -> list[dict]:  # type: ignore[type-arg]
    return [m for m in bot.slack.dm(user) if " done — " in m.get("text", "")]


def test_a_batch_ends_with_a_summary_then_5_more_or_done(bot: Bot, bank: dict[str, str]) -> None:
    bot.slack.command(U1, "2")
    bot.settle()
    for _ in range(2):
        _answer(bot, bank, U1)
    (summary,) = _summaries(bot, U1)
    # no model yet (rescored without one): nothing to agree with
    assert summary["text"] == "2 done — no model yet to compare your answers with"
    assert not bot.slack.open_examples(U1)

    bot.slack.click(U1, summary, ids.BATCH_MORE)
    bot.settle()
    assert len(bot.slack.open_examples(U1)) == 1  # the next batch started
    for _ in range(5):
        _answer(bot, bank, U1)
    summaries = _summaries(bot, U1)
    assert summaries[-1]["text"].startswith("5 done — ")
    bot.slack.click(U1, summaries[-1], ids.BATCH_DONE)
    bot.settle()
    closed = next(m for m in bot.slack.dm(U1) if m["ts"] == summaries[-1]["ts"])
    assert "Done for now" in closed["text"] and not bot.slack.open_examples(U1)
    assert not bot.api.warnings


def test_snooze_releases_the_example_and_holds_back_the_nudge(
    bot: Bot, bank: dict[str, str]
) -> None:
    bot.slack.command(U1, "nudge 09:30")
    bot.settle()
    assert any("09:30" in t and "Europe/Berlin" in t for t in bot.slack.ephemerals(U1))
    bot.slack.command(U1, "")
    bot.settle()
    (message,) = bot.slack.open_examples(U1)
    block_id, menu = button(message, ids.SNOOZE)
    option = next(o for o in menu["options"] if o["value"].endswith("|tomorrow"))
    from tests.fakes.signing import signed_interactivity

    payload = bot.slack.action_payload(
        U1, message, ids.SNOOZE, None, block_id=block_id, selected_option=option
    )

    # the engine's clock, around the click; the night (before 04:00) is the day before's
    def day() -> date:
        return (rhythm.utcnow().astimezone(BERLIN) - rhythm.DAY_ROLLOVER).date()

    today = {day()}
    assert bot.slack.post(signed_interactivity(bot.slack.secret, payload)).status_code == 200
    bot.settle()
    today.add(day())
    assert not bot.slack.open_examples(U1)  # the message now says snoozed
    snoozed = next(m for m in bot.slack.dm(U1) if m["ts"] == message["ts"])
    assert "Snoozed" in snoozed["text"]
    until = rhythm.rhythm_of(bot.ws, user=U1).snoozed_until
    assert until is not None
    # the day too: Slack writes "tomorrow 08:00" in the reader's zone, not a bare "08:00"
    shown = f"<!date^{int(until.timestamp())}^{{date_short_pretty}} {{time}}|"
    assert shown in json.dumps(snoozed["blocks"])
    # tomorrow 08:00 on the user's own clock, in winter (UTC+1) and summer (UTC+2) alike
    wake = until.astimezone(BERLIN)
    assert wake.time() == time(8, 0) and wake.date() in {d + timedelta(days=1) for d in today}
    assert until > rhythm.utcnow()

    before = len(bot.slack.dm(U1))
    # the evening before: past the 09:30 nudge and out of quiet hours, only the snooze holds it
    evening = datetime.combine(wake.date() - timedelta(days=1), time(19, 0), tzinfo=BERLIN)
    assert rhythm.why_not_now(rhythm.rhythm_of(bot.ws, user=U1), evening) == "snoozed"
    assert rhythm_flow.send_nudges(bot.services, now=evening) == 0
    assert rhythm_flow.send_nudges(bot.services, now=until - timedelta(hours=1)) == 0
    later = until + timedelta(hours=1, minutes=30)  # 09:30 in Berlin: the nudge's own time
    assert later.astimezone(BERLIN).time() == time(9, 30)
    assert rhythm_flow.send_nudges(bot.services, now=later) == 1
    nudge = bot.slack.dm(U1)[-1]
    assert len(bot.slack.dm(U1)) == before + 1 and "waiting for you" in nudge["text"]
    assert button(nudge, ids.HOME_START_BATCH)[1]["value"] == PROJECT


def test_nudges_respect_quiet_hours_and_the_daily_cap(bot: Bot, bank: dict[str, str]) -> None:
    bot.slack.command(U1, "nudge 09:30")
    bot.slack.command(U1, "quiet 09:00-11:00")
    bot.settle()
    assert any("Quiet hours set: 09:00–11:00" in t for t in bot.slack.ephemerals(U1))
    assert rhythm_flow.send_nudges(bot.services, now=utc(25, 8, 30)) == 0  # 09:30: quiet
    assert rhythm_flow.send_nudges(bot.services, now=utc(25, 10, 0)) == 1  # 11:00 in Berlin
    assert rhythm_flow.send_nudges(bot.services, now=utc(25, 12, 0)) == 0  # one a day
    assert rhythm_flow.send_nudges(bot.services, now=utc(26, 10, 0)) == 1  # the next day
    bot.slack.command(U1, "nudge off")
    bot.settle()
    assert rhythm_flow.send_nudges(bot.services, now=utc(27, 10, 0)) == 0
    nudges = [m for m in bot.slack.dm(U1) if "waiting for you" in m.get("text", "")]
    assert len(nudges) == 2


def test_a_nudge_time_in_quiet_hours_says_when_it_comes(bot: Bot) -> None:
    bot.slack.command(U1, "nudge 22:00")
    bot.settle()
    said = bot.slack.ephemerals(U1)[-1]
    assert "22:00 is in your quiet hours (20:00–08:00" in said and "at 08:00" in said


def test_no_nudge_without_work(bot: Bot) -> None:
    from engine import projects

    projects.create_project(bot.ws, name="empty", labels=["a", "b"])
    bot.slack.command(U1, "nudge 09:30")
    bot.settle()
    assert rhythm_flow.send_nudges(bot.services, now=utc(25, 10, 0)) == 0
    assert bot.slack.dm(U1) == []
    # and today's one message is still unspent
    assert rhythm.rhythm_of(bot.ws, user=U1).last_unsolicited_at is None


def test_no_nudge_when_what_waits_is_what_the_expert_skipped(bot: Bot, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Skipped examples never come back to that expert: "3 examples are waiting for you" and
    then nothing to label was a nudge to nowhere. Another expert is nudged for them."""
    from engine import labeling, projects

    projects.create_project(bot.ws, name="small", labels=["a", "b"])
    path = tmp_path / "small.csv"
    path.write_text("text,label\nfirst one,a\nsecond one,\nthird one,\nfourth one,\n")
    projects.import_file(bot.ws, project="small", path=path, embed=False, annotator=U1)
    while (task := labeling.next_task(bot.ws, project="small", annotator=U1)) is not None:
        labeling.skip(bot.ws, project="small", example_id=task.example_id, annotator=U1)
    for user in (U1, "U0OTHER"):
        bot.slack.command(user, "nudge 09:30")
    bot.settle()
    assert rhythm_flow.send_nudges(bot.services, now=utc(25, 10, 0)) == 1
    assert not [m for m in bot.slack.dm(U1) if "waiting for you" in m.get("text", "")]
    (nudge,) = [m for m in bot.slack.dm("U0OTHER") if "waiting for you" in m.get("text", "")]
    assert "3 examples" in nudge["text"]


def test_leaderboard_opt_out_command(bot: Bot) -> None:
    bot.slack.command(U1, "leaderboard off")
    bot.settle()
    assert rhythm.rhythm_of(bot.ws, user=U1).leaderboard is False
    bot.slack.command(U1, "leaderboard maybe")
    bot.settle()
    assert any("leaderboard on" in t for t in bot.slack.ephemerals(U1))


def test_batch_summary_view_counts_agreement_with_the_model() -> None:
    from bot.views.rhythm import batch_summary

    summary = batch_summary(project=PROJECT, done=5, compared=5, agreed=3, size=5)
    assert summary["text"] == "5 done — 3 agreed with the model"
    buttons = summary["blocks"][1]["elements"]
    assert [b["action_id"] for b in buttons] == [ids.BATCH_MORE, ids.BATCH_DONE]
    assert buttons[0]["text"]["text"] == "5 more" and buttons[0]["value"] == PROJECT


def test_the_digest_shows_the_leaderboard_section() -> None:
    from bot.views.digest import _leaderboard
    from engine.leaderboard import Standing

    text = _leaderboard([Standing("U0ANA", 12, 4), Standing("U0BEN", 3, 1)])
    assert "<@U0ANA> 12 · :fire: 4-day streak" in text
    assert "<@U0BEN> 3" in text and "U0BEN> 3 ·" not in text


def test_a_nudge_works_out_no_projects_figures(
    bot: Bot, bank: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The nudge job asks only where the expert labels: it drew every project's Home figures
    (status, rare classes) for each nudge, to read one list of names."""
    from engine import progress

    bot.slack.command(U1, "nudge 09:30")
    bot.slack.command(U1, "")
    bot.settle()
    (message,) = bot.slack.open_examples(U1)
    bot.slack.choose(U1, message, true_label(bot, bank, message))
    bot.settle()

    def figures(*_: object, **__: object) -> None:
        raise AssertionError("a nudge worked out a project's figures")

    monkeypatch.setattr(progress, "project_summary", figures)
    assert rhythm_flow.send_nudges(bot.services, now=utc(25, 10, 0)) == 1
