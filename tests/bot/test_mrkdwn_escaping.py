"""User text in mrkdwn shows as typed: a label "a*b*c", a project "q_draft_", an example "*urgent*"
are neither bold, italic, struck nor code, and never pair with labelbot's own *bold* around them.
Slack has no escape for `*`, `_`, `~` and `` ` ``; labelbot prints them as the fallback of a
date Slack cannot format (bot.slack_text.escape_mrkdwn), which Slack shows as written. The
reader sees, and copies, the name itself: pasted back into `/label` or the engine, it is found.

`parsed` is what Slack's formatting works on (each literal an opaque run), `seen` what a reader
reads and copies (each literal its fallback): the two halves of Slack's documented date
fallback (https://docs.slack.dev/messaging/formatting-message-text#date-formatting)."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.slack_text import escape, escape_mrkdwn, split_chunks, truncate, unescape, who
from bot.views import (
    AskReason,
    ClassCount,
    EarlierLabel,
    ExampleCard,
    HomeStats,
    LabelChoice,
    ProjectProgress,
    Suggestion,
    home_tab,
    labeled_message,
    labeling_message,
)
from bot.views.disputes import DisputeCard, dispute_message
from bot.views.guidelines import guidelines_message, guidelines_modal
from bot.views.labeling import example_section
from bot.views.proposals import ProposalCard, proposal_message
from bot.views.review import ReviewCard, review_message
from bot.views.taxonomy import taxonomy_modal
from engine import projects, taxonomy, training
from tests.bot.conftest import CHANNEL, Bot

LITERAL = re.compile(r"<!date\^00000000\^\{_\}\|([^<>|]*)>")
FORMATTING = "*_~`"
EXPERT, ADMIN = "U0EXPERT", "U0ADMIN"


def parsed(text: str) -> str:
    """What Slack formats: a literal is one opaque run ("§" per character it shows)."""
    return LITERAL.sub(lambda m: "§" * len(m.group(1)), text)


def seen(text: str) -> str:
    """What a reader reads and copies: each literal as its fallback, `&lt;` as `<`."""
    return unescape(LITERAL.sub(lambda m: m.group(1), text))


def bold_words(text: str) -> list[str]:
    """The *bold* runs of ``text`` as a reader sees them: bold found where Slack formats
    (literals opaque), then each literal shown as typed."""
    shown: list[str] = []

    def hold(match: re.Match[str]) -> str:
        shown.append(match.group(1))
        return "\ue000"

    held = LITERAL.sub(hold, text)
    fallbacks = iter(shown)
    words = []
    for part in re.split(r"((?<![\w*])\*[^*\s][^*\n]*?\*(?![\w*]))", held):
        restored = re.sub("\ue000", lambda _: next(fallbacks), part)
        if part.startswith("*") and part.endswith("*") and len(part) > 2:
            words.append(unescape(restored[1:-1]))
    return words


def mrkdwn_texts(payload: Any) -> Iterator[str]:
    """Every mrkdwn string in a message, view or block: mrkdwn objects and a message's `text`."""
    if isinstance(payload, dict):
        is_mrkdwn = payload.get("type") == "mrkdwn" or "blocks" in payload and "type" not in payload
        if is_mrkdwn and isinstance(payload.get("text"), str):
            yield payload["text"]
        for key, value in payload.items():
            if key != "text" or not isinstance(value, str):
                yield from mrkdwn_texts(value)
    elif isinstance(payload, list):
        for item in payload:
            yield from mrkdwn_texts(item)


def plain_texts(payload: Any) -> list[str]:
    if isinstance(payload, dict):
        own = [payload["text"]] if payload.get("type") == "plain_text" else []
        return own + [t for v in payload.values() for t in plain_texts(v)]
    if isinstance(payload, list):
        return [t for item in payload for t in plain_texts(item)]
    return []


# --- the helper ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["a*b*c", "*urgent*", "_draft_", "~old~", "`rm -rf`", "x_", "a__b", "**", "<b> & _i_"],
)
def test_formatting_characters_show_as_typed(text: str) -> None:
    out = escape_mrkdwn(text)
    assert seen(out) == text  # the reader reads, and copies, exactly what was typed
    assert not set(parsed(out)) & set(FORMATTING)  # nothing left for Slack to pair
    assert "<b>" not in out  # &, < and > are escaped as before
    assert "\u200b" not in out and "\u2060" not in out  # nothing invisible in a copied name


