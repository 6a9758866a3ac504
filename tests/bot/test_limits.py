"""Block Kit limits with real data: Banking77's 77 labels (a select) and a 10,000-character
example (cut, with the whole text a click away). The fake Web API rejects invalid blocks."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from bot import ids
from engine import exporting, projects
from engine.datasets import dataset_path
from tests.bot.conftest import Bot
from tests.fakes.signing import signed_interactivity
from tests.fakes.slack_client import choices, elements

U1 = "U0ALICE"


def _project(bot: Bot, tmp_path: Path, name: str, labels: list[str], texts: list[str]) -> None:
    projects.create_project(bot.ws, name=name, labels=labels)
    path = tmp_path / f"{name}.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text"])
        writer.writerows([t] for t in texts)
    projects.import_file(bot.ws, project=name, path=path, embed=False)


def test_77_labels_arrive_as_a_select_and_a_choice_is_stored(bot: Bot, tmp_path: Path) -> None:
    with dataset_path("banking77", "train").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    labels = sorted({r["label"] for r in rows})
    assert len(labels) == 77
    _project(bot, tmp_path, "b77", labels, [r["text"] for r in rows[:5]])
    bot.slack.command(U1, "b77")
    bot.settle()
    (message,) = bot.slack.open_examples(U1)
    (select,) = [el for _, el in elements(message) if el.get("action_id") == ids.LABEL_SELECT]
    assert len(select["options"]) == 77
    assert {c.label for c in choices(message)} == set(labels)
    bot.slack.choose(U1, message, "visa_or_mastercard")
    bot.settle()
    (record,) = [r for r in exporting.export_records(bot.ws, "b77") if r["label"]]
    assert record["label"] == "visa_or_mastercard"
    assert len(bot.slack.open_examples(U1)) == 1


def test_a_10000_character_example_is_cut_and_readable_in_full(bot: Bot, tmp_path: Path) -> None:
    long_text = ("Dear bank, <about my card> & more. " * 300)[:10_000]
    _project(bot, tmp_path, "long", ["complaint", "question"], [long_text])
    bot.slack.command(U1, "long")
    bot.settle()
    (message,) = bot.slack.open_examples(U1)
    assert len(json.dumps(message["blocks"])) < 8_000  # cut to fit Block Kit's 3,000 per section
    bot.slack.click(U1, message, ids.SHOW_FULL_TEXT)
    bot.settle()
    (opened,) = bot.api.calls("views.open")
    shown = "".join(b["text"]["text"] for b in opened.params["view"]["blocks"])
    assert shown == long_text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    bot.slack.choose(U1, message, "complaint")
    bot.settle()
    (record,) = exporting.export_records(bot.ws, "long")
    assert record["label"] == "complaint" and record["text"] == long_text


# Label names may hold 200 characters; a menu option's value holds 150 and its text 75. Two
# long names that differ only at their end must both be offered, told apart and choosable.
LONG_START = "Contract dispute about the termination of employment with extended notice " * 3
LONG_ENDINGS = ["clauses for senior staff", "clauses for junior staff"]


def test_long_label_names_are_told_apart_and_chosen_from_the_menu(bot: Bot, tmp_path: Path) -> None:
    long_names = [LONG_START[: 200 - len(end)] + end for end in LONG_ENDINGS]
    assert all(len(n) == 200 for n in long_names) and long_names[0][:150] == long_names[1][:150]
    labels = [f"short_{i}" for i in range(18)] + long_names
    _project(bot, tmp_path, "legal", labels, ["first clause", "second clause"])
    bot.slack.command(U1, "legal")
    bot.settle()
    (message,) = bot.slack.open_examples(U1)  # the fake Web API took the blocks
    (select,) = [el for _, el in elements(message) if el.get("action_id") == ids.LABEL_SELECT]
    texts = {o["text"]["text"]: o for o in select["options"]}
    assert len(texts) == 20 and all(len(t) <= 75 for t in texts)
    shown = [t for t in texts if t.startswith("Contract")]  # cut in the middle: ends kept
    senior, junior = (next(t for t in shown if t.endswith(end)) for end in LONG_ENDINGS)
    assert senior != junior
    block_id = next(b for b, el in elements(message) if el.get("action_id") == ids.LABEL_SELECT)
    payload = bot.slack.action_payload(
        U1, message, ids.LABEL_SELECT, None, block_id=block_id, selected_option=texts[junior]
    )
    assert bot.slack.post(signed_interactivity(bot.slack.secret, payload)).status_code == 200
    bot.settle()
    assert bot.slack.ephemerals(U1) == []
    (record,) = [r for r in exporting.export_records(bot.ws, "legal") if r["label"]]
    assert record["label"] == long_names[1]
