"""The disagreement thread's root message: who chose what, the model's view, and the buttons
that settle the final label (project admins and the experts involved).

Buttons and the "Another label…" menu carry f"{example id}/{label id}": a menu option's value
holds 150 characters and a label's name up to 200, and an id follows a rename. Messages posted
before ids were used carry f"{example id}|{label name}", which still settles by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot import ids
from bot.slack_text import escape_mrkdwn, shorten_apart, who
from bot.views.labeling import example_section
from bot.views.models import LabelChoice, LabelRef
from bot.views.text import (
    BUTTON_TEXT_MAX,
    EXAMPLE_PREVIEW_MAX,
    OPTION_VALUE_MAX,
    SECTION_TEXT_MAX,
    Block,
    actions,
    button,
    context,
    fit_lines,
    fit_menu,
    menu_note,
    message,
    plain,
    section,
    select_menu,
)

MAX_CANDIDATES = 24  # buttons per actions block (25 elements), leaving room for the select


@dataclass(frozen=True)
class DisputeCard:
    example_id: int
    text: str
    project: str
    votes: Sequence[tuple[str, str]]  # (expert, label), oldest first
    model: tuple[str, float] | None
    involved: Sequence[str]
    # every active label (with its id: a bare name has none): the settle menu offers those not
    # on buttons
    labels: Sequence[LabelChoice | str] = ()
    # beside each of ``votes`` (a settled thread's root): the label clicked, under its name
    # today, where it counts as another label now (merged since), shown with that label
    chosen: Sequence[str | None] = ()


def settle_value(example_id: int, label: str | LabelChoice) -> str:
    """A settle button's or option's value: by label id when the label has one, else by name."""
    if isinstance(label, LabelChoice) and label.id is not None:
        return f"{example_id}/{label.id}"
    name = label.name if isinstance(label, LabelChoice) else label
    return f"{example_id}|{name}"


def parse_settle_value(value: str) -> tuple[int, LabelRef]:
    """Inverse of `settle_value`: the example id and the label's id (int) or name (str)."""
    if "|" in value:  # a name may hold "/", never an id
        example_id, _, name = value.partition("|")
        return int(example_id), name
    example_id, _, label_id = value.partition("/")
    return int(example_id), int(label_id)


def candidates(card: DisputeCard) -> list[str]:
    """The labels to settle on: those chosen, then the model's, each once; with the card's
    ``labels`` given, only those among them: a label split or retired since (a vote for it
    still disagrees, engine.consensus) would only be refused, and the refusal redraw the same
    button again. The menu offers today's labels, its parts among them."""
    active = set(_by_name(card))
    out: list[str] = []
    for label in [lb for _, lb in card.votes] + ([card.model[0]] if card.model else []):
        if label not in out and (not active or label in active):
            out.append(label)
    return out[:MAX_CANDIDATES]


def _gone(card: DisputeCard, label: str) -> bool:
    """Whether ``label`` is no label today (split or retired since it was chosen)."""
    return bool(card.labels) and label not in _by_name(card)


def _facts(card: DisputeCard, *, preview_max: int = EXAMPLE_PREVIEW_MAX) -> list[Block]:
    model = (
        f"The model says *{escape_mrkdwn(card.model[0])}* ({card.model[1]:.0%})."
        if card.model
        else "No model view yet."
    )
    # whole lines and a count: a cut at 3,000 characters used to take the model's line and
    # leave a mention broken ("• <@U000…")
    chose = fit_lines(
        [_vote_line(card, i, u, lb) for i, (u, lb) in enumerate(card.votes)],
        SECTION_TEXT_MAX - len(model) - 1,
        lambda n: f"• … and {n} more",
    )
    return [
        section(
            f":scales: The experts disagree on an example from *{escape_mrkdwn(card.project)}*:"
        ),
        example_section(card.example_id, card.text, preview_max=preview_max),
        section("\n".join([*chose, model]), block_id=f"{ids.DISPUTE_BLOCK}:{card.example_id}"),
    ]


def _vote_line(card: DisputeCard, i: int, user: str, label: str) -> str:
    clicked = card.chosen[i] if i < len(card.chosen) else None
    if clicked is not None and clicked != label:  # "chose age_limit (now account_rules)"
        return f"• {who(user)} chose *{escape_mrkdwn(clicked)}* (now *{escape_mrkdwn(label)}*)"
    gone = " (no longer a label)" if _gone(card, label) else ""
    return f"• {who(user)} chose *{escape_mrkdwn(label)}*{gone}"


def _by_name(card: DisputeCard) -> dict[str, LabelChoice]:
    return {
        lb.name: lb for lb in (LabelChoice(x) if isinstance(x, str) else x for x in card.labels)
    }


