"""What project admins do from Slack: model versions, promote / roll back / pin, settings, digests.

Project admins are the Slack user ids in the project's ``admins`` setting; a project without
any falls back to the Slack workspace's admins and owners (``users.info``), and only to members
of the workspace labelbot is installed in. Listeners ack, call :func:`is_admin` and then one
step here; engine errors travel to the app's error handler.
"""

from __future__ import annotations

import logging
import shlex
import threading
import time
import weakref
from dataclasses import dataclass
from http.client import HTTPException
from typing import Any

from slack_bolt import BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import views
from bot.delivery import single_try
from bot.digests import PostedDigest, post_digest
from bot.services import Services
from bot.slack_text import escape
from bot.views import admin as admin_views
from bot.views.text import Block
from engine import digest, project_settings, projects, training
from storage.errors import InvalidInputError, LabelbotError
from storage.models import ModelRun

log = logging.getLogger(__name__)

MAX_VERSION_DIGITS = 9  # a version past 999,999,999 is a typo (and past SQLite's INTEGER, 20)
# verb -> what it does, for "Only project admins can ..." and the confirmation
MODEL_ACTIONS = {
    "promote": "promote a model",
    "rollback": "roll back the model",
    "pin": "pin a model",
    "unpin": "unpin the model",
}


# The workspace-admin check runs before an ack (a modal submission) or before views.open (whose
# trigger_id lasts 3 seconds): users.info gets this long, once, and is never retried -- the
# bot's client sleeps through a rate limit's Retry-After, past Slack's 3-second window.
CHECK_TIMEOUT = 1.5  # seconds
# users.info answers are kept this long (seconds): one lookup per admin per few minutes.
CHECK_MEMORY = 300.0
# users.info errors that mean "no member we can see", not "try again".
NOT_A_MEMBER = frozenset({"user_not_found", "user_not_visible"})
NOT_CHECKED = (
    "Could not check your admin rights with Slack just now, so nothing was changed. "
    "Please try again in a moment."
)


class AdminCheckError(LabelbotError):
    """Slack did not say in time whether a user is a workspace admin: nothing was done."""


@dataclass(frozen=True)
class _Member:
    teams: frozenset[str]  # the workspaces the user belongs to
    admin: bool  # a workspace admin or owner there
    until: float  # time.monotonic() after which users.info is asked again


class _WorkspaceAdmins:
    """users.info through a client that does not retry, its answers kept a few minutes."""

    def __init__(self, client: WebClient) -> None:
        self.quick = single_try(client, timeout=CHECK_TIMEOUT)
        self._known: dict[str, _Member] = {}
        self._lock = threading.Lock()

    def member(self, user: str) -> _Member:
        now = time.monotonic()
        with self._lock:
            known = self._known.get(user)
        if known is not None and known.until > now:
            return known
        try:
            # https://docs.slack.dev/reference/methods/users.info (users:read)
            found: dict[str, Any] = self.quick.users_info(user=user)["user"]
        except SlackApiError as exc:  # rate limited (429), a server error, ...
            error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
            if error not in NOT_A_MEMBER:
                status = exc.response.status_code
                log.warning(
                    "users.info for %s: HTTP %s %s; admin check refused", user, status, error
                )
                raise AdminCheckError(NOT_CHECKED) from exc
            found = {}
        except (OSError, HTTPException) as exc:  # a timeout, a refused or dropped connection
            log.warning("users.info for %s: %r; admin check refused", user, exc)
            raise AdminCheckError(NOT_CHECKED) from exc
        admin = bool(found.get("is_admin") or found.get("is_owner"))
        member = _Member(teams=_teams(found), admin=admin, until=now + CHECK_MEMORY)
        with self._lock:
            self._known[user] = member
        return member


def _teams(user: dict[str, Any]) -> frozenset[str]:
    """The user's workspace, and on Enterprise Grid every workspace of the org they are in."""
    grid = user.get("enterprise_user") or {}
    return frozenset(str(t) for t in [user.get("team_id"), *(grid.get("teams") or [])] if t)


# One per Web API client (so per Services): tests build many, a process one.
_checkers: weakref.WeakKeyDictionary[WebClient, _WorkspaceAdmins] = weakref.WeakKeyDictionary()
_checkers_lock = threading.Lock()


def _workspace_admins(client: WebClient) -> _WorkspaceAdmins:
    with _checkers_lock:
        checker = _checkers.get(client)
        if checker is None:
            checker = _checkers[client] = _WorkspaceAdmins(client)
        return checker


