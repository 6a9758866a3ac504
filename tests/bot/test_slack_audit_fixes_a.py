"""Fixes from the Slack audit, over real HTTP (FastAPI + Bolt, signed requests, the fake Web API)
on SQLite and PostgreSQL: a stale `/label taxonomy` form's Undo reverts only the change it
named; the disagreement thread's "Another label…" menu offers labels of any name length (by
id), and still settles from messages whose options carry names; a thread reply with nothing in
it is no comment; typographic quotes and dashes in `/label settings` and `/label quiet`."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from bot import disputes, ids
from bot.views.disputes import DisputeCard, dispute_message, parse_settle_value
from bot.views.limits import block_errors
from bot.views.models import LabelChoice
from engine import consensus, exporting, projects, rhythm, taxonomy
from tests.bot.conftest import CHANNEL, LABELS, PROJECT, Bot
from tests.bot.test_taxonomy_slack import ADMIN, _active, _hint, _open_modal, _submit
from tests.fakes import payloads
from tests.fakes.signing import signed_interactivity
from tests.fakes.slack_client import button, elements, example_id

OTHER_ADMIN, U1, U2, U3 = "U0OTHERADMIN", "U0ALICE", "U0BOB", "U0CAROL"


# --- 1. the taxonomy form's Undo reverts the change it named, or nothing ----------------------


def _errors(response: Any) -> str:
    return str(response.json()["errors"][ids.TAXONOMY_OPERATION_BLOCK])


def test_a_stale_forms_undo_leaves_a_newer_change_alone(bot: Bot, bank: dict[str, str]) -> None:
    """The form names #1; another admin merges (#2) while it is open: Undo refuses, says why,
    and both changes stand. A form opened now names #2 and undoes it."""
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN, OTHER_ADMIN])
    renamed = taxonomy.rename_label(
        bot.ws, project=PROJECT, label=LABELS[0], new_name="card_delivery", actor=ADMIN
    )
    stale = _open_modal(bot)
    assert f"Undo would revert: #{renamed.event_id} renamed card_arrival" in _hint(stale)
    merged = taxonomy.merge_labels(
        bot.ws, project=PROJECT, labels=[LABELS[1], LABELS[2]], actor=OTHER_ADMIN
    )
    before = _active(bot)

    answer = _submit(bot, stale, "undo")
    said = _errors(answer)
    assert f"Change #{renamed.event_id} is not the latest" in said, said
    assert f"#{merged.event_id}" in said and "Nothing was changed" in said
    assert "/label taxonomy" in said
    assert _active(bot) == before  # the colleague's merge stands
    history = taxonomy.label_history(bot.ws, project=PROJECT)
    assert [h.kind for h in history] == ["rename", "merge"] and not any(
        h.undone_by for h in history
    )

    fresh = _open_modal(bot)
    assert f"Undo would revert: #{merged.event_id} merged" in _hint(fresh)
    assert not _submit(bot, fresh, "undo").content  # accepted: the modal closes
    history = taxonomy.label_history(bot.ws, project=PROJECT)
    assert history[-1].kind == "undo" and history[1].undone_by == history[-1].id
    assert history[0].undone_by is None and "card_delivery" in _active(bot)


def test_a_form_whose_change_was_undone_since_undoes_nothing(
    bot: Bot, bank: dict[str, str]
) -> None:
    """The form names #2; the CLI undoes #2 meanwhile, which leaves #1 the latest: the form's
    Undo does not go on to revert #1."""
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    taxonomy.rename_label(bot.ws, project=PROJECT, label=LABELS[0], new_name="card_delivery",
                          actor=ADMIN)  # fmt: skip
    second = taxonomy.rename_label(bot.ws, project=PROJECT, label=LABELS[3], new_name="pin",
                                   actor=ADMIN)  # fmt: skip
    stale = _open_modal(bot)
    taxonomy.undo_last(bot.ws, project=PROJECT, actor="cli", event_id=second.event_id)
    before = _active(bot)

    said = _errors(_submit(bot, stale, "undo"))
    assert f"Change #{second.event_id} was already undone" in said and "Nothing was changed" in said
    assert _active(bot) == before and "card_delivery" in before
    assert sum(h.kind == "undo" for h in taxonomy.label_history(bot.ws, project=PROJECT)) == 1


def test_a_form_with_nothing_to_undo_does_not_undo_a_later_change(
    bot: Bot, bank: dict[str, str]
) -> None:
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN, OTHER_ADMIN])
    empty = _open_modal(bot)
    assert "Nothing to undo yet." in _hint(empty)
    made = taxonomy.rename_label(bot.ws, project=PROJECT, label=LABELS[0], new_name="cards",
                                 actor=OTHER_ADMIN)  # fmt: skip

    said = _errors(_submit(bot, empty, "undo"))
    assert f"change #{made.event_id} (renamed card_arrival to cards) was made since" in said
    assert "Nothing was changed" in said
    assert "cards" in _active(bot) and len(taxonomy.label_history(bot.ws, project=PROJECT)) == 1


