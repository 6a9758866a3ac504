"""Fixes from the Block Kit audit: a "$" in a label name no longer stops the digest; every
label's guideline reaches a labeling DM of buttons; the Home tab keeps its counts; a cut never
breaks a mention; error answers are cut; names in capitals stay names. Through the real digest
poster and the local Slack server, and the real bot over HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import matplotlib.pyplot as plt

from bot import ids
from bot.digests import post_digest
from bot.slack_text import split_chunks, truncate, who
from bot.views.digest import _leaderboard
from bot.views.disputes import DisputeCard, dispute_message, settled_message
from bot.views.home import home_tab
from bot.views.labeling import labeling_message
from bot.views.limits import block_errors, message_text_errors, view_errors
from bot.views.models import ClassCount, ExampleCard, HomeStats, LabelChoice, ProjectProgress
from engine import projects, taxonomy, training
from engine.digest import build_digest, chart_figure
from engine.leaderboard import Standing
from tests.bot.conftest import CHANNEL, Bot
from tests.fakes.signing import signed_interactivity
from tests.fakes.slack_client import example_id
from tests.helpers import label_next, load_slice

UNCLOSED = re.compile(r"<[^<>]*$")  # Slack markup a cut left open: "… <@U00"
DOLLAR = "fee_$5_to_$10"


# --- 1. A "$" in a label name: the digest is posted, with its chart --------------------------


def test_a_dollar_in_a_label_name_leaves_the_digest_and_its_chart_whole(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path, slack_api, slack_client
) -> None:
    """matplotlib read "$5_to_$" as mathtext and raised: no digest was posted, every round."""
    truth = load_slice(ws, banking_slice, tmp_path, channel_id="C42")
    taxonomy.rename_label(ws, project="bank", label="exchange_rate", new_name=DOLLAR, actor="U1")
    truth = {text: DOLLAR if label == "exchange_rate" else label for text, label in truth.items()}
    for _ in range(4):
        label_next(ws, truth, 10, annotators=("U1",), source="slack")
        training.train_project(ws, "bank")

    posted = post_digest(slack_client, ws, "bank")

    (message,) = slack_api.calls("chat.postMessage")
    assert message.params["channel"] == "C42" and posted.ts
    assert posted.file_id, "the digest went out without its chart"
    assert slack_api.uploads[posted.file_id][:8] == b"\x89PNG\r\n\x1a\n"
    fig = chart_figure(build_digest(ws, "bank"))
    try:  # the chart names the class as typed, "$" and all
        assert DOLLAR in [t.get_text() for t in fig.axes[1].get_yticklabels()]
    finally:
        plt.close(fig)


# --- 2. Guidelines in a labeling DM of buttons -----------------------------------------------

GUIDE = ("Use this when the customer asks to move money between their own accounts. " * 4)[:300]


def _contexts(message: dict) -> list[str]:  # type: ignore[type-arg]
    return [e["text"] for b in message["blocks"] if b["type"] == "context" for e in b["elements"]]


def _checked(message: dict) -> dict:  # type: ignore[type-arg]
    assert block_errors(message["blocks"]) == [] and message_text_errors(message["blocks"]) == []
    return message


def test_every_guideline_reaches_a_dm_of_15_buttons() -> None:
    """One context text, cut at 2,000 characters, showed 6 of 15 guidelines and said nothing."""
    for n in (8, 15):
        labels = [LabelChoice(f"intent_{i:02d}_transfer", GUIDE, i + 1) for i in range(n)]
        card = ExampleCard(example_id=1, text="x " * 1500, project="bank", labels=labels)
        texts = _contexts(_checked(labeling_message(card)))
        for i in range(n):
            assert f"*intent_{i:02d}_transfer*: {GUIDE}" in texts  # whole, one element each
        assert not any("cut to fit" in t for t in texts)


def test_guidelines_too_long_for_one_message_are_cut_fairly_and_say_where_they_are() -> None:
    names = [f"{i:02d} " + "customer complaint & refund " * 7 for i in range(15)]
    labels = [LabelChoice(name, f"{i:02d} " + "Read this & that. " * 150, i) for i, name in
              enumerate(names)]  # fmt: skip
    card = ExampleCard(example_id=1, text="x " * 1500, project="bank <&>", labels=labels)
    message = _checked(labeling_message(card))
    texts = _contexts(message)
    for i, name in enumerate(names):  # every label named, with the start of its guideline
        (line,) = [t for t in texts if t.startswith(f"*{name.replace('&', '&amp;')}*: ")]
        assert f": {i:02d} Read this &amp; that." in line and line.endswith("…")
    assert texts[-1].startswith(":bulb: Click the label")  # the first example of the day's hint
    assert texts[-2] == (
        "Label guidelines are cut to fit one Slack message: `/label guidelines bank &lt;&amp;&gt;` "
        "shows them in full (`labelbot labels list bank &lt;&amp;&gt;` in a terminal)."
    )


# --- 4. Home: the counts' summary lines survive long names -----------------------------------


def test_home_keeps_the_more_classes_count_and_the_rare_classes() -> None:
    names = [f"{i:03d} " + "customer asks about a delayed delivery " * 5 for i in range(150)]
    project = ProjectProgress(
        name="bank", labeled=5000, total=9000, project_id=1,
        class_counts=[ClassCount(name, 200 - i) for i, name in enumerate(names)],
        rare_classes=names[120:],
    )  # fmt: skip
    view = home_tab(HomeStats(user_id="U0ALICE", labeled_today=1, labeled_total=9,
                              projects=[project]))  # fmt: skip
    assert view_errors(view) == []
    counts = view["blocks"][-1]["text"]["text"]
    lines = counts.split("\n")
    shown = [line for line in lines if line.startswith("`")]
    assert 0 < len(shown) <= 20 and all(line.endswith("delivery ") for line in shown)
    assert lines[len(shown)] == f"_… and {150 - len(shown)} more classes_"
    rare = lines[len(shown) + 1]
    assert rare.startswith("*Rare classes* (fewer than") and len(lines) == len(shown) + 2
    named = len(re.findall(r"\d{3} customer", rare))
    assert named > 0 and rare.endswith(f" and {30 - named} more")


# --- 5. A cut never lands inside Slack markup ------------------------------------------------


def test_truncate_never_splits_a_mention_a_link_or_an_entity() -> None:
    text = "x" * 10 + "<@U012AB3CD> chose *a &amp; b* <https://example.com|the guide> now"
    for limit in range(2, len(text)):
        cut = truncate(text, limit)
        assert len(cut) <= limit and UNCLOSED.search(cut) is None, cut
        assert not re.search(r"&[a-z]{0,3}…$", cut), cut
    assert truncate(text, 22) == "x" * 10 + "…"  # not "xxxxxxxxxx<@U012AB3C…"
    assert truncate(text, 23) == "x" * 10 + "<@U012AB3CD>…"
    # a "<" that is no markup (plain text, a button's label) is cut as any character
    assert truncate("a < b and then some more", 10) == "a < b and…"
    for piece in split_chunks("word " * 10 + "<https://example.com|two words> " * 40, 60):
        assert len(piece) <= 60 and UNCLOSED.search(piece) is None, piece


def test_a_dispute_with_many_votes_keeps_whole_mentions_and_the_models_line() -> None:
    """40 votes of long label names: the section was cut at 3,000 characters in a mention
    ("• <@U000000…") and the model's line was lost."""
    for n in (57, 62, 77, 81, 89, 200):
        labels = [("L" * n)[: n - 3] + f"{i:03d}" for i in range(40)]
        votes = [(f"U{i:010d}", labels[i]) for i in range(40)]
        choices = [LabelChoice(lb, None, i) for i, lb in enumerate(labels)]
        card = DisputeCard(example_id=1, text="short text", project="bank", votes=votes,
                           model=(labels[0], 0.5), involved=[u for u, _ in votes],
                           labels=choices)  # fmt: skip
        for message in (dispute_message(card), settled_message(card, label=labels[0], user="U1")):
            assert block_errors(message["blocks"]) == []
            (facts,) = [b["text"]["text"] for b in message["blocks"]
                        if b.get("block_id") == f"{ids.DISPUTE_BLOCK}:1"]  # fmt: skip
            lines = facts.split("\n")
            assert lines[-1] == f"The model says *{labels[0]}* (50%)."
            chose = [line for line in lines if line.startswith("• <@U")]
            assert all(re.fullmatch(r"• <@U\d{10}> chose \*L*\d{3}\*", c) for c in chose)
            assert lines[-2] == f"• … and {40 - len(chose)} more"


