"""`/label taxonomy`: a modal listing the labels and applying one change per submission.

One form serves every operation (a static_select picks it) instead of views.update round trips:
the fields each operation reads are named in their hints, and the submission is validated
with ``response_action: "errors"`` (https://docs.slack.dev/surfaces/modals#displaying_errors).
Modal limits (https://docs.slack.dev/reference/views/modal-views): 100 blocks, titles of 24
characters, private_metadata of 3,000; selects take 100 options, option groups beyond that.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from bot import ids
from bot.slack_text import escape_mrkdwn, shorten_apart, split_chunks, truncate
from bot.views.models import LabelChoice
from bot.views.text import (
    MODAL_TITLE_MAX,
    OPTION_TEXT_MAX,
    SECTION_TEXT_MAX,
    Block,
    context,
    option_list,
    plain,
    section,
)

OPERATIONS: dict[str, str] = {
    "add": "Add labels",
    "rename": "Rename a label",
    "describe": "Describe a label (guidelines)",
    "merge": "Merge labels",
    "split": "Split a label",
    "retire": "Retire a label",
    "undo": "Undo the last change",
}
LABEL_LIST_BLOCKS_MAX = 40  # the label list; the form needs 7 more of the modal's 100
DESCRIPTION_SHOWN_MAX = 200
NAMES_MAX = 500
DESCRIPTION_MAX = 2000
REASON_MAX = 500


def taxonomy_metadata(project: str, undo: int | None = None) -> str:
    """The form's project, and the id of the change its "Undo" names (None: nothing to undo
    when it opened), so that a submission undoes that change or none."""
    return json.dumps({"project": project, "undo": undo})


def taxonomy_project(private_metadata: str) -> str:
    return str(json.loads(private_metadata or "{}")["project"])


def taxonomy_undo(private_metadata: str) -> int | None:
    """The change the form's "Undo" named when it opened (None too for a form opened before
    forms named it: which change it showed is unknown)."""
    undo = json.loads(private_metadata or "{}").get("undo")
    return None if undo is None else int(undo)


def _label_line(label: LabelChoice) -> str:
    about = (
        f" — {escape_mrkdwn(truncate(label.description, DESCRIPTION_SHOWN_MAX))}"
        if label.description
        else ""
    )
    return f"• *{escape_mrkdwn(label.name)}*{about}"


def _option(label: LabelChoice, text: str) -> Block:
    # The label id as value: names can outgrow an option value's 150 characters.
    return {"text": plain(text), "value": label.key}


def label_options(labels: Sequence[LabelChoice]) -> Block:
    """``options`` up to 100 labels, else alphabetical ``option_groups`` of at most 100 each."""
    by_name = {lb.name: lb for lb in labels}
    shown = shorten_apart(by_name, OPTION_TEXT_MAX)
    return option_list(
        sorted(by_name, key=str.casefold), lambda name: _option(by_name[name], shown[name])
    )


def _input(block_id: str, label: str, element: Block, *, hint: str, optional: bool) -> Block:
    return {
        "type": "input",
        "block_id": block_id,
        "label": plain(label),
        "element": {**element, "action_id": ids.TAXONOMY_INPUT},
        "hint": plain(hint),
        "optional": optional,
    }


def _text_input(*, max_length: int, multiline: bool = False, placeholder: str) -> Block:
    return {
        "type": "plain_text_input",
        "multiline": multiline,
        "max_length": max_length,
        "placeholder": plain(placeholder),
    }


def taxonomy_modal(
    project: str,
    labels: Sequence[LabelChoice],
    last_change: str | None = None,
    *,
    undo: int | None = None,
) -> Block:
    """The labels with their descriptions, and a form for one change; ``last_change`` is what
    "Undo the last change" would revert (None: nothing to undo), ``undo`` that change's id."""
    listing = "\n".join(_label_line(lb) for lb in labels) or "_no labels yet_"
    chunks = split_chunks(listing, SECTION_TEXT_MAX)
    blocks: list[Block] = [section(f"*Labels of {escape_mrkdwn(project)}* ({len(labels)})")]
    blocks += [section(chunk) for chunk in chunks[:LABEL_LIST_BLOCKS_MAX]]
    if len(chunks) > LABEL_LIST_BLOCKS_MAX:
        blocks.append(context("The list is cut here: `labelbot labels list` shows every label."))
    operation = {
        "type": "static_select",
        "placeholder": plain("Choose a change"),
        "options": [{"text": plain(t), "value": v} for v, t in OPERATIONS.items()],
    }
    picker: Block = {"type": "multi_static_select", "placeholder": plain("Labels")}
    none = {"options": [_option(LabelChoice("-"), "-")]}
    picker.update(label_options(labels) if labels else none)
    blocks += [
        {"type": "divider"},
        _input(
            ids.TAXONOMY_OPERATION_BLOCK,
            "Change",
            operation,
            hint="One change per submission. "
            + (
                f"Undo would revert: {truncate(last_change, 120)}."
                if last_change
                else "Nothing to undo yet."
            ),
            optional=False,
        ),  # fmt: skip
        _input(
            ids.TAXONOMY_LABELS_BLOCK,
            "Labels",
            picker,
            hint="Rename, describe, split, retire: one label. Merge: two or more.",
            optional=True,
        ),
        _input(
            ids.TAXONOMY_NAMES_BLOCK,
            "New name(s)",
            _text_input(max_length=NAMES_MAX, placeholder="e.g. card_delivery, card_activation"),
            hint="Add / split: new names, comma-separated. Rename: the new name. Merge: the "
            "merged label's name (default: the first). Retire: a label to map its examples to "
            "(default: back to the queue).",
            optional=True,
        ),
        _input(
            ids.TAXONOMY_DESCRIPTION_BLOCK,
            "Description",
            _text_input(
                max_length=DESCRIPTION_MAX,
                multiline=True,
                placeholder="What belongs under this label",
            ),  # fmt: skip
            hint="Describe: the guidelines labelers see. Add: the new label's description "
            "(one label at a time).",
            optional=True,
        ),
        _input(
            ids.TAXONOMY_REASON_BLOCK,
            "Why",
            _text_input(max_length=REASON_MAX, placeholder="Kept in the change history"),
            hint="`labelbot labels history` shows who changed what, and why.",
            optional=True,
        ),
    ]
    return {
        "type": "modal",
        "callback_id": ids.TAXONOMY_MODAL,
        "private_metadata": taxonomy_metadata(project, undo),
        "title": plain(truncate(f"Labels: {project}", MODAL_TITLE_MAX), MODAL_TITLE_MAX),
        "submit": plain("Apply", MODAL_TITLE_MAX),
        "close": plain("Cancel", MODAL_TITLE_MAX),
        "blocks": blocks,
    }
