"""Modal submissions: the flag form."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot import flow, ids
from bot.views import flag_example_id


def register(app: App) -> None:
    app.view(ids.FLAG_MODAL)(flag_submitted)


def flag_submitted(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], context: BoltContext
) -> None:
    field = view["state"]["values"][ids.FLAG_REASON_BLOCK][ids.FLAG_REASON_INPUT]
    reason = (field.get("value") or "").strip()
    if not reason:
        ack(response_action="errors", errors={ids.FLAG_REASON_BLOCK: "Say briefly what is wrong."})
        return
    ack()
    flow.flag(
        context["services"],
        user=body["user"]["id"],
        example_id=flag_example_id(view["private_metadata"]),
        reason=reason,
        origin=flow.flag_origin(view["private_metadata"]),
    )
