"""What a busy domain expert who never used labelbot reads, driven through real HTTP (signed
requests, the fake Slack Web API): the first example of the day says what each button does,
Skip says the example will not come back, Home does not call every class rare before the first
label and says which way a cross-validated figure is biased, `/label help` reads one command a
line, the expert's first, and a Discuss thread names where the labels are read."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from bot import ids
from bot.views import ExampleCard, LabelChoice, labeling_message
from bot.views.limits import block_errors, message_text_errors
from tests.bot.conftest import LABELS, PROJECT, Bot
from tests.fakes import payloads
from tests.fakes.slack_client import example_id

EXPERT = "U0EXPERT"


def _contexts(message: dict[str, Any]) -> list[str]:
    return [e["text"] for b in message["blocks"] if b["type"] == "context" for e in b["elements"]]


def _start(bot: Bot) -> None:
    from engine import projects

    # one expert, one answer per example: the next example is a fresh one
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=0.0, audit_share=0.0)


def test_the_first_example_of_the_day_says_what_each_button_does(
    bot: Bot, bank: dict[str, str]
) -> None:
    _start(bot)
    bot.slack.command(EXPERT)
    bot.settle()
    (first,) = bot.slack.open_examples(EXPERT)
    (hint,) = [t for t in _contexts(first) if t.startswith(":bulb:")]
    assert hint.startswith(":bulb: Click the label that fits.")
    for button in ("*Skip*", "*Discuss* asks in the project channel", "*Flag*", "snoozes"):
        assert button in hint
    # it sits right above the row it explains, under the labels
    kinds = [b["type"] for b in first["blocks"]]
    assert kinds[-2:] == ["context", "actions"]
    assert first["blocks"][-2]["elements"][0]["text"] == hint

    bot.slack.choose(EXPERT, first, LABELS[0])
    bot.settle()
    (second,) = bot.slack.open_examples(EXPERT)
    assert example_id(second) != example_id(first)
    assert not any(t.startswith(":bulb:") for t in _contexts(second))  # said once a day
    assert not bot.api.warnings


def test_the_menu_of_many_labels_has_its_own_hint_within_slacks_limits() -> None:
    labels = [LabelChoice(f"intent_{i:03d}", "x" * 75, i) for i in range(150)]
    card = ExampleCard(example_id=1, text="y " * 1500, project="clinc", labels=labels)
    message = labeling_message(card)
    assert block_errors(message["blocks"]) == [] and message_text_errors(message["blocks"]) == []
    (hint,) = [t for t in _contexts(message) if t.startswith(":bulb:")]
    assert hint.startswith(":bulb: Pick the label that fits from the menu.")
    later = labeling_message(ExampleCard(example_id=1, text="y", project="clinc", labels=labels,
                                         labeled_today=4))  # fmt: skip
    assert not any(t.startswith(":bulb:") for t in _contexts(later))


def test_skip_says_the_example_will_not_come_back(bot: Bot, bank: dict[str, str]) -> None:
    _start(bot)
    bot.slack.command(EXPERT)
    bot.settle()
    (message,) = bot.slack.open_examples(EXPERT)
    bot.slack.click(EXPERT, message, ids.SKIP)
    bot.settle()
    skipped = next(m for m in bot.slack.dm(EXPERT) if m["ts"] == message["ts"])
    (said,) = _contexts(skipped)
    assert said == (
        f"Skipped by <@{EXPERT}>: you will not be asked about it again; another expert can "
        "label it."
    )
    assert "pool" not in said and "--" not in said  # no jargon, no typewriter dash


def _home(bot: Bot) -> str:
    bot.slack.event(payloads.app_home_opened(EXPERT))
    bot.settle()
    view = bot.api.calls("views.publish")[-1].params["view"]
    return "\n".join(
        b["text"]["text"] for b in view["blocks"] if b["type"] == "section" and "text" in b
    )


def test_home_calls_no_class_rare_before_the_first_label(bot: Bot, bank: dict[str, str]) -> None:
    _start(bot)
    before = _home(bot)
    assert "`░░░░░░░░░░░░`     0  card_arrival" in before  # every class shown at 0 already
    assert "Rare classes" not in before  # not all five named again as "rare"

    bot.slack.command(EXPERT)
    bot.settle()
    (message,) = bot.slack.open_examples(EXPERT)
    bot.slack.choose(EXPERT, message, LABELS[0])
    bot.settle()
    after = _home(bot)
    rare = next(line for line in after.splitlines() if line.startswith("*Rare classes*"))
    assert LABELS[0] in rare and LABELS[1] in rare  # one label in: the rare ones are news


def test_home_says_which_way_a_cross_validated_figure_is_biased() -> None:
    """The queue picks hard cases, so its labels' cross-validated accuracy usually reads low
    (the digest says so); Home said "(biased: …)", which an expert may read either way."""
    from bot.views import HomeStats, ProjectProgress, home_tab

    project = ProjectProgress(
        name="p", labeled=40, total=100, accuracy=0.8, accuracy_source="cv",
        model_version=1, queue_chosen=True, project_id=1,
    )  # fmt: skip
    home = home_tab(HomeStats(user_id="U1", labeled_today=0, labeled_total=40, projects=[project]))
    (field,) = [
        f["text"] for b in home["blocks"] for f in b.get("fields", []) if "accuracy" in f["text"]
    ]
    assert field.endswith(
        "v1: 80.0% cross-validated (biased low: the queue chose hard cases; no audit labels yet)"
    )


def test_help_reads_one_command_a_line_the_experts_first(bot: Bot, bank: dict[str, str]) -> None:
    bot.slack.command(EXPERT, "help")
    bot.settle()
    (said,) = bot.slack.ephemerals(EXPERT)
    lines = said.splitlines()
    bullets = [line for line in lines if line.startswith("• ")]
    for verb in ids.COMMAND_VERBS:  # every command on a line of its own words
        assert any(re.search(rf"`/label (\w+\|)*{verb}\b", b) for b in bullets), verb
    assert (
        lines.index("*Labeling*") < lines.index("*Your rhythm*") < lines.index("*Project admins*")
    )
    labeling = lines[lines.index("*Labeling*") : lines.index("*Your rhythm*")]
    assert any("`/label guidelines [project]`" in line for line in labeling)
    assert not any("settings" in line or "promote" in line for line in labeling)


def test_a_discussion_names_where_the_channel_reads_the_labels(
    bot: Bot, bank: dict[str, str]
) -> None:
    """Those asked for a second opinion in the channel saw the text but not the labels it could
    take: the root names the command that lists them with their guidelines."""
    from tests.bot.conftest import CHANNEL

    _start(bot)
    bot.slack.command(EXPERT)
    bot.settle()
    (message,) = bot.slack.open_examples(EXPERT)
    bot.slack.click(EXPERT, message, ids.DISCUSS)
    bot.settle()
    (root,) = bot.api.messages(CHANNEL)
    assert f"`/label guidelines {PROJECT}` lists the labels to choose from." in _contexts(root)[0]
    assert not bot.api.warnings


def test_predict_before_the_first_model_says_what_brings_one(
    bot: Bot, bank: dict[str, str]
) -> None:
    """It said "No model yet: label a few more examples first." over a line "Model for bank"
    that contradicted it; now it says what brings a model, as App Home does, and how to help."""
    bot.slack.command(EXPERT, "predict where is my card")
    bot.settle()
    (answer,) = [c.params for c in bot.api.calls("response_url") if c.params["_to"] == EXPERT]
    texts = [b["text"]["text"] for b in answer["blocks"] if "text" in b] + _contexts(answer)
    assert (
        f"No model yet for *{PROJECT}*: the first trains once a few examples per label are "
        f"labeled. `/label {PROJECT}` sends you one."
    ) in texts
    assert not any("Model for" in t for t in texts)
    assert not bot.api.warnings


def test_home_does_not_promise_a_button_per_label_to_a_project_with_a_menu(
    bot: Bot, tmp_path: Path
) -> None:
    """Past 15 labels the DM offers a menu: Home's welcome said "each with a button per label"."""
    from engine import projects

    projects.create_project(bot.ws, name="clinc", labels=[f"intent_{i}" for i in range(150)])
    path = tmp_path / "clinc.csv"
    path.write_text("text\nhow do I reset my card\n", "utf-8")
    projects.import_file(bot.ws, project="clinc", path=path, embed=False)
    welcome = _home(bot)
    assert "a button per label" not in welcome
    assert "one at a time, with the labels to choose from." in welcome


def test_what_else_people_type_for_help_gets_the_help(bot: Bot, bank: dict[str, str]) -> None:
    """`/label ?` answered "No project named '?' (projects: bank)", nothing on where help is."""
    from bot.listeners.commands import USAGE

    for typed in ("?", "--help", "-h"):
        bot.slack.command(EXPERT, typed)
        bot.settle()
        assert bot.slack.ephemerals(EXPERT)[-1] == USAGE, typed
