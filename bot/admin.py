"""What project admins do from Slack: model versions, promote / roll back / pin, settings, digests.

Project admins are the Slack user ids in the project's ``admins`` setting; a project without
any falls back to the Slack workspace's admins and owners (``users.info``, asked through
``Services.workspace_admins``), and only to members of the workspace labelbot is installed in.
Listeners ack, call :func:`is_admin` and then one step here; engine errors travel to the app's
error handler.
"""

from __future__ import annotations

import shlex
from datetime import UTC, datetime

from slack_bolt import BoltContext

from bot import views
from bot.digests import PostedDigest, post_digest
from bot.services import Services
from bot.slack_text import Mrkdwn, escape, escape_mrkdwn
from bot.views import admin as admin_views
from bot.views.text import Block
from bot.workspace_admins import AdminCheckError
from engine import digest, project_settings, projects, taxonomy, training
from storage.errors import InvalidInputError, StaleActionError
from storage.models import ModelRun, as_utc

# verb -> what it does, for "Only project admins can ..." and the confirmation
MODEL_ACTIONS = {
    "promote": "promote a model",
    "rollback": "roll back the model",
    "pin": "pin a model",
    "unpin": "unpin the model",
}


def installing_team(context: BoltContext) -> str | None:
    """The workspace labelbot is installed in: its token's team (auth.test, which Bolt calls),
    else the team the request names."""
    authorized = context.authorize_result
    return (authorized.team_id if authorized is not None else None) or context.team_id


def is_admin(services: Services, *, user: str, project: str, team: str | None) -> bool:
    """Whether ``user`` administers ``project``: its admins, else the admins and owners of
    ``team``, the installing workspace (:func:`installing_team`). A workspace admin of another
    organisation, clicking in a Slack Connect channel, is none of ours; nor is anyone when
    ``team`` is unknown. Raises bot.workspace_admins.AdminCheckError when Slack does not
    answer in time."""
    settings = projects.get_project(services.ws, project).settings
    admins = [str(a) for a in settings.get("admins") or []]
    if admins:
        return user in admins
    member = services.workspace_admins.member(user)
    return member.admin and team is not None and team in member.teams


def _version_row(run: ModelRun, pinned: object, changed: datetime | None) -> views.ModelVersion:
    """One row of `/label models`, with what `labelbot models` says of the version: among it
    whether it was trained before the latest taxonomy change (``changed``), which every such
    version is marked with, the active one or not (its figures measured the labels as they
    were then)."""
    scored = run.metrics.get("audit") or {}
    audit, n = scored.get("accuracy"), scored.get("n")
    promotion = run.metrics.get("promotion") or {}
    held = run.status == "ready" and not run.is_active and not promotion.get("promoted", True)
    return views.ModelVersion(
        version=run.version,
        trained=run.created_at.strftime("%Y-%m-%d %H:%M"),
        labels=run.n_labels,
        kind=training.kind_shown(run),
        cv_accuracy=run.metrics.get("accuracy"),
        audit_accuracy=None if audit is None else float(audit),
        status=run.status if run.artifact_path or run.status != "ready" else "file pruned",
        active=run.is_active,
        pinned=run.version == pinned,
        held_back=str(promotion.get("reason", "")) if held else None,
        audit_n=None if audit is None or n is None else int(n),
        before_taxonomy_change=run.status == "ready" and taxonomy.trained_before(run, changed),
    )


def versions(services: Services, *, project: str) -> Block:
    found = projects.get_project(services.ws, project)
    pinned = found.settings.get("pinned_version")
    changed = taxonomy.changed_at(found)  # the latest taxonomy change (None: never)
    runs = training.list_versions(services.ws, project)
    return admin_views.versions_message(project, [_version_row(r, pinned, changed) for r in runs])


