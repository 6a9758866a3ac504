"""`/label guidelines [project] [page]`, over real HTTP on SQLite and PostgreSQL: a labeler who
is no admin reads every label's whole guideline, which the labeling DM cut to fit one message
(and whose note now names this command, not the admins' `/label taxonomy`): a few in an
ephemeral message, many in a modal of pages."""

from __future__ import annotations

import json
from typing import Any

from engine import projects, taxonomy
from tests.bot.conftest import PROJECT, Bot

ADMIN, EXPERT = "U0ADMIN", "U0EXPERT"


def _texts(blocks: list[dict[str, Any]]) -> str:
    """The section texts of ``blocks`` run together: a guideline longer than one section's
    3,000 characters goes on in the next (cut at a space, which starts the next)."""
    return "".join(b["text"]["text"] for b in blocks if b["type"] == "section")


def _guideline(name: str, length: int) -> str:
    """A guideline of ``length`` characters, its words numbered so a cut anywhere shows."""
    words = " ".join(f"{name}-rule-{i} says this & <that>" for i in range(length // 10))
    return words[:length]


def _escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def test_a_labeler_reads_a_long_guideline_the_dm_cut(bot: Bot, bank: dict[str, str]) -> None:
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    long = _guideline("age", 2500)
    taxonomy.describe_label(bot.ws, project=PROJECT, label="age_limit", description=long,
                            actor=ADMIN, rescore=False)  # fmt: skip
    taxonomy.describe_label(bot.ws, project=PROJECT, label="change_pin",
                            description="Resetting or changing a PIN.", actor=ADMIN,
                            rescore=False)  # fmt: skip

    bot.slack.command(EXPERT)
    bot.settle()
    (card,) = bot.slack.open_examples(EXPERT)
    shown = json.dumps(card["blocks"], ensure_ascii=False)
    assert _escaped(long) not in shown  # the DM cut it ...
    assert f"`/label guidelines {PROJECT}` shows them in full" in shown  # ... and says where
    assert "/label taxonomy" not in shown

    bot.slack.command(EXPERT, "guidelines")  # the DM's project: the only one
    bot.settle()
    answer = bot.api.calls("response_url")[-1]
    assert answer.params["_to"] == EXPERT and not bot.api.refused(answer)
    assert answer.params["response_type"] == "ephemeral"
    texts = _texts(answer.params["blocks"])
    assert f"*age_limit*\n{_escaped(long)}" in texts
    assert "*change_pin*\nResetting or changing a PIN." in texts
    assert "*card_arrival*\n_no guidelines yet_" in texts
    assert not bot.api.calls("views.open")


def test_two_hundred_long_guidelines_open_a_modal_in_pages(bot: Bot) -> None:
    names = [f"intent_{i:03d}" for i in range(200)]
    projects.create_project(bot.ws, name=PROJECT, labels=names[:1], channel_id="C0BANK")
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    guidelines = {name: _guideline(name, 1500) for name in names[1:]}
    taxonomy.add_labels(bot.ws, project=PROJECT, names=list(guidelines), actor=ADMIN,
                        descriptions=list(guidelines.values()), rescore=False)  # fmt: skip

    bot.slack.command(EXPERT, "guidelines", channel="C0BANK")  # the channel's project
    bot.settle()
    views = [bot.api.calls("views.open")[-1]]
    pages = int(views[0].params["view"]["blocks"][0]["elements"][0]["text"].split(" of ")[-1])
    assert pages > 1
    for page in range(2, pages + 1):
        bot.slack.command(EXPERT, f"guidelines {PROJECT} {page}")
        bot.settle()
        views.append(bot.api.calls("views.open")[-1])
    assert len(bot.api.calls("views.open")) == pages
    texts = ""
    for page, call in enumerate(views, start=1):
        view = call.params["view"]
        assert not bot.api.refused(call) and view["type"] == "modal", page
        assert len(view["blocks"]) <= 100
        assert view["blocks"][0]["elements"][0]["text"].endswith(f"page {page} of {pages}")
        if page < pages:
            assert view["blocks"][-1]["elements"][0]["text"] == (
                f"Continued on the next page: `/label guidelines {PROJECT} {page + 1}`"
            )
        texts += _texts(view["blocks"])
    for name, guideline in guidelines.items():
        assert f"*{name}*\n{_escaped(guideline)}" in texts, name
    assert "*intent_000*\n_no guidelines yet_" in texts

    bot.slack.command(EXPERT, f"guidelines {PROJECT} {pages + 1}")
    bot.settle()
    assert f"take {pages} pages" in bot.slack.ephemerals(EXPERT)[-1]
    assert len(bot.api.calls("views.open")) == pages
