"""What a guest account (users.info is_restricted / is_ultra_restricted) still learned or left
behind in projects closed to guests, over real signed Bolt requests on SQLite and PostgreSQL:
an admins' `/label` verb naming the only project, thread replies kept as comments, a nudge
naming a project that is not theirs; and a batch summary's buttons clicked, made up by hand,
on another expert's DM. bot.flow.open_to says which projects are a user's."""

from __future__ import annotations

import copy
import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot import ids, rhythm_flow
from bot.scheduling import flag_poster
from engine import discussions, exporting, labeling, project_settings, projects, training
from tests.bot.conftest import CHANNEL, PROJECT, Bot
from tests.fakes import payloads
from tests.fakes.signing import signed_interactivity

GUEST, MEMBER, EXPERT = "U0GUEST", "U0MEMBER", "U0EXPERT"
HR, PRIVATE = "hr_cases", "G0PRIVATE"
OPEN = "handbook"
REFUSED = "not open to guest accounts"


def _import(bot: Bot, project: str, texts: list[str], tmp_path: Path) -> None:
    path = tmp_path / f"{project}.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text"])
        writer.writerows([t] for t in texts)
    projects.import_file(bot.ws, project=project, path=path)
    training.rescore_project(bot.ws, project)


@pytest.fixture
def hr_only(bot: Bot, tmp_path: Path) -> None:
    """The workspace's only project, closed to guests (the default), bound to a private
    channel; a guest account."""
    projects.create_project(bot.ws, name=HR, labels=["harassment", "pay"], channel_id=PRIVATE)
    _import(bot, HR, [f"Confidential complaint #{i}" for i in range(5)], tmp_path)
    bot.api.add_user(GUEST, is_restricted=True)


def _said(bot: Bot, user: str, text: str, *, channel: str | None = None) -> str:
    """`/label <text>` typed by ``user`` (in their DM unless ``channel``): the ephemeral
    answer ("" when none)."""
    before = len(bot.slack.ephemerals(user))
    bot.slack.command(user, text, channel=channel)
    bot.settle()
    return "\n".join(bot.slack.ephemerals(user)[before:])


def _open(bot: Bot, project: str, guests: str = "allow") -> None:
    project_settings.change_settings(bot.ws, project=project, changes={"guests": guests})


@pytest.mark.usefixtures("hr_only")
def test_an_admins_verb_names_no_closed_project_to_a_guest(bot: Bot) -> None:
    """The only project, the channel's, a `#channel` mention: the guest is refused as one
    naming a project that does not exist, which names nothing."""
    unknown = _said(bot, GUEST, "taxonomy no_such_project")
    assert REFUSED in unknown and HR not in unknown
    for text, channel in (
        ("taxonomy", None), ("settings retrain_every=5", None), ("digest", None),
        ("promote 1", None), ("unpin", None), ("settings retrain_every=5", PRIVATE),
        ("taxonomy", PRIVATE), (f"settings <#{PRIVATE}|hr> retrain_every=5", None),
    ):  # fmt: skip
        assert _said(bot, GUEST, text, channel=channel) == unknown, (text, channel)
    assert not bot.api.calls("views.open")
    assert "retrain_every" not in projects.get_project(bot.ws, HR).settings  # nothing changed

    # ... nor when the guest names it: the refusal of a project that does not exist
    for text in (f"settings {HR} retrain_every=5", f"taxonomy {HR}", f"digest {HR}"):
        assert _said(bot, GUEST, text) == unknown, text

    # a full member who is none of its admins is told whose it is, as before
    said = _said(bot, MEMBER, "taxonomy")
    assert "Only project admins can change the labels" in said and HR in said
    # ... and so is a guest once the project is open to guests
    _open(bot, HR)
    said = _said(bot, GUEST, "settings retrain_every=5")
    assert "Only project admins can change settings" in said and HR in said


def _comments(bot: Bot, example: int) -> list[tuple[str, str]]:
    record = next(r for r in exporting.export_records(bot.ws, PROJECT) if r["id"] == str(example))
    return [(c["author"], c["text"]) for c in record["comments"]]


def _reply(bot: Bot, user: str, text: str, thread_ts: str, ts: str) -> None:
    bot.slack.event(payloads.message_event(CHANNEL, user, text, ts, thread_ts=thread_ts))
    bot.settle()


