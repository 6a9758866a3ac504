"""App Home says what `labelbot status` and the digest say of the same project: the classes
too rare under the project's own rare_minimum (not the default 5), and which model its
accuracy belongs to (a pinned version, trained before the latest taxonomy change)."""

from __future__ import annotations

import json
from typing import Any

from engine import digest, projects, taxonomy, training
from tests.bot.conftest import PROJECT, Bot, train_bank
from tests.fakes import payloads

EXPERT = "U0EXPERT"
ADMIN = "U0ADMIN"


def _home(bot: Bot) -> list[dict[str, Any]]:
    """The bank project's section, fields and counts in the Home tab EXPERT opens."""
    bot.slack.event(payloads.app_home_opened(EXPERT))
    bot.settle()
    blocks: list[dict[str, Any]] = bot.api.calls("views.publish")[-1].params["view"]["blocks"]
    start = next(i for i, b in enumerate(blocks) if f"*{PROJECT}*" in json.dumps(b))
    return blocks[start : start + 3]


def test_home_shows_status_rare_classes_and_which_model(bot: Bot, bank: dict[str, str]) -> None:
    train_bank(bot, bank, labels=30)  # v1
    train_bank(bot, bank, labels=10)  # v2
    training.pin_version(bot.ws, PROJECT, 1)
    taxonomy.merge_labels(bot.ws, project=PROJECT, labels=["atm_support", "change_pin"],
                          into="atm_support", actor=ADMIN)  # fmt: skip
    taxonomy.rename_label(bot.ws, project=PROJECT, label="card_arrival",
                          new_name="card_delivery", actor=ADMIN)  # fmt: skip
    projects.update_settings(bot.ws, project=PROJECT, rare_minimum=10)
    status = projects.project_status(bot.ws, PROJECT)
    rare = status["rare"]
    assert rare["minimum"] == 10
    # a class the default minimum (5) would not call rare, but this project's 10 does
    assert any(5 <= rare["counts"][name] < 10 for name in rare["too_rare"]), rare

    _, fields, counts = _home(bot)
    rare_line = "*Rare classes* (fewer than 10 labels): " + ", ".join(rare["too_rare"])
    assert rare_line in counts["text"]["text"].splitlines()

    accuracy = next(f["text"] for f in fields["fields"] if "Estimated accuracy" in f["text"])
    notes = digest.build_digest(bot.ws, PROJECT).model_notes()
    assert status["model"]["pinned"] and status["model"]["before_taxonomy_change"]
    assert accuracy.startswith("*Estimated accuracy*\nv1: ") and accuracy.endswith(notes)
    assert "v1 is pinned" in accuracy and "trained before the latest taxonomy change" in accuracy
    n = projects.status_report(bot.ws, PROJECT)["model"]["estimate"]["headline"]["n"]
    assert f" on the audit set of {n} labels" in accuracy  # the n status gives

    training.unpin(bot.ws, PROJECT)
    training.train_project(bot.ws, PROJECT)  # v3: today's classes, not pinned
    projects.update_settings(bot.ws, project=PROJECT, rare_minimum=1)
    _, fields, counts = _home(bot)
    accuracy = next(f["text"] for f in fields["fields"] if "Estimated accuracy" in f["text"])
    assert accuracy.startswith("*Estimated accuracy*\nv3: ")
    assert "pinned" not in accuracy and "taxonomy change" not in accuracy
    assert projects.project_status(bot.ws, PROJECT)["rare"]["too_rare"] == []
    assert "Rare classes" not in counts["text"]["text"]


def test_home_says_audit_labels_wait_after_a_split(bot: Bot, bank: dict[str, str]) -> None:
    """The digest and `labelbot status` say how many audit labels wait to be relabeled after a
    split (left out of the score); Home said the score alone."""
    projects.update_settings(bot.ws, project=PROJECT, audit_share=0.5)
    train_bank(bot, bank, labels=40)
    pool = training.load_pool(bot.ws, PROJECT)
    audited = [pool.classes[int(c)] for c in pool.y[pool.audited]]
    label = max(set(audited), key=audited.count)
    taxonomy.split_label(bot.ws, project=PROJECT, label=label, into=[f"{label}_a", f"{label}_b"],
                         actor=ADMIN)  # fmt: skip
    training.train_project(bot.ws, PROJECT)
    figures = digest.build_digest(bot.ws, PROJECT)
    assert figures.audit_waiting.startswith(f"{audited.count(label)} more audit label")
    _, fields, _ = _home(bot)
    accuracy = next(f["text"] for f in fields["fields"] if "Estimated accuracy" in f["text"])
    assert figures.audit_waiting in accuracy, accuracy
