"""Composition objects shared by every builder (https://docs.slack.dev/reference/block-kit/composition-objects)."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, cast

from bot.slack_text import shorten_middle, truncate
from bot.views.limits import MESSAGE_TEXT_BUDGET, text_length, text_objects

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
# Room left in the 3,000-character section for the "…" when an example is cut.
EXAMPLE_PREVIEW_MAX = SECTION_TEXT_MAX - 100
# When a message with a menu of labels outgrows Slack's text budget, the example shows this much
# (its full text a click away) before label names are cut (see fit_menu).
COMPACT_PREVIEW_MAX = 1500


def plain(text: str, limit: int | None = None) -> Block:
    """A plain_text object; `emoji` lets `:tada:` render as in the Slack client."""
    return {"type": "plain_text", "text": truncate(text, limit) if limit else text, "emoji": True}


def mrkdwn(text: str) -> Block:
    """A mrkdwn object, ``verbatim``: Slack still renders *bold*, `code` and the markup labelbot
    writes (<@U123>, <#C123>, <!date^…>), but leaves plain words as written: a URL or a
    channel name in user text (an example, a guideline) is not made a link, and no mention is
    parsed from it (https://docs.slack.dev/reference/block-kit/composition-objects/text-object,
    "verbatim")."""
    return {"type": "mrkdwn", "text": text, "verbatim": True}


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

    Links are never unfurled: an example imported from a customer's ticket may hold any URL,
    and Slack fetches and previews what it links (an image, a page) in the DM or the channel,
    media by default for an app's messages too (`unfurl_media`; `unfurl_links` for pages,
    https://docs.slack.dev/messaging/unfurling-links-in-messages). Every labelbot message
    carries both as false, whoever sends it (chat.postMessage, a response_url).
    """
    return {
        "text": truncate(text, FALLBACK_TEXT_MAX),
        "blocks": fit_text(blocks),
        "unfurl_links": False,
        "unfurl_media": False,
    }


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


def fit_text(blocks: list[Block], budget: int = MESSAGE_TEXT_BUDGET) -> list[Block]:
    """``blocks`` whose text fits ``budget`` (see bot.views.limits): unchanged when it does,
    else a copy with the longest texts cut to one common length, the short ones (buttons, most
    labels) kept whole. Builders shrink their own parts first, more wisely (labels over help,
    whole lines with "… and N more"); this is the last resort that keeps a message from being
    refused with `msg_blocks_too_long`.

    It fits whenever ``budget`` holds one character per text ("…" is the shortest a text is
    cut to): a message's 50 blocks always do, unless a menu offers thousands of options, which
    :func:`fit_menu` prevents. Past that every text is cut to "…" and the copy is still over
    ``budget``: Slack refuses it, and the caller gets that error as any other."""
    if text_length(blocks) <= budget:
        return blocks
    fitted = copy.deepcopy(blocks)
    found = list(text_objects(fitted))
    cap = max(len("…"), water_level([len(obj["text"]) for obj, _ in found], budget))
    for obj, keys in found:
        if len(obj["text"]) > cap:
            # an option's own text (not its description) names a choice: names keep their
            # telling ends (every menu's options, the snooze menu's short ones included)
            cut = shorten_middle if keys == ("options", "text") else truncate
            cast(dict[str, Any], obj)["text"] = cut(obj["text"], cap)
    return fitted


def fitting_prefix(
    lines: Sequence[str],
    limit: int,
    more: Callable[[int], str] | None = None,
    *,
    joiner: str = "\n",
) -> int:
    """How many of the first ``lines`` fit ``limit`` characters once joined, whole, with
    ``more(n)`` joined after them when ``n`` lines are left out (``more=None``: the count goes
    elsewhere and takes no room here)."""
    if len(joiner.join(lines)) <= limit:
        return len(lines)
    used = kept = 0  # the characters of the first ``kept`` lines, joined
    for line in lines:
        grown = used + (len(joiner) if kept else 0) + len(line)
        left = len(lines) - kept - 1
        tail = len(joiner) + len(more(left)) if more is not None and left else 0
        if grown + tail > limit:
            break
        used, kept = grown, kept + 1
    return kept


def fit_lines(
    lines: Sequence[str], limit: int, more: Callable[[int], str], *, joiner: str = "\n"
) -> list[str]:
    """The first of ``lines`` that fit ``limit`` characters once joined, whole, followed by
    ``more(n)`` (e.g. "… and 12 more") when ``n`` lines were left out. When not even the first
    line fits whole, it is cut, and the count follows it when there is room: the result is
    always within ``limit`` ([] for a limit of 0)."""
    kept = fitting_prefix(lines, limit, more, joiner=joiner)
    if kept:
        return [*lines[:kept], more(len(lines) - kept)] if kept < len(lines) else list(lines)
    if not lines:
        return []
    tail = [more(len(lines) - 1)] if len(lines) > 1 else []
    room = limit - len(joiner.join(["", *tail]))  # the first line's room beside the count
    if room < OPTION_TEXT_MIN:  # a line cut that short tells nothing: it takes all the room
        tail, room = [], limit
    return [truncate(lines[0], room), *tail] if room >= len("…") else []


class Fit(NamedTuple):
    """How :func:`fit_menu` built a message: how much of the example it shows, how long the
    menu's names may be, and how many of them it offers (the first ones)."""

    preview_max: int
    option_text_max: int
    shown: int
    blocks: list[Block]


def _largest(
    attempt: Callable[[int], list[Block] | None], low: int, high: int, guess: int
) -> tuple[int, list[Block]] | None:
    """The largest ``v`` in ``low..high`` for which ``attempt(v)`` gives blocks (it does up to
    some ``v``, then no more), with them: ``guess`` and the one after it are tried first (an
    exact guess costs two attempts), then a binary search; None when not even ``low`` does."""
    found: tuple[int, list[Block]] | None = None
    below, above = low - 1, high + 1  # the largest known to fit, the smallest known not to

    def check(value: int) -> None:
        nonlocal found, below, above
        blocks = attempt(value)
        if blocks is None:
            above = value
        else:
            below, found = value, (value, blocks)

    for value in (guess, guess + 1):
        if below < value < above:
            check(value)
    while above - below > 1:
        check((below + above) // 2)
    return found


def fit_menu(build: Callable[[int, int, int], list[Block]], names: Sequence[str]) -> Fit:
    """The blocks ``build(preview_max, option_text_max, shown)`` makes of a message with an
    example (shown up to ``preview_max`` characters) and a menu of ``names`` (its first
    ``shown``), shrunk until their text fits Slack's budget for one message, least harmful
    first: as built; the example cut to COMPACT_PREVIEW_MAX characters (its full text a click
    away); every name also cut in its middle, down to OPTION_TEXT_MIN; and only past that
    (hundreds of labels) a menu of the first names that fit, which ``build`` says
    (:func:`menu_note`): none when not even one does, and ``build`` leaves the menu out. Slack
    refuses the whole message otherwise (`msg_blocks_too_long`, see bot.views.limits).

    ``build`` may also shrink its other text as the menu does (bot.views.labeling fits label
    guidelines in the room the names leave): the message it makes must only not grow when
    names are shorter or fewer."""
    every = len(names)
    blocks = build(EXAMPLE_PREVIEW_MAX, OPTION_TEXT_MAX, every)
    if text_length(blocks) <= MESSAGE_TEXT_BUDGET:
        return Fit(EXAMPLE_PREVIEW_MAX, OPTION_TEXT_MAX, every, blocks)
    blocks = build(COMPACT_PREVIEW_MAX, OPTION_TEXT_MAX, every)
    spare = MESSAGE_TEXT_BUDGET - text_length(blocks)
    if spare >= 0:
        return Fit(COMPACT_PREVIEW_MAX, OPTION_TEXT_MAX, every, blocks)

    def attempt(text_max: int, shown: int) -> list[Block] | None:
        tried = build(COMPACT_PREVIEW_MAX, text_max, shown)
        return tried if text_length(tried) <= MESSAGE_TEXT_BUDGET else None

    lengths = [len(name) for name in names]
    # the menu's names take min(length, 75) characters each as built (shorten_middle): the
    # longest that fit, were the rest of the text fixed, is the guess; tried, as it may not be
    room = sum(min(n, OPTION_TEXT_MAX) for n in lengths) + spare
    guess = min(OPTION_TEXT_MAX - 1, max(OPTION_TEXT_MIN, water_level(lengths, room)))
    every_name = _largest(
        lambda text_max: attempt(text_max, every), OPTION_TEXT_MIN, OPTION_TEXT_MAX - 1, guess
    )
    if every_name is not None:
        shorter, blocks = every_name
        return Fit(COMPACT_PREVIEW_MAX, shorter, every, blocks)
    # how many names fit: the most for which the message does (``every`` does not; none may)
    low, high = 0, every - 1
    while low < high:
        middle = (low + high + 1) // 2
        if attempt(OPTION_TEXT_MIN, middle) is not None:
            low = middle
        else:
            high = middle - 1
    return Fit(
        COMPACT_PREVIEW_MAX, OPTION_TEXT_MIN, low, build(COMPACT_PREVIEW_MAX, OPTION_TEXT_MIN, low)
    )


def menu_note(shown: int, total: int, what: str = "labels") -> str:
    """What a message says when its menu offers only the first ``shown`` of ``total``."""
    return f"The menu offers the first {shown} of {total} {what}: no more fit in one Slack message."


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