# --- 3. "Another label…" on a disagreement thread carries label ids -------------------------


def _long_names(n: int) -> list[str]:
    """Names of 80 to 200 characters, with a "/" (ids, not names, follow the one in a value)."""
    return [(f"L{i:03d} billing/chargeback " + "x" * 200)[: 80 + (i % 5) * 30] for i in range(n)]


def _disagreement(bot: Bot, tmp_path: Path, names: list[str]) -> tuple[int, dict[str, Any]]:
    """Two importers disagree on one example of project "long" (channel CHANNEL): its id and
    the thread's root message."""
    projects.create_project(bot.ws, name="long", labels=names, channel_id=CHANNEL)
    projects.update_settings(bot.ws, project="long", admins=[ADMIN])
    for i, (label, annotator) in enumerate([(names[0], "Walter"), (names[1], "Ana")]):
        path = tmp_path / f"votes{i}.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text", "label"])
            writer.writerow(["where is my new card", label])
        projects.import_file(bot.ws, project="long", path=path, annotator=annotator)
    (found,) = consensus.disagreements(bot.ws, "long")
    assert disputes.open_if_disputed(bot.services, project="long", example_id=found.example_id)
    (root,) = bot.api.messages(CHANNEL)
    return found.example_id, root


def _options(menu: dict[str, Any]) -> list[dict[str, Any]]:
    groups = menu.get("option_groups") or [{"options": menu.get("options", [])}]
    return [o for g in groups for o in g["options"]]


def _settle_with(bot: Bot, root: dict[str, Any], option: dict[str, Any]) -> None:
    block_id, _ = button(root, f"{ids.SETTLE}:other")
    payload = bot.slack.action_payload(ADMIN, root, f"{ids.SETTLE}:other", None,
                                       block_id=block_id, selected_option=option,
                                       channel=CHANNEL)  # fmt: skip
    assert bot.slack.post(signed_interactivity(bot.slack.secret, payload)).status_code == 200
    bot.settle()


def test_the_settle_menu_offers_labels_with_long_names(bot: Bot, tmp_path: Path) -> None:
    """A 200-character label is offered and settles the example; the menu offers every other
    label, or says how many it leaves out, counting them all."""
    names = _long_names(12)
    long_name = names[9]
    assert len(f"1|{long_name}") > 150  # too long for an option's value by name
    eid, root = _disagreement(bot, tmp_path, names)
    _, menu = button(root, f"{ids.SETTLE}:other")
    options = _options(menu)
    assert len(options) == len(names) - 2  # all but the two chosen (no model yet)
    assert all(len(o["value"]) <= 150 for o in options)
    by_id = {lb.id: lb.name for lb in projects.list_labels(bot.ws, project="long")}

    def name(option: dict[str, Any]) -> str:
        shown_for, label = parse_settle_value(option["value"])
        assert shown_for == eid and isinstance(label, int)  # an id, not a name
        return by_id[label]

    assert sorted(name(o) for o in options) == sorted(names[2:])
    assert "first" not in json.dumps(root["blocks"])  # nothing left out, so no note

    (option,) = [o for o in options if name(o) == long_name]
    _settle_with(bot, root, option)
    (settled,) = consensus.disagreements(bot.ws, "long", include_settled=True)
    assert settled.adjudicated is not None and settled.adjudicated.label == long_name
    assert not bot.slack.ephemerals(ADMIN) and not bot.api.warnings


def test_a_settle_option_posted_with_a_name_still_settles(bot: Bot, tmp_path: Path) -> None:
    """Threads posted before ids carry "<example id>|<name>": such an option settles by name."""
    names = ["card", "lost", "stolen/missing"]
    eid, root = _disagreement(bot, tmp_path, names)
    _settle_with(bot, root, {"text": {"type": "plain_text", "text": names[2]},
                             "value": f"{eid}|{names[2]}"})  # fmt: skip
    (settled,) = consensus.disagreements(bot.ws, "long", include_settled=True)
    assert settled.adjudicated is not None and settled.adjudicated.label == "stolen/missing"


def test_a_settle_button_follows_a_rename(bot: Bot, tmp_path: Path) -> None:
    """A button carries the chosen label's id: renamed since, it settles under the new name."""
    eid, root = _disagreement(bot, tmp_path, ["card", "lost", "stolen"])
    taxonomy.rename_label(bot.ws, project="long", label="lost", new_name="lost_card", actor=ADMIN)
    settle = [el for _, el in elements(root) if el.get("action_id") == f"{ids.SETTLE}:1"]
    assert parse_settle_value(settle[0]["value"])[0] == eid
    bot.slack.click(ADMIN, root, f"{ids.SETTLE}:1", channel=CHANNEL)
    bot.settle()
    (settled,) = consensus.disagreements(bot.ws, "long", include_settled=True)
    assert settled.adjudicated is not None and settled.adjudicated.label == "lost_card"


