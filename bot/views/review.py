"""The mislabel review DM: someone else's label the model doubts, and the reviewer's verdict.

"Keep *X*" / "Change to *Y*" (the model's suggestion) / a select of the other labels / Discuss.
Buttons and the menu's options carry f"{review id}/{example id}/{label id}" (an option's value
holds 150 characters, a label's name 200; a name can change hands, an id cannot); a button
for a label the card has no id of carries f"{review id}|{example id}|{label name}".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot import ids
from bot.slack_text import escape_mrkdwn, shorten_apart, truncate, who
from bot.views.labeling import example_section
from bot.views.models import LabelChoice, LabelRef
from bot.views.text import (
    BUTTON_TEXT_MAX,
    Block,
    actions,
    button,
    context,
    fit_menu,
    menu_note,
    message,
    plain,
    section,
    select_menu,
)
from engine.evaluation import IMPORTED


@dataclass(frozen=True)
class ReviewCard:
    review_id: int
    example_id: int
    text: str
    project: str
    given: str  # the label under review
    given_by: str  # who gave it (a Slack user id, or an importer's name)
    suggested: str  # the model's alternative
    confidence: float
    labels: Sequence[LabelChoice]  # the project's active labels


def review_value(review_id: int, example_id: int, label: str | LabelChoice) -> str:
    """A verdict's value: by label id when the label has one, else by name."""
    if isinstance(label, LabelChoice) and label.id is not None:
        return f"{review_id}/{example_id}/{label.id}"
    name = label.name if isinstance(label, LabelChoice) else label
    return f"{review_id}|{example_id}|{name}"


def parse_review_value(value: str) -> tuple[int, int, LabelRef]:
    """Inverse of `review_value` (ids are integers, so the first two separators split)."""
    if "|" in value:
        review_id, _, rest = value.partition("|")
        example_id, _, label = rest.partition("|")
        return int(review_id), int(example_id), label
    review_id, example_id, label_id = value.split("/")
    return int(review_id), int(example_id), int(label_id)


def review_message(card: ReviewCard) -> Block:
    """The DM asking a second expert whether a label stands."""
    given = f"*{escape_mrkdwn(card.given)}*"
    # "import" is no person: the label came with the file (as the labeling DM says it)
    said = (
        f"Imported as {given}"
        if card.given_by == IMPORTED
        else f"{who(card.given_by)} labeled this {given}"
    )
    question = (
        f"{said}; the model thinks *{escape_mrkdwn(card.suggested)}* ({card.confidence:.0%}). "
        "Which is right?"
    )
    value = str(card.example_id)
    # each cut beside the other: two long names that differ in their middle would cut alike
    pair = (card.given, card.suggested)
    keep = shorten_apart(pair, BUTTON_TEXT_MAX - len("Keep "))[card.given]
    change = shorten_apart(pair, BUTTON_TEXT_MAX - len("Change to "))[card.suggested]
    # by label id where the card has it, as the menu's options: a name can change hands (a
    # rename from the terminal before the card is redrawn, then another label given the old
    # name) and "Change to X" then stored the label that took X's name
    by_name = {lb.name: lb for lb in card.labels}
    row = [
        button(
            f"Keep {keep}",
            action_id=ids.REVIEW_KEEP,
            value=review_value(
                card.review_id, card.example_id, by_name.get(card.given, card.given)
            ),
        ),
        button(
            f"Change to {change}",
            action_id=ids.REVIEW_CHANGE,
            style="primary",
            value=review_value(
                card.review_id, card.example_id, by_name.get(card.suggested, card.suggested)
            ),
        ),
        button("Discuss", action_id=ids.DISCUSS, value=value),
    ]
    others = {lb.name: lb for lb in card.labels if lb.name not in (card.given, card.suggested)}

    def build(preview_max: int, text_max: int, shown: int) -> list[Block]:
        blocks = [
            section(question, block_id=f"{ids.REVIEW_BLOCK}:{card.review_id}"),
            example_section(card.example_id, card.text, preview_max=preview_max),
            actions(row, block_id=f"{ids.REVIEW_BLOCK}:{card.review_id}:choices"),
        ]
        if shown:
            texts = shorten_apart(others, text_max)
            select = select_menu(
                ids.REVIEW_SELECT,
                "Another label…",
                list(others)[:shown],
                lambda name: {
                    "text": plain(texts[name]),
                    "value": review_value(card.review_id, card.example_id, others[name]),
                },
            )
            blocks.append(actions([select], block_id=f"{ids.REVIEW_BLOCK}:{card.review_id}:other"))
        about = f"*{escape_mrkdwn(card.project)}* · a second look at a label the model doubts"
        if shown < len(others):
            about += f" · {menu_note(shown, len(others), 'other labels')}"
        return [*blocks, context(about)]

    # a taxonomy of many long names outgrows Slack's text budget for one message
    blocks = fit_menu(build, list(others)).blocks
    preview = escape_mrkdwn(truncate(card.text, 200))  # 200 characters as typed
    fallback = f"Review a label from {escape_mrkdwn(card.project)}: {preview}"
    return message(fallback, blocks)


def reviewed_message(
    *,
    example_id: int,
    text: str,
    status: str,
    label: str,
    user_id: str,
    agreed: str | None = None,
    audit: bool = False,
) -> Block:
    """The review DM once answered: "Kept *X*" or "Changed to *Y*", by whom, and what that did
    to the example's label (``agreed``: its agreed label now, when known; ``audit``: the
    example's label came through an audit pick)."""
    verb = "Kept" if status == "kept" else "Changed to"
    result = f"{verb} *{escape_mrkdwn(label)}* by <@{user_id}>"
    effect = verdict_effect(status=status, label=label, agreed=agreed, audit=audit)
    if effect:
        result += f" · {effect}"
    blocks = [example_section(example_id, text), context(result)]
    return message(f"{verb} {escape_mrkdwn(label)} by <@{user_id}>", blocks)


def verdict_effect(*, status: str, label: str, agreed: str | None, audit: bool = False) -> str:
    """What a verdict did, in Slack's words (mrkdwn): the label stands; it is now the
    example's label for everyone (one the next model trains on, or, for an ``audit`` example,
    one that scores models); or it is one more vote that did not carry, a disagreement for
    the team to settle. "" when the example's agreed label is not known."""
    if agreed is None:
        return ""
    if status == "kept":
        return "the label stands (a keep adds no vote)"
    if agreed == label:
        uses = "it scores models; no model trains on it" if audit else "the next model trains on it"
        return f"*{escape_mrkdwn(label)}* is the example's label now; {uses}"
    return (
        f"your vote is added, but *{escape_mrkdwn(agreed)}* keeps the majority: "
        "a disagreement for the team to settle"
    )


def withdrawn_message(*, example_id: int, text: str, reason: str) -> Block:
    """The review DM answered after the review was withdrawn: why it asks nothing now."""
    note = f"This review was withdrawn: {escape_mrkdwn(reason)}. Nothing was changed."
    return message(note, [example_section(example_id, text), context(note)])
