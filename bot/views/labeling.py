"""The labeling DM: one example, one click per label, and what the message turns into after.

Limits followed (https://docs.slack.dev/reference/block-kit/blocks/actions-block and
.../block-elements/select-menu-element#static_select): at most 50 blocks per message, 25
elements per actions block, 100 options per select, 100 option groups of 100 options each; and
the text of a message's blocks as a whole (bot.views.limits.MESSAGE_TEXT_BUDGET), which a menu of
150 labels with guidelines outgrows: the guidelines share the room the rest leaves.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from bot import ids
from bot.slack_text import (
    escape,
    escape_mrkdwn,
    escape_mrkdwn_head,
    names_list,
    shorten_apart,
    shorten_middle,
    truncate,
    who,
)
from bot.views.limits import CONTEXT_ELEMENTS_MAX, MESSAGE_TEXT_BUDGET, text_length
from bot.views.models import (
    AskReason,
    EarlierLabel,
    ExampleCard,
    LabelChoice,
    LabelRef,
    Suggestion,
)
from bot.views.text import (
    BUTTON_TEXT_MAX,
    CONTEXT_TEXT_MAX,
    EXAMPLE_PREVIEW_MAX,
    OPTION_TEXT_MAX,
    OPTION_VALUE_MAX,
    SELECT_OPTIONS_MAX,
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
    water_level,
)
from engine.evaluation import IMPORTED

# Up to this many labels get one button each; beyond it a row of buttons stops being readable
# and a static_select (searchable by typing) is used instead.
MAX_LABEL_BUTTONS = 15
BUTTONS_PER_ROW = 5
MAX_SELECT_OPTIONS = SELECT_OPTIONS_MAX
MAX_OPTION_GROUPS = 100
MAX_PEOPLE_NAMED = 5  # who gave an example's earlier label: more are counted, not named
# When a message with a menu of labels outgrows Slack's text budget, each context line shows
# this much beside the shorter example (COMPACT_PREVIEW_MAX), before label names are cut.
COMPACT_LINE_MAX = 300
DESCRIPTION_MIN = 20  # a guideline cut shorter than this tells nothing: the menu shows none


def label_value(example_id: int, label: LabelChoice) -> str:
    """The value a label button or option carries: `"<example id>/<label id>"`, or
    `"<example id>|<label name>"` when the label has no id (a name may hold "/", never an id;
    messages sent before ids were used carry names)."""
    if label.id is not None:
        return f"{example_id}/{label.id}"
    return f"{example_id}|{label.name}"


def parse_label_value(value: str) -> tuple[int, LabelRef]:
    """Inverse of `label_value`: the example id and the label's id (int) or name (str)."""
    if "|" in value:
        example_id, _, name = value.partition("|")
        return int(example_id), name
    example_id, _, label_id = value.partition("/")
    return int(example_id), int(label_id)


def example_section(example_id: int, text: str, *, preview_max: int = EXAMPLE_PREVIEW_MAX) -> Block:
    """The example text, escaped; long texts are cut with a button that opens the full text."""
    escaped = escape_mrkdwn_head(text, preview_max)
    block_id = f"{ids.EXAMPLE_TEXT_BLOCK}:{example_id}"
    if len(escaped) <= preview_max:
        return section(escaped or " ", block_id=block_id)
    more = button("Show full text", action_id=ids.SHOW_FULL_TEXT, value=str(example_id))
    return section(truncate(escaped, preview_max), block_id=block_id, accessory=more)


def _suggestion_line(suggestion: Suggestion | None) -> str | None:
    if suggestion is None:
        return None
    line = f"Model's guess: *{escape_mrkdwn(suggestion.label)}* ({suggestion.confidence:.0%})"
    if suggestion.runner_up is not None:
        label, p = suggestion.runner_up
        line += f", or *{escape_mrkdwn(label)}* ({p:.0%})"
    return line


def _reason_line(reason: AskReason | None) -> str | None:
    """Why the queue asks about this example, when it is not the model's plain uncertainty."""
    if reason is None:
        return None
    label = escape_mrkdwn(reason.label or "")
    if reason.kind == "no_examples" and label:
        return f":mag: Asked because it may be *{label}*, a label with no examples yet."
    if reason.kind == "rare" and label:
        return f":mag: Asked to find more examples of *{label}*, which has few so far."
    if reason.kind == "cold_start":
        return ":compass: Asked early: it is typical of a group of similar examples."
    return None


