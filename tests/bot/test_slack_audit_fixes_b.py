"""Fixes from the Slack audit, through the real Bolt app over HTTP with signed requests and the
fake Slack Web API, on SQLite and PostgreSQL: only members of the installing organisation use
labelbot (Slack Connect outsiders are refused; Enterprise Grid colleagues are not); `/label
<project> 5` starts a batch and stray words are refused; a double click that starts a batch
posts one example; a flag after labeling leaves the label and its Undo alone."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from bot import flow, ids
from engine import exporting, projects
from tests.bot.conftest import CHANNEL, PROJECT, Bot, true_label
from tests.fakes import payloads
from tests.fakes import slack_api as fake_slack
from tests.fakes.signing import signed_event, signed_interactivity, signed_slash_command
from tests.fakes.slack_client import button, choices, example_id
from tests.storage.test_labeling_races import together

U1, U2, U3 = "U0ALICE", "U0BOB", "U0CAROL"
EXT = "U0EXTERNAL"  # of another organisation, in the project channel through Slack Connect
HOME_TEAM, OTHER_TEAM = payloads.TEAM, "T999"
REFUSED = "Only people of the organisation that installed labelbot can use it"


def _annotations(bot: Bot) -> int:
    return int(projects.project_status(bot.ws, PROJECT)["annotations"])


def _command(
    bot: Bot, user: str, text: str, *, team: str, user_team: str | None = None,
    enterprise: str | None = None,
) -> None:  # fmt: skip
    """`/label <text>` from ``user``, Slack Connect fields and all, in the project channel."""
    form = payloads.slash_command(user, text, CHANNEL, response_url=bot.api.response_url(user))
    form["team_id"] = team
    if user_team is not None:
        form["user_team"] = user_team
    if enterprise is not None:
        form.update(enterprise_id=enterprise, enterprise_name="Bank Group")
    assert bot.slack.post(signed_slash_command(bot.slack.secret, form)).status_code == 200
    bot.settle()


def _as_member_of(payload: dict[str, Any], team: str, enterprise: str | None = None) -> None:
    """A click or form submitted by a user of ``team`` (acting in ``enterprise``)."""
    payload["user"]["team_id"] = team
    payload["enterprise"] = {"id": enterprise, "name": "Org"} if enterprise else None


def _choose(
    bot: Bot, user: str, message: dict[str, Any], label: str, *, team: str,
    enterprise: str | None = None,
) -> None:  # fmt: skip
    payload = bot.slack.choice_payload(user, message, label)
    _as_member_of(payload, team, enterprise)
    assert bot.slack.post(signed_interactivity(bot.slack.secret, payload)).status_code == 200
    bot.settle()


def _any_label(message: dict[str, Any]) -> str:
    return choices(message)[0].label


def _flag(
    bot: Bot, user: str, view: dict[str, Any], reason: str, *, team: str = HOME_TEAM
) -> httpx.Response:
    values = {
        ids.FLAG_REASON_BLOCK: {
            ids.FLAG_REASON_INPUT: {"type": "plain_text_input", "value": reason}
        }
    }
    body = payloads.view_submission(
        user, ids.FLAG_MODAL, values, private_metadata=view["private_metadata"]
    )
    body["user"]["team_id"] = team
    answer = bot.slack.post(signed_interactivity(bot.slack.secret, body))
    bot.settle()
    return answer


# --- 2. only members of the installing organisation -------------------------------------------


def test_a_user_of_another_organisation_is_refused_everything(
    bot: Bot, bank: dict[str, str]
) -> None:
    """Slack Connect: the project channel is shared with another organisation (team T999)."""
    for text in ("", f"{PROJECT} 5", "predict my card has not arrived", "proposals", "models"):
        before = len(bot.slack.ephemerals(EXT))
        _command(bot, EXT, text, team=OTHER_TEAM, user_team=OTHER_TEAM)
        assert [REFUSED in t for t in bot.slack.ephemerals(EXT)[before:]] == [True], text
    # the command names the channel's workspace, the user's own team says otherwise
    _command(bot, EXT, "", team=HOME_TEAM, user_team=OTHER_TEAM)
    assert REFUSED in bot.slack.ephemerals(EXT)[-1]
    assert bot.slack.dm(EXT) == [] and not bot.api.calls("chat.postMessage")

    # a labeling message that reached them anyway (say, before labelbot refused outsiders)
    assert flow.send_next(bot.services, user=EXT, project=PROJECT)
    (message,) = bot.slack.open_examples(EXT)
    _choose(bot, EXT, message, _any_label(message), team=OTHER_TEAM)
    assert _annotations(bot) == 0 and REFUSED in bot.slack.ephemerals(EXT)[-1]
    assert bot.slack.open_examples(EXT) == [message]  # untouched: no "Labeled by"
    view = flow.flag_form(example_id(message), channel=bot.api.dm_channel(EXT), ts=message["ts"])
    assert _flag(bot, EXT, view, "not mine to label", team=OTHER_TEAM).status_code == 200
    assert projects.project_status(bot.ws, PROJECT)["open_flags"] == 0
    assert REFUSED in bot.slack.dm(EXT)[-1]["text"]  # a form has no response_url: the DM

    # members of the installing workspace go on as ever
    _command(bot, U1, "", team=HOME_TEAM, user_team=HOME_TEAM)
    (mine,) = bot.slack.open_examples(U1)
    _choose(bot, U1, mine, _any_label(mine), team=HOME_TEAM)
    assert _annotations(bot) == 1
    assert not any(REFUSED in t for t in bot.slack.ephemerals(U1))


def test_thread_replies_of_outsiders_are_not_kept_and_events_without_a_team_go_through(
    bot: Bot, bank: dict[str, str]
) -> None:
    bot.slack.command(U1)
    bot.settle()
    (message,) = bot.slack.open_examples(U1)
    bot.slack.click(U1, message, ids.DISCUSS)
    bot.settle()
    (root,) = bot.api.messages(CHANNEL)
    replies = {
        EXT: (OTHER_TEAM, "ours is card_arrival, trust me"),
        U2: (HOME_TEAM, "I read it as card_arrival"),
        U3: (None, "agreed"),  # a message event that names no team
    }
    for n, (user, (team, text)) in enumerate(replies.items()):
        event = payloads.message_event(CHANNEL, user, text, f"1700000000.00010{n}", root["ts"])
        if team is not None:
            event["event"].update(user_team=team, source_team=team)
        event["is_ext_shared_channel"] = True
        assert bot.slack.post(signed_event(bot.slack.secret, event)).status_code == 200
    bot.settle()
    record = next(
        r for r in exporting.export_records(bot.ws, PROJECT) if r["id"] == str(example_id(message))
    )
    assert sorted(c["text"] for c in record["comments"]) == ["I read it as card_arrival", "agreed"]

    bot.slack.event(payloads.app_home_opened(U1))  # no team in it either: Home still opens
    bot.settle()
    assert len(bot.api.calls("views.publish")) == 1


GRID = "E111"  # the Enterprise Grid organisation whose workspace T111 installed labelbot


@pytest.fixture
def grid(monkeypatch: pytest.MonkeyPatch) -> str:
    """auth.test, which Bolt asks on the first request, says the workspace is on Grid."""
    plain = fake_slack._METHODS["auth.test"]
    monkeypatch.setitem(
        fake_slack._METHODS, "auth.test", lambda api, p: {**plain(api, p), "enterprise_id": GRID}
    )
    return GRID


def test_on_enterprise_grid_the_whole_organisation_may_label(
    bot: Bot, bank: dict[str, str], grid: str
) -> None:
    colleague, org_user = "U0COLLEAGUE", "W0ORGUSER"
    # a user of another workspace (T222) of the same organisation
    _command(bot, colleague, "", team="T222", enterprise=grid)
    (message,) = bot.slack.open_examples(colleague)
    _choose(bot, colleague, message, _any_label(message), team="T222", enterprise=grid)
    # a user whose payload names the organisation itself, as Slack does on Grid
    _command(bot, org_user, "", team=HOME_TEAM, enterprise=grid)
    (message,) = bot.slack.open_examples(org_user)
    _choose(bot, org_user, message, _any_label(message), team=grid, enterprise=grid)
    assert _annotations(bot) == 2
    # typed in the channel: each is told only where the example went, nothing refused
    for user in (colleague, org_user):
        assert all("in your direct messages" in t for t in bot.slack.ephemerals(user))

    # another organisation, Grid or not, is still outside
    _command(bot, EXT, "", team=OTHER_TEAM, user_team=OTHER_TEAM, enterprise="E999")
    assert REFUSED in bot.slack.ephemerals(EXT)[-1] and bot.slack.dm(EXT) == []
    assert flow.send_next(bot.services, user=EXT, project=PROJECT)
    (message,) = bot.slack.open_examples(EXT)
    for team, enterprise in (("E999", "E999"), (OTHER_TEAM, "E999"), (OTHER_TEAM, None)):
        _choose(bot, EXT, message, _any_label(message), team=team, enterprise=enterprise)
    assert _annotations(bot) == 2
    assert sum(REFUSED in t for t in bot.slack.ephemerals(EXT)) == 4


# --- 4. `/label <project> <n>`, and nothing dropped unread -------------------------------------


def test_a_number_after_the_project_is_the_batch_size(bot: Bot, bank: dict[str, str]) -> None:
    bot.slack.command(U1, f"{PROJECT} 2")
    bot.settle()
    for _ in range(2):
        (message,) = bot.slack.open_examples(U1)
        bot.slack.choose(U1, message, true_label(bot, bank, message))
        bot.settle()
    assert bot.slack.dm(U1)[-1]["text"].startswith("2 done — ")  # the batch's summary
    assert not bot.slack.open_examples(U1)

    bot.slack.command(U2, f"<#{CHANNEL}|{PROJECT}>\u00a01")  # a channel mention, any space
    bot.settle()
    (message,) = bot.slack.open_examples(U2)
    bot.slack.choose(U2, message, true_label(bot, bank, message))
    bot.settle()
    assert bot.slack.dm(U2)[-1]["text"].startswith("1 done — ")


def test_other_words_after_the_project_are_refused_with_the_usage(
    bot: Bot, bank: dict[str, str]
) -> None:
    for text, word in ((f"{PROJECT} please", "please"), (f"2 {PROJECT} now", "now"),
                       (f"{PROJECT} 2 3", "3"), (f"{PROJECT} other", "other")):  # fmt: skip
        bot.slack.command(U1, text)
        bot.settle()
        answer = bot.slack.ephemerals(U1)[-1]
        assert f"not '{word}' as well" in answer and "`/label &lt;project&gt; 5`" in answer, text
    assert bot.slack.dm(U1) == [] and not bot.api.calls("chat.postMessage")
    bot.slack.command(U1, f"{PROJECT} 500")
    bot.settle()
    assert "A batch is 1 to 100 examples" in bot.slack.ephemerals(U1)[-1]


# --- 5. a double click that starts a batch posts one example ------------------------------------


def _labeling_posts(bot: Bot, since: int) -> list[dict[str, Any]]:
    posted = [c.params for c in bot.api.calls("chat.postMessage")[since:]]
    return [p for p in posted if ids.EXAMPLE_TEXT_BLOCK in json.dumps(p.get("blocks"))]


def _double_click(bot: Bot, payload: dict[str, Any]) -> None:
    signed = signed_interactivity(bot.slack.secret, payload)
    answers = together(lambda: bot.slack.post(signed), lambda: bot.slack.post(signed))
    assert [a.status_code for a in answers] == [200, 200]
    bot.settle()


def _label_5_now(bot: Bot) -> dict[str, Any]:
    """U1's click on "Label 5 now" in the Home tab: a view, no message, channel or
    response_url."""
    bot.slack.event(payloads.app_home_opened(U1))
    bot.settle()
    home = bot.api.calls("views.publish")[-1].params["view"]
    block_id, start = button(home, ids.HOME_START_BATCH)
    payload = payloads.block_actions(U1, ids.HOME_START_BATCH, start["value"], "", "", [],
                                     block_id=block_id)  # fmt: skip
    payload.update(container={"type": "view", "view_id": "V0HOME"}, view=home)
    for key in ("message", "channel", "response_url"):
        payload.pop(key)
    return payload


def test_a_double_click_on_5_more_posts_the_example_once(bot: Bot, bank: dict[str, str]) -> None:
    bot.slack.command(U1, "1")
    bot.settle()
    (message,) = bot.slack.open_examples(U1)
    bot.slack.choose(U1, message, true_label(bot, bank, message))
    bot.settle()
    summary = bot.slack.dm(U1)[-1]
    since = len(bot.api.calls("chat.postMessage"))
    block_id, more = button(summary, ids.BATCH_MORE)
    _double_click(
        bot, bot.slack.action_payload(U1, summary, ids.BATCH_MORE, more["value"], block_id=block_id)
    )
    assert len(_labeling_posts(bot, since)) == 1
    assert len(bot.slack.open_examples(U1)) == 1
    assert not any("moved to a newer message" in m.get("text", "") for m in bot.slack.dm(U1))


def test_a_double_click_on_label_5_now_posts_the_example_once(
    bot: Bot, bank: dict[str, str]
) -> None:
    payload = _label_5_now(bot)
    _double_click(bot, payload)
    assert len(_labeling_posts(bot, 0)) == 1 and len(bot.slack.open_examples(U1)) == 1

    # an example waiting in the DM stays where it is: "Label 5 now" starts the batch with it
    _double_click(bot, payload)
    assert len(_labeling_posts(bot, 0)) == 1 and len(bot.slack.open_examples(U1)) == 1
    for _ in range(5):
        (message,) = bot.slack.open_examples(U1)
        bot.slack.choose(U1, message, true_label(bot, bank, message))
        bot.settle()
    assert bot.slack.dm(U1)[-1]["text"].startswith("5 done — ")


def test_label_5_now_moves_an_example_waiting_since_long_ago_down(
    bot: Bot, bank: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A click long after the example was posted (not a double click) brings it down to a new
    message, where the expert is looking; the old one loses its buttons."""
    bot.slack.command(U1)
    bot.settle()
    (first,) = bot.slack.open_examples(U1)
    monkeypatch.setattr(flow, "REPOST_AFTER_S", 0.0)  # the waiting message counts as old
    payload = _label_5_now(bot)
    before = len(bot.api.calls("chat.postMessage"))
    bot.slack.post(signed_interactivity(bot.slack.secret, payload))
    bot.settle()
    (moved,) = _labeling_posts(bot, before)
    (now,) = bot.slack.open_examples(U1)
    assert now["ts"] != first["ts"] and example_id(now) == example_id(first)