def change_model(services: Services, *, verb: str, project: str, version: int | None) -> str:
    """promote / rollback / pin / unpin; returns the sentence to tell the admin."""
    ws, name = services.ws, escape_mrkdwn(project)
    if verb == "unpin":
        if training.unpin(ws, project) is None:
            return f"No version of *{name}* is pinned: nothing changed."  # as the CLI says
        return f"*{name}* is unpinned: retrains that are not worse will be promoted again."
    if version is None:
        raise InvalidInputError(f"which version? `/label {verb} {project} <version>`")
    if verb == "pin":
        training.pin_version(ws, project, version)
        return f"*{name}*: v{version} is active and pinned (retrains are kept, not promoted)."
    pinned = training.activate_version(ws, project, version).pin_moved_from
    moved = f" The pin moved from v{pinned} to it." if pinned is not None else ""
    return f"*{name}*: v{version} is active and answers from now on.{moved}"


def promote_from_notice(
    services: Services,
    *,
    project: str,
    version: int,
    user: str,
    channel: str,
    ts: str,
    run_id: int | None = None,
) -> None:
    """ "Promote vN" on the held-back notice at ``channel``/``ts``: vN answers, and the notice
    says who promoted it and, when another version was pinned, that the pin moved to vN (every
    later retrain is held back as well, as `/label promote` says).

    Refused (StaleActionError) when a newer version answers now: the notice was drawn before it
    was promoted, and a click on it days later would put the older model back over the newer
    one without a word. The notice is redrawn without its button, as a stale proposal card is
    (taxonomy_flow._refuse_stale); `/label promote` still promotes vN on purpose.

    Refused as well, the notice left as it is, when the notice is not of this project's vN: a
    project deleted and created again under its name has a vN of its own, which that notice
    never described. Its button names the model run (``run_id``); a notice posted before it did
    is refused when it is older than the project (:func:`_not_of_this_project`)."""
    ws = services.ws
    versions = training.list_versions(ws, project)
    _not_of_this_project(services, project=project, version=version, run_id=run_id, ts=ts,
                         versions=versions)  # fmt: skip
    active = next((r.version for r in versions if r.is_active), None)
    done = None
    if active is None or active <= version:  # else refused at once, without the re-score
        # a retrain promoted meanwhile is read again in turn with the activation
        made = training.activate_version(ws, project, version, unless_newer=True)
        active = made.newer_active
        done = admin_views.promoted_notice(
            project=project, version=version, user=user, pin_moved_from=made.pin_moved_from
        )
    if active is not None and active > version:
        gone = admin_views.superseded_notice(project=project, version=version, active=active)
        services.courier.update(gone, channel=channel, ts=ts)
        raise StaleActionError(
            Mrkdwn(
                f"*{escape_mrkdwn(project)}*: v{active} answers now, promoted after this "
                f"notice of v{version} was posted. `/label promote {escape(project)} {version}` "
                f"promotes v{version} in its place."
            )
        )
    assert done is not None
    services.courier.update(done, channel=channel, ts=ts)


def _not_of_this_project(
    services: Services,
    *,
    project: str,
    version: int,
    run_id: int | None,
    ts: str,
    versions: list[ModelRun],
) -> None:
    """Raise StaleActionError when the held-back notice at ``ts`` offering v``version`` (of
    model run ``run_id``) is not of ``project``'s v``version``: another run has that number (or
    none does), or, for a notice whose button names no run, the notice is older than the
    project (a namesake's, deleted since; Slack's ts is the time it was posted)."""
    run = next((r for r in versions if r.version == version), None)
    if run_id is not None:
        if run is not None and run.id == run_id:
            return
    else:
        created = projects.get_project(services.ws, project).created_at
        try:
            posted = datetime.fromtimestamp(float(ts), tz=UTC)
        except (ValueError, OverflowError):
            posted = None
        if posted is not None and posted >= as_utc(created):
            return
    name = escape_mrkdwn(project)
    raise StaleActionError(
        Mrkdwn(
            f"This notice is of a model v{version} that *{name}* no longer has: it was posted "
            f"before *{name}* was deleted and created again (or before v{version} was removed), "
            f"so its button does not promote today's v{version}. `/label models {escape(project)}` "
            f"lists the versions, `/label promote {escape(project)} VERSION` promotes one"
        )
    )