def _earlier_line(earlier: EarlierLabel) -> str:
    """Why a labeled example is back: "↩ <@U1> labeled it *billing*, since split into *invoices*
    and *refunds*: which one fits?" (or "since retired")."""
    named = [who(u) for u in earlier.annotators[:MAX_PEOPLE_NAMED]]
    if len(earlier.annotators) > MAX_PEOPLE_NAMED:  # a cut list must not cut a mention
        named[-1] = f"{len(earlier.annotators) - MAX_PEOPLE_NAMED + 1} others"
    people = names_list(named) or "Someone"
    did = f"{people} labeled it"
    if list(earlier.annotators) == [IMPORTED]:  # no person: the label came with the file
        did = "Imported as"
    head = f":leftwards_arrow_with_hook: {did} *{escape_mrkdwn(earlier.label)}*, since "
    if earlier.into:
        parts = names_list([f"*{escape_mrkdwn(n)}*" for n in earlier.into], conjunction="or")
        return head + f"split: is it {parts}?"
    return head + "retired: which label fits now?"


def _label_buttons(card: ExampleCard) -> list[Block]:
    suggested = card.suggestion.label if card.suggestion else None
    shown = shorten_apart((label.name for label in card.labels), BUTTON_TEXT_MAX)
    elements = [
        button(
            shown[label.name],
            action_id=f"{ids.LABEL}:{i}",
            value=label_value(card.example_id, label),
            style="primary" if label.name == suggested else None,
        )
        for i, label in enumerate(card.labels)
    ]
    return [
        actions(
            elements[start : start + BUTTONS_PER_ROW],
            block_id=f"{ids.LABEL_BUTTONS_BLOCK}:{card.example_id}:{row}",
        )
        for row, start in enumerate(range(0, len(elements), BUTTONS_PER_ROW))
    ]


def _option(example_id: int, label: LabelChoice, text: str, description_max: int) -> Block:
    option: Block = {
        "text": plain(text),
        # The engine passes label ids, so the value is short; a name-keyed one (no id) longer
        # than 150 characters is cut and answers "unknown label" on click.
        "value": truncate(label_value(example_id, label), OPTION_VALUE_MAX),
    }
    if label.description and description_max:
        option["description"] = plain(label.description, description_max)
    return option


def _label_select(
    card: ExampleCard, labels: Sequence[LabelChoice], text_max: int, description_max: int
) -> Block:
    by_name = {label.name: label for label in labels}
    shown = shorten_apart(by_name, text_max)  # two cut alike would read the same in the menu
    select = select_menu(
        ids.LABEL_SELECT,
        f"Choose one of {len(by_name)} labels (type to search)",
        list(by_name),
        lambda name: _option(card.example_id, by_name[name], shown[name], description_max),
    )
    elements = [select] if by_name else []  # none fit (see fit_menu): the note says where to go
    if card.suggestion is not None:
        # One click to accept the model's guess, which a select cannot pre-offer: an
        # initial_option would make choosing that same label fire no action.
        match = next((lb for lb in card.labels if lb.name == card.suggestion.label), None)
        if match is not None:
            elements.append(
                button(
                    f"✓ {shorten_middle(match.name, BUTTON_TEXT_MAX - 2)}",
                    action_id=f"{ids.LABEL}:suggested",
                    value=label_value(card.example_id, match),
                    style="primary",
                )
            )
    return actions(elements, block_id=f"{ids.LABEL_SELECT_BLOCK}:{card.example_id}")


def _head(card: ExampleCard, *, preview_max: int = EXAMPLE_PREVIEW_MAX) -> list[Block]:
    """The example (up to ``preview_max`` characters), the project's figures, and why it is
    asked (earlier labels, the reason, the model's guess); a shorter example than usual
    (COMPACT_PREVIEW_MAX) comes with those lines cut shorter too."""
    facts = [
        f"*{escape_mrkdwn(card.project)}*",
        f"you labeled {card.labeled_today:,} today",
        f"{card.queue_left:,} left in the queue",
    ]
    compact = preview_max < EXAMPLE_PREVIEW_MAX
    blocks = [
        example_section(card.example_id, card.text, preview_max=preview_max),
        context(" · ".join(facts)),
    ]
    lines = [_earlier_line(e) for e in card.earlier[:3]]
    lines += [
        line for line in (_reason_line(card.reason), _suggestion_line(card.suggestion)) if line
    ]
    blocks.extend(context(truncate(line, COMPACT_LINE_MAX) if compact else line) for line in lines)
    return blocks


