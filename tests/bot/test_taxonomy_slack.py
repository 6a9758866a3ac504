"""`/label taxonomy` and stale label buttons, over real HTTP on SQLite and PostgreSQL: the modal
opened with the labels, submissions applied as the Slack user (rename, merge, split), bad ones
answered with errors in the form, non-admins refused; a click on a labeling message sent before
a rename / merge / split stores the right thing or nothing."""

from __future__ import annotations

import json
from typing import Any

import httpx

from bot import ids
from engine import projects, taxonomy
from tests.bot.conftest import CHANNEL, PROJECT, Bot, taxonomy_form, true_label
from tests.fakes.signing import signed_interactivity
from tests.fakes.slack_client import choices, example_id

ADMIN, EXPERT = "U0ADMIN", "U0EXPERT"


def _open_modal(bot: Bot) -> dict[str, Any]:
    bot.slack.command(ADMIN, f"taxonomy {PROJECT}")
    bot.settle()
    view: dict[str, Any] = bot.api.calls("views.open")[-1].params["view"]
    return view


def _submit(
    bot: Bot,
    view: dict[str, Any],
    op: str,
    labels: tuple[str, ...] | list[str] = (),
    names: str = "",
    description: str = "",
    user: str = ADMIN,
) -> httpx.Response:
    ids_by_name = {lb.name: str(lb.id) for lb in projects.list_labels(bot.ws, project=PROJECT)}
    body = taxonomy_form(
        user,
        op,
        label_ids=[ids_by_name[n] for n in labels],
        names=names or None,
        description=description or None,
        reason="from the test",
        private_metadata=view["private_metadata"],
    )
    response = bot.slack.post(signed_interactivity(bot.slack.secret, body))
    bot.settle()
    return response


def _active(bot: Bot) -> list[str]:
    return [lb.name for lb in projects.list_labels(bot.ws, project=PROJECT, active_only=True)]


def test_modal_lists_labels_and_applies_rename_merge_split(bot: Bot, bank: dict[str, str]) -> None:
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    taxonomy.describe_label(bot.ws, project=PROJECT, label="age_limit",
                            description="Minimum <age> & limits", actor=ADMIN)  # fmt: skip
    view = _open_modal(bot)
    assert view["callback_id"] == ids.TAXONOMY_MODAL and len(view["blocks"]) <= 100
    shown = json.dumps(view["blocks"], ensure_ascii=False)
    assert "*age_limit* — Minimum &lt;age&gt; &amp; limits" in shown
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert inputs[ids.TAXONOMY_OPERATION_BLOCK]["type"] == "static_select"
    picker = inputs[ids.TAXONOMY_LABELS_BLOCK]
    assert sorted(o["text"]["text"] for o in picker["options"]) == sorted(_active(bot))

    closed = _submit(bot, view, "rename", ["change_pin"], "pin_change")
    assert closed.status_code == 200 and not closed.content  # an empty ack closes the modal
    assert "pin_change" in _active(bot) and "change_pin" not in _active(bot)
    (event,) = [h for h in taxonomy.label_history(bot.ws, project=PROJECT) if h.kind == "rename"]
    assert event.actor == ADMIN and event.reason == "from the test"
    told = [m["text"] for m in bot.slack.dm(ADMIN)]
    assert any("renamed change_pin to pin_change" in t for t in told)
    assert any("renamed change_pin" in m["text"] for m in bot.api.messages(CHANNEL))

    _submit(bot, view, "merge", ["age_limit", "exchange_rate"], "account_rules")
    assert "account_rules" in _active(bot) and "age_limit" not in _active(bot)
    _submit(bot, view, "split", ["card_arrival"], "card_delivery, card_tracking")
    assert {"card_delivery", "card_tracking"} <= set(_active(bot))
    assert "card_arrival" not in _active(bot)


