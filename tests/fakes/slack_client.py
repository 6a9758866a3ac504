"""Play Slack's side for experts: send signed commands, clicks and events to labelbot over HTTP,
and read what labelbot posted from the fake Web API. Used by the tests and the benchmark.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import httpx

from bot import ids
from bot.views import parse_label_value
from tests.fakes import payloads
from tests.fakes.signing import (
    SignedRequest,
    signed_event,
    signed_interactivity,
    signed_slash_command,
)
from tests.fakes.slack_api import FakeSlackAPI

Message = dict[str, Any]


@dataclass(frozen=True)
class Choice:
    """One way to pick a label on a labeling message: a button or a select option."""

    action_id: str
    block_id: str
    value: str
    option: dict[str, Any] | None = None  # set for the static_select
    text: str = ""  # what the expert reads on it

    @property
    def label(self) -> str:
        """The label's name: carried in the value (older messages) or read on the element
        (values carry label ids)."""
        ref = parse_label_value(self.value)[1]
        return ref if isinstance(ref, str) else self.text.removeprefix("✓ ")


def example_id(message: Message) -> int | None:
    """The example a labeling (or labeled) message shows, from its text block's block_id."""
    for block in message.get("blocks") or []:
        block_id = str(block.get("block_id", ""))
        if block_id.startswith(ids.EXAMPLE_TEXT_BLOCK + ":"):
            return int(block_id.split(":")[1])
    return None


def elements(message: Message) -> list[tuple[str, dict[str, Any]]]:
    """(block_id, element) for every interactive element: actions blocks and accessories."""
    found = []
    for block in message.get("blocks") or []:
        if block.get("type") == "actions":
            found += [(block.get("block_id", ""), el) for el in block["elements"]]
        elif "accessory" in block:
            found.append((block.get("block_id", ""), block["accessory"]))
    return found


def choices(message: Message) -> list[Choice]:
    out = []
    for block_id, el in elements(message):
        if ids.LABEL_PATTERN.match(el.get("action_id", "")):
            out.append(Choice(el["action_id"], block_id, el["value"], text=el["text"]["text"]))
        elif el.get("action_id") == ids.LABEL_SELECT:
            options = el.get("options") or [o for g in el["option_groups"] for o in g["options"]]
            out += [
                Choice(ids.LABEL_SELECT, block_id, o["value"], o, text=o["text"]["text"])
                for o in options
            ]
    return out


def button(message: Message, action_id: str) -> tuple[str, dict[str, Any]]:
    for block_id, el in elements(message):
        if el.get("action_id") == action_id:
            return block_id, el
    raise AssertionError(f"no {action_id} element in message {message.get('text')!r}")


class SlackSim:
    """Slack, as labelbot's Request URL sees it."""

    def __init__(self, base_url: str, api: FakeSlackAPI, secret: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30)
        self.api = api
        self.secret = secret

    def close(self) -> None:
        self.http.close()

    def post(self, signed: SignedRequest) -> httpx.Response:
        return self.http.post("/slack/events", content=signed.body, headers=signed.headers)

    # --- what experts do ---------------------------------------------------------------------
    def command(self, user: str, text: str = "", *, channel: str | None = None) -> httpx.Response:
        form = payloads.slash_command(
            user,
            text,
            channel or self.api.dm_channel(user),
            response_url=self.api.response_url(user),
        )
        return self.post(signed_slash_command(self.secret, form))

    def click(
        self, user: str, message: Message, action_id: str, value: str | None = None, **kw: Any
    ) -> httpx.Response:
        """Click the element `action_id` on `message` (in `user`'s DM unless `channel=`)."""
        block_id, el = button(message, action_id)
        return self.post(
            signed_interactivity(
                self.secret,
                self.action_payload(
                    user,
                    message,
                    action_id,
                    el.get("value") if value is None else value,
                    block_id=block_id,
                    **kw,
                ),
            )
        )

    def choose(self, user: str, message: Message, label: str) -> httpx.Response:
        """Pick `label` on a labeling message, by button or select, as the message offers it."""
        return self.post(
            signed_interactivity(self.secret, self.choice_payload(user, message, label))
        )

    def choice_payload(self, user: str, message: Message, label: str) -> dict[str, Any]:
        choice = next((c for c in choices(message) if c.label == label), None)
        assert choice is not None, f"{label!r} is not offered on {message.get('text')!r}"
        return self.action_payload(
            user,
            message,
            choice.action_id,
            choice.value,
            block_id=choice.block_id,
            selected_option=choice.option,
        )

    def action_payload(
        self,
        user: str,
        message: Message,
        action_id: str,
        value: str | None,
        *,
        block_id: str = "b",
        selected_option: dict[str, Any] | None = None,
        channel: str | None = None,
    ) -> dict[str, Any]:
        return payloads.block_actions(
            user,
            action_id,
            value,
            channel or self.api.dm_channel(user),
            message["ts"],
            message.get("blocks") or [],
            block_id=block_id,
            selected_option=selected_option,
            message_text=message.get("text", ""),
            response_url=self.api.response_url(user),
        )

    def event(self, envelope: dict[str, Any], **kw: Any) -> httpx.Response:
        return self.post(signed_event(self.secret, envelope, **kw))

    # --- what labelbot posted ----------------------------------------------------------------
    def dm(self, user: str) -> list[Message]:
        """Copies of the DM's messages as they are now (the fake updates its own in place)."""
        return copy.deepcopy(self.api.messages(self.api.dm_channel(user)))

    def open_examples(self, user: str) -> list[Message]:
        """Labeling messages in the DM that still offer labels, oldest first."""
        return [m for m in self.dm(user) if choices(m)]

    def ephemerals(self, user: str) -> list[str]:
        """Texts sent back through `user`'s response_url (ephemeral answers), oldest first;
        not those Slack refused (invalid blocks), which nobody saw."""
        return [
            str(c.params.get("text", ""))
            for c in self.api.calls("response_url")
            if c.params["_to"] == user and not self.api.refused(c)
        ]
