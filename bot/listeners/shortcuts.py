"""The "Classify with labelbot" message shortcut: the model's answer for any message."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, BoltContext, Respond

from bot import flow, ids
from bot.listeners.registrar import Registrar
from bot.slack_text import Mrkdwn, escape, names_list, plain_from_slack
from storage.errors import InvalidInputError


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
    try:
        project = flow.resolve_project(
            services, None, channel=shortcut["channel"]["id"], user=shortcut["user"]["id"]
        )
    except flow.WhichProject as exc:  # "try `/label bank`" would label, not classify this
        shown = names_list([f"`{escape(n)}`" for n in exc.names[:20]], conjunction="or")
        raise InvalidInputError(
            Mrkdwn(
                f"which project should classify this message? This channel is not one "
                f"project's: ask in a command, `/label predict {escape(exc.names[0])} "
                f"&lt;text&gt;` (projects: {shown})"
            )
        ) from None
    answer = flow.predict(services, text=text, project=project, what="this message")
    respond(**answer, response_type="ephemeral")
