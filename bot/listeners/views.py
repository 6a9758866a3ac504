"""Modal submissions: the flag form, the admins' taxonomy form and a proposal approved with
the admin's own label names.

Each listener runs on the thread that answers Slack, whether or not a listener thread is free
(bot/listeners/registrar.py, answered_here): it reads the form and acknowledges it, with the
errors to show in it, and returns what is left to do (the Web API calls: the DM, the channel's
messages), which runs after the ack in the listener pool.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from slack_bolt import Ack, BoltContext

from bot import admin, flow, ids, taxonomy_flow
from bot.listeners.registrar import Later, Registrar
from bot.listeners.shape import read
from bot.services import Services
from bot.views import admin as admin_views
from bot.views import flag_example_id
from bot.views.proposals import proposal_modal_target
from bot.views.taxonomy import taxonomy_project
from bot.workspace_admins import AdminCheckError
from engine import messaging, project_settings, projects
from storage.errors import LabelbotError, StaleActionError

T = TypeVar("T")


def register(app: Registrar) -> None:
    app.view(ids.FLAG_MODAL)(flag_submitted)
    app.view(ids.TAXONOMY_MODAL)(taxonomy_submitted)
    app.view(ids.PROPOSAL_MODAL)(proposal_submitted)


def flag_submitted(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext
) -> Later | None:
    field = view["state"]["values"].get(ids.FLAG_REASON_BLOCK, {}).get(ids.FLAG_REASON_INPUT)
    reason = field.get("value") if isinstance(field, dict) else None
    reason = reason.strip() if isinstance(reason, str) else ""
    if not reason:
        ack(response_action="errors", errors={ids.FLAG_REASON_BLOCK: "Say briefly what is wrong."})
        return None
    ack()

    def flag() -> None:
        services, user = context["services"], body["user"]["id"]
        example_id = read(flag_example_id, view.get("private_metadata"))
        _open_to_submitter(services, user=user, example_id=example_id)
        flow.flag(
            services,
            user=user,
            example_id=example_id,
            reason=reason,
            origin=read(flow.flag_origin, view.get("private_metadata") or ""),
        )

    return flag


def _open_to_submitter(services: Services, *, user: str, example_id: int) -> None:
    """Refuse (bot.flow.GuestRefused) a guest account's flag of an example of a project
    closed to guests since its form opened; users.info is asked only for such a project. An
    example that is gone is left to bot.flow.flag's own answer."""
    try:
        ref = messaging.example_ref(services.ws, example_id=example_id)
        project = projects.get_project(services.ws, ref.project)
    except LabelbotError:
        return
    if not project_settings.guests_allowed(project):
        flow.check_open(services, user=user, project=project.name)


def taxonomy_submitted(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext
) -> Later | None:
    """Apply one change before the ack (a single transaction, milliseconds), so a bad one keeps
    the modal open with its errors; re-scoring and the notices come after."""
    services = context["services"]
    user, project = body["user"]["id"], _form_target(ack, taxonomy_project, view)
    refusal = _refusal(context, user=user, project=project, doing="change the labels")
    if refusal is not None:
        ack(response_action="errors", errors={ids.TAXONOMY_OPERATION_BLOCK: refusal})
        return None
    outcome = taxonomy_flow.apply_edit(
        services, user=user, project=project, values=view["state"]["values"],
        private_metadata=view.get("private_metadata") or "",
    )  # fmt: skip
    if isinstance(outcome, dict):
        ack(response_action="errors", errors=outcome)
        return None
    ack()
    return partial(taxonomy_flow.confirm_edit, services, user=user, project=project,
                   change=outcome)  # fmt: skip


def proposal_submitted(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext
) -> Later | None:
    """Approve with the admin's names before the ack (one transaction), so a wrong number of
    names, a name already taken or a proposal decided meanwhile keeps the modal open with the
    reason; the channel message and the queue follow after."""
    services = context["services"]
    user = body["user"]["id"]
    project, proposal_id = _form_target(ack, proposal_modal_target, view)
    refusal = _refusal(context, user=user, project=project, doing="approve taxonomy proposals")
    if refusal is not None:
        ack(response_action="errors", errors={ids.PROPOSAL_NAMES_BLOCK: refusal})
        return None
    outcome = taxonomy_flow.approve_edited(
        services, user=user, project=project, proposal_id=proposal_id,
        values=view["state"]["values"],
    )  # fmt: skip
    if isinstance(outcome, dict):
        ack(response_action="errors", errors=outcome)
        return None
    ack()
    return partial(taxonomy_flow.show_approved, services, user=user, project=project,
                   decision=outcome)  # fmt: skip


def _form_target(ack: Ack, parse: Callable[[str], T], view: dict[str, Any]) -> T:
    """What the form is about, from its private_metadata; a form labelbot cannot read (of an
    older labelbot, an edited payload) is closed (acked: an error before the ack would be
    answered 500) and the error handler tells the submitter, in the DM, that it is out of date."""
    try:
        return read(parse, view.get("private_metadata"))
    except StaleActionError:
        ack()
        raise


def _refusal(context: BoltContext, *, user: str, project: str, doing: str) -> str | None:
    """Why the form is refused (shown in it, and nothing applied), or None for a project admin.
    A check Slack did not answer in time refuses too: the ack cannot wait for it. A guest
    account learns nothing of a project closed to them (bot.flow.resolve_project)."""
    services = context["services"]
    refused: LabelbotError | None = None
    try:
        if admin.is_admin(
            services, user=user, project=project, team=admin.installing_team(context)
        ):
            return None
    except AdminCheckError as exc:
        return str(exc)
    except LabelbotError as exc:  # e.g. the project deleted meanwhile, or a made-up form's
        refused = exc
    # Refused: a guest account is told what `/label` tells them of a project closed to them,
    # the same whether the form names one or none that exists ("no project named x (projects:
    # …)" would name every project). users.info is asked only here, of those refused.
    try:
        flow.resolve_project(services, project, user=user)
    except LabelbotError as exc:
        return str(exc)
    return str(refused) if refused is not None else admin_views.not_admin_in_form(doing, project)
