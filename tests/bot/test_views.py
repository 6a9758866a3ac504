"""Block Kit builders, tested as data against the limits Slack enforces."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bot import ids
from bot.slack_text import escape, split_chunks, truncate
from bot.views import (
    AskReason,
    ClassCount,
    EarlierLabel,
    ExampleCard,
    HomeStats,
    LabelChoice,
    ProjectProgress,
    Suggestion,
    discussion_root,
    flag_example_id,
    flag_modal,
    full_text_modal,
    home_tab,
    info_message,
    labeled_message,
    labeling_message,
    parse_label_value,
    prediction_answer,
    skipped_message,
)
from bot.views.limits import block_errors, view_errors

LONG_LABEL = "transfer_not_received_by_recipient_because_of_a_bank_holiday_weekend_delay"


def _labels(n: int) -> list[LabelChoice]:
    # Banking77-style names, one longer than any button or option may show (75 characters).
    names = [LONG_LABEL + "_extra"] + [f"intent_{i:03d}_card_arrival" for i in range(1, n)]
    return [
        LabelChoice(name, description=f"About {name} " * 10, id=i) for i, name in enumerate(names)
    ]


def _card(n_labels: int, text: str = "Where is my card?", **kw: Any) -> ExampleCard:
    return ExampleCard(
        example_id=42,
        text=text,
        project="banking77",
        labels=_labels(n_labels),
        labeled_today=3,
        queue_left=120,
        **kw,
    )


def _elements(message: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    found = []
    for block in message["blocks"]:
        found += [e for e in block.get("elements", []) if e.get("type") == kind]
        if block.get("accessory", {}).get("type") == kind:
            found.append(block["accessory"])
    return found


def _select_options(message: dict[str, Any]) -> list[dict[str, Any]]:
    (select,) = _elements(message, "static_select")
    return select.get("options") or [o for g in select["option_groups"] for o in g["options"]]


STATS = HomeStats(
    user_id="U1",
    labeled_today=4,
    labeled_total=900,
    projects=[
        ProjectProgress(
            name=f"proj{i}",
            labeled=10 * i,
            total=1000,
            accuracy=0.8 if i % 2 else None,
            class_counts=[ClassCount(f"c{j}", j) for j in range(77)],
            project_id=i,
        )
        for i in range(25)
    ],
)
WHEN = datetime(2025, 1, 2, 15, 30, tzinfo=UTC)
MESSAGES = {
    "labeling_4": labeling_message(_card(4, suggestion=Suggestion("intent_002_card_arrival", 0.6))),
    "labeling_15": labeling_message(_card(15)),
    "labeling_77": labeling_message(_card(77, suggestion=Suggestion(LONG_LABEL + "_extra", 0.3))),
    "labeling_150": labeling_message(_card(150)),
    "labeling_long": labeling_message(_card(150, text="word & <@U1> " * 1000)),
    "labeling_back": labeling_message(
        _card(
            150,
            earlier=[
                EarlierLabel(LONG_LABEL * 20, [f"U{i}" for i in range(300)], [LONG_LABEL] * 40),
                EarlierLabel("misc", ["import"]),
                EarlierLabel("a", ["U1"]),
                EarlierLabel("b", ["U1"]),
            ],
        )
    ),  # fmt: skip
    "labeled": labeled_message(
        example_id=42, text="x" * 10_000, label="a", user_id="U1", undo_until=WHEN
    ),
    "labeled_final": labeled_message(
        example_id=42, text="x", label="a", user_id="U1", undo_until=None
    ),
    "skipped": skipped_message(example_id=42, text="x", user_id="U1"),
    "discussion": discussion_root(
        example_id=42, text="line1\nline2 " * 800, project="p", opener="U1"
    ),
    "prediction": prediction_answer(
        text="hi", predictions=[Suggestion("a", 0.7), Suggestion("b", 0.2)], project="p"
    ),
    "no_model": prediction_answer(text="hi", predictions=[], project="p"),
    "info": info_message("Done."),
}
VIEWS = {
    "flag": flag_modal(42),
    "full_text": full_text_modal("a & b " * 2000),
    "huge_text": full_text_modal("z" * 400_000),
    "home": home_tab(STATS),
    "empty_home": home_tab(HomeStats(user_id="U1", labeled_today=0, labeled_total=0)),
}


@pytest.mark.parametrize("name", MESSAGES)
def test_every_message_is_within_slack_limits_and_has_fallback(name: str) -> None:
    message = MESSAGES[name]
    assert block_errors(message["blocks"]) == []
    assert message["text"].strip(), "a top-level text fallback is needed for notifications"


@pytest.mark.parametrize("name", VIEWS)
def test_every_view_is_within_slack_limits(name: str) -> None:
    assert view_errors(VIEWS[name]) == []


def test_few_labels_are_buttons_with_unique_ids_and_parseable_values() -> None:
    message = MESSAGES["labeling_15"]
    buttons = [b for b in _elements(message, "button") if ids.LABEL_PATTERN.match(b["action_id"])]
    assert len(buttons) == 15
    assert all(len(b["text"]["text"]) <= 75 for b in buttons)
    assert parse_label_value(buttons[0]["value"]) == (42, 0)  # the label's id
    controls = {b["action_id"] for b in _elements(message, "button")}
    assert {ids.SKIP, ids.DISCUSS, ids.FLAG} <= controls


def test_suggested_label_is_highlighted() -> None:
    (primary,) = [b for b in _elements(MESSAGES["labeling_4"], "button") if b.get("style")]
    assert primary["text"]["text"] == "intent_002_card_arrival"


def test_banking77_labels_fit_one_select() -> None:
    message = MESSAGES["labeling_77"]
    options = _select_options(message)
    assert len(options) == 77 and len({o["value"] for o in options}) == 77
    assert "options" in _elements(message, "static_select")[0]
    suggested = [
        b for b in _elements(message, "button") if b["action_id"] == f"{ids.LABEL}:suggested"
    ]
    assert parse_label_value(suggested[0]["value"]) == (42, 0)


def test_150_labels_use_option_groups() -> None:
    (select,) = _elements(MESSAGES["labeling_150"], "static_select")
    groups = select["option_groups"]
    assert len(groups) == 2 and all(len(g["options"]) <= 100 for g in groups)
    assert len(_select_options(MESSAGES["labeling_150"])) == 150


def test_too_many_labels_is_an_error() -> None:
    with pytest.raises(ValueError, match="10,000"):
        labeling_message(_card(10_001))


def test_long_text_is_cut_with_a_way_to_read_it_all() -> None:
    first = MESSAGES["labeling_long"]["blocks"][0]
    assert len(first["text"]["text"]) <= 3000 and first["text"]["text"].endswith("…")
    assert first["accessory"]["action_id"] == ids.SHOW_FULL_TEXT
    modal = VIEWS["full_text"]
    shown = "".join(b["text"]["text"] for b in modal["blocks"])
    assert shown.replace(" ", "") == escape("a & b " * 2000).replace(" ", "")
    assert VIEWS["huge_text"]["blocks"][-1]["type"] == "context"  # says it was cut
    # the channel post of a Discuss click too: those asked for a second opinion read it all
    (cut,) = [b for b in MESSAGES["discussion"]["blocks"] if b.get("accessory")]
    assert cut["accessory"]["action_id"] == ids.SHOW_FULL_TEXT
    assert cut["accessory"]["value"] == "42"


def test_user_text_cannot_mention_or_break_entities() -> None:
    message = labeling_message(_card(3, text="ping <@U123> & <!channel>"))
    assert message["blocks"][0]["text"]["text"] == "ping &lt;@U123&gt; &amp; &lt;!channel&gt;"
    assert "<!channel>" not in message["text"] and "&lt;!channel&gt;" in message["text"]


def test_an_example_back_for_a_new_label_says_why_with_names_escaped() -> None:
    card = _card(4, earlier=[
        EarlierLabel("billing <x>", ["U1", "W2", "import"], ["invoices", "refunds", "other"]),
        EarlierLabel("misc", ["alice"]),
    ])  # fmt: skip
    contexts = [e["text"] for b in labeling_message(card)["blocks"] if b["type"] == "context"
                for e in b["elements"]]  # fmt: skip
    assert (":leftwards_arrow_with_hook: <@U1>, <@W2> and import labeled it *billing &lt;x&gt;*, "
            "since split: is it *invoices*, *refunds* or *other*?") in contexts  # fmt: skip
    assert (
        ":leftwards_arrow_with_hook: alice labeled it *misc*, since retired: which label fits "
        "now?" in contexts
    )
    imported = _card(5, earlier=[EarlierLabel("misc", ["import"])])
    contexts = [e["text"] for b in labeling_message(imported)["blocks"] if b["type"] == "context"
                for e in b["elements"]]  # fmt: skip
    # no person labeled it: the label came with an imported file
    assert (
        ":leftwards_arrow_with_hook: Imported as *misc*, since retired: which label fits now?"
        in contexts
    )
    many = labeling_message(_card(4, earlier=[EarlierLabel("x", [f"U{i}" for i in range(9)])]))
    assert "<@U0>, <@U1>, <@U2>, <@U3> and 5 others labeled it *x*" in str(many["blocks"])
    plain = [e["text"] for b in labeling_message(_card(4))["blocks"] if b["type"] == "context"
             for e in b["elements"]]  # fmt: skip
    assert not any("labeled it" in t for t in plain)


def test_the_card_says_why_it_asks_and_the_models_second_guess() -> None:
    def lines(**kw: Any) -> list[str]:
        # the context lines above the buttons, past the project's figures (the guidelines,
        # one element each, come under the buttons)
        blocks = labeling_message(_card(4, **kw))["blocks"]
        above = blocks[: next(i for i, b in enumerate(blocks) if b["type"] == "actions")]
        return [e["text"] for b in above if b["type"] == "context"
                for e in b["elements"]][1:]  # fmt: skip

    guess = Suggestion("a<b", 0.41, runner_up=("c&d", 0.38))
    assert lines(suggestion=guess) == ["Model's guess: *a&lt;b* (41%), or *c&amp;d* (38%)"]
    assert lines(reason=AskReason("no_examples", "fx"), suggestion=Suggestion("x", 0.3)) == [
        ":mag: Asked because it may be *fx*, a label with no examples yet.",
        "Model's guess: *x* (30%)",
    ]
    assert lines(reason=AskReason("rare", "atm")) == [
        ":mag: Asked to find more examples of *atm*, which has few so far."
    ]
    assert lines(reason=AskReason("cold_start")) == [
        ":compass: Asked early: it is typical of a group of similar examples."
    ]
    assert lines(reason=AskReason("strategy")) == lines() == []


def test_labeled_message_shows_who_and_undo() -> None:
    blocks = MESSAGES["labeled"]["blocks"]
    assert blocks[1]["text"]["text"] == "Labeled *a* by <@U1>"
    assert blocks[1]["accessory"]["action_id"] == ids.UNDO
    assert "accessory" not in MESSAGES["labeled_final"]["blocks"][1]
    assert not any(
        ids.LABEL_PATTERN.match(b["action_id"]) for b in _elements(MESSAGES["labeled"], "button")
    )


def test_flag_modal_round_trips_example_id() -> None:
    modal = VIEWS["flag"]
    assert modal["callback_id"] == ids.FLAG_MODAL
    assert flag_example_id(modal["private_metadata"]) == 42
    assert json.loads(modal["private_metadata"]) == {"example_id": 42}
    assert modal["blocks"][1]["element"]["action_id"] == ids.FLAG_REASON_INPUT


def test_home_tab_caps_projects_and_offers_a_batch() -> None:
    home = VIEWS["home"]
    starts = [b["accessory"] for b in home["blocks"] if b.get("accessory")]
    assert len(starts) == 20 and starts[1]["value"] == "1"
    assert all(s["action_id"] == ids.HOME_START_BATCH for s in starts)
    assert "5 more projects" in home["blocks"][-1]["elements"][0]["text"]


@pytest.mark.parametrize("limit", range(1, 12))
def test_truncate_never_splits_an_entity_or_surrogate(limit: int) -> None:
    text = escape("a<b&c>d") + "\ud83d\ude00" + "tail"
    cut = truncate(text, limit)
    assert len(cut) <= limit
    body = cut.removesuffix("…")
    assert not body.endswith(("&", "&a", "&am", "&amp", "&l", "&lt", "&g", "&gt", "\ud83d"))


def test_split_chunks_keeps_every_character() -> None:
    text = escape("x&y " * 3000)
    chunks = split_chunks(text, 3000)
    assert all(len(c) <= 3000 for c in chunks) and "".join(chunks) == text


def test_review_menu_offers_every_other_label_of_a_large_taxonomy() -> None:
    """Past 100 labels the "Another label…" menu groups its options instead of cutting them."""
    from bot.views.limits import block_errors
    from bot.views.models import LabelChoice
    from bot.views.review import ReviewCard, review_message

    labels = [f"intent_{i:03d}" for i in range(150)]
    choices = [LabelChoice(name, id=i) for i, name in enumerate(labels)]
    card = ReviewCard(review_id=1, example_id=2, text="t", project="p", given=labels[0],
                      given_by="U1", suggested=labels[1], confidence=0.9,
                      labels=choices)  # fmt: skip
    message = review_message(card)
    assert block_errors(message["blocks"]) == []
    (menu,) = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]
               if e["type"] == "static_select"]  # fmt: skip
    offered = [o["text"]["text"] for g in menu["option_groups"] for o in g["options"]]
    assert sorted(offered) == labels[2:]


def test_text_from_slack_reads_as_typed() -> None:
    from bot.slack_text import plain_from_slack

    cases = {
        "Q&amp;A: fees &gt; 5 &lt; 10": "Q&A: fees > 5 < 10",
        "typed &amp;lt; literally": "typed &lt; literally",  # unescaped once, not twice
        "see <https://x.example/a|the doc> or <https://x.example>": (
            "see the doc (https://x.example/a) or https://x.example"
        ),
        "<https://x.example|x.example>": "https://x.example",
        "ask <@U0BOB> or <@U0ANA|ana> in <#C1|general> <!here>": (
            "ask @U0BOB or @ana in #general @here"
        ),
        "<!subteam^S1|@legal>, <mailto:a@b.example|a@b.example>": "@legal, a@b.example",
        "no markup at all": "no markup at all",
    }
    assert {raw: plain_from_slack(raw) for raw in cases} == cases


def test_long_names_are_cut_in_the_middle() -> None:
    from bot.slack_text import shorten_middle

    name = "Customer complaint about delayed delivery of international parcels by express courier"
    short = shorten_middle(name, 75)
    assert len(short) == 75 and short.startswith("Customer") and short.endswith("express courier")
    assert shorten_middle("short", 75) == "short"
    emoji = "😀" * 10  # surrogate pairs when decoded with surrogatepass: never split
    assert shorten_middle(emoji, 5) == "😀😀…😀😀"


def test_long_names_that_differ_in_the_middle_read_apart_on_buttons_and_in_menus() -> None:
    """Cut in the middle alike, 150 names differing only there read the same in the menu (and
    4 on buttons): each now shows where it differs, within the limits."""
    from bot.slack_text import shorten_apart

    def named(n: int) -> list[LabelChoice]:
        return [
            LabelChoice(f"Customer complaint about billing - variant {i:03d} "
                        f"{'detail ' * 6}- escalated to tier 2", description="", id=i)
            for i in range(n)
        ]  # fmt: skip

    for n, texts in (
        (150, lambda m: [o["text"]["text"] for o in _select_options(m)]),
        (4, lambda m: [b["text"]["text"] for b in _elements(m, "button")][:4]),
    ):
        message = labeling_message(ExampleCard(
            example_id=1, text="t", project="p", labels=named(n), labeled_today=0, queue_left=1
        ))  # fmt: skip
        shown = texts(message)
        assert len(set(shown)) == n and max(map(len, shown)) <= 75, shown[:3]
        assert all(f"variant {i:03d}" in t for i, t in enumerate(shown))
        assert block_errors(message["blocks"]) == []
    # names that cut apart already are cut as before
    plain_cut = shorten_apart(["a" * 100 + "x", "b" * 100 + "x"], 75)
    assert sorted(plain_cut.values()) == [
        "a" * 37 + "…" + "a" * 36 + "x",
        "b" * 37 + "…" + "b" * 36 + "x",
    ]


@pytest.mark.parametrize("queue_chosen", [True, False])
def test_home_calls_a_cross_validated_figure_biased_only_when_the_queue_chose_its_labels(
    queue_chosen: bool,
) -> None:
    """As the digest and `status --json` ("biased"): labels imported with their examples are a
    fair sample, so their cross-validated accuracy is not said to read low."""
    project = ProjectProgress(
        name="p", labeled=40, total=100, accuracy=0.8, accuracy_source="cv",
        model_version=1, queue_chosen=queue_chosen, project_id=1,
    )  # fmt: skip
    home = home_tab(HomeStats(user_id="U1", labeled_today=0, labeled_total=40, projects=[project]))
    text = json.dumps(home)
    assert "cross-validated" in text
    assert ("biased" in text) is queue_chosen


def test_a_menu_cut_short_tells_an_expert_what_to_do_without_a_terminal() -> None:
    """Past what one message holds the menu offers the first labels: the note said only
    `labelbot label NAME` (a terminal, which experts in Slack do not have)."""
    card = ExampleCard(
        example_id=42, text="Where is my card?", project="banking77", labeled_today=3,
        queue_left=120,
        labels=[LabelChoice(f"{'category of requests ' * 3}{i:04d}", None, i + 1)
                for i in range(1500)],
    )  # fmt: skip
    shown = json.dumps(labeling_message(card)["blocks"])
    assert "The menu offers the first" in shown and "of 1500 labels" in shown
    assert "Not among them? Skip it, or Discuss it with the team" in shown


def test_proposal_counts_of_one_read_in_the_singular() -> None:
    from bot.views.proposals import evidence_numbers

    assert evidence_numbers({"counts": {"fx": 1, "atm": 12}}) == [
        "*fx* 1 example",
        "*atm* 12 examples",
    ]
