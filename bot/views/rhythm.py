"""The busy expert's rhythm in the DM: the end-of-batch summary, snooze, the daily nudge."""

from __future__ import annotations

from datetime import UTC, datetime

from bot import ids
from bot.slack_text import escape_mrkdwn
from bot.views.labeling import _slack_date
from bot.views.text import Block, actions, button, context, message, section
from engine.forecast import counted


def batch_summary(
    *, project: str, done: int, compared: int, agreed: int, size: int, dry: bool = False
) -> Block:
    """ "5 done — 3 agreed with the model", with "5 more" / "Done for now". ``compared``: the
    answers the model had a view on (none before the first model). ``dry``: the queue ran
    out before the batch's end, which the summary says instead of offering more."""
    if compared:
        fallback = f"{done} done — {agreed} agreed with the model"
    else:
        fallback = f"{done} done — no model yet to compare your answers with"
    if dry:
        text = f"*{fallback}* in *{escape_mrkdwn(project)}*: nothing left to label now. Thanks!"
        return message(f"{fallback}. Nothing left to label.", [section(text)])
    text = f"*{fallback}* in *{escape_mrkdwn(project)}*. Thanks!"
    row = [
        button(f"{size} more", action_id=ids.BATCH_MORE, value=project, style="primary"),
        button("Done for now", action_id=ids.BATCH_DONE, value=project),
    ]
    return message(fallback, [section(text), actions(row)])


def batch_closed(*, project: str, more: bool) -> Block:
    """The summary once answered: its buttons go."""
    text = (
        f"Another batch of *{escape_mrkdwn(project)}* is on its way."
        if more
        else f"Done for now with *{escape_mrkdwn(project)}*. `/label` whenever you have a minute."
    )
    return message(text, [section(text)])


def parse_snooze_value(value: str) -> tuple[int, str]:
    example_id, _, length = value.partition("|")
    return int(example_id), length


def snoozed_message(*, user: str, until: datetime) -> Block:
    text = (
        f"<@{user}> snoozed labelbot until {_slack_date(until, day=True)}: no reminders until "
        "then. `/label` brings the next example back at any time."
    )
    return message(f"Snoozed until {until.astimezone(UTC):%a %H:%M} UTC", [section(text)])


def nudge_message(*, project: str, waiting: int) -> Block:
    """The opt-in daily nudge: sent only when there is work."""
    are = "is" if waiting == 1 else "are"
    text = f"{counted(waiting, 'example')} in *{escape_mrkdwn(project)}* {are} waiting for you."
    row = [button("Label 5 now", action_id=ids.HOME_START_BATCH, value=project, style="primary")]
    return message(
        text,
        [
            section(text),
            actions(row),
            context("Your daily nudge · `/label nudge off` stops it · `/label quiet` quiet hours"),
        ],
    )
