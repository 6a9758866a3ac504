"""The scheduler's Slack jobs when Slack refuses: one project's channel (archived, gone, the
bot not in it) or one message must not stop the other projects, the admins are told (once a
while, not every poll), and a refused bot token keeps the digest due and is logged once."""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from bot.scheduling import digest_sender, dispute_poster, proposal_poster
from engine import jobs, labeling, projects, proposing, training
from storage.db import session_scope
from storage.models import Lease, utcnow
from storage.repositories import projects as project_repo
from tests.bot.conftest import BOT_TOKEN, CHANNEL, LABELS, PROJECT, Bot
from tests.fakes.refusing import RefusingSlackAPI
from tests.helpers import save_found_twice

pytestmark = pytest.mark.parametrize("db_url_and_schema", ["sqlite"], indirect=True)

OTHER, OTHER_CHANNEL = "zeta", "C0ZETA"
A1, A2, A3 = "U0ADMINA", "U0ADMINB", "U0ADMINC"
TOKEN_LINE = "Slack refuses the bot token ({}): reinstall the app or update SLACK_BOT_TOKEN"
# What the admins' DM says for each refusal: the fix is theirs, or the bug is labelbot's.
ADVICE = {
    "not_in_channel": ["not a member of <#C0PROJECT>", "`/invite @labelbot`"],
    "is_archived": ["<#C0PROJECT> is archived", "`labelbot project set bank --channel C0123`"],
    "channel_not_found": [
        "does not know the channel `C0PROJECT`",
        "`labelbot project set bank --channel C0123`",
    ],
    "msg_too_long": ["`msg_too_long`", "a bug in labelbot"],
}


@pytest.fixture
def slack_api() -> Iterator[RefusingSlackAPI]:  # the bot fixture's Slack, able to refuse
    with RefusingSlackAPI(token=BOT_TOKEN) as api:
        yield api


@pytest.fixture
def two(bot: Bot, bank: dict[str, str], banking_slice, tmp_path: Path) -> Bot:  # type: ignore[no-untyped-def]
    """bank (admins A1, A2) and zeta, each with its own channel and unlabeled examples."""
    projects.update_settings(bot.ws, project=PROJECT, admins=[A1, A2])
    projects.create_project(bot.ws, name=OTHER, labels=LABELS, channel_id=OTHER_CHANNEL)
    path = tmp_path / "zeta.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text"])
        writer.writerows([text] for text, _ in banking_slice[:40])
    projects.import_file(bot.ws, project=OTHER, path=path)
    training.rescore_project(bot.ws, OTHER)
    return bot


def _propose(bot: Bot, project: str, labels: list[str]) -> int:
    with session_scope(bot.ws.db) as session:
        found = project_repo.get_project(session=session, name=project)
        row, _ = save_found_twice(
            session=session, project_id=int(found.id or 0), kind="merge", labels=labels,
            key=proposing.key_text(["merge", *labels]), score=0.8,
            evidence={"confusion": 0.3, "mixing": 0.2, "counts": {}, "examples": {}},
            evidence_strength=1.0, message="merge them",
        )  # fmt: skip
        return int(row.id or 0)


def _disagree(bot: Bot, project: str, n: int = 1) -> None:
    """Two experts label ``n`` examples of ``project`` differently."""
    projects.update_settings(bot.ws, project=project, multi_label_share=1.0, audit_share=0.0)
    for i in range(n):
        first = None
        for user, label in (("U0ANA", LABELS[0]), ("U0BOB", LABELS[1])):
            task = labeling.next_task(bot.ws, project=project, annotator=user)
            assert task is not None and task.example_id == (first or task.example_id)
            first = task.example_id
            labeling.submit_label(
                bot.ws, project=project, example_id=task.example_id, label=label,
                annotator=user, source="slack", key=f"k:{project}:{i}:{user}",
            )  # fmt: skip


def _dms(bot: Bot) -> list[tuple[str, str]]:
    """(admin, text) of each DM the bot sent (or tried to send) to a user."""
    return [
        (str(call.params["channel"]), str(call.params.get("text", "")))
        for call in bot.api.calls("chat.postMessage")
        if str(call.params.get("channel", "")).startswith("U")
    ]


def _lines(caplog: pytest.LogCaptureFixture, level: int = logging.WARNING) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= level]


def _cycle(bot: Bot) -> list[str]:
    return jobs.digest_cycle(bot.ws, digest_sender(bot.services), now=utcnow() + timedelta(days=8))


def _last_digest(bot: Bot, project: str = PROJECT) -> object:
    return projects.get_project(bot.ws, project).settings.get("last_digest_at")


