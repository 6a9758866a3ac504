"""Clicks in the labeling DM, on the App Home tab, on a held-back model's notice, on a
taxonomy proposal and on disagreement and flag threads."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, BoltContext, Respond
from slack_sdk import WebClient

from bot import (
    admin,
    disputes,
    flag_threads,
    flow,
    ids,
    review_flow,
    rhythm_flow,
    taxonomy_flow,
)
from bot.listeners.registrar import Registrar
from bot.listeners.shape import STALE, example_id, read
from bot.services import Services
from bot.slack_text import escape, escape_mrkdwn
from bot.views import admin as admin_views
from bot.views import info_message, parse_label_value
from bot.views.disputes import parse_settle_value
from bot.views.proposals import parse_proposal_value
from bot.views.review import parse_review_value
from bot.views.rhythm import batch_closed, parse_snooze_value
from bot.workspace_admins import AdminCheckError
from engine import messaging, project_settings, projects, reviews
from storage.errors import LabelbotError, StaleActionError

log = logging.getLogger(__name__)


def register(app: Registrar) -> None:
    app.action(ids.LABEL_PATTERN)(label_clicked)
    app.action(ids.LABEL_SELECT)(label_selected)
    app.action(ids.SKIP)(skip_clicked)
    app.action(ids.UNDO)(undo_clicked)
    app.action(ids.DISCUSS)(discuss_clicked)
    app.action(ids.FLAG)(flag_clicked)
    app.action(ids.SHOW_FULL_TEXT)(show_full_text)
    app.action(ids.HOME_START_BATCH)(start_batch)
    app.action(ids.PROMOTE_MODEL)(promote_clicked)
    app.action(ids.PROPOSAL_APPROVE)(proposal_approved)
    app.action(ids.PROPOSAL_REJECT)(proposal_rejected)
    app.action(ids.PROPOSAL_EDIT)(proposal_edit_clicked)
    app.action(ids.PROPOSAL_UNDO)(proposal_undo_clicked)
    app.action(ids.REVIEW_KEEP)(review_kept)
    app.action(ids.REVIEW_CHANGE)(review_changed)
    app.action(ids.REVIEW_SELECT)(review_changed)
    app.action(ids.SETTLE_PATTERN)(settle_clicked)
    app.action(ids.FLAG_RESOLVE)(flag_resolve_clicked)
    app.action(ids.BATCH_MORE)(batch_more)
    app.action(ids.BATCH_DONE)(batch_done)
    app.action(ids.SNOOZE)(snooze_chosen)


def _where(body: dict[str, Any]) -> dict[str, str]:
    """The clicker and the message clicked on (the labeling DM). The shape of ``user`` and
    ``trigger_id`` is checked before any listener runs (bot.listeners.shape); a click on no
    message (a forged container) is out of date."""
    container = body.get("container") or {}
    if "channel_id" not in container or "message_ts" not in container:
        raise StaleActionError(STALE)  # a click on no message (bot.listeners.shape checks both)
    return {
        "user": body["user"]["id"],
        "channel": container["channel_id"],
        "ts": container["message_ts"],
    }


NOT_IN_A_DM = (
    "This button belongs in your own direct messages with labelbot, and this click came from "
    "elsewhere: nothing was changed."
)


def _in_dm(body: dict[str, Any], respond: Respond, client: WebClient) -> dict[str, str] | None:
    """:func:`_where` of a click on a button labelbot only posts in the clicker's DM with it (a
    batch's summary); None, after telling the clicker (ephemeral), for a click whose message is
    elsewhere: a click made up by hand names any message -- a proposal card or a notice in a
    channel, another expert's summary in their DM -- which updating would overwrite for good.
    The clicker (``user``, which Slack vouches for) is asked of Slack, not of the click: their
    DM with labelbot is the one conversations.open gives (the same every time; im:write).
    https://docs.slack.dev/reference/methods/conversations.open"""
    where = _where(body)
    # A DM's id starts with D; a public or private channel's, a group DM's with C or G: those
    # need no call.
    if where["channel"].startswith("D"):
        opened = client.conversations_open(users=where["user"])
        if (opened.get("channel") or {}).get("id") == where["channel"]:
            return where
        log.warning("a %s click by %s on message %s of %s, not their DM with labelbot: refused",
                    (body.get("actions") or [{}])[0].get("action_id"), where["user"],
                    where["ts"], where["channel"])  # fmt: skip
    respond(**info_message(NOT_IN_A_DM), response_type="ephemeral", replace_original=False)
    return None


