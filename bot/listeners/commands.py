"""`/label [project] | predict <text> | <n> | help`."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext, Respond

from bot import flow, ids
from bot import views as blocks
from bot.services import Services
from engine import projects
from storage.errors import InvalidInputError

USAGE = (
    "*/label* sends you the example the model is least sure about, in a DM.\n"
    "`/label` · `/label <project>` · `/label 5` (a batch of 5) · "
    "`/label predict <text>` (ask the model) · `/label help`"
)


def register(app: App) -> None:
    app.command(ids.LABEL_COMMAND)(label_command)


def label_command(
    ack: Ack, command: dict[str, Any], respond: Respond, context: BoltContext
) -> None:
    ack()
    services: Services = context["services"]
    user, channel = command["user_id"], command["channel_id"]
    verb, _, rest = (command.get("text") or "").strip().partition(" ")
    if verb.lower() == "help":
        respond(**blocks.info_message(USAGE), response_type="ephemeral")
    elif verb.lower() == "predict":
        project, text = _predict_args(services, rest.strip(), channel)
        answer = flow.predict(services, text=text, project=project)
        respond(**answer, response_type="ephemeral")
    else:
        size = int(verb) if verb.isdigit() and int(verb) > 0 else None
        name = rest.strip() if size else verb
        project = flow.resolve_project(services, name or None, channel=channel)
        sent = (
            flow.start_batch(services, user=user, project=project, size=size)
            if size
            else flow.send_next(services, user=user, project=project)
        )
        if not sent:
            respond(**blocks.info_message(flow.queue_empty(project)), response_type="ephemeral")


def _predict_args(services: Services, rest: str, channel: str) -> tuple[str, str]:
    """`predict <text>` or `predict <project> <text>`, when the first word names a project."""
    first, _, more = rest.partition(" ")
    if more.strip() and first in {p.name for p in projects.list_projects(services.ws)}:
        return first, more.strip()
    if not rest:
        raise InvalidInputError("give a text to classify: `/label predict <text>`")
    return flow.resolve_project(services, None, channel=channel), rest
