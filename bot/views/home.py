"""The App Home tab (https://docs.slack.dev/surfaces/app-home): a user's counts and each
project's progress. Home views hold up to 100 blocks, so projects and classes are capped."""

from __future__ import annotations

from datetime import UTC, datetime

from bot import ids
from bot.slack_text import escape, escape_mrkdwn, truncate
from bot.views.models import HomeStats, ProjectProgress
from bot.views.text import (
    SECTION_TEXT_MAX,
    Block,
    button,
    context,
    fit_lines,
    fitting_prefix,
    header,
    mrkdwn,
    section,
)
from engine.evaluation import WAITING_TO_RELABEL
from engine.forecast import counted

MAX_PROJECTS = 20  # 4 blocks each + 4 for the top stays under the 100-block limit
MAX_CLASSES_SHOWN = 20
RARE_LINE_MAX = 1000  # of the 3,000 the class counts' section holds
BATCH_SIZE = 5
BAR_WIDTH = 12


def _bar(count: int, biggest: int) -> str:
    filled = round(BAR_WIDTH * count / biggest) if biggest else 0
    return "█" * filled + "░" * (BAR_WIDTH - filled)


def _class_counts(project: ProjectProgress, room: int) -> list[str]:
    """The biggest classes' counts, one line each, in ``room`` characters: whole lines, then
    "… and N more classes" counting every class not shown (the line always survives)."""
    counts = sorted(project.class_counts, key=lambda c: (-c.count, c.label.casefold()))
    if not counts:
        return ["_No labels yet._"]
    biggest = counts[0].count
    lines = [
        f"`{_bar(c.count, biggest)}` {c.count:>5}  {escape_mrkdwn(c.label)}"
        for c in counts[:MAX_CLASSES_SHOWN]
    ]
    hidden = len(counts) - len(lines)

    def more(n: int) -> str:
        return f"_… and {n + hidden} more classes_"

    if not hidden:
        return fit_lines(lines, room, more)
    # the longest "more" line this can take (every line left out) keeps its room
    kept = fitting_prefix(lines, room - len(more(len(lines))) - 1)
    return [*lines[:kept], more(len(lines) - kept)]


def _rare_line(project: ProjectProgress) -> str:
    """The rare classes (under the project's rare_minimum, as `labelbot status` says) in
    RARE_LINE_MAX characters: whole names, then "and N more"."""
    head = f"*Rare classes* (fewer than {project.rare_minimum} labels): "
    names = [escape_mrkdwn(lb) for lb in project.rare_classes[:MAX_CLASSES_SHOWN]]
    hidden = len(project.rare_classes) - len(names)

    def more(n: int) -> str:
        return f" and {n + hidden} more"

    room = RARE_LINE_MAX - len(head)
    if hidden:  # the count always follows: the longest it can be keeps its room
        kept = fitting_prefix(names, room - len(more(len(names))), joiner=", ")
    else:
        kept = fitting_prefix(names, room, more, joiner=", ")
    if not kept:  # not even one name whole (1,000 characters of "&amp;"): the first, cut
        left = len(names) - 1 + hidden
        tail = more(len(names) - 1) if left else ""
        return head + truncate(names[0], room - len(tail)) + tail
    left = len(names) - kept + hidden
    return head + ", ".join(names[:kept]) + (more(len(names) - kept) if left else "")


def _project_blocks(project: ProjectProgress) -> list[Block]:
    key = str(project.project_id) if project.project_id is not None else project.name
    start = button(
        f"Label {BATCH_SIZE} now", action_id=ids.HOME_START_BATCH, value=key, style="primary"
    )
    done = project.labeled / project.total if project.total else 0.0
    fields = [
        mrkdwn(f"*Labeled*\n{project.labeled:,} of {project.total:,} ({done:.0%})"),
        mrkdwn(f"*Estimated accuracy*\n{_accuracy(project)}"),
        mrkdwn(f"*Classes*\n{len(project.class_counts)}"),
    ]
    if project.forecast:
        fields.append(mrkdwn(f"*Forecast*\n{escape_mrkdwn(project.forecast)}"))
    if project.agreement:
        fields.append(mrkdwn(f"*Agreement*\n{escape_mrkdwn(project.agreement)}"))
    if project.open_reviews:
        waiting = counted(project.open_reviews, "likely mislabel")
        fields.append(
            mrkdwn(f"*Reviews*\n{waiting} {'waits' if project.open_reviews == 1 else 'wait'}")
        )
    # the counts and the rare classes share one section (3,000 characters): the rare line gets
    # its own room first, so long names cut neither it nor the count of classes not shown
    # before any label every class is "rare", and the bars above already say 0 for each: the
    # line would only repeat every name under a term the expert has not met yet
    some = any(c.count for c in project.class_counts)
    rare = [_rare_line(project)] if project.rare_classes and some else []
    room = SECTION_TEXT_MAX - sum(len(line) + 1 for line in rare)
    counts = "\n".join([*_class_counts(project, room), *rare])
    # 4 blocks per project: the forecast and rare classes ride in existing blocks (100-block cap)
    if not project.total:  # nothing to label: who adds examples, not a button that says "none"
        title = section(f"*{escape_mrkdwn(project.name)}*\n{no_examples(project.name)}")
    else:
        title = section(f"*{escape_mrkdwn(project.name)}*", accessory=start)
    return [
        {"type": "divider"},
        title,
        {"type": "section", "fields": fields},
        section(counts),
    ]