def test_a_guests_thread_replies_are_not_kept(bot: Bot, bank: dict[str, str]) -> None:
    """A flag's thread and a Discuss thread in the project channel: the guest's replies are
    no comments (nor in the exports), and nothing is posted to them; a member's are kept."""
    bot.api.add_user(GUEST, is_restricted=True)
    task = labeling.next_task(bot.ws, project=PROJECT, annotator=EXPERT)
    assert task is not None
    labeling.flag(bot.ws, project=PROJECT, example_id=task.example_id, annotator=EXPERT,
                  reason="not English")  # fmt: skip
    assert flag_poster(bot.services)() == 1
    (flag_root,) = bot.api.messages(CHANNEL)
    bot.slack.command(MEMBER)
    bot.settle()
    (waiting,) = bot.slack.open_examples(MEMBER)
    bot.slack.click(MEMBER, waiting, ids.DISCUSS)
    bot.settle()
    discussed = _example(waiting)
    discuss_root = bot.api.messages(CHANNEL)[-1]
    assert discuss_root["ts"] != flag_root["ts"]
    posts = len(bot.api.calls("chat.postMessage")) + len(bot.api.calls("chat.postEphemeral"))

    _reply(bot, GUEST, "It is Spanish, I can tell", flag_root["ts"], "1700000000.000100")
    _reply(bot, GUEST, "I know this customer", discuss_root["ts"], "1700000000.000200")
    _reply(bot, MEMBER, "Spanish indeed", flag_root["ts"], "1700000000.000300")
    assert _comments(bot, task.example_id) == [(MEMBER, "Spanish indeed")]
    assert _comments(bot, discussed) == []
    assert len(bot.api.calls("chat.postMessage")) + len(bot.api.calls("chat.postEphemeral")) == (
        posts
    )

    # an example's second thread of a kind (a second expert's DM thread) is its project's too
    discussions.open_thread(bot.ws, example_id=discussed, channel="D0SECOND", thread_ts="17.5",
                            kind=discussions.DM, opened_by=MEMBER)  # fmt: skip
    bot.slack.event(payloads.message_event("D0SECOND", GUEST, "me too", "1700000000.000250",
                                           thread_ts="17.5"))  # fmt: skip
    bot.slack.event(payloads.message_event("D0SECOND", MEMBER, "so do I", "1700000000.000260",
                                           thread_ts="17.5"))  # fmt: skip
    bot.settle()
    assert _comments(bot, discussed) == [(MEMBER, "so do I")]

    # Slack not saying whether a user is a guest: kept (a member's words are not lost to a
    # Slack hiccup; a reply shows its writer nothing)
    bot.api.fail_next("users.info", status=500)
    _reply(bot, "U0NEWCOMER", "who knows", flag_root["ts"], "1700000000.000400")
    assert ("U0NEWCOMER", "who knows") in _comments(bot, task.example_id)

    # once the project is open to guests, theirs are kept as anyone's
    _open(bot, PROJECT)
    _reply(bot, GUEST, "Catalan, actually", flag_root["ts"], "1700000000.000500")
    assert (GUEST, "Catalan, actually") in _comments(bot, task.example_id)


def _example(message: dict[str, object]) -> int:
    from tests.fakes.slack_client import example_id

    found = example_id(message)
    assert found is not None
    return found


def _nudges(bot: Bot, user: str) -> list[dict[str, object]]:
    return [m for m in bot.slack.dm(user) if "waiting for you" in str(m.get("text", ""))]


def test_a_nudge_names_only_projects_open_to_the_user(
    bot: Bot, bank: dict[str, str], tmp_path: Path
) -> None:
    """`bank` (150 examples waiting) is closed to guests, `handbook` (2) open: a guest who
    labeled nothing is nudged about `handbook`; with nothing open to them, not at all."""
    projects.create_project(bot.ws, name=OPEN, labels=["a", "b"])
    _import(bot, OPEN, ["How do I book leave?", "Where is the pay slip?"], tmp_path)
    _open(bot, OPEN)
    bot.api.add_user(GUEST, is_restricted=True)
    for user in (GUEST, MEMBER):
        assert "I'll nudge you at 09:30" in _said(bot, user, "nudge 09:30")

    assert rhythm_flow.send_nudges(bot.services, now=datetime(2026, 11, 25, 10, tzinfo=UTC)) == 2
    (nudge,) = _nudges(bot, GUEST)
    assert f"*{OPEN}*" in str(nudge["text"]) and PROJECT not in json.dumps(nudge)
    (nudge,) = _nudges(bot, MEMBER)
    assert f"*{PROJECT}*" in str(nudge["text"])  # a member: the most work waits there

    _open(bot, OPEN, "deny")
    assert rhythm_flow.send_nudges(bot.services, now=datetime(2026, 11, 26, 10, tzinfo=UTC)) == 1
    assert len(_nudges(bot, GUEST)) == 1 and len(_nudges(bot, MEMBER)) == 2


def _batch_summary(bot: Bot, user: str) -> dict[str, object]:
    """``user`` labels a batch of 1: its summary, with "5 more" and "Done for now"."""
    bot.slack.command(user, "1")
    bot.settle()
    (message,) = bot.slack.open_examples(user)
    bot.slack.choose(user, message, "card_arrival")
    bot.settle()
    return next(m for m in bot.slack.dm(user) if ids.BATCH_DONE in str(m.get("blocks")))


def test_a_batch_summarys_buttons_work_only_in_the_clickers_own_dm(
    bot: Bot, bank: dict[str, str]
) -> None:
    summary = _batch_summary(bot, EXPERT)
    before = copy.deepcopy(summary)
    for action in (ids.BATCH_DONE, ids.BATCH_MORE):  # made up by MEMBER, on EXPERT's DM
        body = payloads.block_actions(
            MEMBER, action, PROJECT, bot.api.dm_channel(EXPERT), str(summary["ts"]),
            summary["blocks"], response_url=bot.api.response_url(MEMBER),
        )  # fmt: skip
        assert bot.slack.post(signed_interactivity(bot.slack.secret, body)).status_code == 200
        bot.settle()
        assert "direct messages" in bot.slack.ephemerals(MEMBER)[-1]
        assert next(m for m in bot.slack.dm(EXPERT) if m["ts"] == summary["ts"]) == before
    assert not bot.slack.dm(MEMBER)  # no batch started for the forger either

    bot.slack.click(EXPERT, summary, ids.BATCH_MORE)  # the expert's own click
    bot.settle()
    now = next(m for m in bot.slack.dm(EXPERT) if m["ts"] == summary["ts"])
    assert ids.BATCH_MORE not in str(now.get("blocks"))
    assert len(bot.slack.open_examples(EXPERT)) == 1
