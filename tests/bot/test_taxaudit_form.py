"""`/label taxonomy`'s announcements over real HTTP on SQLite and PostgreSQL: a change that sends
examples back to the queue says how many once (the change's line counts them; the DM and the
channel do not count them twice), and an undo that reopens a split says how many wait."""

from __future__ import annotations

from typing import Any

from engine import labeling, projects, taxonomy
from tests.bot.conftest import CHANNEL, PROJECT, Bot, taxonomy_form
from tests.fakes.signing import signed_interactivity

ADMIN = "U0ADMIN"


def _open_modal(bot: Bot) -> dict[str, Any]:
    bot.slack.command(ADMIN, f"taxonomy {PROJECT}")
    bot.settle()
    view: dict[str, Any] = bot.api.calls("views.open")[-1].params["view"]
    return view


def _submit(bot: Bot, op: str, labels: list[str], names: str = "") -> None:
    view = _open_modal(bot)
    ids_by_name = {lb.name: str(lb.id) for lb in projects.list_labels(bot.ws, project=PROJECT)}
    body = taxonomy_form(
        ADMIN, op, label_ids=[ids_by_name[n] for n in labels], names=names or None,
        private_metadata=view["private_metadata"],
    )  # fmt: skip
    response = bot.slack.post(signed_interactivity(bot.slack.secret, body))
    bot.settle()
    assert response.status_code == 200 and not response.content, response.text


def _label(bot: Bot, bank: dict[str, str], label: str, n: int) -> None:
    """``n`` examples labeled ``label`` by a seed expert (whatever their true label)."""
    for i in range(n):
        task = labeling.next_task(bot.ws, project=PROJECT, annotator="U0SEED")
        assert task is not None
        labeling.submit_label(
            bot.ws, project=PROJECT, example_id=task.example_id, label=label,
            annotator="U0SEED", source="cli", key=f"seed:{label}:{i}",
        )  # fmt: skip


def test_a_split_from_the_form_counts_the_examples_back_once(
    bot: Bot, bank: dict[str, str]
) -> None:
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    _label(bot, bank, "card_arrival", 3)
    _submit(bot, "split", ["card_arrival"], "card_delivery, card_tracking")
    told = bot.slack.dm(ADMIN)[-1]["text"]
    posted = bot.api.messages(CHANNEL)[-1]["text"]
    for text in (told, posted):
        assert "split card_arrival into card_delivery, card_tracking" in text, text
        assert text.count("back in the queue") == 1, text
        assert "3 examples back in the queue" in text and "example(s)" not in text, text
        assert "labeled again" in text, text


def test_an_undo_from_the_form_that_reopens_a_split_counts_them(
    bot: Bot, bank: dict[str, str]
) -> None:
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    _label(bot, bank, "card_arrival", 2)
    taxonomy.split_label(bot.ws, project=PROJECT, label="card_arrival", into=["a1", "a2"],
                         actor=ADMIN)  # fmt: skip
    taxonomy.merge_labels(bot.ws, project=PROJECT, labels=["a1", "a2"], into="arrivals",
                          actor=ADMIN)  # fmt: skip
    _submit(bot, "undo", [])
    told = bot.slack.dm(ADMIN)[-1]["text"]
    assert "undid #2" in told and told.count("back in the queue") == 1, told
    assert "2 examples back in the queue" in told, told


def test_adding_several_labels_with_one_description_is_refused(
    bot: Bot, bank: dict[str, str]
) -> None:
    """The CLI takes one --description per label; the form has one Description field, which
    was copied onto every label added: the second label got the first one's guidelines."""
    from bot import ids

    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    view = _open_modal(bot)
    body = taxonomy_form(
        ADMIN, "add", names="lost_card, stolen_card", description="A card the customer lost",
        private_metadata=view["private_metadata"],
    )  # fmt: skip
    answer = bot.slack.post(signed_interactivity(bot.slack.secret, body)).json()
    bot.settle()
    assert answer["response_action"] == "errors"
    error = answer["errors"][ids.TAXONOMY_DESCRIPTION_BLOCK]
    assert "one label" in error, error
    names = {lb.name for lb in projects.list_labels(bot.ws, project=PROJECT)}
    assert not {"lost_card", "stolen_card"} & names
    # one label with its description goes through
    _submit(bot, "add", [], "lost_card")
    assert "lost_card" in {lb.name for lb in projects.list_labels(bot.ws, project=PROJECT)}
