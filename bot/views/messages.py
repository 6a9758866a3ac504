"""Channel and ephemeral messages: discussion threads, predictions, short notices."""

from __future__ import annotations

from collections.abc import Sequence

from bot.slack_text import escape, escape_mrkdwn, escape_mrkdwn_head, truncate
from bot.views.labeling import example_section
from bot.views.models import Suggestion
from bot.views.text import Block, context, message, section

BAR_WIDTH = 10


def _quote(text: str, limit: int) -> str:
    """Escaped text as a mrkdwn block quote (every line needs its own `>`), cut to ``limit``:
    only the head that can show is escaped (a member's 40,000-character message, classified)."""
    quoted = "\n".join(f">{line}" for line in escape_mrkdwn_head(text, limit).splitlines())
    return truncate(quoted or ">", limit)


def discussion_root(*, example_id: int, text: str, project: str, opener: str) -> Block:
    """The channel message a Discuss click posts; the thread under it is the discussion."""
    blocks = [
        section(
            f"<@{opener}> wants a second opinion on an example from *{escape_mrkdwn(project)}*:"
        ),
        # a long example is cut with "Show full text", as in the DM and the disagreement thread
        example_section(example_id, text),
        # those asked see the text, not the choices: the command that lists them is named
        context(
            f"Example #{example_id} · reply in this thread; labelbot keeps the discussion. "
            f"`/label guidelines {escape(project)}` lists the labels to choose from."
        ),
    ]
    return message(f"Discussion on an example from {escape_mrkdwn(project)}", blocks)


def _bar(confidence: float) -> str:
    filled = round(max(0.0, min(1.0, confidence)) * BAR_WIDTH)
    return "█" * filled + "░" * (BAR_WIDTH - filled)


def prediction_answer(
    *, text: str, predictions: Sequence[Suggestion], project: str, notes: Sequence[str] = ()
) -> Block:
    """Answer to `/label predict <text>` and the "Classify with labelbot" shortcut; ``notes``
    (plain text) say what the model cannot answer yet after a taxonomy change."""
    name = escape_mrkdwn(project)
    if not predictions:  # what brings a model, as App Home says, and how to help it come
        lines = (
            f"No model yet for *{name}*: the first trains once a few examples per label are "
            f"labeled. `/label {escape(project)}` sends you one."
        )
        fallback = f"No model yet for {name}"
    else:
        lines = "\n".join(
            f"`{_bar(p.confidence)}` {p.confidence:>4.0%}  *{escape_mrkdwn(p.label)}*"
            for p in predictions
        )
        best = predictions[0]
        fallback = f"{name}: {escape_mrkdwn(best.label)} ({best.confidence:.0%})"
    blocks = [
        section(_quote(text, 1000)),
        section(lines),
        # "Model for …" under "No model yet" contradicted it
        *([context(f"Model for *{name}*")] if predictions else []),
        *(context(f":information_source: {escape_mrkdwn(n)}") for n in notes[:3]),
    ]
    return message(fallback, blocks)


def info_message(text: str) -> Block:
    """A one-line notice (usually ephemeral). `text` is mrkdwn: escape user data before."""
    return message(text, [section(text)])
