"""Who may use labelbot: the members of the workspace it is installed in (on Enterprise Grid, of
its organisation). One Bolt middleware turns everyone else away -- a user of another
organisation in a Slack Connect channel -- before any listener runs: they get no example, no
prediction and no proposal, and nothing they send (a label, a flag, a thread reply) is stored.
Every member passes here, guest accounts too: a guest may use only the projects opened to guests
(bot.flow.open_to, asked where a project is chosen); a full member may use every project, in
whichever channel, private or not (README, "Who may label").

Requests say which team their user belongs to: ``user.team_id`` (clicks, shortcuts and forms),
``user_team`` or else ``team_id`` (slash commands), ``user_team`` in a message event (a shared
channel's messages carry it). On Enterprise Grid the team may be the organisation's id (E…);
a user of another workspace of the installing organisation (T…) is told apart by the
organisation the request names for its actor (Bolt's ``actor_enterprise_id``). A request that
names no team (app_home_opened, a message in a channel shared with nobody) goes through.

A refused request that Slack sent for another workspace than the bot token's (Bolt's
``team_id``), outside a Slack Connect channel, most likely says that SLACK_BOT_TOKEN is another
workspace's install (everyone is refused then): that is logged as a WARNING for the operator,
at most once per ``WRONG_INSTALL_REPEAT_S`` for each workspace.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltContext, BoltResponse
from slack_sdk import WebClient

from bot.admin import installing_team
from bot.listeners.registrar import ErrorHandler
from bot.services import Services
from bot.throttle import Throttle
from storage.errors import LabelbotError

log = logging.getLogger(__name__)

Middleware = Callable[..., BoltResponse | None]


class OutsiderError(LabelbotError):
    """A request from a user of another organisation than labelbot's: nothing was done."""


WRONG_INSTALL_REPEAT_S = 600.0

REFUSAL = (
    "only people of the organisation that installed labelbot can use it, and you joined this "
    "conversation from another one (Slack Connect): nothing was done"
)


def user_team(body: dict[str, Any]) -> str | None:
    """The team (T…) or Enterprise Grid organisation (E…) the request's user belongs to, as
    the request says; None where it does not say."""
    user = body.get("user")
    if isinstance(user, dict) and user.get("team_id"):
        return str(user["team_id"])
    if body.get("command"):  # a slash command: its form fields
        return str(body.get("user_team") or body.get("team_id") or "") or None
    event = body.get("event")
    if isinstance(event, dict):
        edited = event.get("message")
        found = event.get("user_team") or (edited or {}).get("user_team")
        return str(found) if found else None
    return None


def is_member(
    *, team: str | None, enterprise: str | None, home_team: str | None, home_enterprise: str | None
) -> bool:
    """Whether a user of ``team``, acting in organisation ``enterprise``, belongs to labelbot's
    installation: workspace ``home_team`` of organisation ``home_enterprise`` (None off Grid)."""
    if team is None or home_team is None:
        return True  # the request does not say (nor can we tell whose labelbot this is)
    if team in (home_team, home_enterprise):
        return True
    # another workspace of our Grid organisation; an organisation's id (E…) is told already
    grid_workspace = home_enterprise is not None and not team.startswith("E")
    return grid_workspace and enterprise == home_enterprise


def slack_connect(body: dict[str, Any]) -> bool:
    """Whether the request says it comes through a channel shared with another organisation
    (an event's ``is_ext_shared_channel``, a channel object's ``is_ext_shared``)."""
    channel = body.get("channel")
    shared = isinstance(channel, dict) and channel.get("is_ext_shared")
    return bool(body.get("is_ext_shared_channel") or shared)


class WrongInstallWatch:
    """Logs a request Slack sent for another workspace than the bot token's: at most once per
    ``repeat_after`` seconds for each workspace (a misinstall refuses every request)."""

    def __init__(
        self,
        *,
        repeat_after: float = WRONG_INSTALL_REPEAT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._teams = Throttle(repeat_after, clock=clock)  # by the request's workspace

    def seen(self, *, team: str, home_team: str) -> None:
        if not self._teams.due(team):
            return
        log.warning(
            "a request from workspace %s while SLACK_BOT_TOKEN is %s's: if every request says "
            "so, the token is another workspace's install: install the app to %s and use that "
            "token",
            team,
            home_team,
            team,
        )


def members_only(on_error: ErrorHandler, *, watch: WrongInstallWatch | None = None) -> Middleware:
    """The middleware: a member's request goes on to its listener; anyone else's is answered
    200 at once (Slack must not retry it) and, but for an event, refused in an ephemeral
    message through ``on_error``, the app's one error handler, after the answer. A refusal of
    a request sent for another workspace than the token's goes to ``watch`` too."""
    watch = watch or WrongInstallWatch()

    def members_only(
        body: dict[str, Any], context: BoltContext, client: WebClient, next: Callable[[], Any]
    ) -> BoltResponse | None:
        team = user_team(body)
        authorized = context.authorize_result
        home_enterprise = authorized.enterprise_id if authorized is not None else None
        home_team = installing_team(context)
        enterprise = context.actor_enterprise_id
        if is_member(
            team=team, enterprise=enterprise, home_team=home_team, home_enterprise=home_enterprise
        ):
            return next()  # type: ignore[no-any-return]
        log.info(
            "refused a %s request from %s of team %s (organisation %s): labelbot is %s's (%s)",
            body.get("type") or body.get("command") or "Slack",
            context.user_id,
            team,
            enterprise,
            home_team,
            home_enterprise,
        )
        sent_for = context.team_id  # the installation Slack sent it to (Bolt reads it so)
        if (
            sent_for
            and home_team
            and authorized is not None
            and sent_for != home_team
            and (home_enterprise is None or context.enterprise_id != home_enterprise)
            and not slack_connect(body)
        ):
            watch.seen(team=sent_for, home_team=home_team)
        if body.get("type") != "event_callback":  # nobody waits on an event: the log says it
            services: Services = context["services"]
            services.listener_executor.submit(
                on_error, OutsiderError(REFUSAL), body, context, client, context.respond
            )
        return BoltResponse(status=200, body="")

    return members_only
