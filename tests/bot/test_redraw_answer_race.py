"""A taxonomy change's redraw pass reads the messages on screen, then updates them one by one: an
expert who answers meanwhile (a label, Skip) had their message's buttons taken away, and the
pass then drew them back, on an example already labeled, or out with another expert by then
(two replicas and a worker: an example live in two experts' DMs for 35 s). Each message is
read again just before its update, in the expert's turn (bot.flow.expert_turn), which an answer
holds from its store to its chat.update: an answer that lands between that read and the update
waits for the update, then draws over it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from bot import flow, ids
from bot.scheduling import screen_redrawer
from engine import jobs, projects, taxonomy
from tests.bot.conftest import PROJECT, Bot
from tests.fakes.slack_client import choices
from tests.storage.test_labeling_races import label_and_doubt

BOB = "U0BOB"
# Only a failure waits this long: the answer is drawn, or waits for the redraw's turn, at once.
RACE_WAIT_S = 30.0


def test_an_answer_during_a_redraw_pass_stays_answered(
    bot: Bot, bank: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for user in ("U0ANA", "U0BOB"):
        bot.slack.command(user)
        bot.settle()
    (answered,) = bot.slack.open_examples("U0BOB")
    redraw = screen_redrawer(bot.services)
    assert redraw() == 0
    taxonomy.rename_label(bot.ws, project=PROJECT, label="change_pin", new_name="pin_change",
                          actor="ops")  # the CLI's  # fmt: skip
    update = bot.services.courier.update
    clicked: list[bool] = []

    def bob_answers_first(message: dict[str, Any], *, channel: str, ts: str) -> bool:
        if not clicked:  # the pass has read both screens and updates ana's first
            clicked.append(True)
            bot.slack.choose("U0BOB", answered, choices(answered)[0].label)
            bot.settle()
        return update(message, channel=channel, ts=ts)

    monkeypatch.setattr(bot.services.courier, "update", bob_answers_first)
    redraw()
    (live,) = bot.slack.open_examples("U0BOB")  # his next example, not the one he labeled
    assert live["ts"] != answered["ts"]
    (ana,) = bot.slack.open_examples("U0ANA")
    assert "pin_change" in {c.label for c in choices(ana)}  # the others are redrawn


@pytest.fixture
def quiet(bot: Bot, bank: dict[str, str]) -> dict[str, str]:
    """The bank project without audit picks, second opinions or review turns."""
    projects.update_settings(
        bot.ws, project=PROJECT, audit_share=0.0, multi_label_share=0.0, review_share=0.0
    )
    return bank


def _answer_amid_the_redraw(
    bot: Bot, monkeypatch: pytest.MonkeyPatch, message: dict[str, Any], answer: Callable[[], Any]
) -> None:
    """Redraw the screens after a taxonomy change; when the pass has read ``message`` again
    (still open) and is about to update it, BOB's ``answer`` is posted (acked at once, its work
    in a listener thread) and the pass goes on once that answer was drawn (the window was
    open) or waits for BOB's turn, which the pass holds. Then every listener finishes."""
    taxonomy.rename_label(bot.ws, project=PROJECT, label="change_pin", new_name="pin_change",
                          actor="ops")  # the CLI's  # fmt: skip
    redrawing = threading.current_thread()
    turn = threading.Event()
    update, claim = bot.services.courier.update, jobs.claim

    def answer_in_between(drawn: dict[str, Any], *, channel: str, ts: str) -> bool:
        if ts != message["ts"]:
            return update(drawn, channel=channel, ts=ts)
        if threading.current_thread() is not redrawing:  # the answer, drawn
            done = update(drawn, channel=channel, ts=ts)
            turn.set()
            return done
        if not turn.is_set():  # read again, still on screen; not drawn yet
            answer()
            assert turn.wait(RACE_WAIT_S), "the answer neither drawn nor waiting its turn"
        return update(drawn, channel=channel, ts=ts)

    @contextmanager
    def watched(ws: Any, name: str, **kw: Any) -> Iterator[bool]:
        with claim(ws, name, **kw) as got:
            if not got and name == f"deliver:{BOB}:{PROJECT}":
                turn.set()  # the answer waits for the turn the redraw holds
            yield got

    monkeypatch.setattr(bot.services.courier, "update", answer_in_between)
    monkeypatch.setattr(jobs, "claim", watched)
    assert flow.redraw_on_screen(bot.services, project=PROJECT) >= 1
    assert turn.is_set()  # the answer came while the pass held that message
    bot.settle()


def _now(bot: Bot, message: dict[str, Any]) -> dict[str, Any]:
    (now,) = [m for m in bot.slack.dm(BOB) if m["ts"] == message["ts"]]
    return now


@pytest.mark.parametrize("how", ["label", "skip"])
def test_an_answer_between_the_redraws_read_and_its_update_stays_answered(
    bot: Bot, quiet: dict[str, str], monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    bot.slack.command(BOB, PROJECT)
    bot.settle()
    (message,) = bot.slack.open_examples(BOB)

    def answer() -> None:
        if how == "label":
            bot.slack.choose(BOB, message, choices(message)[0].label)
        else:
            bot.slack.click(BOB, message, ids.SKIP)

    _answer_amid_the_redraw(bot, monkeypatch, message, answer)

    assert choices(_now(bot, message)) == []  # answered, its buttons gone for good
    (live,) = bot.slack.open_examples(BOB)  # his next example, drawn with today's labels
    assert live["ts"] != message["ts"]
    assert "pin_change" in {c.label for c in choices(live)}
    assert bot.slack.ephemerals(BOB) == []


def test_a_review_kept_between_the_redraws_read_and_its_update_stays_answered(
    bot: Bot, quiet: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    label_and_doubt(bot.ws, annotator="U0ANA")
    projects.update_settings(bot.ws, project=PROJECT, review_share=1.0)
    bot.slack.command(BOB, PROJECT)
    bot.settle()
    (message,) = [m for m in bot.slack.dm(BOB) if ids.REVIEW_KEEP in str(m.get("blocks"))]

    _answer_amid_the_redraw(
        bot, monkeypatch, message, lambda: bot.slack.click(BOB, message, ids.REVIEW_KEEP)
    )

    assert ids.REVIEW_KEEP not in str(_now(bot, message).get("blocks"))  # kept, answered
    assert bot.slack.ephemerals(BOB) == []


def test_a_turn_taken_again_in_its_thread_lasts_until_the_outer_one_ends(bot: Bot) -> None:
    """An answer holds the expert's turn and its next delivery (send_next) takes it again in
    the same thread: granted at once, and kept until the answer ends, not let go with the
    delivery (the lease is the thread's: a second release would end the answer's)."""

    def taken_elsewhere() -> bool:
        got: list[bool] = []

        def other() -> None:  # another thread: another owner, as another replica
            with jobs.claim(bot.ws, f"deliver:{BOB}:{PROJECT}", ttl=flow.DELIVERY_LEASE) as ok:
                got.append(ok)

        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        return got == [True]

    with flow.expert_turn(bot.services, user=BOB, project=PROJECT):
        with flow.expert_turn(bot.services, user=BOB, project=PROJECT):
            assert not taken_elsewhere()
        assert not taken_elsewhere()  # the inner turn's end left it held
    assert taken_elsewhere()