def how_to_answer(*, menu: bool) -> str:
    """What the buttons do, said on an expert's first example of the day (labeled_today 0): a
    newcomer sees a text and a row of buttons, and nothing says that Discuss posts in the
    project channel, for everyone there to read, or what sets Flag apart from Skip."""
    pick = "Pick the label that fits from the menu" if menu else "Click the label that fits"
    return (
        f":bulb: {pick}. Not sure? *Skip* passes it to someone else; *Discuss* asks in the "
        "project channel; *Flag* sets aside broken or private text; the menu at the end snoozes."
    )


def _hint(card: ExampleCard, *, menu: bool) -> list[Block]:
    return [context(how_to_answer(menu=menu))] if card.labeled_today == 0 else []


def _controls(card: ExampleCard) -> Block:
    value = str(card.example_id)
    controls = [
        button("Skip", action_id=ids.SKIP, value=value),
        button("Discuss", action_id=ids.DISCUSS, value=value),
        button("Flag", action_id=ids.FLAG, value=value),
        snooze_menu(card.example_id),
    ]
    return actions(controls, block_id=f"{ids.CONTROLS_BLOCK}:{card.example_id}")


def guidelines_note(project: str) -> str:
    """Where a label's whole guideline is read when the menu could show it only in part."""
    name = escape(project)
    return (
        "Label guidelines are cut to fit one Slack message: `/label guidelines "
        f"{name}` shows them in full (`labelbot labels list {name}` in a terminal)."
    )


def _guidelines(card: ExampleCard, room: int) -> list[Block]:
    """Each label's guideline under the buttons, one context element each (a context block
    holds 10, each text up to CONTEXT_TEXT_MAX): whole when they all fit the ``room`` the rest
    of the message leaves, else each cut to an equal share of it (the short ones whole, one
    too short to read left out) and a note saying where they are read in full. One text for
    them all, cut at 2,000 characters, used to drop every guideline past the sixth or so."""
    described = [lb for lb in card.labels if lb.description]
    if not described:
        return []
    heads = [f"*{escape_mrkdwn(lb.name)}*: " for lb in described]
    bodies = [escape_mrkdwn(lb.description or "") for lb in described]
    lines = [head + body for head, body in zip(heads, bodies, strict=True)]
    if sum(map(len, lines)) > room or max(map(len, lines)) > CONTEXT_TEXT_MAX:
        note = guidelines_note(card.project)
        share = water_level([len(b) for b in bodies], room - sum(map(len, heads)) - len(note))
        lines = [
            head + truncate(body, max(len("…"), min(share, CONTEXT_TEXT_MAX - len(head))))
            for head, body in zip(heads, bodies, strict=True)
            if len(body) <= share or share >= DESCRIPTION_MIN
        ]
        lines.append(note)
    return [
        context(*lines[start : start + CONTEXT_ELEMENTS_MAX])
        for start in range(0, len(lines), CONTEXT_ELEMENTS_MAX)
    ]