def dispute_message(card: DisputeCard) -> Block:
    by_name = _by_name(card)
    # cut together: two long names that differ in their middle would cut to one button text
    shown = shorten_apart(candidates(card), BUTTON_TEXT_MAX - len("Settle: "))
    row = [
        button(
            f"Settle: {shown[label]}",
            action_id=f"{ids.SETTLE}:{i}",
            # by name only for a card drawn without today's labels (a label then has no id)
            value=settle_value(card.example_id, by_name.get(label, label)),
        )
        for i, label in enumerate(candidates(card))
    ]
    involved = ", ".join(who(u) for u in card.involved)

    others, total = _other_labels(card, by_name)

    def build(preview_max: int, text_max: int, shown: int) -> list[Block]:
        menu = _menu(card.example_id, [by_name[n] for n in others[:shown]], text_max)
        settle = actions(
            [*row, menu] if menu else row, block_id=f"{ids.DISPUTE_BLOCK}:{card.example_id}:settle"
        )
        about = (
            f"The final label is settled by a project admin or one of the experts involved "
            f"({involved}). Discuss in this thread; replies are kept with the example."
        )
        if shown < total:
            about += f" {menu_note(shown, total, 'other labels')}"
        return [*_facts(card, preview_max=preview_max), settle, context(about)]

    # a taxonomy of many long names outgrows Slack's text budget for one message
    blocks = fit_menu(build, others).blocks
    return message(f"Experts disagree on an example from {escape_mrkdwn(card.project)}", blocks)


def _other_labels(card: DisputeCard, by_name: dict[str, LabelChoice]) -> tuple[list[str], int]:
    """The names of the active labels nobody chose, for a menu (both experts may be wrong), and
    how many labels that is: one without an id travels by name, and if named too long for an
    option's value (150 characters) stays off the menu, which its note then counts."""
    offered = set(candidates(card))
    rest = [lb for name, lb in by_name.items() if name not in offered]
    fits = [
        lb.name for lb in rest if len(settle_value(card.example_id, lb)) <= OPTION_VALUE_MAX
    ]  # fmt: skip
    return sorted(fits, key=str.casefold), len(rest)


def _menu(example_id: int, labels: Sequence[LabelChoice], text_max: int) -> Block | None:
    if not labels:
        return None
    by_name = {lb.name: lb for lb in labels}
    shown = shorten_apart(by_name, text_max)
    return select_menu(
        f"{ids.SETTLE}:other",
        "Another label…",
        list(by_name),
        lambda name: {
            "text": plain(shown[name]),
            "value": settle_value(example_id, by_name[name]),
        },
    )


def settled_message(
    card: DisputeCard, *, label: str, user: str, chosen: str | None = None
) -> Block:
    """The thread's root once settled, as ``label`` by ``user``: drawn again after a taxonomy
    change with the label as it counts today (``chosen``: the label picked, where that is
    another one now: merged since), so a rename or a merge does not leave the old name."""
    was = (
        f" (chosen as *{escape_mrkdwn(chosen)}*)" if chosen is not None and chosen != label else ""
    )
    blocks = [
        *_facts(card),
        context(f":white_check_mark: Settled as *{escape_mrkdwn(label)}*{was} by {who(user)}"),
    ]
    return message(f"Settled as {escape_mrkdwn(label)} by {who(user)}", blocks)


def undisputed_message(example_id: int, text: str, project: str) -> Block:
    """The thread's root once its experts agree again: nothing to settle. Drawn after an Undo
    and after a taxonomy change (a merge counts the votes as one label, a split or a retire
    sets one aside for relabeling), and by the scheduler's round for either made elsewhere:
    one note for all, so a round after the click does not redraw it with other words."""
    note = (
        ":information_source: The experts no longer disagree on this example (a vote was "
        "taken back, or a change to the labels set one aside or made them agree): nothing to "
        "settle."
    )
    blocks = [
        section(f"An example from *{escape_mrkdwn(project)}*:"),
        example_section(example_id, text),
        context(note),
    ]
    return message("The experts no longer disagree on this example", blocks)


def settled_reply(card: DisputeCard, *, label: str, user: str, how: str = "") -> Block:
    """The thread reply telling everyone involved (they are mentioned) how it was settled;
    ``how``: where, when not by a click on the thread ("from the terminal"). ``user`` may be
    a terminal's login name (`labelbot adjudicate --actor ops`): named, not mentioned."""
    involved = " ".join(who(u) for u in card.involved if u != user)
    where = f" {how}" if how else ""
    text = f"{who(user)} settled this as *{escape_mrkdwn(label)}*{where}. {involved}".strip()
    return message(text, [section(text)])


def not_allowed(project: str) -> str:
    return (
        f"Only an admin of *{escape_mrkdwn(project)}* or the experts involved can settle this "
        "disagreement. Reply in the thread to weigh in."
    )