def test_underscores_inside_words_and_emoji_codes_stay_as_written() -> None:
    """Slack formats only at word breaks: snake_case names (every Banking77 intent) and emoji
    codes keep their underscores, and the text is what `escape` gave before."""
    for text in ("card_arrival", "beneficiary_not_allowed", ":white_check_mark: done", "v1_2"):
        assert escape_mrkdwn(text) == escape(text) == text
    assert escape_mrkdwn("<!channel> & co") == escape("<!channel> & co")


def test_a_cut_never_lands_inside_a_literal() -> None:
    """A literal is Slack markup like a mention: a text cut to a limit keeps each one whole."""
    text = "a*" * 2000
    for limit in range(30, 90):
        cut = truncate(escape_mrkdwn(text), limit)
        assert LITERAL.sub("", cut).count("<") == 0, cut  # no half "<!date^…"
        assert "*" not in parsed(cut)
    section = example_section(1, text)
    assert seen(section["text"]["text"]).removesuffix("…") in text
    assert "*" not in parsed(section["text"]["text"])


def test_a_name_that_is_no_user_id_is_shown_as_typed() -> None:
    """An importer's annotator name (`who`): "_walter_" is not italic; a user id is a mention."""
    assert seen(who("_walter_")) == "_walter_" and "_" not in parsed(who("_walter_"))
    assert who("U012AB3CD") == "<@U012AB3CD>"


# Slack quotes a line that starts with `>` (after any spaces), escaped or not
QUOTED_LINE = re.compile(r"^[^\S\n]*(?:>|&gt;)", re.MULTILINE)
GUIDELINE = "> 5 items: use bulk_order\n  >> fragile: careful_handling\nweight > 2 kg"


def quoted_lines(text: str) -> list[str]:
    """The lines of ``text`` Slack would show as a block quote (literals opaque)."""
    return [line for line in parsed(text).splitlines() if QUOTED_LINE.match(line)]


def test_a_line_starting_with_a_quote_mark_shows_as_typed() -> None:
    """A guideline line "> 5 items" is no block quote: its `>` (at a line's start, after any
    spaces) shows through the date fallback; a `>` elsewhere stays `&gt;`."""
    out = escape_mrkdwn(GUIDELINE)
    assert seen(out) == GUIDELINE and not quoted_lines(out), out
    assert out.count("<!date^00000000^{_}|&gt;>") == 2  # the first `>` of each line only
    assert out.endswith("\nweight &gt; 2 kg")
    assert (
        escape_mrkdwn("fees > 5 & <b>") == escape("fees > 5 & <b>") == "fees &gt; 5 &amp; &lt;b&gt;"
    )


def test_a_cut_keeps_a_quote_mark_literal_whole() -> None:
    """Cut to any limit, a `>` shown as typed is kept whole or left out, never half a literal;
    and a cut at a space before a mid-line `>` starts no quoted section."""
    text = escape_mrkdwn("> x\n" * 50)
    for limit in range(30, 120):
        cut = truncate(text, limit)
        assert LITERAL.sub("", cut).count("<") == 0 and not quoted_lines(cut), cut
    pieces = split_chunks(escape("a " * 1000 + "> " * 500), 3000)
    assert len(pieces) > 1 and all(len(p) <= 3000 and not quoted_lines(p) for p in pieces)
    assert seen("".join(pieces)) == "a " * 1000 + "> " * 500


# --- the builders: user strings add no formatting --------------------------------------------

# Each user string beside its twin: the same text with "§" for each formatting character.
# Built from the twins, a builder's mrkdwn is what Slack parses in the one built from the
# originals, if and only if no user string adds formatting of its own.
PROJECT, PROJECT_TWIN = "q_draft_", "q_draft§"
STAR, STAR_TWIN = "a*b*c", "a§b§c"
STRUCK, STRUCK_TWIN = "~old~", "§old§"
PLAIN = "card_arrival"
TEXT = "*urgent* card_arrival _now_ ~no~ `x`"
TEXT_TWIN = "§urgent§ card_arrival §now§ §no§ §x§"
ABOUT, ABOUT_TWIN = "`rm` *never* _ever_", "§rm§ §never§ §ever§"


def _twins(evil: bool) -> dict[str, str]:
    if evil:
        return {
            "p": PROJECT,
            "star": STAR,
            "struck": STRUCK,
            "text": TEXT,
            "about": ABOUT,
            "who": "_walter_",
        }
    return {
        "p": PROJECT_TWIN,
        "star": STAR_TWIN,
        "struck": STRUCK_TWIN,
        "text": TEXT_TWIN,
        "about": ABOUT_TWIN,
        "who": "§walter§",
    }