def test_bad_submissions_keep_the_modal_open_with_errors(bot: Bot, bank: dict[str, str]) -> None:
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    view = _open_modal(bot)
    before = _active(bot)
    for args, block, words in [
        (
            ("rename", ["change_pin"], "age_limit"),
            ids.TAXONOMY_NAMES_BLOCK,
            "label 'age_limit' already exists",
        ),
        (("rename", [], "x"), ids.TAXONOMY_LABELS_BLOCK, "Choose the one label"),
        (("merge", ["age_limit"]), ids.TAXONOMY_LABELS_BLOCK, "two or more"),
        (("split", ["card_arrival"], "only_one"), ids.TAXONOMY_NAMES_BLOCK, "two or more"),
        (("describe", ["age_limit"]), ids.TAXONOMY_DESCRIPTION_BLOCK, "description"),
        (("add",), ids.TAXONOMY_NAMES_BLOCK, "Name the label"),
        (("",), ids.TAXONOMY_OPERATION_BLOCK, "Choose a change"),
    ]:
        answer = _submit(bot, view, *args).json()  # type: ignore[arg-type]
        assert answer["response_action"] == "errors", args
        assert list(answer["errors"]) == [block] and words in answer["errors"][block], answer
    assert _active(bot) == before

    # a split into a name that exists: the way the form offers, not the CLI's --map-to
    answer = _submit(bot, view, "split", ["card_arrival"], "age_limit, card_tracking").json()
    error = answer["errors"][ids.TAXONOMY_NAMES_BLOCK]
    assert error.startswith("Cannot split") and "label 'age_limit' already exists" in error
    assert "retire naming it under New name(s)" in error and "--map-to" not in error
    assert _active(bot) == before

    answer = _submit(bot, view, "add", names="lost_card", user=EXPERT).json()
    assert (
        "Only project admins can change the labels"
        in answer["errors"][ids.TAXONOMY_OPERATION_BLOCK]
    )
    assert "lost_card" not in _active(bot)


def test_non_admins_cannot_open_it(bot: Bot, bank: dict[str, str]) -> None:
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    bot.slack.command(EXPERT, "taxonomy")
    bot.settle()
    assert "Only project admins can change the labels" in bot.slack.ephemerals(EXPERT)[-1]
    assert not bot.api.calls("views.open")


def _deliver(bot: Bot) -> dict[str, Any]:
    bot.slack.command(EXPERT)
    bot.settle()
    (message,) = bot.slack.open_examples(EXPERT)
    return message


def test_stale_buttons_after_rename_merge_and_split(bot: Bot, bank: dict[str, str]) -> None:
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    view = _open_modal(bot)

    # rename: the old button is stored under the new name
    message = _deliver(bot)
    _submit(bot, view, "rename", ["change_pin"], "pin_change")
    bot.slack.choose(EXPERT, message, "change_pin")
    bot.settle()
    labeled = next(m for m in bot.slack.dm(EXPERT) if m["ts"] == message["ts"])
    assert "Labeled pin_change by" in labeled["text"]

    # merge: stored as clicked, counts as the merge target (and the DM says so)
    (message,) = bot.slack.open_examples(EXPERT)
    _submit(bot, view, "merge", ["age_limit", "exchange_rate"], "account_rules")
    bot.slack.choose(EXPERT, message, "age_limit")
    bot.settle()
    labeled = next(m for m in bot.slack.dm(EXPERT) if m["ts"] == message["ts"])
    assert "Labeled account_rules by" in labeled["text"]

    # split: nothing stored, a clear answer, and the same message offers today's labels
    (message,) = bot.slack.open_examples(EXPERT)
    eid = example_id(message)
    _submit(bot, view, "split", ["card_arrival"], "card_delivery, card_tracking")
    bot.slack.choose(EXPERT, message, "card_arrival")
    bot.settle()
    answer = bot.slack.ephemerals(EXPERT)[-1]
    assert "was split into card_delivery, card_tracking" in answer
    assert "Nothing was changed" in answer
    (fresh,) = bot.slack.open_examples(EXPERT)
    assert fresh["ts"] == message["ts"] and example_id(fresh) == eid
    offered = {c.label for c in choices(fresh)}
    assert {"card_delivery", "card_tracking"} <= offered and "card_arrival" not in offered
    bot.slack.choose(EXPERT, fresh, "card_tracking")
    bot.settle()
    labeled = next(m for m in bot.slack.dm(EXPERT) if m["ts"] == message["ts"])
    assert "Labeled card_tracking by" in labeled["text"]


def _context_text(message: dict[str, Any]) -> str:
    return "\n".join(
        str(element.get("text", ""))
        for block in message.get("blocks", [])
        if block["type"] == "context"
        for element in block["elements"]
    )


