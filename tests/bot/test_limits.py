"""Block Kit limits with real data: Banking77's 77 labels (a select) and a 10,000-character
example (cut, with the whole text a click away). The fake Web API rejects invalid blocks, on a
response_url as on chat.postMessage; the checker holds confirmation dialogs, text objects, input
blocks and overflow menus to the limits Slack documents, and what we build passes."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient

from bot import ids
from bot.views.admin import held_back_notice
from bot.views.limits import block_errors, view_errors
from bot.views.modals import flag_modal
from bot.views.models import LabelChoice
from bot.views.proposals import ProposalCard, decided_message, proposal_message, proposal_modal
from bot.views.taxonomy import taxonomy_modal
from engine import exporting, projects
from engine.datasets import dataset_path
from tests.bot.conftest import Bot
from tests.fakes.signing import signed_interactivity
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.slack_client import SlackSim, choices, elements

U1 = "U0ALICE"


def _project(bot: Bot, tmp_path: Path, name: str, labels: list[str], texts: list[str]) -> None:
    projects.create_project(bot.ws, name=name, labels=labels)
    path = tmp_path / f"{name}.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text"])
        writer.writerows([t] for t in texts)
    projects.import_file(bot.ws, project=name, path=path, embed=False)


def test_77_labels_arrive_as_a_select_and_a_choice_is_stored(bot: Bot, tmp_path: Path) -> None:
    with dataset_path("banking77", "train").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    labels = sorted({r["label"] for r in rows})
    assert len(labels) == 77
    _project(bot, tmp_path, "b77", labels, [r["text"] for r in rows[:5]])
    bot.slack.command(U1, "b77")
    bot.settle()
    (message,) = bot.slack.open_examples(U1)
    (select,) = [el for _, el in elements(message) if el.get("action_id") == ids.LABEL_SELECT]
    assert len(select["options"]) == 77
    assert {c.label for c in choices(message)} == set(labels)
    bot.slack.choose(U1, message, "visa_or_mastercard")
    bot.settle()
    (record,) = [r for r in exporting.export_records(bot.ws, "b77") if r["label"]]
    assert record["label"] == "visa_or_mastercard"
    assert len(bot.slack.open_examples(U1)) == 1


def test_a_10000_character_example_is_cut_and_readable_in_full(bot: Bot, tmp_path: Path) -> None:
    long_text = ("Dear bank, <about my card> & more. " * 300)[:10_000]
    _project(bot, tmp_path, "long", ["complaint", "question"], [long_text])
    bot.slack.command(U1, "long")
    bot.settle()
    (message,) = bot.slack.open_examples(U1)
    assert len(json.dumps(message["blocks"])) < 8_000  # cut to fit Block Kit's 3,000 per section
    bot.slack.click(U1, message, ids.SHOW_FULL_TEXT)
    bot.settle()
    (opened,) = bot.api.calls("views.open")
    shown = "".join(b["text"]["text"] for b in opened.params["view"]["blocks"])
    assert shown == long_text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    bot.slack.choose(U1, message, "complaint")
    bot.settle()
    (record,) = exporting.export_records(bot.ws, "long")
    assert record["label"] == "complaint" and record["text"] == long_text


# Label names may hold 200 characters; a menu option's value holds 150 and its text 75. Two
# long names that differ only at their end must both be offered, told apart and choosable.
LONG_START = "Contract dispute about the termination of employment with extended notice " * 3
LONG_ENDINGS = ["clauses for senior staff", "clauses for junior staff"]


def test_long_label_names_are_told_apart_and_chosen_from_the_menu(bot: Bot, tmp_path: Path) -> None:
    long_names = [LONG_START[: 200 - len(end)] + end for end in LONG_ENDINGS]
    assert all(len(n) == 200 for n in long_names) and long_names[0][:150] == long_names[1][:150]
    labels = [f"short_{i}" for i in range(18)] + long_names
    _project(bot, tmp_path, "legal", labels, ["first clause", "second clause"])
    bot.slack.command(U1, "legal")
    bot.settle()
    (message,) = bot.slack.open_examples(U1)  # the fake Web API took the blocks
    (select,) = [el for _, el in elements(message) if el.get("action_id") == ids.LABEL_SELECT]
    texts = {o["text"]["text"]: o for o in select["options"]}
    assert len(texts) == 20 and all(len(t) <= 75 for t in texts)
    shown = [t for t in texts if t.startswith("Contract")]  # cut in the middle: ends kept
    senior, junior = (next(t for t in shown if t.endswith(end)) for end in LONG_ENDINGS)
    assert senior != junior
    block_id = next(b for b, el in elements(message) if el.get("action_id") == ids.LABEL_SELECT)
    payload = bot.slack.action_payload(
        U1, message, ids.LABEL_SELECT, None, block_id=block_id, selected_option=texts[junior]
    )
    assert bot.slack.post(signed_interactivity(bot.slack.secret, payload)).status_code == 200
    bot.settle()
    assert bot.slack.ephemerals(U1) == []
    (record,) = [r for r in exporting.export_records(bot.ws, "legal") if r["label"]]
    assert record["label"] == long_names[1]


# --- the checker: limits Slack documents for what our builders use ----------------------------


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def _approve(**confirm: Any) -> list[dict[str, Any]]:
    """An actions block with one button asking to confirm (as proposals and promotions do)."""
    dialog = {"title": _plain("Apply this change?"), "text": _plain("Labels merge."),
              "confirm": _plain("Apply"), "deny": _plain("Cancel"), **confirm}  # fmt: skip
    button = {"type": "button", "action_id": "a", "value": "1", "text": _plain("Approve"),
              "confirm": {k: v for k, v in dialog.items() if v is not None}}  # fmt: skip
    return [{"type": "actions", "elements": [button]}]


def test_confirmation_dialogs_are_held_to_slacks_limits() -> None:
    assert block_errors(_approve()) == []
    longest = {"title": _plain("t" * 100), "text": _plain("x" * 300),
               "confirm": _plain("c" * 30), "deny": _plain("d" * 30)}  # fmt: skip
    assert block_errors(_approve(**longest)) == []
    assert block_errors(_approve(text={"type": "mrkdwn", "text": "*merge*"})) == []
    for field, text, limit in [("title", "t" * 101, 100), ("text", "x" * 301, 300),
                               ("confirm", "c" * 31, 30), ("deny", "d" * 31, 30)]:  # fmt: skip
        assert block_errors(_approve(**{field: _plain(text)})) == [
            f"blocks[0].elements[0].confirm.{field} > {limit} chars"
        ]
    assert block_errors(_approve(deny=None)) == ["blocks[0].elements[0].confirm.deny is required"]
    assert block_errors(_approve(title={"type": "mrkdwn", "text": "*Sure?*"})) == [
        "blocks[0].elements[0].confirm.title must be a plain_text object"
    ]


def test_the_confirm_dialogs_we_build_pass(slack_client: WebClient) -> None:
    card = ProposalCard(id=3, project="p" * 200, kind="merge", labels=["&" * 200] * 2, score=0.9,
                        message="&" * 3000, names=["n" * 200])  # fmt: skip
    notice = held_back_notice(project="p" * 200, version=12, reason="&" * 3000, audit=0.5, active=3)
    undo = decided_message(card, user=U1, approved=True, summary="s" * 3000, undoable=True)
    for payload in (proposal_message(card), undo, notice):
        dialogs = [el["confirm"] for _, el in elements(payload) if "confirm" in el]
        assert dialogs and block_errors(payload["blocks"]) == []
        posted = slack_client.chat_postMessage(channel="C1", **payload)  # the fake took it
        assert posted["ok"]


def test_every_text_object_holds_1_to_3000_characters() -> None:
    # the context block's page sets no length; the text object's page does, for every text
    line = {"type": "context", "elements": [{"type": "mrkdwn", "text": "x" * 3000}]}
    assert block_errors([line]) == []
    too_long = {"type": "context", "elements": [{"type": "mrkdwn", "text": "x" * 3001}]}
    assert block_errors([too_long]) == ["blocks[0].elements[0] > 3000 chars"]
    empty = {"type": "context", "elements": [_plain("a"), {"type": "mrkdwn", "text": ""}]}
    assert block_errors([empty]) == ["blocks[0].elements[1]: a text object needs 1+ chars"]
    crowded = {"type": "context", "elements": [_plain("a")] * 11}
    assert block_errors([crowded]) == ["blocks[0]: 11 elements > 10"]
    header = {"type": "header", "text": {"type": "mrkdwn", "text": "*Digest*"}}
    assert block_errors([header]) == ["blocks[0].text must be a plain_text object"]


def _input(**fields: Any) -> dict[str, Any]:
    element = {"type": "plain_text_input", "action_id": "i", "max_length": 500,
               "placeholder": _plain("e.g. card_delivery")}  # fmt: skip
    block = {"type": "input", "block_id": "b", "label": _plain("Why"), "hint": _plain("Kept"),
             "element": element}  # fmt: skip
    for name, value in fields.items():
        target = element if name in ("min_length", "max_length", "placeholder") else block
        if value is None:
            target.pop(name)
        else:
            target[name] = value
    return block


def _modal(*blocks: dict[str, Any], title: Any = None) -> dict[str, Any]:
    return {"type": "modal", "title": title or _plain("Labels"), "submit": _plain("Apply"),
            "blocks": list(blocks)}  # fmt: skip


def test_input_blocks_and_text_inputs_are_held_to_slacks_limits() -> None:
    assert view_errors(_modal(_input(), _input(block_id="c", hint=None, min_length=0,
                                                 max_length=3000))) == []  # fmt: skip
    assert view_errors(_modal(_input(label=_plain("l" * 2000), hint=_plain("h" * 2000)))) == []
    text_input = "blocks[0].elements[0]"
    cases = [
        ({"label": _plain("l" * 2001)}, "blocks[0].label > 2000 chars"),
        ({"hint": _plain("h" * 2001)}, "blocks[0].hint > 2000 chars"),
        ({"label": None}, "blocks[0].label is required"),
        ({"label": {"type": "mrkdwn", "text": "*Why*"}}, "blocks[0].label must be a plain_text object"),  # noqa: E501
        ({"element": None}, "blocks[0].element is required"),
        ({"max_length": 3001}, f"{text_input}.max_length must be an integer from 1 to 3000"),
        ({"max_length": 0}, f"{text_input}.max_length must be an integer from 1 to 3000"),
        ({"min_length": -1}, f"{text_input}.min_length must be an integer from 0 to 3000"),
        ({"min_length": 3001}, f"{text_input}.min_length must be an integer from 0 to 3000"),
        ({"placeholder": _plain("p" * 151)}, f"{text_input}.placeholder > 150 chars"),
    ]  # fmt: skip
    for fields, error in cases:
        assert view_errors(_modal(_input(**fields))) == [error], fields
    assert view_errors(_modal(_input(), title={"type": "mrkdwn", "text": "Labels"})) == [
        "view.title must be a plain_text object"
    ]


def test_an_overflow_menu_offers_at_most_five_options() -> None:
    options = [{"text": _plain(f"Snooze {i} h"), "value": str(i)} for i in range(6)]
    menu = {"type": "overflow", "action_id": "o", "options": options}
    assert block_errors([{"type": "actions", "elements": [{**menu, "options": options[:5]}]}]) == []
    assert block_errors([{"type": "actions", "elements": [menu]}]) == [
        "blocks[0].elements[0]: 6 options > 5"
    ]


def test_the_modals_we_build_pass_the_input_checks(slack_client: WebClient) -> None:
    card = ProposalCard(id=3, project="p" * 200, kind="split", labels=["&" * 200], score=0.9,
                        message="&" * 5000, names=["n" * 200] * 10)  # fmt: skip
    labels = [LabelChoice(f"label_{i:05d}" + "x" * 180, "d" * 2000, i) for i in range(300)]
    modals = [flag_modal(7), proposal_modal(card), taxonomy_modal("p" * 200, labels, "&" * 500)]
    for modal in modals:
        assert any(b["type"] == "input" for b in modal["blocks"])
        assert view_errors(modal) == []
        opened = slack_client.views_open(trigger_id="t", view=modal)  # the fake took it
        assert opened["ok"]
    # the names approving would use, whole (2,018 characters): a cut one would be approved
    given = [e["initial_value"] for b in modals[1]["blocks"] if b["type"] == "input"
             for e in [b["element"]] if "initial_value" in e]  # fmt: skip
    assert given == [", ".join(["n" * 200] * 10)]


def test_a_response_url_refuses_what_chat_post_message_refuses(slack_api: FakeSlackAPI) -> None:
    # Bolt's respond() posts with slack_sdk's WebhookClient: Slack answers a webhook's invalid
    # blocks with HTTP 400 and the error as text, and nobody sees the message
    url = slack_api.response_url(U1)
    webhook = WebhookClient(url)
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 2000}}
    too_long = webhook.send(text="listed", blocks=[section] * 6)
    assert (too_long.status_code, too_long.body) == (400, "msg_blocks_too_long")
    invalid = webhook.send(text="approve?", blocks=_approve(deny=_plain("d" * 31)))
    assert (invalid.status_code, invalid.body) == (400, "invalid_blocks")
    shown = webhook.send(text="fits", blocks=[section] * 5, response_type="ephemeral")
    assert shown.status_code == 200
    assert len(slack_api.calls("response_url")) == 3  # every post is recorded, as sent
    assert SlackSim("http://127.0.0.1:9", slack_api, "secret").ephemerals(U1) == ["fits"]
    assert [w.split(": ")[:2] for w in slack_api.warnings] == [
        ["response_url", "msg_blocks_too_long"],
        ["response_url", "invalid_blocks"],
    ]
