"""Composition objects shared by every builder (https://docs.slack.dev/reference/block-kit/composition-objects)."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from bot.slack_text import shorten_middle, truncate
from bot.views.limits import MESSAGE_TEXT_BUDGET, text_length

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
OPTION_TEXT_MIN = 16  # a label squeezed shorter than this in a menu is no longer recognisable


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
    cuts `text` at 40,000 characters; notifications show far less, so we keep it short. The
    blocks' text as a whole is kept within Slack's budget for one message (:func:`fit_text`).
    """
    return {"text": truncate(text, FALLBACK_TEXT_MAX), "blocks": fit_text(blocks)}


def water_level(lengths: Sequence[int], room: int) -> int:
    """The largest cap c with ``sum(min(n, c) for n in lengths) <= room``: how long each of
    several texts may stay for all of them to share ``room`` characters, the short ones whole
    (``max(lengths)`` when everything fits; 0 when not even one character each does)."""
    ordered = sorted(lengths)
    below = 0  # the characters of the texts shorter than the cap being tried
    for i, n in enumerate(ordered):
        if below + n * (len(ordered) - i) > room:
            return max(0, (room - below) // (len(ordered) - i))
        below += n
    return ordered[-1] if ordered else max(room, 0)


def _texts(tree: Any, in_option: bool = False) -> Iterator[tuple[dict[str, Any], bool]]:
    """Every object holding a "text" string in ``tree``, and whether it names a menu option."""
    if isinstance(tree, dict):
        if isinstance(tree.get("text"), str):
            yield tree, in_option
        for key, value in tree.items():
            if key == "options":  # an option's own text (not its description) is a name
                for option in value if isinstance(value, list) else []:
                    if isinstance(option, dict) and isinstance(option.get("text"), dict):
                        yield option["text"], True
                        yield from _texts({k: v for k, v in option.items() if k != "text"})
            elif not (key == "text" and isinstance(value, str)):
                yield from _texts(value)
    elif isinstance(tree, list):
        for item in tree:
            yield from _texts(item)


def fit_text(blocks: list[Block], budget: int = MESSAGE_TEXT_BUDGET) -> list[Block]:
    """``blocks`` whose text fits ``budget`` (see bot.views.limits): unchanged when it does,
    else a copy with the longest texts cut to one common length, the short ones (buttons, most
    labels) kept whole. Builders shrink their own parts first, more wisely (labels over help,
    whole lines with "… and N more"); this is the last resort that keeps any message from being
    refused with `msg_blocks_too_long`."""
    if text_length(blocks) <= budget:
        return blocks
    fitted = copy.deepcopy(blocks)
    found = list(_texts(fitted))
    cap = max(len("…"), water_level([len(obj["text"]) for obj, _ in found], budget))
    for obj, is_name in found:
        if len(obj["text"]) > cap:
            cut = shorten_middle if is_name else truncate  # names keep their telling ends
            obj["text"] = cut(obj["text"], cap)
    return fitted


def fit_lines(
    lines: Sequence[str], limit: int, more: Callable[[int], str], *, joiner: str = "\n"
) -> list[str]:
    """The first of ``lines`` that fit ``limit`` characters once joined, whole, followed by
    ``more(n)`` (e.g. "… and 12 more") when ``n`` lines were left out."""
    if len(joiner.join(lines)) <= limit:
        return list(lines)
    for kept in range(len(lines) - 1, -1, -1):
        shown = [*lines[:kept], more(len(lines) - kept)]
        if len(joiner.join(shown)) <= limit:
            return shown
    return [truncate(more(len(lines)), limit)]


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
