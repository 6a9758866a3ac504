"""The "Classify with labelbot" message shortcut: the model's answer for any message."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, BoltContext, Respond

from bot import flow, ids
from bot.listeners.registrar import Registrar
from bot.slack_text import plain_from_slack


def register(app: Registrar) -> None:
    app.shortcut(ids.CLASSIFY_SHORTCUT)(classify_message)


def classify_message(
    ack: Ack, shortcut: dict[str, Any], respond: Respond, context: BoltContext
) -> None:
    ack()
    services = context["services"]
    # A message of only a file or an image, or a bot's blocks or attachments, has no text:
    # say so (as `/label predict` and the API refuse it) before asking which project.
    text = flow.predictable(
        plain_from_slack(shortcut["message"].get("text") or ""), what="this message"
    )
    project = flow.resolve_project(
        services, None, channel=shortcut["channel"]["id"], user=shortcut["user"]["id"]
    )
    answer = flow.predict(services, text=text, project=project, what="this message")
    respond(**answer, response_type="ephemeral")