def test_the_menu_note_counts_every_label_left_out() -> None:
    """Labels without ids travel by name: one named too long stays off the menu, and the note
    counts it among those not offered."""
    names = _long_names(6)
    card = DisputeCard(example_id=7, text="t", project="p", votes=[("U1", names[0]),
                       ("U2", names[1])], model=None, involved=["U1", "U2"],
                       labels=names)  # fmt: skip
    message = dispute_message(card)
    assert block_errors(message["blocks"]) == []
    _, menu = button(message, f"{ids.SETTLE}:other")
    shown = len(_options(menu))
    assert shown < 4
    assert f"The menu offers the first {shown} of 4 other labels" in json.dumps(message["blocks"])
    with_ids = replace(card, labels=[LabelChoice(n, None, i) for i, n in enumerate(names)])
    _, menu = button(dispute_message(with_ids), f"{ids.SETTLE}:other")
    assert len(_options(menu)) == 4


# --- 7. a thread reply with nothing in it is no comment ---------------------------------------


def test_a_reply_with_no_text_and_no_files_is_not_a_comment(bot: Bot, bank: dict[str, str]) -> None:
    """Empty, blank and preview-only replies are not kept; a message shared into the thread
    is kept as a note naming its link (its text is its author's, not the sharer's)."""
    bot.slack.command(U1)
    bot.settle()
    (message,) = bot.slack.open_examples(U1)
    eid = example_id(message)
    bot.slack.click(U1, message, ids.DISCUSS)
    bot.settle()
    (root,) = bot.api.messages(CHANNEL)

    def reply(text: str, n: int, **extra: Any) -> dict[str, Any]:
        event = payloads.message_event(CHANNEL, U3, text, f"17000001{n:02d}.000100",
                                       thread_ts=root["ts"])  # fmt: skip
        event["event"].update(extra)
        return event

    link = "https://labelbot-test.slack.com/archives/C0OTHER/p1700000000000100"
    shared = {"is_share": True, "is_msg_unfurl": True, "from_url": link, "text": "their words",
              "author_id": U2, "fallback": "[Nov 14th] bob: their words"}  # fmt: skip
    preview = {"title": "Bank FAQ", "title_link": "https://bank.example/faq", "text": "fees"}
    events = [
        reply("", 1),
        reply("  \n ", 2),
        reply("", 3, blocks=[{"type": "divider"}]),
        reply("", 4, attachments=[preview]),
        reply("", 5, attachments=[shared]),
        reply("see this", 6, attachments=[shared]),
        reply("kept", 7),
    ]
    for event in events:
        assert bot.slack.event(event).status_code == 200
    bot.settle()
    record = next(r for r in exporting.export_records(bot.ws, PROJECT) if r["id"] == str(eid))
    assert sorted(c["text"] for c in record["comments"]) == [
        f"[shared a message: {link}]",
        "kept",
        f"see this\n[shared a message: {link}]",
    ]


# --- 8. typographic quotes and dashes ---------------------------------------------------------


def _answer(bot: Bot, user: str) -> str:
    return bot.slack.ephemerals(user)[-1]


def test_settings_read_typographic_quotes_and_dashes(bot: Bot) -> None:
    projects.create_project(bot.ws, name=PROJECT, labels=LABELS, channel_id=CHANNEL)
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    bot.slack.command(ADMIN, f"settings {PROJECT} digest_cron=“0 9 * * mon–fri” retrain_every=7")
    bot.settle()
    assert "Updated `digest_cron`" in _answer(bot, ADMIN), _answer(bot, ADMIN)
    settings = projects.get_project(bot.ws, PROJECT).settings
    assert settings["digest_cron"] == "0 9 * * mon-fri" and settings["retrain_every"] == 7

    bot.slack.command(ADMIN, f"settings {PROJECT} digest_cron=„30 8 * * mon—thu“ timezone=‘UTC’")
    bot.settle()
    settings = projects.get_project(bot.ws, PROJECT).settings
    assert settings["digest_cron"] == "30 8 * * mon-thu" and settings["timezone"] == "UTC"


def test_quiet_hours_read_a_typographic_dash(bot: Bot) -> None:
    bot.slack.command(U1, "quiet 22:00–07:30")
    bot.settle()
    assert _answer(bot, U1).startswith("Quiet hours set: 22:00–07:30"), _answer(bot, U1)
    assert rhythm.rhythm_of(bot.ws, user=U1).quiet == (22 * 60, 7 * 60 + 30)
    bot.slack.command(U1, "quiet 09:00—11:00")
    bot.settle()
    assert rhythm.rhythm_of(bot.ws, user=U1).quiet == (9 * 60, 11 * 60)
