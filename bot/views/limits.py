"""A checker for the Block Kit limits Slack enforces, so tests and the fake Web API reject
what Slack would reject with `invalid_blocks` (or `msg_blocks_too_long`). Numbers come from the
Block Kit reference (https://docs.slack.dev/reference/block-kit/blocks, .../block-elements,
.../composition-objects) and the view reference (https://docs.slack.dev/reference/views); each
group of constants below names its page. It checks the blocks and elements labelbot builds
(section, context, header, actions, divider, input; button, overflow, static_select,
multi_static_select, plain_text_input; text, option and confirmation dialog objects), not every
kind Block Kit has.

Lengths are Python ``len``: code points. Slack's reference says "characters" without saying how
it counts them (UTF-16 code units or code points), nor whether `:tada:` counts as written; we
count what we send, as written.

A message's blocks are also limited in their text as a whole, a limit Slack does not document:
chat.postMessage and chat.update answer `msg_blocks_too_long` past "12,000 text characters with
a buffer for block containers" (a Slack engineer, slackapi/bolt-js#2509), and a message whose
`text` strings summed to 11,341 was refused (slackapi/bolt-js#2867). We count every `text`
string in the blocks (sections, fields, context elements, headers, buttons, options and their
descriptions, confirm dialogs, rich text) and keep messages under MESSAGE_TEXT_BUDGET. Modals and
the Home tab have no such documented limit (100 blocks, see MAX_BLOCKS), and a modal showing an
example's full text needs far more.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

MAX_BLOCKS = {"message": 50, "modal": 100, "home": 100}
TEXT_LIMITS = {"section": 3000, "header": 150}
FIELD_MAX, FIELDS_MAX = 2000, 10
BLOCK_ID_MAX = ACTION_ID_MAX = 255
BUTTON_TEXT_MAX, BUTTON_VALUE_MAX = 75, 2000
ACTIONS_ELEMENTS_MAX, CONTEXT_ELEMENTS_MAX = 25, 10  # .../blocks/actions-block, context-block
OPTIONS_MAX, OPTION_GROUPS_MAX = 100, 100
OPTION_TEXT_MAX, OPTION_VALUE_MAX, OPTION_DESCRIPTION_MAX = 75, 150, 75
PLACEHOLDER_MAX = 150
MODAL_TEXT_MAX, PRIVATE_METADATA_MAX, CALLBACK_ID_MAX = 24, 3000, 255
# Any text object, wherever it is (a context block's texts included, which the context block's
# own page does not limit): "The minimum length is 1 and maximum length is 3000 characters"
# (https://docs.slack.dev/reference/block-kit/composition-objects/text-object).
TEXT_TYPES = ("plain_text", "mrkdwn")
TEXT_OBJECT_MIN, TEXT_OBJECT_MAX = 1, 3000
# A confirmation dialog: title 100, text 300, confirm and deny buttons 30 characters, all four
# required; title, confirm and deny plain_text (the reference's own example gives text as mrkdwn)
# (https://docs.slack.dev/reference/block-kit/composition-objects/confirmation-dialog-object).
CONFIRM_TITLE_MAX, CONFIRM_TEXT_MAX, CONFIRM_BUTTON_MAX = 100, 300, 30
# An input block: label (required) and hint, plain_text, 2,000 characters each, and an element
# (https://docs.slack.dev/reference/block-kit/blocks/input-block).
INPUT_LABEL_MAX = INPUT_HINT_MAX = 2000
# plain_text_input: min_length 0-3,000 and max_length 1-3,000 inclusive; its placeholder 150
# (PLACEHOLDER_MAX). No limit is documented for initial_value
# (https://docs.slack.dev/reference/block-kit/block-elements/plain-text-input-element).
TEXT_INPUT_MIN_LENGTH_RANGE, TEXT_INPUT_MAX_LENGTH_RANGE = (0, 3000), (1, 3000)
# "An array of up to five option objects"
# (https://docs.slack.dev/reference/block-kit/block-elements/overflow-menu-element).
OVERFLOW_OPTIONS_MAX = 5
MESSAGE_TEXT_BUDGET = 11_000  # below the 11,341 characters refused in bolt-js#2867
MSG_BLOCKS_TOO_LONG = "msg_blocks_too_long"
# a mapping with a "text" string, and the last two keys on the way to it (see text_objects)
TextObject = tuple[Mapping[str, Any], tuple[Any, Any]]


def text_objects(tree: Any, keys: tuple[Any, Any] = (None, None)) -> Iterator[TextObject]:
    """Every mapping holding a string under its "text" key anywhere in ``tree`` (blocks, a
    block, an element), with the last two keys on its way (``("options", "text")`` for an
    option's own text): the strings Slack's cumulative message limit counts. :func:`text_length`
    and the builders' last resort (bot.views.text.fit_text) both walk with it, so they count
    the same strings."""
    if isinstance(tree, Mapping):
        if isinstance(tree.get("text"), str):
            yield tree, keys
        for key, value in tree.items():
            if not (key == "text" and isinstance(value, str)):
                yield from text_objects(value, (keys[1], key))
    elif isinstance(tree, list | tuple):
        for item in tree:
            yield from text_objects(item, keys)


def text_length(tree: Any) -> int:
    """The characters of every string under a "text" key anywhere in ``tree``: what Slack's
    cumulative message limit counts."""
    return sum(len(obj["text"]) for obj, _ in text_objects(tree))


def message_text_errors(blocks: Sequence[Mapping[str, Any]]) -> list[str]:
    """[] when a message's blocks hold at most MESSAGE_TEXT_BUDGET characters of text."""
    n = text_length(blocks)
    if n <= MESSAGE_TEXT_BUDGET:
        return []
    return [f"{MSG_BLOCKS_TOO_LONG}: {n} characters of text > {MESSAGE_TEXT_BUDGET} in a message"]


def _text(obj: Any) -> str:
    return obj.get("text", "") if isinstance(obj, Mapping) else ""


def _check_text_objects(where: str, tree: Any, errors: list[str]) -> None:
    """Every text object in ``tree`` holds 1 to 3,000 characters (TEXT_OBJECT_MIN/MAX)."""
    if isinstance(tree, Mapping):
        text = tree.get("text")
        if tree.get("type") in TEXT_TYPES and isinstance(text, str):
            if len(text) < TEXT_OBJECT_MIN:
                errors.append(f"{where}: a text object needs {TEXT_OBJECT_MIN}+ chars")
            elif len(text) > TEXT_OBJECT_MAX:
                errors.append(f"{where} > {TEXT_OBJECT_MAX} chars")
        for key, value in tree.items():
            if isinstance(value, Mapping | list | tuple):
                _check_text_objects(f"{where}.{key}", value, errors)
    elif isinstance(tree, list | tuple):
        for i, item in enumerate(tree):
            _check_text_objects(f"{where}[{i}]", item, errors)


def _check_plain(where: str, obj: Any, limit: int, errors: list[str], *, required: bool) -> None:
    """``obj`` is a plain_text object of at most ``limit`` characters (or absent, if allowed)."""
    if obj is None:
        if required:
            errors.append(f"{where} is required")
        return
    if not isinstance(obj, Mapping) or obj.get("type") != "plain_text":
        errors.append(f"{where} must be a plain_text object")
    if len(_text(obj)) > limit:
        errors.append(f"{where} > {limit} chars")


def _check_confirm(where: str, confirm: Any, errors: list[str]) -> None:
    if not isinstance(confirm, Mapping):
        errors.append(f"{where} must be a confirmation dialog object")
        return
    _check_plain(f"{where}.title", confirm.get("title"), CONFIRM_TITLE_MAX, errors, required=True)
    text = confirm.get("text")
    if not isinstance(text, Mapping) or text.get("type") not in TEXT_TYPES:
        errors.append(f"{where}.text must be a text object")
    elif len(_text(text)) > CONFIRM_TEXT_MAX:
        errors.append(f"{where}.text > {CONFIRM_TEXT_MAX} chars")
    for name in ("confirm", "deny"):
        _check_plain(
            f"{where}.{name}", confirm.get(name), CONFIRM_BUTTON_MAX, errors, required=True
        )
    if confirm.get("style") not in (None, "primary", "danger"):
        errors.append(f"{where}.style must be primary or danger")


def _check_text_input(where: str, element: Mapping[str, Any], errors: list[str]) -> None:
    for name, (low, high) in (
        ("min_length", TEXT_INPUT_MIN_LENGTH_RANGE),
        ("max_length", TEXT_INPUT_MAX_LENGTH_RANGE),
    ):
        value = element.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            errors.append(f"{where}.{name} must be an integer from {low} to {high}")


def _check_options(where: str, element: Mapping[str, Any], errors: list[str]) -> None:
    options = list(element.get("options") or [])
    groups = list(element.get("option_groups") or [])
    if len(options) > OPTIONS_MAX:
        errors.append(f"{where}: {len(options)} options > {OPTIONS_MAX}")
    if len(groups) > OPTION_GROUPS_MAX:
        errors.append(f"{where}: {len(groups)} option_groups > {OPTION_GROUPS_MAX}")
    for g, group in enumerate(groups):
        if len(_text(group.get("label"))) > OPTION_TEXT_MAX:
            errors.append(f"{where}.option_groups[{g}].label > {OPTION_TEXT_MAX} chars")
        if len(group.get("options", [])) > OPTIONS_MAX:
            errors.append(f"{where}.option_groups[{g}]: > {OPTIONS_MAX} options")
        options.extend(group.get("options", []))
    values = [option.get("value") for option in options]
    if len(values) != len(set(values)):
        errors.append(f"{where}: duplicate option values")
    for o, option in enumerate(options):
        if len(_text(option.get("text"))) > OPTION_TEXT_MAX:
            errors.append(f"{where}.option[{o}].text > {OPTION_TEXT_MAX} chars")
        if len(option.get("value", "")) > OPTION_VALUE_MAX:
            errors.append(f"{where}.option[{o}].value > {OPTION_VALUE_MAX} chars")
        if len(_text(option.get("description"))) > OPTION_DESCRIPTION_MAX:
            errors.append(f"{where}.option[{o}].description > {OPTION_DESCRIPTION_MAX} chars")


def _check_element(where: str, element: Mapping[str, Any], errors: list[str]) -> None:
    if len(element.get("action_id", "")) > ACTION_ID_MAX:
        errors.append(f"{where}.action_id > {ACTION_ID_MAX} chars")
    if element.get("type") == "button":
        if element.get("text", {}).get("type") != "plain_text":
            errors.append(f"{where}.text must be plain_text")
        if len(_text(element.get("text"))) > BUTTON_TEXT_MAX:
            errors.append(f"{where}.text > {BUTTON_TEXT_MAX} chars")
        if len(element.get("value", "")) > BUTTON_VALUE_MAX:
            errors.append(f"{where}.value > {BUTTON_VALUE_MAX} chars")
        if element.get("style") not in (None, "primary", "danger"):
            errors.append(f"{where}.style must be primary or danger")
    if len(_text(element.get("placeholder"))) > PLACEHOLDER_MAX:
        errors.append(f"{where}.placeholder > {PLACEHOLDER_MAX} chars")
    if "options" in element or "option_groups" in element:
        _check_options(where, element, errors)
    if (
        element.get("type") == "overflow"
        and len(element.get("options") or []) > OVERFLOW_OPTIONS_MAX
    ):
        errors.append(f"{where}: {len(element['options'])} options > {OVERFLOW_OPTIONS_MAX}")
    if element.get("type") == "plain_text_input":
        _check_text_input(where, element, errors)
    if "confirm" in element:
        _check_confirm(f"{where}.confirm", element["confirm"], errors)


def _check_block(where: str, block: Mapping[str, Any], errors: list[str]) -> None:
    kind = block.get("type")
    if kind == "header":  # a plain_text object (.../blocks/header-block)
        _check_plain(
            f"{where}.text", block.get("text"), TEXT_LIMITS["header"], errors, required=True
        )
    if kind == "input":
        _check_plain(f"{where}.label", block.get("label"), INPUT_LABEL_MAX, errors, required=True)
        _check_plain(f"{where}.hint", block.get("hint"), INPUT_HINT_MAX, errors, required=False)
        if not isinstance(block.get("element"), Mapping):
            errors.append(f"{where}.element is required")
    if kind == "section":
        if len(_text(block.get("text"))) > TEXT_LIMITS["section"]:
            errors.append(f"{where}.text > {TEXT_LIMITS['section']} chars")
        if not _text(block.get("text")) and not block.get("fields"):
            errors.append(f"{where}: a section needs text or fields")
        fields = block.get("fields") or []
        if len(fields) > FIELDS_MAX:
            errors.append(f"{where}: {len(fields)} fields > {FIELDS_MAX}")
        errors.extend(
            f"{where}.fields[{i}] > {FIELD_MAX} chars"
            for i, f in enumerate(fields)
            if len(_text(f)) > FIELD_MAX
        )
    elements = list(block.get("elements") or [])
    if kind == "actions" and len(elements) > ACTIONS_ELEMENTS_MAX:
        errors.append(f"{where}: {len(elements)} elements > {ACTIONS_ELEMENTS_MAX}")
    if kind == "context" and len(elements) > CONTEXT_ELEMENTS_MAX:
        errors.append(f"{where}: {len(elements)} elements > {CONTEXT_ELEMENTS_MAX}")
    for name in ("accessory", "element"):
        if isinstance(block.get(name), Mapping):
            elements.append(block[name])
    action_ids = [e["action_id"] for e in elements if "action_id" in e]
    if len(action_ids) != len(set(action_ids)):
        errors.append(f"{where}: action_ids must be unique within a block")
    for i, element in enumerate(elements):
        _check_element(f"{where}.elements[{i}]", element, errors)


def block_errors(blocks: Sequence[Mapping[str, Any]], *, surface: str = "message") -> list[str]:
    """Every limit `blocks` breaks on `surface` ("message", "modal" or "home"); [] when valid."""
    errors: list[str] = []
    if len(blocks) > MAX_BLOCKS[surface]:
        errors.append(f"{len(blocks)} blocks > {MAX_BLOCKS[surface]} for a {surface}")
    block_ids = [b["block_id"] for b in blocks if "block_id" in b]
    if len(block_ids) != len(set(block_ids)):
        errors.append("block_ids must be unique")
    for i, block in enumerate(blocks):
        if len(block.get("block_id", "")) > BLOCK_ID_MAX:
            errors.append(f"blocks[{i}].block_id > {BLOCK_ID_MAX} chars")
        _check_block(f"blocks[{i}]", block, errors)
        _check_text_objects(f"blocks[{i}]", block, errors)
    if surface == "message":
        errors.extend(message_text_errors(blocks))
    return list(dict.fromkeys(errors))  # a section's text is a text object too: said once


def view_errors(view: Mapping[str, Any]) -> list[str]:
    """Limits of a modal or Home tab view object, blocks included."""
    surface = str(view.get("type"))
    if surface not in ("modal", "home"):
        return [f"view.type must be modal or home, not {surface!r}"]
    errors = block_errors(view.get("blocks", []), surface=surface)
    for name in ("title", "submit", "close"):
        if view.get(name) is not None:  # plain_text, 24 characters (.../views/modal-views)
            _check_plain(f"view.{name}", view[name], MODAL_TEXT_MAX, errors, required=False)
            _check_text_objects(f"view.{name}", view[name], errors)
    if surface == "modal" and not _text(view.get("title")):
        errors.append("view.title is required for a modal")
    if len(view.get("private_metadata", "")) > PRIVATE_METADATA_MAX:
        errors.append(f"view.private_metadata > {PRIVATE_METADATA_MAX} chars")
    if len(view.get("callback_id", "")) > CALLBACK_ID_MAX:
        errors.append(f"view.callback_id > {CALLBACK_ID_MAX} chars")
    has_input = any(b.get("type") == "input" for b in view.get("blocks", []))
    if has_input and not _text(view.get("submit")):
        errors.append("view.submit is required when the modal has input blocks")
    return errors
