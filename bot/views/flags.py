"""A flag's thread in the project channel: the example, who flagged it and why, and the button
that resolves its flags (a project admin or an expert who flagged it).

The button carries the example id; the click resolves whatever flags are open when it lands.
"""

from __future__ import annotations

from bot import ids
from bot.slack_text import escape_mrkdwn, who
from bot.views.labeling import example_section
from bot.views.text import (
    EXAMPLE_PREVIEW_MAX,
    SECTION_TEXT_MAX,
    Block,
    actions,
    button,
    context,
    fit_lines,
    message,
    section,
)
from engine.flags import FlaggedExample, FlagView


def _reason(flag: FlagView) -> str:
    """One flag as a line: who, and their reason on one line (the modal allows several)."""
    return f"{who(flag.annotator)}: “{escape_mrkdwn(' '.join(flag.reason.split()))}”"


def _resolution(found: FlaggedExample) -> str:
    """How the last resolution left the example (when none of its flags is open)."""
    by = found.flags[-1].resolved_by or "someone"
    where = "it keeps its label" if found.labeled else "it is back in the labeling queue"
    return f":white_check_mark: Resolved by {who(by)}: {where}."


def flag_message(found: FlaggedExample) -> Block:
    """The thread's root: its open flags with the Resolve button, or how they were resolved."""
    open_ones = found.open
    earlier = [f for f in found.flags if f.resolved_at is not None]
    lines = [f"• {_reason(f)}" for f in open_ones] or [f"• {_reason(f)}" for f in earlier]
    shown = fit_lines(lines, SECTION_TEXT_MAX, lambda n: f"• … and {n} more")
    title = (
        f":triangular_flag_on_post: An example from *{escape_mrkdwn(found.project)}* was flagged:"
    )
    blocks = [
        section(title),
        example_section(found.example_id, found.text, preview_max=EXAMPLE_PREVIEW_MAX // 2),
        section("\n".join(shown), block_id=f"{ids.FLAG_THREAD_BLOCK}:{found.example_id}"),
    ]
    if not open_ones:
        blocks.append(context(f"Example #{found.example_id} · {_resolution(found)}"))
        return message(
            f"A flagged example from {escape_mrkdwn(found.project)} was resolved", blocks
        )
    text = "Resolve: it keeps its label" if found.labeled else "Resolve: back to the queue"
    resolve = button(text, action_id=ids.FLAG_RESOLVE, value=str(found.example_id), style="primary")
    blocks += [
        actions(
            [resolve],
            block_id=f"{ids.FLAG_THREAD_BLOCK}:{found.example_id}:resolve",
        ),
        context(
            f"Example #{found.example_id} · It is out of everyone's labeling queue until a "
            "project admin or an expert who flagged it resolves it. Discuss in this thread; "
            "replies are kept with the example."
        ),
    ]
    return message(f"An example from {escape_mrkdwn(found.project)} was flagged", blocks)


def flagged_too(flag: FlagView) -> Block:
    """The thread reply when another expert flags an example that has a thread already."""
    text = f"Flagged again by {_reason(flag)}"
    return message(text, [section(text)])


def resolved_reply(found: FlaggedExample, *, user: str) -> Block:
    """The thread reply telling the experts who flagged it (mentioned) that it was resolved."""
    where = "It keeps its label." if found.labeled else "It is back in the labeling queue."
    flaggers = sorted({f.annotator for f in found.flags if f.annotator != user})
    mentions = " ".join(who(u) for u in flaggers)
    text = f"{who(user)} resolved the flags on this example. {where} {mentions}".strip()
    return message(text, [section(text)])


def not_allowed(project: str) -> str:
    return (
        f"Only an admin of *{escape_mrkdwn(project)}* or an expert who flagged this example can "
        "resolve its flags. Reply in the thread to weigh in."
    )