def installing_team(context: BoltContext) -> str | None:
    """The workspace labelbot is installed in: its token's team (auth.test, which Bolt calls),
    else the team the request names."""
    authorized = context.authorize_result
    return (authorized.team_id if authorized is not None else None) or context.team_id


def is_admin(services: Services, *, user: str, project: str, team: str | None) -> bool:
    """Whether ``user`` administers ``project``: its admins, else the admins and owners of
    ``team``, the installing workspace (:func:`installing_team`). A workspace admin of another
    organisation, clicking in a Slack Connect channel, is none of ours; nor is anyone when
    ``team`` is unknown. Raises AdminCheckError when Slack does not answer in time."""
    settings = projects.get_project(services.ws, project).settings
    admins = [str(a) for a in settings.get("admins") or []]
    if admins:
        return user in admins
    member = _workspace_admins(services.client).member(user)
    return member.admin and team is not None and team in member.teams


def _version_row(run: ModelRun, pinned: object) -> views.ModelVersion:
    audit = (run.metrics.get("audit") or {}).get("accuracy")
    promotion = run.metrics.get("promotion") or {}
    held = run.status == "ready" and not run.is_active and not promotion.get("promoted", True)
    return views.ModelVersion(
        version=run.version,
        trained=run.created_at.strftime("%Y-%m-%d %H:%M"),
        labels=run.n_labels,
        kind=run.kind,
        cv_accuracy=run.metrics.get("accuracy"),
        audit_accuracy=None if audit is None else float(audit),
        status=run.status if run.artifact_path or run.status != "ready" else "file pruned",
        active=run.is_active,
        pinned=run.version == pinned,
        held_back=str(promotion.get("reason", "")) if held else None,
    )


def versions(services: Services, *, project: str) -> Block:
    pinned = projects.get_project(services.ws, project).settings.get("pinned_version")
    runs = training.list_versions(services.ws, project)
    return admin_views.versions_message(project, [_version_row(r, pinned) for r in runs])


def parse_version(text: str) -> int:
    """``3`` or ``v3``: decimal digits only (isdigit() also takes "²", which int() refuses),
    and few enough to be a version the database can look up."""
    digits = text.lstrip("vV")
    if not digits.isdecimal() or len(digits) > MAX_VERSION_DIGITS:
        raise InvalidInputError(f"{text!r} is not a model version (e.g. 3 or v3)")
    return int(digits)


def change_model(services: Services, *, verb: str, project: str, version: int | None) -> str:
    """promote / rollback / pin / unpin; returns the sentence to tell the admin."""
    ws, name = services.ws, escape(project)
    if verb == "unpin":
        training.unpin(ws, project)
        return f"*{name}* is unpinned: retrains that are not worse will be promoted again."
    if version is None:
        raise InvalidInputError(f"which version? `/label {verb} {project} <version>`")
    if verb == "pin":
        training.pin_version(ws, project, version)
        return f"*{name}*: v{version} is active and pinned (retrains are kept, not promoted)."
    pinned = training.activate_version(ws, project, version).pin_moved_from
    moved = f" The pin moved from v{pinned} to it." if pinned is not None else ""
    return f"*{name}*: v{version} is active and answers from now on.{moved}"


def parse_settings(text: str) -> dict[str, str]:
    """``retrain_every=30 digest_cron="0 9 * * mon-fri"`` → a dict of strings."""
    try:
        words = shlex.split(text)
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
        pairs[key.strip()] = value.strip()
    return pairs


def change_settings(services: Services, *, project: str, text: str) -> Block:
    """Validate (as `labelbot project set` does) and store; an empty ``text`` only shows them.
    Either way the answer lists the channel and every setting in effect, defaults marked."""
    pairs = parse_settings(text)
    changes = project_settings.parse_settings(pairs)
    if changes:
        project_settings.change_settings(services.ws, project=project, changes=changes)
    shown = project_settings.shown_settings(projects.get_project(services.ws, project))
    return admin_views.settings_message(project, shown, list(changes))


def post_digest_now(services: Services, *, project: str) -> PostedDigest:
    """Post the digest to the channel now; it counts as the latest digest once posted."""
    posted = post_digest(services.client, services.ws, project)
    if not posted.notified_admins:
        digest.mark_sent(services.ws, project)
    return posted