def _lapse_the_told_markers(bot: Bot) -> None:
    """A day passes for the markers of what the admins were told."""
    with session_scope(bot.ws.db) as session:
        for lease in session.exec(select(Lease)).all():
            if lease.name.startswith("told-admins:"):
                lease.expires_at = utcnow() - timedelta(minutes=1)
                session.add(lease)


# --- taxonomy proposals ------------------------------------------------------------------------


@pytest.mark.parametrize("error", ["not_in_channel", "is_archived", "channel_not_found"])
def test_a_refused_channel_skips_its_project_and_its_admins_hear_once(
    two: Bot, error: str, caplog: pytest.LogCaptureFixture
) -> None:
    bot = two
    _propose(bot, PROJECT, LABELS[:2])
    _propose(bot, OTHER, LABELS[:2])
    bot.api.fail_target("chat.postMessage", CHANNEL, error)
    caplog.set_level(logging.INFO)
    post = proposal_poster(bot.services)
    assert [post() for _ in range(4)] == [1, 0, 0, 0]  # four polls
    assert len(bot.api.messages(OTHER_CHANNEL)) == 1  # zeta's proposal went out
    dms = _dms(bot)
    assert [admin for admin, _ in dms] == [A1, A2]  # told once, not every 15 s
    for _, text in dms:
        assert "the taxonomy proposals of *bank*" in text
        assert all(part in text for part in ADVICE[error]), text
    (told,) = [line for line in _lines(caplog) if "told" in line]
    assert f"taxonomy proposals for bank not posted: Slack said {error} (" in told
    assert "C0PROJECT" in told and f"told {A1}, {A2}" in told
    # the digest meets the same refusal: not posted, not re-posted, the admins not told twice
    assert _cycle(bot) == [PROJECT, OTHER] and _last_digest(bot) is not None
    assert len(_dms(bot)) == 2
    assert any(f"digest for bank not posted: Slack said {error}" in x for x in _lines(caplog))


def test_new_admins_are_told_at_once_and_everyone_again_a_day_later(two: Bot) -> None:
    bot = two
    _propose(bot, PROJECT, LABELS[:2])
    bot.api.fail_target("chat.postMessage", CHANNEL, "is_archived")
    post = proposal_poster(bot.services)
    post()
    post()
    assert [admin for admin, _ in _dms(bot)] == [A1, A2]
    projects.update_settings(bot.ws, project=PROJECT, admins=[A1, A2, A3])
    post()
    post()
    assert [admin for admin, _ in _dms(bot)] == [A1, A2, A1, A2, A3]
    _lapse_the_told_markers(bot)
    post()
    assert len(_dms(bot)) == 8


