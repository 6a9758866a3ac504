"""Who administers the Slack workspace labelbot is installed in: users.info, asked once per user
every few minutes (an admin's "yes" every minute), through a client that never waits past
Slack's 3-second windows.

Projects without ``admins`` fall back to the workspace's admins and owners (bot.admin.is_admin).
One :class:`WorkspaceAdmins` per :class:`bot.services.Services`, built with it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.client import HTTPException
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.delivery import single_try
from bot.slack_errors import AUTH_ERRORS
from storage.errors import LabelbotError

log = logging.getLogger(__name__)

# The workspace-admin check runs before an ack (a modal submission) or before views.open (whose
# trigger_id lasts 3 seconds): users.info gets this long, once, and is never retried -- the
# bot's client sleeps through a rate limit's Retry-After, past Slack's 3-second window.
CHECK_TIMEOUT = 1.5  # seconds
# users.info answers are kept this long (seconds): one lookup per person per few minutes. A
# workspace admin's "yes" is kept a minute only: one demoted in Slack loses labelbot's admin
# powers within it (a "no" kept longer refuses nobody anything they may do).
CHECK_MEMORY = 300.0
ADMIN_MEMORY = 60.0
# users.info errors that mean "no member we can see", not "try again".
NOT_A_MEMBER = frozenset({"user_not_found", "user_not_visible"})
NOT_CHECKED = (
    "Could not check your admin rights with Slack just now, so nothing was changed. "
    "Please try again in a moment."
)
# users.info refusals that last until someone changes the app or its token (revoked, the bot
# user deactivated, the users:read scope missing): "try again" would not help.
LASTING_ERRORS = AUTH_ERRORS | {"missing_scope", "not_allowed_token_type"}
NOT_ALLOWED = (
    "Could not check your admin rights: Slack refused labelbot's question (`{error}`), and "
    "that will not pass by itself, so nothing was changed. Ask whoever runs labelbot to fix "
    "the app's token or scopes (users.info needs users:read); or name the project's admins "
    "with `labelbot project set NAME --admins U0123ABCD`, which needs no such check."
)


class AdminCheckError(LabelbotError):
    """Slack did not say in time whether a user is a workspace admin: nothing was done.
    ``error``: Slack's error code, if it gave one; ``lasting``: whether it lasts until someone
    fixes the app (its token, its scopes), rather than passes (a rate limit, a timeout)."""

    def __init__(self, message: str, *, error: str | None = None, lasting: bool = False) -> None:
        super().__init__(message)
        self.error = error
        self.lasting = lasting


@dataclass(frozen=True)
class Member:
    teams: frozenset[str]  # the workspaces the user belongs to
    admin: bool  # a workspace admin or owner there
    guest: bool  # a guest account (multi- or single-channel): is_(ultra_)restricted
    until: float  # WorkspaceAdmins.clock() after which users.info is asked again
    deactivated: bool = False  # an account deactivated in Slack (users.info: deleted)

    @property
    def found(self) -> bool:
        """Whether Slack knows the user (users.info did not answer user_not_found)."""
        return bool(self.teams)


class WorkspaceAdmins:
    """users.info through a client that does not retry, its answers kept a few minutes (an
    admin's one minute)."""

    def __init__(self, client: WebClient, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.quick = single_try(client, timeout=CHECK_TIMEOUT)
        self.clock = clock  # when answers expire (tests move it on)
        self._known: dict[str, Member] = {}
        self._lock = threading.Lock()

    def member(self, user: str) -> Member:
        """What Slack says of ``user``; AdminCheckError when it does not answer in time, or
        refuses to (its message says whether trying again may help)."""
        now = self.clock()
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
                if error in LASTING_ERRORS:
                    said = NOT_ALLOWED.format(error=error)
                    raise AdminCheckError(said, error=error, lasting=True) from exc
                raise AdminCheckError(NOT_CHECKED, error=error) from exc
            found = {}
        except (OSError, HTTPException) as exc:  # a timeout, a refused or dropped connection
            log.warning("users.info for %s: %r; admin check refused", user, exc)
            raise AdminCheckError(NOT_CHECKED) from exc
        admin = bool(found.get("is_admin") or found.get("is_owner"))
        kept = ADMIN_MEMORY if admin else CHECK_MEMORY
        guest = bool(found.get("is_restricted") or found.get("is_ultra_restricted"))
        member = Member(
            teams=_teams(found), admin=admin, guest=guest, until=now + kept,
            deactivated=bool(found.get("deleted")),
        )  # fmt: skip
        with self._lock:
            self._known[user] = member
        return member


def _teams(user: dict[str, Any]) -> frozenset[str]:
    """The user's workspace, and on Enterprise Grid every workspace of the org they are in."""
    grid = user.get("enterprise_user") or {}
    return frozenset(str(t) for t in [user.get("team_id"), *(grid.get("teams") or [])] if t)