def _open_to_clicker(services: Services, *, user: str, example_id: int) -> None:
    """Refuse (bot.flow.GuestRefused) a click by a guest account on an example of a project
    closed to guests: one sent to them while it was open, and closed since, would store their
    answer and send them the next example. users.info is asked (its answers kept a few
    minutes) only for a project closed to guests. An example that is gone is left to the
    listener's own answer.

    When Slack cannot say (users.info down, rate-limited, a scope removed) the answer is taken:
    the example was sent to them, or they took part, when they were allowed, so failing closed
    here would lose every expert's labels to a users.info hiccup to stop, at most, a guest
    whose project closed in the meantime (new work, `/label`, still fails closed)."""
    try:
        project = projects.get_project(
            services.ws, messaging.example_ref(services.ws, example_id=example_id).project
        )
    except LabelbotError:
        return
    if project_settings.guests_allowed(project):
        return
    try:
        guest = services.workspace_admins.member(user).guest
    except AdminCheckError as exc:
        said = exc.error or exc
        log.warning("could not check whether %s is a guest account (Slack said %s): their "
                    "answer on example %d is taken", user, said, example_id)  # fmt: skip
        return
    if guest:
        flow.check_open(services, user=user, project=project.name)


def _example_of_review(services: Services, review_id: int) -> int | None:
    """The example a review asks about (the review's own, not the button's copy)."""
    try:
        return reviews.review_example(services.ws, review_id=review_id)
    except LabelbotError:
        return None


def _chosen(action: dict[str, Any]) -> object:
    """The value of the option chosen in a menu, or of the button clicked."""
    if "selected_option" in action:
        return (action["selected_option"] or {}).get("value")
    return action.get("value")


def label_clicked(
    ack: Ack, action: dict[str, Any], body: dict[str, Any], context: BoltContext
) -> None:
    ack()
    example_id, label = read(parse_label_value, action.get("value"))
    where = _where(body)
    _open_to_clicker(context["services"], user=where["user"], example_id=example_id)
    flow.apply_label(context["services"], example_id=example_id, label=label, **where)


def label_selected(
    ack: Ack, action: dict[str, Any], body: dict[str, Any], context: BoltContext
) -> None:
    ack()
    example_id, label = read(parse_label_value, _chosen(action))
    where = _where(body)
    _open_to_clicker(context["services"], user=where["user"], example_id=example_id)
    flow.apply_label(context["services"], example_id=example_id, label=label, **where)


def skip_clicked(
    ack: Ack, action: dict[str, Any], body: dict[str, Any], context: BoltContext
) -> None:
    ack()
    clicked, where = example_id(action.get("value")), _where(body)
    _open_to_clicker(context["services"], user=where["user"], example_id=clicked)
    flow.skip(context["services"], example_id=clicked, **where)


def undo_clicked(
    ack: Ack, action: dict[str, Any], body: dict[str, Any], context: BoltContext
) -> None:
    ack()
    clicked, where = example_id(action.get("value")), _where(body)
    _open_to_clicker(context["services"], user=where["user"], example_id=clicked)
    flow.undo(context["services"], example_id=clicked, **where)


def discuss_clicked(
    ack: Ack, action: dict[str, Any], body: dict[str, Any], context: BoltContext
) -> None:
    ack()
    clicked, where = example_id(action.get("value")), _where(body)
    _open_to_clicker(context["services"], user=where["user"], example_id=clicked)
    flow.discuss(context["services"], example_id=clicked, **where)