# --- 6. Error answers are cut ------------------------------------------------------------------


def test_an_error_listing_150_long_labels_is_cut_with_a_count(bot: Bot, tmp_path: Path) -> None:
    """The error "unknown label … (labels: <every label>)" was sent whole: 32,000 characters."""
    long = ("Customer complaint about a delayed delivery & refund " * 4)[:190].strip()
    names = [f"{i:03d} {long}" for i in range(150)]
    projects.create_project(bot.ws, name="long", labels=names, channel_id=CHANNEL)
    path = tmp_path / "long.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([["text"], ["my card has not arrived"], ["fees?"]])
    projects.import_file(bot.ws, project="long", path=path)
    bot.slack.command("U0ALICE", "long")
    bot.settle()
    (message,) = bot.slack.open_examples("U0ALICE")
    eid = example_id(message)
    payload = bot.slack.action_payload("U0ALICE", message, f"{ids.LABEL}:0", f"{eid}|no such label")
    assert bot.slack.post(signed_interactivity(bot.slack.secret, payload)).status_code == 200
    bot.settle()

    (answer,) = bot.slack.ephemerals("U0ALICE")
    assert len(answer) <= 3000
    assert answer.startswith(":warning: Unknown label 'no such label' (labels: 000 Customer")
    named = sum(f"{i:03d} Customer" in answer for i in range(150))
    assert 0 < named < 150 and answer.endswith(f", … and {150 - named} more).")
    listed = answer.split("(labels: ", 1)[1].split(", ")[:-1]
    assert listed == [name.replace("&", "&amp;") for name in names[:named]]  # whole, escaped


