"""Label names and texts in any script reach Slack whole: a cut to a Block Kit limit (button
and option text: 75 characters) never lands inside a character as a reader sees it -- a flag
(two regional indicators), a ZWJ emoji sequence, a letter and its combining marks, a Hindi
conjunct -- which Slack would show as a stray letter, half a family or a dotted circle."""

from __future__ import annotations

from typing import Any

import pytest

from bot.slack_text import escape, shorten_middle, split_chunks, truncate
from bot.views import ExampleCard, LabelChoice, labeling_message
from bot.views.limits import block_errors

# one character each as a reader sees it, several code points each
UNITS = {
    "flag": "\U0001f1ef\U0001f1f5",  # 🇯🇵
    "family": "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466",  # 👨‍👩‍👧‍👦
    "rainbow_flag": "\U0001f3f3\ufe0f\u200d\U0001f308",  # 🏳️‍🌈
    "skin_tone": "\U0001f44d\U0001f3fd",  # 👍🏽
    "hindi_conjunct": "\u0915\u094d\u0937\u093f",  # क्षि
    "combining": "q\u0303\u0301",  # q̃́ (no precomposed form: NFC keeps it three code points)
}


def _whole(part: str, unit: str) -> bool:
    """``part`` is made of whole ``unit``s (after any ASCII padding in front)."""
    return part.lstrip("x").replace(unit, "") == ""


def _name(unit: str, pad: int) -> str:
    # longer than 75 characters, at most the 200 a label name may have; each padding moves
    # the cut to another place inside the unit
    return "x" * pad + unit * ((190 - pad) // len(unit))


def _texts(message: dict[str, Any], kind: str) -> list[str]:
    found: list[str] = []
    for block in message["blocks"]:
        for element in block.get("elements", []):
            if kind == "button" and element.get("type") == "button":
                found.append(element["text"]["text"])
            if kind == "option" and element.get("type") == "static_select":
                options = element.get("options") or [
                    o for g in element["option_groups"] for o in g["options"]
                ]
                found += [o["text"]["text"] for o in options]
    return found


@pytest.mark.parametrize("unit_name", sorted(UNITS))
def test_buttons_and_menu_options_never_cut_inside_a_character(unit_name: str) -> None:
    unit = UNITS[unit_name]
    names = [_name(unit, pad) for pad in range(len(unit))]
    for n_labels, kind in ((len(names), "button"), (len(names) + 30, "option")):
        labels = [LabelChoice(name, id=i) for i, name in enumerate(names)]
        labels += [LabelChoice(f"other_{i}", id=100 + i) for i in range(n_labels - len(names))]
        card = ExampleCard(example_id=7, text="テキスト", project="intl", labels=labels)
        message = labeling_message(card)
        assert block_errors(message["blocks"]) == []
        shown = [t for t in _texts(message, kind) if "…" in t]  # not Skip, not other_N
        assert len(shown) == len(names)
        for text in shown:
            assert len(text) <= 75
            head, tail = text.split("…")
            assert _whole(head, unit) and _whole(tail, unit), (unit_name, text)
            assert head.strip("x") and tail  # something of the name on either side


@pytest.mark.parametrize("unit_name", sorted(UNITS))
def test_truncate_and_split_never_cut_inside_a_character(unit_name: str) -> None:
    unit = UNITS[unit_name]
    for pad in range(len(unit)):
        text = "x" * pad + unit * 60
        for limit in range(10, 40):
            cut = truncate(text, limit)
            assert len(cut) <= limit
            assert _whole(cut.removesuffix("…"), unit), (unit_name, limit, cut)
            middle = shorten_middle(text, limit)
            assert all(_whole(part, unit) for part in middle.split("…")), (limit, middle)
        for chunk in split_chunks(text, 50):
            assert _whole(chunk, unit) and len(chunk) <= 50, (unit_name, pad, chunk)


def test_two_flags_in_a_row_are_cut_between_them() -> None:
    # regional indicators pair from the start of their run: 🇯🇵🇫🇷 cut after three code points
    # keeps 🇯🇵, not 🇯🇵🇫 (a stray "F")
    assert truncate("\U0001f1ef\U0001f1f5\U0001f1eb\U0001f1f7" + "x" * 10, 4) == (
        "\U0001f1ef\U0001f1f5…"
    )


def test_a_pile_of_combining_marks_is_still_cut_to_the_limit() -> None:
    # Zalgo text: one "character" of 200 code points is cut anyway, within the limit
    zalgo = "a" + "\u0301" * 200
    assert len(truncate(zalgo, 75)) <= 75
    assert len(shorten_middle(zalgo, 75)) <= 75
    assert truncate(zalgo, 75).startswith("a\u0301")


def test_a_labeling_dm_with_names_in_many_scripts_through_slack(bot, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Through real HTTP (Bolt, the fake Web API that checks Block Kit limits): the buttons of
    a DM whose label names are long flags, ZWJ emoji and RTL text show whole characters, and
    a click stores the label under its full name."""
    import csv

    from engine import exporting, projects, training
    from tests.fakes.slack_client import choices

    flags = "x" + UNITS["flag"] * 50  # 101 code points: cut on its button
    family = UNITS["family"] * 20  # 140 code points
    names = [flags, family, "فاتورة", "請求書", "Счёт"]
    projects.create_project(bot.ws, name="intl", labels=names, channel_id="C0INTL")
    path = tmp_path / "intl.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(
            [["text"], ["この請求書はいつ届きますか"], ["متى تصل الفاتورة"], ["Где мой счёт"]]
        )
    projects.import_file(bot.ws, project="intl", path=path)
    training.rescore_project(bot.ws, "intl")

    user = "U0YUKI"
    assert bot.slack.command(user, "intl").status_code == 200
    bot.settle()
    (message,) = bot.slack.open_examples(user)
    shown = {c.text for c in choices(message)}
    cut_flags = next(t for t in shown if t.startswith("x"))
    cut_family = next(t for t in shown if t.startswith(UNITS["family"]))
    assert {"فاتورة", "請求書", "Счёт"} <= shown
    assert all(_whole(part, UNITS["flag"]) for part in cut_flags.split("…"))
    assert all(_whole(part, UNITS["family"]) for part in cut_family.split("…"))
    assert bot.slack.choose(user, message, cut_family).status_code == 200
    bot.settle()
    (record,) = [r for r in exporting.export_records(bot.ws, "intl") if r["label"]]
    assert record["label"] == family
    assert not bot.api.warnings  # Slack took every message as built


def test_a_cut_kept_out_of_a_cluster_is_kept_out_of_an_entity_and_markup_too() -> None:
    """Each rule moves the cut back, and one can land where another forbids: an accent after
    "&" (escaped "&amp;") moved the cut into the entity, a joiner after a mention into the
    mention ("a &amp…", "<@U123ABC…" were sent)."""
    assert truncate(escape("a &\u0301 tail tail tail"), 8) == "a …"
    cut = truncate("<@U123ABC>\u200d<@U456DEF> rest rest rest", 15)
    assert "<@" not in cut or cut.startswith("<@U123ABC>")