def test_typed_label_n_still_moves_a_waiting_example_down(bot: Bot, bank: dict[str, str]) -> None:
    bot.slack.command(U1)
    bot.settle()
    (first,) = bot.slack.open_examples(U1)
    bot.slack.command(U1, "3")
    bot.settle()
    (again,) = bot.slack.open_examples(U1)
    assert example_id(again) == example_id(first) and again["ts"] != first["ts"]
    moved = next(m for m in bot.slack.dm(U1) if m["ts"] == first["ts"])
    assert "moved to a newer message below" in moved["text"]


# --- 6. a flag submitted after labeling from the same message ------------------------------------


def test_a_flag_after_labeling_leaves_the_label_and_its_undo(
    bot: Bot, bank: dict[str, str]
) -> None:
    bot.slack.command(U1)
    bot.settle()
    (message,) = bot.slack.open_examples(U1)
    eid = example_id(message)
    bot.slack.click(U1, message, ids.FLAG)
    bot.settle()
    view = bot.api.calls("views.open")[-1].params["view"]
    label = true_label(bot, bank, message)
    bot.slack.choose(U1, message, label)  # while the flag form is open
    bot.settle()

    assert _flag(bot, U1, view, "ambiguous").status_code == 200  # the form closes
    labeled = next(m for m in bot.slack.dm(U1) if m["ts"] == message["ts"])
    assert labeled["text"] == f"Labeled {label} by <@{U1}>"
    assert button(labeled, ids.UNDO)[1]["value"] == str(eid)
    assert projects.project_status(bot.ws, PROJECT)["open_flags"] == 0
    told = bot.slack.dm(U1)[-1]["text"]
    assert told == (
        f":warning: You labeled example {eid} already: Undo your label first to flag it. "
        "Nothing was changed."
    )
    assert len(bot.slack.open_examples(U1)) == 1  # the next example, sent once, after the label