def flag_clicked(
    ack: Ack, action: dict[str, Any], body: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    ack()
    # trigger_id expires 3 s after the click: the modal opens before anything slow (the check
    # that the message is the clicker's is one read of the database).
    clicked, where = example_id(action.get("value")), _where(body)
    _open_to_clicker(context["services"], user=where["user"], example_id=clicked)
    form = flow.flag_form_for(context["services"], example_id=clicked, **where)
    client.views_open(trigger_id=body["trigger_id"], view=form)


def show_full_text(
    ack: Ack, action: dict[str, Any], body: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    ack()
    view = flow.full_text(
        context["services"], example_id=example_id(action.get("value")), user=body["user"]["id"]
    )
    client.views_open(trigger_id=body["trigger_id"], view=view)


def start_batch(
    ack: Ack, action: dict[str, Any], body: dict[str, Any], context: BoltContext
) -> None:
    ack()
    services: Services = context["services"]
    user = body["user"]["id"]
    project = flow.resolve_project(services, read(str, action.get("value")), user=user)
    if not flow.start_batch(services, user=user, project=project, click=True):
        services.courier.post(info_message(flow.queue_empty(project)), channel=user)


def promote_clicked(
    ack: Ack, action: dict[str, Any], body: dict[str, Any], respond: Respond, context: BoltContext
) -> None:
    """ "Promote vN" on the channel notice: admins only; the notice then says who promoted it."""
    ack()
    services: Services = context["services"]
    user = body["user"]["id"]
    value = action.get("value")
    project, version, run_id = read(admin_views.read_promote_value, value)
    if not _admin_clicked(context, respond, user=user, project=project, doing="promote a model"):
        return
    where = _where(body)
    refused = _not_the_notice(
        body, context, project=project, version=version, value=str(value), ts=where["ts"]
    )
    if refused is not None:
        respond(**info_message(refused), response_type="ephemeral", replace_original=False)
        return
    admin.promote_from_notice(
        services, project=project, version=version, user=user,
        channel=where["channel"], ts=where["ts"], run_id=run_id,
    )  # fmt: skip


def _not_the_notice(
    body: dict[str, Any],
    context: BoltContext,
    *,
    project: str,
    version: int,
    value: str,
    ts: str,
) -> str | None:
    """None when the message clicked (the one Slack sends with the click) is labelbot's
    held-back notice of ``project`` v``version``: a bot message of ours, at the container's ts,
    whose Promote button carries that very ``value`` (the click's). Otherwise what to tell the
    clicker: a click made up by hand names any message (a proposal card, another project's
    notice), which the promotion would overwrite for good, and the project and version it
    promotes come from the click. (Not asked of conversations.history: Slack gives an app
    outside the Marketplace about one call of it a minute.)"""
    message = body.get("message") if isinstance(body.get("message"), dict) else None
    ours = (
        message is not None
        and message.get("ts") == ts
        and bool(message.get("bot_id"))
        and (context.bot_id is None or message.get("bot_id") == context.bot_id)
    )
    buttons = [
        element
        for block in (message or {}).get("blocks") or []
        if isinstance(block, dict)
        for element in block.get("elements") or []
        if isinstance(element, dict)
    ]
    if ours and any(
        b.get("action_id") == ids.PROMOTE_MODEL and b.get("value") == value for b in buttons
    ):
        return None
    log.warning("promote click on message %s, which is not the notice of %s v%s: refused",
                ts, project, version)  # fmt: skip
    return (
        f"This message is not the notice of {escape_mrkdwn(project)} v{version}, so nothing was "
        f"changed: `/label promote {escape(project)} {version}` promotes it."
    )


def proposal_approved(
    ack: Ack, action: dict[str, Any], body: dict[str, Any], respond: Respond, context: BoltContext
) -> None:
    ack()
    _decide(context, True, action, body, respond)


def proposal_rejected(
    ack: Ack, action: dict[str, Any], body: dict[str, Any], respond: Respond, context: BoltContext
) -> None:
    ack()
    _decide(context, False, action, body, respond)


def _proposal_admin(
    context: BoltContext, action: dict[str, Any], body: dict[str, Any], respond: Respond,
    doing: str,
) -> tuple[str, str, int] | None:  # fmt: skip
    """(user, project, proposal id) of a click on a proposal's message when the clicker is one
    of the project's admins; otherwise None, after telling them so (ephemeral)."""
    user = body["user"]["id"]
    project, proposal_id = read(parse_proposal_value, action.get("value"))
    if _admin_clicked(context, respond, user=user, project=project, doing=doing):
        return user, project, proposal_id
    return None


def _admin_clicked(
    context: BoltContext, respond: Respond, *, user: str, project: str, doing: str
) -> bool:
    """Whether ``user`` administers ``project`` (the one the button names); otherwise False,
    after telling them so (ephemeral). A guest account is refused as `/label` refuses them
    (bot.flow.GuestRefused, raised), the same whether the button names a project closed to
    them or, made up by hand, none that exists: "no project named x (projects: …)" named every
    project. users.info is asked only here, of those refused (as bot.listeners.commands')."""
    services: Services = context["services"]
    team = admin.installing_team(context)
    try:
        if admin.is_admin(services, user=user, project=project, team=team):
            return True
    except AdminCheckError:
        raise
    except LabelbotError:  # no such project: a guest hears what `/label` says
        flow.resolve_project(services, project, user=user)
        raise
    flow.check_open(services, user=user, project=project)
    respond(
        **info_message(admin_views.not_admin(doing, project)),
        response_type="ephemeral",
        replace_original=False,
    )
    return False


def proposal_edit_clicked(
    ack: Ack, action: dict[str, Any], body: dict[str, Any], respond: Respond, client: WebClient,
    context: BoltContext,
) -> None:  # fmt: skip
    """Edit names & approve: admins get the modal with the proposal's names to edit; others
    the same ephemeral note as on Approve."""
    ack()
    services: Services = context["services"]
    clicked = _proposal_admin(context, action, body, respond, "approve taxonomy proposals")
    if clicked is None:
        return
    _, project, proposal_id = clicked
    form = taxonomy_flow.edit_form(services, project=project, proposal_id=proposal_id)
    # https://docs.slack.dev/reference/methods/views.open: the trigger_id lasts 3 seconds.
    client.views_open(trigger_id=body["trigger_id"], view=form)


def proposal_undo_clicked(
    ack: Ack, action: dict[str, Any], body: dict[str, Any], respond: Respond, context: BoltContext
) -> None:
    """Undo on an applied proposal's message: admins only."""
    ack()
    services: Services = context["services"]
    clicked = _proposal_admin(context, action, body, respond, "undo taxonomy changes")
    if clicked is None:
        return
    user, project, proposal_id = clicked
    taxonomy_flow.undo_proposal(services, project=project, proposal_id=proposal_id, user=user)


def _decide(
    context: BoltContext, approve: bool, action: dict[str, Any], body: dict[str, Any],
    respond: Respond,
) -> None:  # fmt: skip
    """Approve / Reject on a proposal: admins only; the message then shows the verdict."""
    doing = "approve taxonomy proposals" if approve else "reject taxonomy proposals"
    clicked = _proposal_admin(context, action, body, respond, doing)
    if clicked is None:
        return
    user, project, proposal_id = clicked
    taxonomy_flow.decide(
        context["services"], approve=approve, project=project, proposal_id=proposal_id, user=user
    )


def _review(context: BoltContext, action: dict[str, Any], body: dict[str, Any], keep: bool) -> None:
    review_id, _, label = read(parse_review_value, _chosen(action))  # the example: the review's own
    where = _where(body)
    own = _example_of_review(context["services"], review_id)
    if own is not None:
        _open_to_clicker(context["services"], user=where["user"], example_id=own)
    review_flow.decide(
        context["services"], review_id=review_id, label=label,
        decision="keep" if keep else "change",
        agreed=action["action_id"] == ids.REVIEW_CHANGE,  # to the model's suggestion
        **where,
    )  # fmt: skip


def review_kept(
    ack: Ack, action: dict[str, Any], body: dict[str, Any], context: BoltContext
) -> None:
    ack()
    _review(context, action, body, keep=True)


def review_changed(
    ack: Ack, action: dict[str, Any], body: dict[str, Any], context: BoltContext
) -> None:
    ack()
    _review(context, action, body, keep=False)


def settle_clicked(
    ack: Ack, action: dict[str, Any], body: dict[str, Any], respond: Respond, context: BoltContext
) -> None:
    """A button (or the "Another label" menu) on a disagreement thread: admins and the experts
    involved settle the label."""
    ack()
    example_id, label = read(parse_settle_value, _chosen(action))
    services: Services = context["services"]
    where = _where(body)
    _open_to_clicker(services, user=where["user"], example_id=example_id)
    refusal = disputes.settle(
        services, example_id=example_id, label=label, team=admin.installing_team(context),
        **where,
    )  # fmt: skip
    if refusal:
        respond(**info_message(refusal), response_type="ephemeral", replace_original=False)


def flag_resolve_clicked(
    ack: Ack, action: dict[str, Any], body: dict[str, Any], respond: Respond, context: BoltContext
) -> None:
    """Resolve on a flag thread: admins and the experts who flagged it put it back."""
    ack()
    services: Services = context["services"]
    flagged, where = example_id(action.get("value")), _where(body)
    _open_to_clicker(services, user=where["user"], example_id=flagged)
    refusal = flag_threads.resolve(
        services, example_id=flagged, team=admin.installing_team(context), **where
    )
    if refusal:
        respond(**info_message(refusal), response_type="ephemeral", replace_original=False)


def batch_more(
    ack: Ack, action: dict[str, Any], body: dict[str, Any], respond: Respond, client: WebClient,
    context: BoltContext,
) -> None:  # fmt: skip
    ack()
    services: Services = context["services"]
    # the project first: a click on a deleted project's summary is told so, with no call to Slack
    project = flow.resolve_project(services, read(str, action.get("value")),
                                   user=body["user"]["id"])  # fmt: skip
    where = _in_dm(body, respond, client)
    if where is None:
        return
    services.courier.update(batch_closed(project=project, more=True), channel=where["channel"],
                            ts=where["ts"])  # fmt: skip
    if not flow.start_batch(services, user=where["user"], project=project, click=True):
        services.courier.post(info_message(flow.queue_empty(project)), channel=where["user"])


def batch_done(
    ack: Ack, action: dict[str, Any], body: dict[str, Any], respond: Respond, client: WebClient,
    context: BoltContext,
) -> None:  # fmt: skip
    ack()
    where = _in_dm(body, respond, client)
    if where is None:
        return
    done = batch_closed(project=read(str, action.get("value")), more=False)
    context["services"].courier.update(done, channel=where["channel"], ts=where["ts"])


def snooze_chosen(
    ack: Ack, action: dict[str, Any], body: dict[str, Any], context: BoltContext
) -> None:
    ack()
    example_id, length = read(parse_snooze_value, _chosen(action))
    where = _where(body)
    rhythm_flow.snooze(context["services"], example_id=example_id, length=length, **where)