def parse_settings(text: str) -> dict[str, str]:
    """``retrain_every=30 digest_cron="0 9 * * mon-fri"`` → a dict of strings (typographic
    quotes and dashes read as ASCII ones)."""
    try:
        words = shlex.split(project_settings.straight_punctuation(text))
    except ValueError as exc:  # an unclosed quote
        raise InvalidInputError(f"cannot read the settings: {exc}") from None
    pairs: dict[str, str] = {}
    for word in words:
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise InvalidInputError(
                f"write settings as key=value, not {word!r} "
                f'(e.g. retrain_every=30 digest_cron="0 9 * * mon-fri")'
            )
        key, value = key.strip(), value.strip()
        if pairs.get(key, value) != value:  # the last one was stored without a word
            raise InvalidInputError(
                f"setting {key} is given twice ({pairs[key]} and {value}): give it once. "
                "Nothing was changed"
            )
        pairs[key] = value
    return pairs


def change_settings(
    services: Services, *, project: str, text: str, user: str, team: str | None
) -> Block:
    """Validate (as `labelbot project set` does) and store; an empty ``text`` only shows them.
    Either way the answer lists the channel and every setting in effect, defaults marked.
    New ``admins`` that would leave out ``user``, the admin making the change, are refused."""
    pairs = parse_settings(text)
    changes = project_settings.check_settings(project_settings.parse_settings(pairs))
    if "admins" in changes:
        _keep_yourself(services, project=project, admins=changes["admins"], user=user, team=team)
        _check_people(services, admins=changes["admins"])
    if changes:
        project_settings.change_settings(services.ws, project=project, changes=changes)
    shown = project_settings.shown_settings(projects.get_project(services.ws, project))
    return admin_views.settings_message(project, shown, list(changes))


def _keep_yourself(
    services: Services, *, project: str, admins: list[str], user: str, team: str | None
) -> None:
    """Refuse new ``admins`` under which ``user`` would no longer administer ``project`` (see
    :func:`is_admin`): an admin who leaves themselves out is locked out of the settings that
    would undo it. No admins at all falls back to the workspace's admins and owners."""
    if user in admins:
        return
    if not admins:
        member = services.workspace_admins.member(user)
        if member.admin and team is not None and team in member.teams:
            return
        why = "with no admins, only the workspace's admins and owners administer it"
    else:
        why = "you are not among the new admins"
    raise InvalidInputError(
        f"you would no longer be an admin of {project} ({why}): include yourself, e.g. "
        f"`admins={','.join([*admins, user])}`. Nothing was changed"
    )


def _check_people(services: Services, *, admins: list[str]) -> None:
    """Refuse new ``admins`` naming an id Slack does not know (a typo: a well-formed id of no
    one the bot can see), or an account deactivated in Slack: such an admin could never
    click. The check is users.info, kept a few minutes; when Slack does not answer in time,
    the ids go unchecked (their shape was checked) rather than refuse the change."""
    wrong: list[str] = []
    for admin_id in admins:
        try:
            member = services.workspace_admins.member(admin_id)
        except AdminCheckError:
            return
        if not member.found:
            wrong.append(f"{admin_id} is no Slack user labelbot can see")
        elif member.deactivated:
            wrong.append(f"{admin_id}'s account is deactivated")
    if wrong:
        raise InvalidInputError(
            f"cannot make them admins: {'; '.join(wrong)}. Use the member ID from their "
            "Slack profile (⋮, Copy member ID), or @-mention them. Nothing was changed"
        )


def post_digest_now(services: Services, *, project: str) -> PostedDigest:
    """Post the digest to the channel now; it counts as the latest digest once posted."""
    posted = post_digest(services.client, services.ws, project)
    if not posted.notified_admins:
        digest.mark_sent(services.ws, project, counted_until=posted.counted_until)
    return posted
