"""The answers the flows write themselves (not the views) show user strings as typed: a label
"a*b*c" in "you labeled this example *a*b*c* already", a project "q_draft_" in "Your next example
of *q_draft_*", a flag reason "_x_" inside labelbot's own _italic_, a taxonomy change's summary,
a digest's refusal, and the names engine errors quote -- neither bold, italic, struck nor code,
nor pairing with labelbot's formatting around them, while the commands in `code` stay as written
to be copied. Through the real Bolt app over signed HTTP, the fake Slack Web API recording what
was posted, on SQLite and PostgreSQL.

Each answer is compared with the one its twin names give (each formatting character "§"): what
Slack formats in it (bot.slack_text.escape_mrkdwn's literals opaque, tests/bot/
test_mrkdwn_escaping.parsed) is the twin's text, so labelbot's *bold* and _italic_ are all
there is; and what a reader reads (`seen`) is the name as typed."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from bot import disputes, ids
from engine import consensus, labeling, projects
from tests.bot.conftest import CHANNEL, Bot, taxonomy_form
from tests.bot.test_flag_threads import _flag_in_slack_from
from tests.bot.test_mrkdwn_escaping import (
    PLAIN,
    PROJECT,
    PROJECT_TWIN,
    STAR,
    STAR_TWIN,
    STRUCK,
    STRUCK_TWIN,
    bold_words,
    mrkdwn_texts,
    parsed,
    seen,
)
from tests.bot.test_security_fixes import _import_vote
from tests.fakes.signing import signed_interactivity

EXPERT, ADMIN, OTHER = "U0EXPERT", "U0ADMIN", "U0OTHER"
ELSEWHERE = "C0ELSEWHERE"  # a channel that is no project's

# each user string and its twin (test_mrkdwn_escaping's): the same text with "§" where Slack
# would format
REASON = "_x_ *y* ~z~ `w`"
REASON_TWIN = "§x§ §y§ §z§ §w§"
TEXTS = ["where is my new card", "my card has not arrived", "what is the exchange rate"]


def _project(bot: Bot, tmp_path: Path, *, channel: str | None = None) -> None:
    projects.create_project(bot.ws, name=PROJECT, labels=[STAR, STRUCK, PLAIN], channel_id=channel)
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    path = tmp_path / "q.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text"])
        writer.writerows([t] for t in TEXTS)
    projects.import_file(bot.ws, project=PROJECT, path=path)


def _shown(text: str, want: str) -> None:
    """``text`` formats as ``want`` does (labelbot's own formatting, and nothing else), and
    reads as ``want`` with each twin turned back into the user's string."""
    assert parsed(text) == want, text
    typed = (
        want.replace(PROJECT_TWIN, PROJECT)
        .replace(STAR_TWIN, STAR)
        .replace(STRUCK_TWIN, STRUCK)
        .replace(REASON_TWIN, REASON)
    )
    assert seen(text) == typed, text


def _last_answer(bot: Bot, user: str) -> str:
    answers = bot.slack.ephemerals(user)
    assert answers, f"{user} was told nothing"
    return answers[-1]


def _dm_texts(bot: Bot, user: str) -> list[str]:
    return [t for m in bot.slack.dm(user) for t in mrkdwn_texts(m)]


def test_the_labeling_loop_shows_names_and_a_flag_reason_as_typed(bot: Bot, tmp_path: Path) -> None:
    _project(bot, tmp_path)

    # `/label q_draft_` in a channel: the example went to the DM
    bot.slack.command(EXPERT, PROJECT, channel=ELSEWHERE)
    bot.settle()
    _shown(
        _last_answer(bot, EXPERT),
        f"Your next example of *{PROJECT_TWIN}* is in your direct messages with labelbot "
        "(under Apps in the sidebar).",
    )
    (first,) = bot.slack.open_examples(EXPERT)

    # Discuss without a project channel: the name in bold as typed, the command as written
    bot.slack.click(EXPERT, first, ids.DISCUSS)
    bot.settle()
    said = _last_answer(bot, EXPERT)
    assert bold_words(said) == [PROJECT], said
    assert parsed(said) == (  # in `code` the name as written, to be copied
        f":warning: Project *{PROJECT_TWIN}* has no channel for discussions yet: ask an admin to "
        f"set one (`labelbot project set {PROJECT} --channel C0123`)."
    ), said

    # labeled a*b*c; a click on another label of the same message is refused, naming it
    bot.slack.choose(EXPERT, first, STAR)
    bot.settle()
    bot.slack.choose(EXPERT, first, STRUCK)
    bot.settle()
    said = _last_answer(bot, EXPERT)
    _shown(
        said,
        f":warning: You labeled this example *{STAR_TWIN}* already; to change it, click Undo on "
        "the message (while it is offered). Nothing was changed.",
    )
    assert bold_words(said) == [STAR]  # "*a*b*c*" is one bold name, not "*a*" and "c*"

    # Undo: the message says which label went, as typed
    labeled = next(m for m in bot.slack.dm(EXPERT) if m["ts"] == first["ts"])
    bot.slack.click(EXPERT, labeled, ids.UNDO)
    bot.settle()
    undone = next(m for m in bot.slack.dm(EXPERT) if m["ts"] == first["ts"])
    _shown(
        undone["text"], f"<@{EXPERT}> undid the label *{STAR_TWIN}*: the example is below again."
    )
    # a click on the first message again: its label was undone there
    bot.slack.choose(EXPERT, first, PLAIN)
    bot.settle()
    _shown(
        _last_answer(bot, EXPERT),
        f":warning: You undid your label *{STAR_TWIN}* on this message. Nothing was changed.",
    )
    redrawn = next(m for m in bot.slack.dm(EXPERT) if m["ts"] == first["ts"])
    _shown(redrawn["text"], f"<@{EXPERT}> undid the label *{STAR_TWIN}* given on this message.")

    # a flag's reason inside labelbot's _italic_: its own _ * ~ ` open and close nothing
    again = bot.slack.open_examples(EXPERT)[-1]
    _flag_in_slack_from(bot, EXPERT, again, REASON)
    flagged = next(m for m in bot.slack.dm(EXPERT) if m["ts"] == again["ts"])
    want = f"Flagged by <@{EXPERT}>: _{REASON_TWIN}_. It left the queue until someone reviews it."
    _shown(flagged["text"], want)
    # Slack's italic is the one pair of "_" it finds: around the reason, which reads as typed
    (italic,) = re.findall(r"(?<!\w)_([^_]+)_(?!\w)", parsed(flagged["text"]))
    assert italic == REASON_TWIN

    # the queue emptied: `/label q_draft_` says so, the name as typed
    for message in bot.slack.open_examples(EXPERT):
        bot.slack.choose(EXPERT, message, PLAIN)
        bot.settle()
    while (task := labeling.next_task(bot.ws, project=PROJECT, annotator=EXPERT)) is not None:
        labeling.submit_label(
            bot.ws, project=PROJECT, example_id=task.example_id, label=PLAIN,
            annotator=EXPERT, source="cli", key=f"cli:{task.example_id}",
        )  # fmt: skip
    bot.slack.command(EXPERT, PROJECT)
    bot.settle()
    _shown(
        _last_answer(bot, EXPERT),
        f"Nothing left to label in *{PROJECT_TWIN}* right now. Thank you!",
    )


def test_no_examples_yet_names_the_project_as_typed_and_the_commands_as_written(
    bot: Bot,
) -> None:
    projects.create_project(bot.ws, name=PROJECT, labels=[STAR, PLAIN], channel_id=None)
    bot.slack.command(EXPERT, PROJECT)
    bot.settle()
    said = _last_answer(bot, EXPERT)
    assert bold_words(said) == [PROJECT], said
    # in `code` Slack formats nothing: the commands to copy keep the name as written
    assert parsed(said) == (
        f":warning: No examples to label in *{PROJECT_TWIN}* yet: an admin imports them with "
        f"`labelbot import {PROJECT} FILE`, then `/label {PROJECT}` sends you the first."
    ), said


def test_an_already_settled_dispute_names_its_label_as_typed(bot: Bot, tmp_path: Path) -> None:
    projects.create_project(bot.ws, name=PROJECT, labels=[STAR, STRUCK], channel_id=CHANNEL)
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    _import_vote(bot, tmp_path, label=STAR, annotator="walter", project=PROJECT)
    _import_vote(bot, tmp_path, label=STRUCK, annotator="_ana_", project=PROJECT)
    (found,) = consensus.disagreements(bot.ws, PROJECT)
    assert disputes.open_if_disputed(bot.services, project=PROJECT, example_id=found.example_id)
    (root,) = bot.api.messages(CHANNEL)
    consensus.adjudicate(
        bot.ws, project=PROJECT, example_id=found.example_id, label=STAR, actor="_ana_"
    )
    bot.slack.click(ADMIN, root, f"{ids.SETTLE}:0", channel=CHANNEL)
    bot.settle()
    said = _last_answer(bot, ADMIN)
    assert parsed(said) == (
        f":warning: This was already settled as *{STAR_TWIN}* by §ana§. Nothing was changed."
    ), said
    assert seen(said).startswith(f":warning: This was already settled as *{STAR}* by _ana_.")


def test_a_taxonomy_change_is_told_with_names_as_typed(bot: Bot, tmp_path: Path) -> None:
    _project(bot, tmp_path, channel=CHANNEL)
    bot.slack.command(ADMIN, f"taxonomy {PROJECT}")
    bot.settle()
    view = bot.api.calls("views.open")[-1].params["view"]
    star = next(lb for lb in projects.list_labels(bot.ws, project=PROJECT) if lb.name == STAR)
    body = taxonomy_form(
        ADMIN, "rename", label_ids=[str(star.id)], names=STRUCK + "2",
        reason="r", private_metadata=view["private_metadata"],
    )  # fmt: skip
    bot.slack.post(signed_interactivity(bot.slack.secret, body))
    bot.settle()
    (told,) = [t for t in _dm_texts(bot, ADMIN) if "changed the labels" in t]
    _shown(
        told,
        f"<@{ADMIN}> changed the labels of *{PROJECT_TWIN}*: renamed {STAR_TWIN} to "
        f"{STRUCK_TWIN}2.",
    )


def test_a_digest_posted_or_refused_names_the_project_as_typed(bot: Bot, tmp_path: Path) -> None:
    _project(bot, tmp_path, channel=CHANNEL)
    bot.slack.command(ADMIN, f"digest {PROJECT}", channel=CHANNEL)
    bot.settle()
    _shown(_last_answer(bot, ADMIN), f"Digest of *{PROJECT_TWIN}* posted in <#{CHANNEL}>.")

    bot.api.fail_next("chat.postMessage", error="is_archived")
    bot.slack.command(ADMIN, f"digest {PROJECT}", channel=CHANNEL)
    bot.settle()
    _shown(
        _last_answer(bot, ADMIN),
        f"Not posted: Slack said is_archived ({CHANNEL} is archived): unarchive it or set "
        f"another with labelbot project set {PROJECT_TWIN} --channel C0123 (admins were told).",
    )


def test_engine_errors_quote_names_as_typed_and_commands_as_written(
    bot: Bot, tmp_path: Path
) -> None:
    """An error labelbot did not write as mrkdwn (an engine error, plain text) quotes names as
    typed; its `code` (a command to copy) keeps them as written; nothing is escaped twice."""
    _project(bot, tmp_path)
    bot.slack.command(EXPERT, "q_draft*")  # close to the project's name
    bot.settle()
    said = _last_answer(bot, EXPERT)
    assert parsed(said) == (
        ":warning: Unknown command or project 'q_draft§': did you mean `/label q_draft_`? "
        "`/label help` lists the commands."
    ), said
    assert seen(said).startswith(":warning: Unknown command or project 'q_draft*'")

    # an engine error quoting the project, as typed (not "q_draft" in italic with what follows)
    bot.slack.command(ADMIN, f"pin {PROJECT} 7")
    bot.settle()
    said = _last_answer(bot, ADMIN)
    _shown(said, f":warning: Project '{PROJECT_TWIN}' has no model v7 (it has no models yet).")
    # the admin's model commands say what they did to the project, named as typed (nothing
    # pinned here: nothing changed, as `labelbot models unpin` says)
    bot.slack.command(ADMIN, f"unpin {PROJECT}")
    bot.settle()
    _shown(_last_answer(bot, ADMIN), f"No version of *{PROJECT_TWIN}* is pinned: nothing changed.")
    # a name with a backtick after a space opens no code: "a `b` c" reads as typed
    bot.slack.command(ADMIN, f'settings {PROJECT} timezone="a `b` c"')
    bot.settle()
    said = _last_answer(bot, ADMIN)
    assert parsed(said) == ":warning: Unknown timezone 'a §b§ c' (e.g. Europe/Berlin).", said
    assert seen(said) == ":warning: Unknown timezone 'a `b` c' (e.g. Europe/Berlin)."
    # plain text with a command in it: the name in `code` as written, `<` escaped once
    bot.slack.command(ADMIN, f"pin {PROJECT}")
    bot.settle()
    said = _last_answer(bot, ADMIN)
    assert said == f":warning: Which version? `/label pin {PROJECT} &lt;version&gt;`.", said


def test_labelbots_code_spans_stay_code_and_a_names_backticks_read_as_typed() -> None:
    """Which backticks of a plain-text error are labelbot's `code`: a command to copy, Slack's
    error code in parentheses; a name's own backticks open nothing. An error written as
    Mrkdwn is shown as written (escaped once, where it was raised); a long list of names is
    cut at whole names, never inside a literal."""
    from bot.app import _cut_list, _mrkdwn
    from bot.slack_text import Mrkdwn
    from storage.errors import InvalidInputError

    said = _mrkdwn(InvalidInputError("no label '`rm` *x*' in 'q': try `labelbot labels q`"))
    assert parsed(said) == "no label '§rm§ §x§' in 'q': try `labelbot labels q`", said
    assert seen(said) == "no label '`rm` *x*' in 'q': try `labelbot labels q`"
    # a name quoted with a backtick after a space: as typed, the command after it still code
    said = _mrkdwn(InvalidInputError("unknown label 'a `b` c'; run `labelbot labels list`"))
    assert parsed(said) == "unknown label 'a §b§ c'; run `labelbot labels list`", said
    assert seen(said) == "unknown label 'a `b` c'; run `labelbot labels list`"
    said = _mrkdwn(InvalidInputError('unknown label "it\'s `b`" (see `labelbot labels list`)'))
    assert parsed(said) == 'unknown label "it\'s §b§" (see `labelbot labels list`)', said
    # a command that quotes a name stays code, the name in it as written
    said = _mrkdwn(InvalidInputError("run `labelbot labels retire 'x y'` first"))
    assert said == "run `labelbot labels retire 'x y'` first"
    # an apostrophe inside or after a word opens no quote: the command between stays code
    text = "it doesn't count: `labelbot agreement q` weighs the experts' votes"
    assert _mrkdwn(InvalidInputError(text)) == text
    said = _mrkdwn(InvalidInputError("include yourself, e.g. `admins=U0A,U0B`. Nothing changed"))
    assert said == "include yourself, e.g. `admins=U0A,U0B`. Nothing changed"
    said = _mrkdwn(InvalidInputError("Slack refused (`missing_scope`) & <more>"))
    assert said == "Slack refused (`missing_scope`) &amp; &lt;more&gt;"
    written = Mrkdwn(f"labeled *{STAR}* &amp; <@U0A>")  # escaped by whoever raised it
    assert _mrkdwn(InvalidInputError(written)) == written

    names = ", ".join(f"{STAR}{i}" for i in range(400))
    said = _cut_list(_mrkdwn(InvalidInputError(f"unknown label 'x' (labels: {names})")), 2000)
    assert len(said) <= 2000 and said.endswith("more)"), said[-80:]
    assert "*" not in parsed(said) and "<" not in re.sub(r"<!date\^[^<>]*>", "", said)