def _labels(t: dict[str, str]) -> list[LabelChoice]:
    return [
        LabelChoice(t["star"], description=t["about"], id=1),
        LabelChoice(t["struck"], id=2),
        LabelChoice(PLAIN, description=t["about"], id=3),
    ]


def _labeling(t: dict[str, str]) -> Any:
    card = ExampleCard(
        example_id=7,
        text=t["text"],
        project=t["p"],
        labels=_labels(t),
        suggestion=Suggestion(t["star"], 0.6, runner_up=(t["struck"], 0.3)),
        earlier=[EarlierLabel(t["struck"], [t["who"]], into=[t["star"], PLAIN])],
        reason=AskReason("rare", t["star"]),
    )
    return labeling_message(card)


def _dispute(t: dict[str, str]) -> Any:
    card = DisputeCard(
        example_id=7,
        text=t["text"],
        project=t["p"],
        votes=[("U0A", t["star"]), ("U0B", t["struck"])],
        model=(t["star"], 0.7),
        involved=["U0A", "U0B"],
        labels=_labels(t),
    )
    return dispute_message(card)


def _review(t: dict[str, str]) -> Any:
    card = ReviewCard(
        review_id=3,
        example_id=7,
        text=t["text"],
        project=t["p"],
        given=t["star"],
        given_by="U0A",
        suggested=t["struck"],
        confidence=0.8,
        labels=_labels(t),
    )
    return review_message(card)


def _proposal(t: dict[str, str]) -> Any:
    card = ProposalCard(
        id=4,
        project=t["p"],
        kind="merge",
        labels=[t["star"], t["struck"]],
        score=0.9,
        message=f"{t['star']} and {t['struck']} look alike",
        evidence={"examples": {t["star"]: [t["text"]], t["struck"]: [t["text"]]}},
        names=[t["star"]],
    )
    return proposal_message(card)


def _home(t: dict[str, str]) -> Any:
    progress = ProjectProgress(
        name=t["p"],
        labeled=3,
        total=10,
        class_counts=[ClassCount(t["star"], 2), ClassCount(t["struck"], 1)],
        rare_classes=[t["star"], t["struck"]],
        model_notes=f"; trained before {t['star']} was added",
    )
    return home_tab(
        HomeStats(user_id=EXPERT, labeled_today=1, labeled_total=3, projects=[progress])
    )


BUILDERS = {
    "labeling": _labeling,
    "labeled": lambda t: labeled_message(
        example_id=7, text=t["text"], label=t["star"], user_id=EXPERT, undo_until=None
    ),
    "taxonomy": lambda t: taxonomy_modal(t["p"], _labels(t)),
    "guidelines": lambda t: guidelines_message(t["p"], _labels(t)),
    "dispute": _dispute,
    "review": _review,
    "proposal": _proposal,
    "home": _home,
}


def _code_spans_as_twins(text: str) -> str:
    """Inside `code` Slack formats nothing, and a command there is to be copied as written:
    those spans keep the user's characters (compared as "§")."""
    return re.sub(r"`[^`\n]+`", lambda m: "`" + re.sub(r"[*_~]", "§", m.group()[1:-1]) + "`", text)


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_user_strings_add_no_formatting(builder: str) -> None:
    build = BUILDERS[builder]
    evil, twin = build(_twins(True)), build(_twins(False))
    evil_texts, twin_texts = list(mrkdwn_texts(evil)), list(mrkdwn_texts(twin))
    assert len(evil_texts) == len(twin_texts) and evil_texts
    for got, want in zip(evil_texts, twin_texts, strict=True):
        assert _code_spans_as_twins(parsed(got)) == _code_spans_as_twins(want)
        assert "a*b" not in parsed(got) and "*b*" not in parsed(got)
    # and what they read is what was typed
    shown = "\n".join(seen(t) for t in evil_texts)
    assert STAR in shown


def test_a_guideline_line_starting_with_a_quote_mark_is_no_block_quote() -> None:
    """`/label guidelines` and the labeling DM show a guideline's "> 5 items" lines as typed;
    a guideline long enough to run over several sections starts none with a quote either."""
    labels = [LabelChoice("bulk_order", description=GUIDELINE, id=1)]
    for view in (
        guidelines_message(PROJECT, labels),
        _labeling({**_twins(True), "about": GUIDELINE}),
    ):
        texts = list(mrkdwn_texts(view))
        assert any(GUIDELINE in seen(t) for t in texts)
        assert not [line for t in texts for line in quoted_lines(t)], texts
    long = "a " * 1000 + "> " * 500
    texts = list(mrkdwn_texts(guidelines_modal(PROJECT, [LabelChoice("x", description=long)])))
    assert len(texts) > 2 and not [line for t in texts for line in quoted_lines(t)], texts
    assert seen("".join(texts[1:])) == f"*x*\n{long}"


