"""Hostile text through real flows (the bot over HTTP, the fake Slack Web API, SQLite and
PostgreSQL): an example imported from a customer's ticket, label names and guidelines, a flag's
reason, annotator names. Whatever they hold -- broadcasts, mentions, links, an image's URL --
every message labelbot sends shows them as text: no Slack markup of theirs reaches a mrkdwn text
or a message's fallback `text`, and no link of theirs is unfurled (Slack would fetch it and
preview it in the DM or the channel)."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

from bot import disputes, ids
from bot.digests import post_digest
from bot.scheduling import proposal_poster
from engine import consensus, projects, proposing, taxonomy, training
from storage.db import session_scope
from storage.repositories import projects as project_repo
from tests.bot.conftest import CHANNEL, Bot, taxonomy_form
from tests.fakes import payloads
from tests.fakes.signing import signed_interactivity
from tests.helpers import save_found_twice

ADMIN, EXPERT = "U0ADMIN", "U0EXPERT"
PROJECT = "tickets"
EVIL = (
    "<!channel> <!here> <!everyone> <!subteam^S0TEAM|@team> <@U0VICTIM> "
    "<https://evil.example/login|Reset your password> https://evil.example/cat.png "
    "mailto:a@evil.example *bold _it ~st `tick ```fence\n> quote\n&amp; :smile:"
)
NEW_LABEL = "<!everyone> https://evil.example/new.png"
LABELS = ["<!here> card", "<@U0VICTIM>", "<https://evil.example/x.png|Approve>", "plain"]
# labelbot's own markup: mentions of the people involved, the project channel, dates, permalinks
OURS = re.compile(
    r"<@U0(?:EXPERT|ADMIN)>|<#C0PROJECT(?:\|[^<>]*)?>|<!date\^[^<>]*>"
    r"|<https://labelbot-test\.slack\.com/[^<>]*>"
)
SENDS = ("chat.postMessage", "chat.update", "chat.postEphemeral", "response_url", "views.open",
         "views.publish")  # fmt: skip


def _mrkdwn(found: Any) -> list[str]:
    if isinstance(found, dict):
        here = [found["text"]] if found.get("type") == "mrkdwn" else []
        return here + [t for v in found.values() for t in _mrkdwn(v)]
    if isinstance(found, list):
        return [t for v in found for t in _mrkdwn(v)]
    return []


def _write(path: Path, rows: list[list[str]], header: list[str]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _hostile_project(bot: Bot, tmp_path: Path) -> None:
    projects.create_project(bot.ws, name=PROJECT, labels=LABELS, channel_id=CHANNEL)
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    taxonomy.describe_label(bot.ws, project=PROJECT, label="plain", description=EVIL, actor=ADMIN)
    rows = [[f"{EVIL} {i} " + "long " * 800] for i in range(6)]  # "Show full text"
    projects.import_file(bot.ws, project=PROJECT, path=_write(tmp_path / "t.csv", rows, ["text"]))
    for annotator, label in (("Walter", LABELS[0]), ("<!channel>", LABELS[2])):
        vote = _write(tmp_path / f"{len(list(tmp_path.iterdir()))}.csv", [[EVIL, label]],
                      ["text", "label"])  # fmt: skip
        projects.import_file(bot.ws, project=PROJECT, path=vote, annotator=annotator)
    training.rescore_project(bot.ws, PROJECT)
    with session_scope(bot.ws.db) as session:
        found = project_repo.get_project(session=session, name=PROJECT)
        merged = [LABELS[0], LABELS[1]]
        save_found_twice(
            session=session, project_id=int(found.id or 0), kind="merge", labels=merged,
            key=proposing.key_text(["merge", *merged]), score=0.8, evidence_strength=1.0,
            evidence={"counts": dict.fromkeys(merged, 3),
                      "examples": {n: [{"id": 1, "text": EVIL}] for n in merged}},
            message=f"Merge {merged[0]} and {merged[1]}: {EVIL}",
        )  # fmt: skip


def _flag(bot: Bot, message: dict[str, Any], reason: str) -> None:
    bot.slack.click(EXPERT, message, ids.FLAG)
    bot.settle()
    view = bot.api.calls("views.open")[-1].params["view"]
    field = {"type": "plain_text_input", "value": reason}
    values = {ids.FLAG_REASON_BLOCK: {ids.FLAG_REASON_INPUT: field}}
    body = payloads.view_submission(
        EXPERT, ids.FLAG_MODAL, values, private_metadata=view["private_metadata"]
    )
    assert bot.slack.post(signed_interactivity(bot.slack.secret, body)).status_code == 200
    bot.settle()


def _every_message(bot: Bot, tmp_path: Path) -> None:
    """The messages that quote hostile text: the labeling DM, its full text, its Discuss root in
    the channel, the labeled message, a flag's thread, the guidelines, a prediction, App Home,
    the taxonomy form and a label added there, a disagreement's thread, a taxonomy proposal's
    card and the digest."""
    _hostile_project(bot, tmp_path)
    bot.slack.command(EXPERT, PROJECT)
    bot.settle()
    (message,) = bot.slack.open_examples(EXPERT)
    bot.slack.click(EXPERT, message, ids.DISCUSS)
    bot.slack.click(EXPERT, message, ids.SHOW_FULL_TEXT)
    bot.settle()
    bot.slack.choose(EXPERT, message, LABELS[1])
    bot.settle()
    (message,) = bot.slack.open_examples(EXPERT)
    _flag(bot, message, EVIL)
    bot.slack.command(EXPERT, f"guidelines {PROJECT}")
    bot.slack.command(EXPERT, f"predict {PROJECT} {EVIL}")
    bot.slack.event(payloads.app_home_opened(EXPERT))
    bot.slack.command(ADMIN, f"taxonomy {PROJECT}")
    bot.settle()
    form = bot.api.calls("views.open")[-1].params["view"]
    added = taxonomy_form(ADMIN, "add", names=NEW_LABEL, description=EVIL, reason=EVIL,
                          private_metadata=form["private_metadata"])  # fmt: skip
    assert bot.slack.post(signed_interactivity(bot.slack.secret, added)).status_code == 200
    bot.settle()
    assert NEW_LABEL in [lb.name for lb in projects.list_labels(bot.ws, project=PROJECT)]
    (found,) = consensus.disagreements(bot.ws, PROJECT)
    assert disputes.open_if_disputed(bot.services, project=PROJECT, example_id=found.example_id)
    assert proposal_poster(bot.services)() == 1
    post_digest(bot.services.client, bot.ws, PROJECT)


def test_no_link_in_hostile_text_is_unfurled(bot: Bot, tmp_path: Path) -> None:
    _every_message(bot, tmp_path)
    posts = [c for c in bot.api.calls() if c.method in ("chat.postMessage", "response_url")]
    shown = {c.params["channel"] for c in posts if c.method == "chat.postMessage"}
    assert {CHANNEL, bot.api.dm_channel(EXPERT)} <= shown
    quoting = [c for c in posts if "evil.example" in str(c.params)]
    assert len(quoting) >= 6  # DM, Discuss root, flag root, guidelines, dispute, proposal
    for call in posts:
        assert call.params.get("unfurl_links") is False, (call.method, call.params.get("text"))
        assert call.params.get("unfurl_media") is False, (call.method, call.params.get("text"))
    # chat.update documents no unfurl arguments: its calls carry none
    updates = bot.api.calls("chat.update")
    assert updates and not [c for c in updates if {"unfurl_links", "unfurl_media"} & set(c.params)]


def test_hostile_text_adds_no_markup_to_any_message(bot: Bot, tmp_path: Path) -> None:
    _every_message(bot, tmp_path)
    sent = [c for c in bot.api.calls() if c.method in SENDS]
    assert sent and not bot.api.warnings
    for call in sent:
        texts = _mrkdwn({k: v for k, v in call.params.items() if k != "text"})
        texts += [call.params["text"]] if isinstance(call.params.get("text"), str) else []
        for text in texts:
            assert "<" not in OURS.sub("", text), (call.method, text)
    assert any("&lt;!channel&gt;" in str(c.params) for c in sent)  # shown, as text
    changed = [c for c in sent if "changed the labels" in str(c.params.get("text"))]
    assert len(changed) == 2  # the admin's DM and the channel
    assert all("&lt;!everyone&gt; https" in c.params["text"] for c in changed)
    modals = {c.params["view"]["callback_id"] for c in sent if c.method == "views.open"}
    assert {ids.FULL_TEXT_MODAL, ids.FLAG_MODAL, ids.TAXONOMY_MODAL} <= modals
    assert "views.publish" in {c.method for c in sent}  # App Home


# --- direction controls ----------------------------------------------------------------------

RLO, PDF = "\u202e", "\u202c"  # right-to-left override, and what ends it


def _lines_with(payload: Any, needle: str) -> list[str]:
    texts = _mrkdwn(payload) + [payload["text"]]
    return [line for text in texts for line in text.splitlines() if needle in line]


def test_a_right_to_left_override_in_user_text_ends_with_it(bot: Bot, tmp_path: Path) -> None:
    """An imported annotator's name and a flag's reason with a right-to-left override left
    open: Slack showed labelbot's words after them backwards ("*drac* esohc retlaW"). Each
    comes with its override closed, and the text after it reads as written."""
    projects.create_project(bot.ws, name=PROJECT, labels=["card", "lost"], channel_id=CHANNEL)
    rows = [["where is my new card"], ["my card is lost"]]
    projects.import_file(bot.ws, project=PROJECT, path=_write(tmp_path / "t.csv", rows, ["text"]))
    for annotator, label in ((f"{RLO}Walter", "card"), ("Ana", "lost")):
        vote = _write(tmp_path / f"{annotator[-1]}.csv", [["where is my new card", label]],
                      ["text", "label"])  # fmt: skip
        projects.import_file(bot.ws, project=PROJECT, path=vote, annotator=annotator)
    (found,) = consensus.disagreements(bot.ws, PROJECT)
    assert disputes.open_if_disputed(bot.services, project=PROJECT, example_id=found.example_id)
    (root,) = bot.api.messages(CHANNEL)
    (line,) = _lines_with(root, "chose *card*")  # the name, its override closed, the words
    assert line == f"• {RLO}Walter{PDF} chose *card*"

    bot.slack.command(EXPERT, PROJECT)
    bot.settle()
    (message,) = bot.slack.open_examples(EXPERT)
    _flag(bot, message, f"{RLO}spam, not a ticket")
    flagged = next(m for m in bot.api.messages(CHANNEL) if "was flagged" in m["text"])
    (line,) = _lines_with(flagged, "spam")
    assert line.endswith(f"“{RLO}spam, not a ticket{PDF}”")


def test_an_error_quoting_a_typed_url_is_not_unfurled(bot: Bot) -> None:
    """An error answer quotes what was typed ("No project named 'https://…'"): it is sent with
    unfurl_links and unfurl_media false, as every message labelbot builds."""
    bot.slack.command(EXPERT, "https://evil.example/pixel.png")
    bot.settle()
    (said,) = [c for c in bot.api.calls("response_url") if "evil.example" in str(c.params)]
    assert said.params.get("unfurl_links") is False and said.params.get("unfurl_media") is False
