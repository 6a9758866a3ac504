"""`/label guidelines [project] [page]`: every active label of a project with its whole
guideline, for anyone who labels (read-only; `/label taxonomy` is the admins' form).

The labeling DM cuts guidelines to fit one message; here they are read in full. A few short
ones come back as one ephemeral message (50 blocks, and bot.views.limits.MESSAGE_TEXT_BUDGET
for its text as a whole); more open a modal, whose 100 blocks hold no such text budget
(https://docs.slack.dev/reference/views/modal-views): each section holds up to 3,000
characters (https://docs.slack.dev/reference/block-kit/blocks/section-block), so a page holds
some 290,000 characters: 200 labels with 1,000 characters of guidelines each, or 98 with 2,900.
Past that, the page names the command that shows the next one.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.slack_text import escape, escape_mrkdwn, split_chunks
from bot.views.limits import MAX_BLOCKS, MESSAGE_TEXT_BUDGET, text_length
from bot.views.models import LabelChoice
from bot.views.text import (
    MODAL_TITLE_MAX,
    SECTION_TEXT_MAX,
    Block,
    context,
    message,
    plain,
    section,
)

# A modal page: its heading and, when more pages follow, a line naming the next one.
SECTIONS_PER_PAGE = MAX_BLOCKS["modal"] - 2
MESSAGE_SECTIONS_MAX = MAX_BLOCKS["message"] - 1  # and the heading


def _entry(label: LabelChoice) -> str:
    about = escape_mrkdwn(label.description) if label.description else "_no guidelines yet_"
    return f"*{escape_mrkdwn(label.name)}*\n{about}"


def _sections(labels: Sequence[LabelChoice]) -> list[str]:
    """The labels, by name, packed into section texts of at most 3,000 characters: a label
    starts a new section when it does not fit the one before, and a longer guideline runs
    over several (cut at line breaks or spaces)."""
    texts: list[str] = []
    for label in sorted(labels, key=lambda lb: lb.name.casefold()):
        for piece in split_chunks(_entry(label), SECTION_TEXT_MAX):
            if texts and len(texts[-1]) + len("\n\n") + len(piece) <= SECTION_TEXT_MAX:
                texts[-1] += "\n\n" + piece
            else:
                texts.append(piece)
    return texts


def _heading(project: str, labels: Sequence[LabelChoice]) -> str:
    return f"*Label guidelines of {escape_mrkdwn(project)}* ({len(labels)} labels)"


def page_count(labels: Sequence[LabelChoice]) -> int:
    """How many modal pages the guidelines of ``labels`` take (1 at least)."""
    return max(1, -(-len(_sections(labels)) // SECTIONS_PER_PAGE))


def guidelines_message(project: str, labels: Sequence[LabelChoice]) -> Block | None:
    """The guidelines as one (ephemeral) message, or None when they outgrow one."""
    texts = _sections(labels) or ["_no labels yet_"]
    blocks = [section(_heading(project, labels)), *map(section, texts)]
    if len(texts) > MESSAGE_SECTIONS_MAX or text_length(blocks) > MESSAGE_TEXT_BUDGET:
        return None
    return message(f"Label guidelines of {escape_mrkdwn(project)}", blocks)


def guidelines_modal(project: str, labels: Sequence[LabelChoice], *, page: int = 1) -> Block:
    """Page ``page`` (from 1, at most :func:`page_count`) of the guidelines, as a modal."""
    texts = _sections(labels)
    pages = page_count(labels)
    heading = _heading(project, labels)
    if pages > 1:
        heading += f", page {page} of {pages}"
    shown = texts[(page - 1) * SECTIONS_PER_PAGE : page * SECTIONS_PER_PAGE]
    blocks = [context(heading), *map(section, shown or ["_no labels yet_"])]
    if page < pages:
        blocks.append(
            context(f"Continued on the next page: `/label guidelines {escape(project)} {page + 1}`")
        )
    return {
        "type": "modal",
        "title": plain("Label guidelines", MODAL_TITLE_MAX),
        "close": plain("Close", MODAL_TITLE_MAX),
        "blocks": blocks,
    }