# --- 7. Names in capitals stay names -----------------------------------------------------------


def test_names_in_capitals_are_not_made_mentions() -> None:
    for name in ("WALTER", "UMA", "USA", "WILLIAM"):
        assert who(name) == name
    for user in ("U012AB3CD", "W0123ABC", "U0ALICE", "U1"):
        assert who(user) == f"<@{user}>"
    board = _leaderboard([Standing("WALTER", 120, 3), Standing("U0ALICE", 80, 0)])
    assert "WALTER 120" in board and "<@WALTER>" not in board and "<@U0ALICE> 80" in board


# --- mrkdwn is verbatim: a URL or "@channel" in user text is not parsed ------------------------


def test_every_mrkdwn_text_is_verbatim() -> None:
    """Slack's text object: with `verbatim` false (its default) URLs become links and certain
    mentions are parsed in plain words; labelbot's own markup (<@U1>) is parsed either way."""
    card = ExampleCard(example_id=1, text="see https://evil.example @channel", project="bank",
                       labels=[LabelChoice("a", "guide at https://x.example", 1)])  # fmt: skip
    message = labeling_message(card)
    found = [obj for b in message["blocks"] for obj in [b.get("text"), *b.get("elements", [])]
             if isinstance(obj, dict) and obj.get("type") == "mrkdwn"]  # fmt: skip
    assert len(found) >= 3 and all(obj["verbatim"] is True for obj in found)
