"""What project admins see: model versions, the held-back notice with its Promote button,
settings. Plain data in, message payloads out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot import ids
from bot.slack_text import escape, escape_mrkdwn
from bot.views.models import ModelVersion
from bot.views.text import Block, actions, button, context, message, plain, section
from engine.evaluation import accuracy_figure

MAX_VERSIONS_SHOWN = 15  # newest first; the CLI lists them all
# a version whose figures measured the labels as they were, marked as `labelbot models` marks
# it (bot.cli.data.BEFORE_CHANGE), and what that means
BEFORE_CHANGE = "before the taxonomy change"
BEFORE_CHANGE_NOTE = (
    f"_{BEFORE_CHANGE}_: trained before the latest taxonomy change, so its accuracy measured "
    "the labels as they were then (the next training measures today's)."
)


def promote_value(project: str, version: int, run_id: int | None = None) -> str:
    """The Promote button's value: "project:version:run" -- the run's id tells a version of a
    project deleted and created again under its name from the new project's of that number
    (ids are never handed out again). "project:version", without it, is the value of notices
    posted before it was carried (still read: :func:`read_promote_value`)."""
    return f"{project}:{version}" + ("" if run_id is None else f":{run_id}")


def read_promote_value(value: str) -> tuple[str, int, int | None]:
    """The project, version and model run (None in an older notice's value) of a Promote
    button's value; a project name holds no ':' (storage.repositories.projects._NAME)."""
    project, version, *run = value.split(":")
    if len(run) > 1 or not project:
        raise ValueError(f"not a promote value: {value!r}")
    return project, int(version), int(run[0]) if run else None


def parse_promote_value(value: str) -> tuple[str, int]:
    project, version, _ = read_promote_value(value)
    return project, version


def _figure(value: float | None, *, source: str, n: int | None = None) -> str:
    """An accuracy as `labelbot models`, `status` and `project list` write it
    (evaluation.accuracy_figure): audit "75.0% (n=4)", CV "0.847"; "–" for none."""
    return "–" if value is None else accuracy_figure(value, source=source, n=n)


def _version_line(v: ModelVersion) -> str:
    marks = [m for m, on in (("*active*", v.active), ("pinned", v.pinned)) if on]
    if v.held_back:
        marks.append(f"held back: {escape_mrkdwn(v.held_back)}")
    if v.before_taxonomy_change:
        marks.append(BEFORE_CHANGE)
    status = "" if v.status == "ready" else f" · {escape_mrkdwn(v.status)}"
    tail = f" · {', '.join(marks)}" if marks else ""
    return (
        f"`v{v.version}` {v.trained} · {v.labels:,} labels · {escape_mrkdwn(v.kind)} · "
        f"audit {_figure(v.audit_accuracy, source='audit', n=v.audit_n)} · "
        f"CV {_figure(v.cv_accuracy, source='cv')}{status}{tail}"
    )


def versions_message(project: str, versions: Sequence[ModelVersion]) -> Block:
    """Answer to `/label models [project]` (ephemeral)."""
    if not versions:
        text = f"*{escape_mrkdwn(project)}* has no models yet: it trains once labels arrive."
        return message(text, [section(text)])
    newest = sorted(versions, key=lambda v: -v.version)
    shown = newest[:MAX_VERSIONS_SHOWN]
    lines = "\n".join(_version_line(v) for v in shown)
    blocks = [
        section(f"*Model versions of {escape_mrkdwn(project)}* (newest first)"),
        section(lines),
    ]
    if len(newest) > MAX_VERSIONS_SHOWN:
        blocks.append(context(f"… and {len(newest) - MAX_VERSIONS_SHOWN} older versions."))
    blocks.append(
        context(
            "Admins: `/label promote|rollback|pin "
            f"{escape(project)} &lt;version&gt;` · `/label unpin {escape(project)}`. "
            "Audit accuracy is measured on randomly drawn labels; CV on the chosen ones."
            + (f" {BEFORE_CHANGE_NOTE}" if any(v.before_taxonomy_change for v in shown) else "")
        )
    )
    return message(f"Model versions of {escape_mrkdwn(project)}", blocks)


def held_back_notice(
    *,
    project: str,
    version: int,
    reason: str,
    audit: float | None,
    active: int | None,
    run_id: int | None = None,
) -> Block:
    """Posted to the project channel when a retrain was not promoted; admins may promote it.
    ``run_id``, the model run's id, goes in the button's value: a click promotes that very run
    or nothing (bot.admin.promote_from_notice)."""
    now = f"v{active} keeps answering" if active is not None else "no version answers yet"
    score = "" if audit is None else f" (audit accuracy {audit:.1%})"
    text = (
        f":pause_button: *{escape_mrkdwn(project)}*: model v{version}{score} was trained but "
        f"held back: {escape_mrkdwn(reason)}. {now}."
    )
    promote = button(
        f"Promote v{version}",
        action_id=ids.PROMOTE_MODEL,
        value=promote_value(project, version, run_id),
        style="primary",
        confirm={
            "title": plain("Promote this model?"),
            "text": plain(f"v{version} will answer predictions and order the queue from now on."),
            "confirm": plain("Promote"),
            "deny": plain("Cancel"),
        },
    )
    return message(
        text,
        [
            section(text),
            actions([promote]),
            context("Only project admins can promote. `/label models` lists every version."),
        ],
    )


def promoted_notice(
    *, project: str, version: int, user: str, pin_moved_from: int | None = None
) -> Block:
    """The held-back notice once an admin promoted the model (replaces the button); when
    another version was pinned, the pin moved to this one (engine.training.activate_version)
    and later retrains are held back as well."""
    text = f":white_check_mark: <@{user}> promoted *{escape_mrkdwn(project)}* model v{version}."
    if pin_moved_from is not None:
        text += (
            f" The pin moved from v{pin_moved_from} to it: retrains are kept, not promoted, "
            f"until `/label unpin {escape(project)}`."
        )
    return message(text, [section(text)])


def superseded_notice(*, project: str, version: int, active: int) -> Block:
    """The held-back notice of v``version`` once a newer v``active`` answers (promoted since):
    its button would put the older model back, so it is gone; the command still does that."""
    text = (
        f":pause_button: *{escape_mrkdwn(project)}*: model v{version} was held back, and v{active} "
        f"was promoted since: v{active} answers. `/label promote {escape(project)} {version}` "
        "promotes the older one on purpose."
    )
    return message(text, [section(text)])


def not_admin(doing: str, project: str) -> str:
    """The refusal to one who is none of ``project``'s admins, in mrkdwn."""
    return _not_admin(doing, f"*{escape_mrkdwn(project)}*", escape(project))


def not_admin_in_form(doing: str, project: str) -> str:
    """:func:`not_admin` under a form's field, which Slack shows as plain text: the name as
    typed, nothing escaped ("bank_" showed as "bank<!date^00000000^{_}|_>")."""
    return _not_admin(doing, project, project)


def _not_admin(doing: str, shown: str, typed: str) -> str:
    return (
        f"Only project admins can {doing} in {shown}: the admins it names, "
        "or the workspace's admins and owners while it names none. Nothing was changed. "
        f"Admins are set with `labelbot project set {typed} --admins U123,U456`."
    )


def settings_message(project: str, settings: Mapping[str, Any], changed: Sequence[str]) -> Block:
    """Answer to `/label settings`: what changed (in bold), and every setting in effect, in the
    order given (engine.project_settings.shown_settings: the channel first)."""
    lines = "\n".join(
        f"{'*' if k in changed else ''}`{escape(k)}` = {escape_mrkdwn(str(value))}"
        f"{'*' if k in changed else ''}"
        for k, value in settings.items()
    )
    head = (
        f"Updated {', '.join(f'`{escape(k)}`' for k in changed)} of *{escape_mrkdwn(project)}*."
        if changed
        else f"Settings of *{escape_mrkdwn(project)}*:"
    )
    return message(head, [section(head), section(lines or "_none set: defaults apply_")])