def test_a_label_reads_as_typed_in_bold_and_on_its_button() -> None:
    message = _labeling(_twins(True))
    texts = list(mrkdwn_texts(message))
    words = [w for t in texts for w in bold_words(t)]
    assert STAR in words and STRUCK in words and PROJECT in words  # "Model's guess: *a*b*c*"
    assert any(seen(t) == TEXT for t in texts)  # the example, as written
    # plain_text (buttons) is never formatted: the name as it is, nothing added
    assert {STAR, STRUCK, PLAIN} <= set(plain_texts(message["blocks"]))


# --- through Slack: what a reader copies is found again ---------------------------------------


def _project(bot: Bot, tmp_path: Path) -> None:
    projects.create_project(bot.ws, name=PROJECT, labels=[STAR, STRUCK, PLAIN], channel_id=CHANNEL)
    projects.update_settings(bot.ws, project=PROJECT, admins=[ADMIN])
    path = tmp_path / "q.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text"])
        writer.writerows([[TEXT], ["my card has not arrived"], ["where is my new card"]])
    projects.import_file(bot.ws, project=PROJECT, path=path)
    training.rescore_project(bot.ws, PROJECT)


def test_names_copied_from_slack_are_found_again(bot: Bot, tmp_path: Path) -> None:
    """An expert labels `a*b*c` in the DM; the project and label names, copied as the DM
    shows them, name the project in `/label` and the label in the engine; the guidelines
    set that way show under the label, the text as typed."""
    _project(bot, tmp_path)
    bot.slack.command(EXPERT, channel=CHANNEL)
    bot.settle()
    (message,) = bot.slack.open_examples(EXPERT)
    assert PROJECT in [w for t in mrkdwn_texts(message) for w in bold_words(t)]
    bot.slack.choose(EXPERT, message, STAR)
    bot.settle()
    labeled = bot.slack.dm(EXPERT)[0]
    words = [w for t in mrkdwn_texts(labeled) for w in bold_words(t)]
    assert STAR in words  # "Labeled *a*b*c* by @expert", no bold "b" and no stray "*"
    copied_project = next(w for t in mrkdwn_texts(message) for w in bold_words(t) if w == PROJECT)
    copied_label = next(w for w in words if "b" in w)

    before = len(bot.slack.dm(EXPERT)) + len(bot.slack.ephemerals(EXPERT))
    bot.slack.command(EXPERT, copied_project)  # pasted into `/label` in the DM
    bot.settle()
    answers = bot.slack.ephemerals(EXPERT)
    assert len(bot.slack.dm(EXPERT)) + len(answers) > before  # answered, the project found
    assert not any("No project named" in a for a in answers)
    assert bot.slack.open_examples(EXPERT)

    taxonomy.describe_label(
        bot.ws, project=copied_project, label=copied_label, description=ABOUT, actor=ADMIN
    )
    bot.slack.command(EXPERT, f"guidelines {copied_project}")
    bot.settle()
    answer = bot.api.calls("response_url")[-1].params
    texts = list(mrkdwn_texts(answer))
    (guideline,) = [t for t in texts if STAR in seen(t)]
    assert seen(guideline).startswith(f"*{STAR}*\n{ABOUT}\n\n")  # as typed
    assert bold_words(guideline) == [STAR, PLAIN, STRUCK]  # labelbot's bold, nothing more
    for pairable in ("`rm`", "*never*", "_ever_"):
        assert pairable not in parsed(guideline)


def test_a_command_to_copy_keeps_the_project_name_as_written() -> None:
    """In `code` Slack formats nothing: the hint naming the next page of the guidelines shows
    `/label guidelines q_draft_ 2` as written, ready to copy, with no literal inside."""
    labels = [LabelChoice(f"{STAR}{i}", description="x" * 2900, id=i) for i in range(100)]
    view = guidelines_modal(PROJECT, labels)
    (hint,) = [t for t in mrkdwn_texts(view) if "`/label guidelines" in t]
    assert hint.endswith(f"`/label guidelines {PROJECT} 2`")
    names = [w for t in mrkdwn_texts(view) for w in bold_words(t)]
    assert f"{STAR}0" in names and f"{STAR}99" not in names  # on page 2