def test_a_refused_proposal_message_does_not_hold_back_the_next(
    two: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    bot = two
    first = _propose(bot, PROJECT, LABELS[:2])
    second = _propose(bot, PROJECT, LABELS[2:4])
    bot.api.fail_next("chat.postMessage", error="msg_too_long")  # a labelbot bug, for one message
    post = proposal_poster(bot.services)
    assert post() == 1
    assert proposing.get_proposal(bot.ws, first).message_ts is None
    assert proposing.get_proposal(bot.ws, second).message_ts is not None
    assert [admin for admin, _ in _dms(bot)] == [A1, A2]
    assert all(part in _dms(bot)[0][1] for part in ADVICE["msg_too_long"])
    assert any(f"(proposal #{first})" in line and "msg_too_long" in line for line in _lines(caplog))
    assert post() == 1  # retried on the next round
    assert proposing.get_proposal(bot.ws, first).message_ts is not None


def test_no_admin_to_tell_is_one_error_with_the_cause(
    two: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    bot = two
    _propose(bot, PROJECT, LABELS[:2])
    projects.update_settings(bot.ws, project=PROJECT, admins=[A1])
    bot.api.fail_target("chat.postMessage", CHANNEL, "not_in_channel")
    bot.api.fail_target("chat.postMessage", A1, "user_not_found")  # a deactivated admin
    caplog.set_level(logging.INFO)
    post = proposal_poster(bot.services)
    for _ in range(3):
        post()
    errors = _lines(caplog, logging.ERROR)
    assert len(errors) == 1, errors
    assert "Slack said not_in_channel (the bot is not in C0PROJECT)" in errors[0]
    assert "no admin could be told" in errors[0] and f"{A1} (user_not_found)" in errors[0]


# --- disagreement threads ----------------------------------------------------------------------


@pytest.mark.parametrize(("error", "status"), [("is_archived", 200), ("ratelimited", 429)])
def test_a_refused_channel_does_not_stop_other_projects_threads(
    two: Bot, error: str, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    bot = two
    _disagree(bot, PROJECT, n=2)
    _disagree(bot, OTHER)
    bot.api.fail_target("chat.postMessage", CHANNEL, error, status=status)
    post = dispute_poster(bot.services)
    assert post() == 1 and post() == 0
    assert len(bot.api.messages(OTHER_CHANNEL)) == 1
    tries = 1 if status == 200 else 3  # the client's 2 retries of a rate limit
    refused = [c for c in bot.api.calls("chat.postMessage") if c.params["channel"] == CHANNEL]
    assert len(refused) == 2 * tries  # one per round: the rest of bank waits for the next
    line = next(x for x in _lines(caplog) if "disagreement threads for bank (example" in x)
    assert error in line and "C0PROJECT" in line
    told = [admin for admin, _ in _dms(bot)]
    assert told == ([A1, A2] if error == "is_archived" else [])  # a rate limit is no one's fault


def test_a_refused_thread_message_does_not_hold_back_the_next(two: Bot) -> None:
    bot = two
    _disagree(bot, PROJECT, n=2)
    bot.api.fail_next("chat.postMessage", error="invalid_blocks")
    assert dispute_poster(bot.services)() == 1
    assert len(bot.api.messages(CHANNEL)) == 1
    assert dispute_poster(bot.services)() == 1  # the refused one, next round


# --- digests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("error", ["not_in_channel", "is_archived", "channel_not_found",
                                   "msg_too_long"])  # fmt: skip
def test_a_refused_digest_is_told_to_every_admin_and_not_reposted(
    two: Bot, error: str, caplog: pytest.LogCaptureFixture
) -> None:
    bot = two
    bot.api.fail_target("chat.postMessage", CHANNEL, error)
    bot.api.fail_target("chat.postMessage", A1, "user_not_found")  # a deactivated admin
    assert _cycle(bot) == [PROJECT, OTHER]
    assert _last_digest(bot) is not None  # not posted again at the next minute
    dms = _dms(bot)
    assert [admin for admin, _ in dms] == [A1, A2]  # A1's refusal did not stop A2's DM
    assert "the digest of *bank*" in dms[1][1]
    assert all(part in dms[1][1] for part in ADVICE[error]), dms[1][1]
    (line,) = [x for x in _lines(caplog) if "digest for bank" in x]  # one line, with the cause
    assert f"Slack said {error}" in line and "C0PROJECT" in line
    assert f"told {A2}; could not tell {A1} (user_not_found)" in line


# --- a refused bot token -----------------------------------------------------------------------


def test_a_refused_token_keeps_the_digest_due_stops_rounds_and_is_logged_once(
    two: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    bot = two
    _propose(bot, PROJECT, LABELS[:2])
    _propose(bot, OTHER, LABELS[:2])
    _disagree(bot, PROJECT)
    _disagree(bot, OTHER)
    bot.api.all_error = "token_revoked"
    proposals, threads = proposal_poster(bot.services), dispute_poster(bot.services)
    for _ in range(3):
        assert proposals() == 0 and threads() == 0
        assert _cycle(bot) == []
    assert _last_digest(bot) is None and _last_digest(bot, OTHER) is None  # still due
    # every call fails alike: each round stops at its first (one proposal, one thread, one
    # digest), and the digests that stay due say so in one quiet line, without a traceback
    assert len(bot.api.calls("chat.postMessage")) == 3 * (1 + 1 + 1)
    assert _dms(bot) == []
    assert not [r for r in caplog.records if r.exc_info], "a traceback every minute"
    assert not any("digest of" in x and "failed" in x for x in _lines(caplog))
    token = [x for x in _lines(caplog, logging.ERROR) if x.startswith("Slack refuses")]
    assert token == [TOKEN_LINE.format("token_revoked")]
    bot.api.all_error = "invalid_auth"  # another cause: said once too
    proposals()
    threads()
    token = [x for x in _lines(caplog, logging.ERROR) if x.startswith("Slack refuses")]
    assert token[1:] == [TOKEN_LINE.format("invalid_auth")]
    bot.api.all_error = None  # the app reinstalled: what waited goes out
    assert _cycle(bot) == [PROJECT, OTHER]
    assert proposals() == 2 and threads() == 2


def test_digest_now_says_why_slack_refused_it(two: Bot) -> None:
    """`/label digest` in an archived channel says it is archived (not "labelbot is not in")."""
    bot = two
    bot.api.fail_target("chat.postMessage", CHANNEL, "is_archived")
    bot.slack.command(A1, "digest", channel=CHANNEL)
    bot.settle()
    (said,) = bot.slack.ephemerals(A1)
    assert "Not posted: Slack said is_archived (C0PROJECT is archived)" in said, said
    assert "not in" not in said