def test_an_example_back_after_a_split_says_what_it_was(bot: Bot, bank: dict[str, str]) -> None:
    """The expert labels an example, an admin splits that label: the example comes back first,
    its message naming the old label, who gave it and the parts to choose from."""
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    message = _deliver(bot)
    assert "labeled it" not in _context_text(message)  # a fresh example explains nothing
    eid = example_id(message)
    bot.slack.choose(EXPERT, message, "card_arrival")
    bot.settle()
    _submit(bot, _open_modal(bot), "split", ["card_arrival"], "card_delivery, card_tracking")

    for fresh in bot.slack.open_examples(EXPERT):  # the one sent after the click: give it back
        bot.slack.post(signed_interactivity(bot.slack.secret, bot.slack.action_payload(
            EXPERT, fresh, ids.SKIP, str(example_id(fresh)))))  # fmt: skip
        bot.settle()
    back = next(m for m in bot.slack.open_examples(EXPERT) if example_id(m) == eid)
    assert (
        f"<@{EXPERT}> labeled it *card_arrival*, since split: is it *card_delivery* or "
        "*card_tracking*?"
    ) in _context_text(back)
    bot.slack.choose(EXPERT, back, "card_tracking")
    bot.settle()
    labeled = next(m for m in bot.slack.dm(EXPERT) if m["ts"] == back["ts"])
    assert "Labeled card_tracking by" in labeled["text"]


def test_a_label_added_in_slack_is_asked_about_by_name(bot: Bot, bank: dict[str, str]) -> None:
    """After an admin adds a label, the next examples come from a search by its name, and each
    message says why it is asked."""
    # no audit turns: an audit example is drawn at random, for no reason to show
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN], audit_share=0.0)
    message, seen = _deliver(bot), set()
    while len(seen) < 5:  # an example of every label, so only the new one has none
        seen.add(true_label(bot, bank, message))
        bot.slack.choose(EXPERT, message, true_label(bot, bank, message))
        bot.settle()
        (message,) = bot.slack.open_examples(EXPERT)
    assert "Asked because it may be" not in _context_text(message)
    _submit(bot, _open_modal(bot), "add", names="lost_or_stolen_card",
            description="My card was lost or stolen")  # fmt: skip
    bot.slack.post(signed_interactivity(bot.slack.secret, bot.slack.action_payload(
        EXPERT, message, ids.SKIP, str(example_id(message)))))  # fmt: skip
    bot.settle()
    (fresh,) = bot.slack.open_examples(EXPERT)
    assert example_id(fresh) != example_id(message)
    assert (
        ":mag: Asked because it may be *lost_or_stolen_card*, a label with no examples yet."
        in _context_text(fresh)
    )
    assert "lost_or_stolen_card" in {c.label for c in choices(fresh)}
    told = [m["text"] for m in bot.api.messages(CHANNEL)]
    assert any("added lost_or_stolen_card" in t and "by name and guidelines" in t for t in told)


def _hint(view: dict[str, Any]) -> str:
    (block,) = [b for b in view["blocks"] if b.get("block_id") == ids.TAXONOMY_OPERATION_BLOCK]
    assert len(block["hint"]["text"]) <= 2000  # Slack's limit on an input block's hint
    return str(block["hint"]["text"])


def test_undo_the_last_change_from_the_modal(bot: Bot, bank: dict[str, str]) -> None:
    """The form says what an undo would revert; undo applies it as the admin and announces it;
    with nothing left, the form shows why."""
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    view = _open_modal(bot)
    assert "Nothing to undo yet." in _hint(view)
    (operation,) = [b for b in view["blocks"] if b.get("block_id") == ids.TAXONOMY_OPERATION_BLOCK]
    assert "undo" in {o["value"] for o in operation["element"]["options"]}
    assert not _submit(bot, view, "rename", ["change_pin"], "pin_change").content
    view = _open_modal(bot)
    (event,) = taxonomy.label_history(bot.ws, project=PROJECT)
    assert f"Undo would revert: #{event.id} renamed change_pin to pin_change (by {ADMIN})." in (
        _hint(view)
    )
    answer = _submit(bot, view, "undo", user=EXPERT).json()  # not an admin: refused
    assert "Only project admins" in answer["errors"][ids.TAXONOMY_OPERATION_BLOCK]
    assert "pin_change" in _active(bot)

    closed = _submit(bot, view, "undo")
    assert closed.status_code == 200 and not closed.content
    assert "change_pin" in _active(bot) and "pin_change" not in _active(bot)
    told = f"undid #{event.id} (renamed change_pin to pin_change)"
    assert any(told in m["text"] for m in bot.slack.dm(ADMIN))
    assert any(told in m["text"] for m in bot.api.messages(CHANNEL))
    history = taxonomy.label_history(bot.ws, project=PROJECT)
    assert history[-1].kind == "undo" and history[-1].actor == ADMIN
    assert history[-1].reason == "from the test" and history[0].undone_by == history[-1].id

    answer = _submit(bot, _open_modal(bot), "undo").json()
    assert "no taxonomy change left to undo" in answer["errors"][ids.TAXONOMY_OPERATION_BLOCK]