def _with_menu(card: ExampleCard) -> list[Block]:
    """The labeling DM for more labels than buttons: the names are what must fit (see
    :func:`fit_menu`, which shrinks the rest first); each option's guideline (its description,
    at most 75 characters) comes whole when the room the menu leaves holds them all, else each
    gets an equal share of it, or none when that share is too short to read, and a note says
    where the guidelines are read whole. One :func:`fit_menu` pass: each message it tries is
    built with its guidelines fitted, so the note's room is counted where it is needed."""
    labels = list({label.name: label for label in card.labels}.values())
    names = [label.name for label in labels]
    note = context(guidelines_note(card.project))

    def assemble(
        preview_max: int, text_max: int, shown: int, description_max: int, with_note: bool
    ) -> list[Block]:
        blocks = [*_head(card, preview_max=preview_max)]
        select = _label_select(card, labels[:shown], text_max, description_max)
        blocks += [select] if select["elements"] else []
        if shown < len(labels):
            blocks.append(
                context(
                    f"{menu_note(shown, len(labels))} Not among them? Skip it, or Discuss it "
                    f"with the team (`labelbot label {escape(card.project)}` in a terminal "
                    "offers them all)."
                )
            )
        if with_note:
            blocks.append(note)
        return [*blocks, *_hint(card, menu=True), _controls(card)]

    def build(preview_max: int, text_max: int, shown: int) -> list[Block]:
        bare = assemble(preview_max, text_max, shown, 0, False)
        lengths = [len(lb.description) for lb in labels[:shown] if lb.description]
        if not lengths:
            return bare
        spare = MESSAGE_TEXT_BUDGET - text_length(bare)
        if sum(min(n, OPTION_TEXT_MAX) for n in lengths) <= spare:
            return assemble(preview_max, text_max, shown, OPTION_TEXT_MAX, False)
        # the guidelines are cut or left out: the note says where to read them, and takes room
        # too (past the budget when not even it fits, and fit_menu shrinks the rest further)
        share = min(OPTION_TEXT_MAX, water_level(lengths, spare - text_length(note)))
        return assemble(
            preview_max, text_max, shown, share if share >= DESCRIPTION_MIN else 0, True
        )

    return fit_menu(build, names).blocks


def labeling_message(card: ExampleCard) -> Block:
    """The DM asking one expert to label one example."""
    if not card.labels:
        raise ValueError(f"project {card.project!r} has no active labels to show")
    if len(card.labels) > MAX_SELECT_OPTIONS * MAX_OPTION_GROUPS:
        raise ValueError(f"{len(card.labels)} labels exceed Slack's 10,000 select options")
    if len(card.labels) <= MAX_LABEL_BUTTONS:
        hint = _hint(card, menu=False)
        blocks = [*_head(card), *_label_buttons(card), *hint, _controls(card)]
        room = MESSAGE_TEXT_BUDGET - text_length(blocks)
        at = len(blocks) - 1 - len(hint)  # the guidelines follow the buttons they explain
        blocks[at:at] = _guidelines(card, room)
    else:
        blocks = _with_menu(card)
    preview = escape_mrkdwn(truncate(card.text, 200))  # 200 characters as typed
    fallback = f"Label this example from {escape_mrkdwn(card.project)}: {preview}"
    return message(fallback, blocks)


def snooze_menu(example_id: int) -> Block:
    """Snooze (1 hour, until tomorrow): an overflow menu, one element for two choices."""
    return {
        "type": "overflow",
        "action_id": ids.SNOOZE,
        "options": [
            {"text": plain("Snooze 1 hour"), "value": f"{example_id}|1h"},
            {"text": plain("Snooze until tomorrow"), "value": f"{example_id}|tomorrow"},
        ],
    }


def _slack_date(moment: datetime, *, day: bool = False) -> str:
    """Slack renders `<!date^…>` in each reader's own timezone
    (https://docs.slack.dev/messaging/formatting-message-text#date-formatting); with ``day``
    the day too ("tomorrow 08:00", "Friday 08:00"), for a moment that may not be today."""
    if day:
        fallback = moment.astimezone(UTC).strftime("%a %b %d %H:%M UTC")
        return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"
    fallback = moment.strftime("%H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{time}}|{fallback}>"


def labeled_message(
    *, example_id: int, text: str, label: str, user_id: str, undo_until: datetime | None
) -> Block:
    """The DM after a click: the buttons give way to who chose what, plus Undo while allowed."""
    result = f"Labeled *{escape_mrkdwn(label)}* by <@{user_id}>"
    undo = None
    if undo_until is not None:
        undo = button("Undo", action_id=ids.UNDO, value=str(example_id))
    blocks = [
        example_section(example_id, text),
        section(result, block_id=f"{ids.RESULT_BLOCK}:{example_id}", accessory=undo),
    ]
    if undo_until is not None:
        blocks.append(context(f"Undo available until {_slack_date(undo_until)}"))
    return message(f"Labeled {escape_mrkdwn(label)} by <@{user_id}>", blocks)


def skipped_message(*, example_id: int, text: str, user_id: str) -> Block:
    """The DM after Skip: the example stays readable, the buttons go."""
    blocks = [
        example_section(example_id, text),
        context(
            f"Skipped by <@{user_id}>: you will not be asked about it again; another expert "
            "can label it."
        ),
    ]
    return message(f"Skipped by <@{user_id}>", blocks)