def no_examples(project: str) -> str:
    """A project no examples were imported into, as `/label` says it (bot.flow.no_examples)."""
    return (
        f"No examples to label yet: an admin imports them with "
        f"`labelbot import {escape(project)} FILE`."
    )


def _accuracy(project: ProjectProgress) -> str:
    """The digest's estimate: audit accuracy with its 90% interval, else cross-validated; then
    what the figures belong to, as the digest and `labelbot status` say (a pinned version, one
    trained before the latest taxonomy change)."""
    return _estimate(project) + escape_mrkdwn(project.model_notes)


def _estimate(project: ProjectProgress) -> str:
    if project.accuracy is None and project.model_version is not None:
        return f"v{project.model_version}: not measurable yet (too few labels per class)"
    if project.accuracy is None:  # what brings one, as `labelbot status` and predict say
        return "no model yet: the first trains once a few examples per class are labeled"
    version = f"v{project.model_version}: " if project.model_version is not None else ""
    text = f"{version}{project.accuracy:.1%}"
    if project.accuracy_low is not None and project.accuracy_high is not None:
        text += f" (90% interval {project.accuracy_low:.1%}–{project.accuracy_high:.1%})"
    if project.accuracy_source == "audit":
        on = f" of {project.accuracy_measured_on} labels" if project.accuracy_measured_on else ""
        return text + f" on the audit set{on}"  # as the digest says it
    # audit labels given, all waiting for a relabel: the notes say so ("3 audit labels were
    # waiting")
    given = WAITING_TO_RELABEL in project.model_notes
    if project.accuracy_source == "cv" and project.queue_chosen:
        # which way it is biased, as the digest says (engine.evaluation.QUEUE_BIAS): "biased"
        # alone let an expert read the model as better than it is
        low = " cross-validated (biased low: the queue chose hard cases"
        return text + low + (")" if given else "; no audit labels yet)")
    if project.accuracy_source == "cv":
        return text + (" cross-validated" if given else " cross-validated (no audit labels yet)")
    return text


# The empty states say who does what next: an admin in the terminal (the CLI), an expert here.
NO_PROJECTS = (
    "No projects yet: an admin creates one with `labelbot project create NAME --labels A,B` "
    "and imports its examples with `labelbot import NAME FILE`."
)
NONE_OPEN_TO_GUESTS = (
    "No project is open to guest accounts yet: ask a project admin to open theirs "
    "(`labelbot project set NAME --guests allow`)."
)


def _greeting(stats: HomeStats) -> str:
    """The user's counts; before their first label, how to begin instead of "0 ... Thank you"."""
    if stats.labeled_total:
        return (
            f"<@{stats.user_id}>, you labeled *{stats.labeled_today:,}* "
            f"example{'' if stats.labeled_today == 1 else 's'} today "
            f"and *{stats.labeled_total:,}* in all. Thank you!"
        )
    said = f"Welcome, <@{stats.user_id}>! You have not labeled any examples yet."
    if any(p.total for p in stats.projects[:MAX_PROJECTS]):
        said += (
            f" Click *Label {BATCH_SIZE} now* beside a project: its examples come to your "
            "direct messages with labelbot (the Messages tab above), one at a time, with the "
            "labels to choose from. Or type `/label` anywhere in Slack; `/label help` lists the "
            "commands."
        )
    return said


def figures_as_of(moment: datetime) -> str:
    """When the projects' figures were worked out (each reader's own time,
    https://docs.slack.dev/messaging/formatting-message-text#date-formatting): App Home
    works them out at most once a minute (engine.progress.home_summary)."""
    fallback = moment.astimezone(UTC).strftime("%H:%M UTC")
    return f"Project figures as of <!date^{int(moment.timestamp())}^{{time}}|{fallback}>"


def home_tab(stats: HomeStats) -> Block:
    """The view for `views.publish` when the user opens the Home tab."""
    blocks: list[Block] = [header("labelbot"), section(_greeting(stats))]
    if not stats.projects and stats.closed_projects:  # a guest account, and none open to them
        blocks.append(context(NONE_OPEN_TO_GUESTS))
    elif not stats.projects:
        blocks.append(context(NO_PROJECTS))
    for project in stats.projects[:MAX_PROJECTS]:
        blocks.extend(_project_blocks(project))
    more = max(0, len(stats.projects) - MAX_PROJECTS) + stats.more_projects
    if more:
        blocks.append(
            context(
                f"… and {more:,} more project{'s' if more != 1 else ''}: "
                "`/label &lt;project&gt;` labels any of them."
            )
        )
    return {"type": "home", "blocks": blocks}


def dated(view: Block, as_of: datetime) -> Block:
    """``view`` (:func:`home_tab`'s) saying under the projects when the oldest of their
    figures was worked out (one block: 4 for the top and the end, 4 per project)."""
    return {**view, "blocks": [*view["blocks"], context(figures_as_of(as_of))]}