def test_examples_on_screen_are_redrawn_with_todays_labels(bot: Bot, bank: dict[str, str]) -> None:
    """A merge in the form redraws the example waiting in an expert's DM: the merged labels'
    buttons give way to the new one, which stores the label."""
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    before = _deliver(bot)
    offered = {c.label for c in choices(before)}
    assert {"card_arrival", "change_pin"} <= offered and "cards" not in offered
    _submit(bot, _open_modal(bot), "merge", ["card_arrival", "change_pin"], "cards")

    (now,) = bot.slack.open_examples(EXPERT)
    assert now["ts"] == before["ts"] and example_id(now) == example_id(before)  # same message
    offered = {c.label for c in choices(now)}
    assert "cards" in offered and not {"card_arrival", "change_pin"} & offered
    bot.slack.choose(EXPERT, now, "cards")
    bot.settle()
    from engine import exporting

    text = _text(bot, before)
    (record,) = [r for r in exporting.export_records(bot.ws, PROJECT) if r["text"] == text]
    assert record["label"] == "cards" and record["annotations"][0]["label"] == "cards"


def _text(bot: Bot, message: dict[str, Any]) -> str:
    from engine import messaging

    eid = example_id(message)
    assert eid is not None
    return messaging.example_ref(bot.ws, example_id=eid).text


def test_a_change_from_the_cli_redraws_screens_on_the_next_round(
    bot: Bot, bank: dict[str, str]
) -> None:
    from bot.scheduling import screen_redrawer

    redraw = screen_redrawer(bot.services)
    before = _deliver(bot)
    assert redraw() == 0  # the first round notes where each project stands
    taxonomy.rename_label(bot.ws, project=PROJECT, label="change_pin", new_name="pin_change",
                          actor="ops")  # the CLI's call: no Slack involved  # fmt: skip
    assert "change_pin" in {c.label for c in choices(bot.slack.open_examples(EXPERT)[0])}
    assert redraw() == 1 and redraw() == 0  # once per change
    (now,) = bot.slack.open_examples(EXPERT)
    offered = {c.label for c in choices(now)}
    assert now["ts"] == before["ts"] and "pin_change" in offered and "change_pin" not in offered


def test_an_example_an_undo_settled_gives_way_to_the_next(bot: Bot, bank: dict[str, str]) -> None:
    """An expert held an example sent back by a retire; the admin undid the retire, so its old
    label counts again. Its message said so at once and the next example followed: before, the
    buttons stayed and the first click answered "already labeled"."""
    from engine import labeling

    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN], audit_share=0.0,
                             multi_label_share=0.0)  # fmt: skip
    seeded = labeling.next_task(bot.ws, project=PROJECT, annotator="U0SEED")
    assert seeded is not None
    labeling.submit_label(bot.ws, project=PROJECT, example_id=seeded.example_id, key="seed",
                          label="age_limit", annotator="U0SEED", source="slack")  # fmt: skip
    taxonomy.retire_label(bot.ws, project=PROJECT, label="age_limit", actor=ADMIN)
    held = _deliver(bot)
    assert example_id(held) == seeded.example_id  # a relabel comes first

    assert not _submit(bot, _open_modal(bot), "undo").content

    (gone,) = [m for m in bot.slack.dm(EXPERT) if m["ts"] == held["ts"]]
    assert not choices(gone) and "settled this example's label" in json.dumps(gone["blocks"])
    (now,) = bot.slack.open_examples(EXPERT)
    assert now["ts"] != held["ts"] and example_id(now) != seeded.example_id
    bot.slack.choose(EXPERT, now, true_label(bot, bank, now))
    bot.settle()
    assert not any("already" in t for t in bot.slack.ephemerals(EXPERT))
    assert len(bot.slack.open_examples(EXPERT)) == 1  # and the one after that
