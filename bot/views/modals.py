"""Modals: flagging an example and reading a long one in full.

Modal limits (https://docs.slack.dev/reference/views/modal-views): title, submit and close
texts up to 24 characters, up to 100 blocks, private_metadata up to 3,000 characters.
"""

from __future__ import annotations

import json

from bot import ids
from bot.slack_text import escape_mrkdwn, split_chunks
from bot.views.text import MODAL_TITLE_MAX, SECTION_TEXT_MAX, Block, context, plain, section

MODAL_BLOCKS_MAX = 100
FLAG_REASON_MAX = 500


def flag_modal(example_id: int) -> Block:
    """Ask why an example is flagged; the example id rides in private_metadata."""
    return {
        "type": "modal",
        "callback_id": ids.FLAG_MODAL,
        "private_metadata": json.dumps({"example_id": example_id}),
        "title": plain("Flag example", MODAL_TITLE_MAX),
        "submit": plain("Flag", MODAL_TITLE_MAX),
        "close": plain("Cancel", MODAL_TITLE_MAX),
        "blocks": [
            section(
                "Flagged examples leave the labeling queue until someone on the project "
                "reviews them. Use it for broken, private or off-topic text."
            ),
            {
                "type": "input",
                "block_id": ids.FLAG_REASON_BLOCK,
                "label": plain("What is wrong with it?"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": ids.FLAG_REASON_INPUT,
                    "multiline": True,
                    "max_length": FLAG_REASON_MAX,
                    "placeholder": plain("e.g. contains a customer's card number"),
                },
            },
        ],
    }


def flag_example_id(private_metadata: str) -> int:
    """Read back the example id `flag_modal` stored."""
    return int(json.loads(private_metadata)["example_id"])


def full_text_modal(text: str, *, title: str = "Full text") -> Block:
    """The whole example, split across sections of at most 3,000 characters each.

    A modal holds 100 blocks, so text past ~297,000 characters is cut with a note.
    """
    chunks = split_chunks(escape_mrkdwn(text), SECTION_TEXT_MAX)
    blocks = [section(chunk) for chunk in chunks[: MODAL_BLOCKS_MAX - 1]]
    if len(chunks) > MODAL_BLOCKS_MAX - 1:
        blocks.append(context(f"Cut here: the text is {len(text):,} characters long."))
    return {
        "type": "modal",
        "callback_id": ids.FULL_TEXT_MODAL,
        "title": plain(title, MODAL_TITLE_MAX),
        "close": plain("Close", MODAL_TITLE_MAX),
        "blocks": blocks or [section(" ")],
    }
