"""Composition objects shared by every builder (https://docs.slack.dev/reference/block-kit/composition-objects)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from bot.slack_text import truncate

Block = dict[str, Any]

# Block Kit limits we cut to (https://docs.slack.dev/reference/block-kit/blocks/section-block,
# .../block-elements/button-element, .../composition-objects/option-object).
SECTION_TEXT_MAX = 3000
BUTTON_TEXT_MAX = 75
OPTION_TEXT_MAX = 75
OPTION_VALUE_MAX = 150  # option.value limit; button values may be 2,000
SELECT_OPTIONS_MAX = 100  # options per static_select, or per option group (at most 100 groups)
CONTEXT_TEXT_MAX = 2000
MODAL_TITLE_MAX = 24
HEADER_TEXT_MAX = 150
FALLBACK_TEXT_MAX = 3000


def plain(text: str, limit: int | None = None) -> Block:
    """A plain_text object; `emoji` lets `:tada:` render as in the Slack client."""
    return {"type": "plain_text", "text": truncate(text, limit) if limit else text, "emoji": True}


def mrkdwn(text: str) -> Block:
    return {"type": "mrkdwn", "text": text}


def section(text: str, *, block_id: str | None = None, accessory: Block | None = None) -> Block:
    block: Block = {"type": "section", "text": mrkdwn(truncate(text, SECTION_TEXT_MAX))}
    if block_id is not None:
        block["block_id"] = block_id
    if accessory is not None:
        block["accessory"] = accessory
    return block


def context(*texts: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(truncate(t, CONTEXT_TEXT_MAX)) for t in texts]}


def button(
    text: str, *, action_id: str, value: str, style: str | None = None, confirm: Block | None = None
) -> Block:
    element: Block = {
        "type": "button",
        "text": plain(text, BUTTON_TEXT_MAX),
        "action_id": action_id,
        "value": value,
    }
    if style is not None:  # Slack accepts only "primary" or "danger"; omit for default.
        element["style"] = style
    if confirm is not None:
        element["confirm"] = confirm
    return element


def actions(elements: list[Block], *, block_id: str | None = None) -> Block:
    block: Block = {"type": "actions", "elements": elements}
    if block_id is not None:
        block["block_id"] = block_id
    return block


def header(text: str) -> Block:
    return {"type": "header", "text": plain(text, HEADER_TEXT_MAX)}


def message(text: str, blocks: list[Block]) -> Block:
    """A message payload: `text` is the notification / screen-reader fallback Slack recommends
    whenever blocks are sent (https://docs.slack.dev/reference/methods/chat.postMessage).

    It is parsed as mrkdwn like any message text, so callers escape user data in it too. Slack
    cuts `text` at 40,000 characters; notifications show far less, so we keep it short.
    """
    return {"text": truncate(text, FALLBACK_TEXT_MAX), "blocks": blocks}


def select_menu(
    action_id: str, placeholder: str, names: Sequence[str], option: Callable[[str], Block]
) -> Block:
    """A static_select offering ``names`` (``option`` builds each); see :func:`option_list`."""
    return {
        "type": "static_select",
        "action_id": action_id,
        "placeholder": plain(placeholder, 150),
        **option_list(names, option),
    }


def option_list(names: Sequence[str], option: Callable[[str], Block]) -> Block:
    """``options`` for up to 100 names (in the given order), else alphabetical, evenly sized
    ``option_groups`` of at most 100, titled by their first and last name (at most 100 groups)."""
    if len(names) <= SELECT_OPTIONS_MAX:
        return {"options": [option(name) for name in names]}
    ordered = sorted(names, key=str.casefold)[: SELECT_OPTIONS_MAX * SELECT_OPTIONS_MAX]
    size = math.ceil(len(ordered) / math.ceil(len(ordered) / SELECT_OPTIONS_MAX))
    return {
        "option_groups": [
            {
                "label": plain(f"{truncate(chunk[0], 35)} – {truncate(chunk[-1], 35)}", 75),
                "options": [option(name) for name in chunk],
            }
            for chunk in (ordered[i : i + size] for i in range(0, len(ordered), size))
        ]
    }
