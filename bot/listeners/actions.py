"""Clicks in the labeling DM, on the App Home tab, on a held-back model's notice and on a
taxonomy proposal."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot import admin, flow, ids, taxonomy_flow
from bot.services import Services
from bot.views import admin as admin_views
from bot.views import info_message, parse_label_value
from bot.views.proposals import parse_proposal_value


def register(app: App) -> None:
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


def _where(body: dict[str, Any]) -> dict[str, str]:
    """The clicker and the message clicked on (the labeling DM)."""
    container = body["container"]
    return {
        "user": body["user"]["id"],
        "channel": container["channel_id"],
        "ts": container["message_ts"],
    }


def label_clicked(
    ack: Ack, action: dict[str, Any], body: dict[str, Any], context: BoltContext
) -> None:
    ack()
    example_id, label = parse_label_value(action["value"])
    flow.apply_label(context["services"], example_id=example_id, label=label, **_where(body))


def label_selected(
    ack: Ack, action: dict[str, Any], body: dict[str, Any], context: BoltContext
) -> None:
    ack()
    example_id, label = parse_label_value(action["selected_option"]["value"])
    flow.apply_label(context["services"], example_id=example_id, label=label, **_where(body))


def skip_clicked(
    ack: Ack, action: dict[str, Any], body: dict[str, Any], context: BoltContext
) -> None:
    ack()
    flow.skip(context["services"], example_id=int(action["value"]), **_where(body))


def undo_clicked(
    ack: Ack, action: dict[str, Any], body: dict[str, Any], context: BoltContext
) -> None:
    ack()
    flow.undo(context["services"], example_id=int(action["value"]), **_where(body))


def discuss_clicked(
    ack: Ack, action: dict[str, Any], body: dict[str, Any], context: BoltContext
) -> None:
    ack()
    flow.discuss(context["services"], example_id=int(action["value"]), **_where(body))


def flag_clicked(ack: Ack, action: dict[str, Any], body: dict[str, Any], client: WebClient) -> None:
    ack()
    where = _where(body)
    form = flow.flag_form(int(action["value"]), channel=where["channel"], ts=where["ts"])
    # trigger_id expires 3 s after the click: open the modal first, before anything slow.
    client.views_open(trigger_id=body["trigger_id"], view=form)


def show_full_text(
    ack: Ack, action: dict[str, Any], body: dict[str, Any], client: WebClient, context: BoltContext
) -> None:
    ack()
    view = flow.full_text(context["services"], example_id=int(action["value"]))
    client.views_open(trigger_id=body["trigger_id"], view=view)


def start_batch(
    ack: Ack, action: dict[str, Any], body: dict[str, Any], context: BoltContext
) -> None:
    ack()
    services: Services = context["services"]
    user = body["user"]["id"]
    project = flow.resolve_project(services, action["value"])
    if not flow.start_batch(services, user=user, project=project):
        services.courier.post(info_message(flow.queue_empty(project)), channel=user)


def promote_clicked(
    ack: Ack, action: dict[str, Any], body: dict[str, Any], respond: Respond, context: BoltContext
) -> None:
    """ "Promote vN" on the channel notice: admins only; the notice then says who promoted it."""
    ack()
    services: Services = context["services"]
    user = body["user"]["id"]
    project, version = admin_views.parse_promote_value(action["value"])
    if not admin.is_admin(services, user=user, project=project):
        respond(
            **info_message(admin_views.not_admin("promote a model", project)),
            response_type="ephemeral",
            replace_original=False,
        )
        return
    admin.change_model(services, verb="promote", project=project, version=version)
    done = admin_views.promoted_notice(project=project, version=version, user=user)
    container = body["container"]
    services.courier.update(done, channel=container["channel_id"], ts=container["message_ts"])


def proposal_approved(
    ack: Ack, action: dict[str, Any], body: dict[str, Any], respond: Respond, context: BoltContext
) -> None:
    ack()
    _decide(context["services"], True, action, body, respond)


def proposal_rejected(
    ack: Ack, action: dict[str, Any], body: dict[str, Any], respond: Respond, context: BoltContext
) -> None:
    ack()
    _decide(context["services"], False, action, body, respond)


def _decide(
    services: Services, approve: bool, action: dict[str, Any], body: dict[str, Any],
    respond: Respond,
) -> None:  # fmt: skip
    """Approve / Reject on a proposal: admins only; the message then shows the verdict."""
    user = body["user"]["id"]
    project, proposal_id = parse_proposal_value(action["value"])
    if not admin.is_admin(services, user=user, project=project):
        doing = "approve taxonomy proposals" if approve else "reject taxonomy proposals"
        respond(
            **info_message(admin_views.not_admin(doing, project)),
            response_type="ephemeral",
            replace_original=False,
        )
        return
    container = body["container"]
    taxonomy_flow.decide(
        services, approve=approve, project=project, proposal_id=proposal_id, user=user,
        channel=container["channel_id"], ts=container["message_ts"],
    )  # fmt: skip
