"""Promises of the labeling DM (README, "Set up in Slack" and "Reviews, agreement and the busy
expert's rhythm in Slack") that no other test held, each through the real Bolt app over signed
HTTP with the fake Slack Web API, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from bot import flow, ids
from engine import exporting, projects
from storage.db import session_scope
from storage.models import Annotation, Assignment, LabelingBatch, Prediction, utcnow
from tests.bot.conftest import CHANNEL, LABELS, PROJECT, Bot, train_bank, true_label
from tests.fakes import payloads
from tests.fakes.signing import signed_event, signed_interactivity
from tests.fakes.slack_client import button, choices, elements, example_id

U1, U2 = "U0ALICE", "U0BOB"


def _project(bot: Bot, tmp_path: Path, name: str, labels: list[str], texts: list[str]) -> None:
    projects.create_project(bot.ws, name=name, labels=labels, channel_id=CHANNEL)
    path = tmp_path / f"{name}.csv"
    path.write_text("text\n" + "".join(f"{t}\n" for t in texts), "utf-8")
    projects.import_file(bot.ws, project=name, path=path, embed=False)


def _first(bot: Bot, user: str, text: str = "") -> dict[str, Any]:
    bot.slack.command(user, text)
    bot.settle()
    (message,) = bot.slack.open_examples(user)
    return message


def _kinds(message: dict[str, Any]) -> set[str]:
    return {el["action_id"].split(":")[0] for _, el in elements(message)}


def test_fifteen_labels_are_buttons_and_sixteen_a_menu(bot: Bot, tmp_path: Path) -> None:
    """README: "one button per label (a menu when there are more than 15)": the boundary, and a
    pick from the menu stores its label and sends the next example."""
    for n, user in ((15, U1), (16, U2)):
        name = f"p{n}"
        labels = [f"topic_{i:02d}" for i in range(n)]
        _project(bot, tmp_path, name, labels, [f"text {i} of {name}" for i in range(3)])
        message = _first(bot, user, name)
        offered = choices(message)
        assert sorted(c.label for c in offered) == labels
        if n == 15:
            assert {c.action_id for c in offered} == {f"{ids.LABEL}:{i}" for i in range(15)}
            assert ids.LABEL_SELECT not in _kinds(message)
        else:
            assert {c.action_id for c in offered} == {ids.LABEL_SELECT}
            assert ids.LABEL not in _kinds(message)  # no model yet: no ✓ button either
        assert {ids.SKIP, ids.DISCUSS, ids.FLAG} <= _kinds(message)
        assert bot.slack.choose(user, message, labels[-1]).status_code == 200
        bot.settle()
        (record,) = [r for r in exporting.export_records(bot.ws, name) if r["label"]]
        assert record["label"] == labels[-1]
        answered = next(m for m in bot.slack.dm(user) if m["ts"] == message["ts"])
        assert not choices(answered) and f"Labeled *{labels[-1]}*" in json.dumps(answered)
        (nxt,) = bot.slack.open_examples(user)
        assert example_id(nxt) != example_id(message)


def test_the_models_guess_shows_once_there_is_a_model_and_never_on_a_blind_pick(
    bot: Bot, bank: dict[str, str]
) -> None:
    """Before the first model: no guess, and the cold start's reason. With one: "Model's
    guess"; an audit pick is asked blind, with neither guess nor reason. (No second opinions
    here: those are blind too, test_multilabel.)"""
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=0.0, review_share=0.0)
    message = _first(bot, U1)
    said = json.dumps(message["blocks"])
    assert "Model's guess" not in said and "Asked early" in said
    bot.slack.choose(U1, message, true_label(bot, bank, message))
    bot.settle()
    train_bank(bot, bank)
    for audit_share, guessed in ((0.0, True), (1.0, False)):
        projects.update_settings(bot.ws, project=PROJECT, audit_share=audit_share)
        (waiting,) = bot.slack.open_examples(U1)
        bot.slack.choose(U1, waiting, true_label(bot, bank, waiting))
        bot.settle()
        (nxt,) = bot.slack.open_examples(U1)
        said = json.dumps(nxt["blocks"])
        assert ("Model's guess" in said) is guessed, said
        assert guessed or "Asked" not in said  # a blind pick says no reason either
        if guessed:  # the queue's first: the example the model is least sure of
            assert example_id(nxt) == _first_in_queue(bot, but=example_id(nxt))


def _first_in_queue(bot: Bot, *, but: int | None) -> int:
    """The unlabeled example of highest priority (the model's doubt, as the strategy ranks it)
    among those never handed out, and ``but``."""
    with session_scope(bot.ws.db, read_only=True) as session:
        handed = select(Assignment.example_id).where(Assignment.example_id != but)
        query = (
            select(Prediction.example_id)
            .where(
                col(Prediction.example_id).not_in(select(Annotation.example_id)),
                col(Prediction.example_id).not_in(handed),
            )
            .order_by(col(Prediction.priority).desc(), col(Prediction.example_id))
        )
        return int(session.exec(query).first() or 0)


def test_an_expert_with_nothing_left_is_told_so(bot: Bot, tmp_path: Path) -> None:
    _project(bot, tmp_path, "tiny", ["yes", "no"], ["first text", "second text"])
    message = _first(bot, U1, "tiny")
    bot.slack.choose(U1, message, "yes")
    bot.settle()
    (second,) = bot.slack.open_examples(U1)
    bot.slack.click(U1, second, ids.SKIP)  # skipping the last one leaves nothing either
    bot.settle()
    assert bot.slack.open_examples(U1) == []
    last = bot.slack.dm(U1)[-1]
    assert last["text"].startswith("Nothing left to label in *tiny*"), last["text"]
    told = len(bot.slack.ephemerals(U1))
    bot.slack.command(U1, "tiny")
    bot.settle()
    assert bot.slack.open_examples(U1) == []
    assert "Nothing left to label in *tiny*" in bot.slack.ephemerals(U1)[told]


def test_a_thread_reply_slack_sends_again_with_its_retry_headers_is_kept_once(
    bot: Bot, bank: dict[str, str]
) -> None:
    message = _first(bot, U1)
    bot.slack.click(U1, message, ids.DISCUSS)
    bot.settle()
    (root,) = bot.api.messages(CHANNEL)
    reply = payloads.message_event(CHANNEL, U2, "a card question", "1700000000.000100",
                                   thread_ts=root["ts"], event_id="Ev0RETRIED")  # fmt: skip
    answers = []
    for retry in (None, "1", "2"):
        signed = signed_event(bot.slack.secret, reply)
        headers = dict(signed.headers)
        if retry is not None:
            headers.update({"X-Slack-Retry-Num": retry, "X-Slack-Retry-Reason": "http_timeout"})
        answers.append(
            bot.slack.http.post("/slack/events", content=signed.body, headers=headers).status_code
        )
        bot.settle()
    assert answers == [200, 200, 200]
    record = next(
        r for r in exporting.export_records(bot.ws, PROJECT) if r["id"] == str(example_id(message))
    )
    assert [c["text"] for c in record["comments"]] == ["a card question"]


def test_buttons_clicked_by_someone_other_than_the_expert_change_nothing(
    bot: Bot, bank: dict[str, str]
) -> None:
    """Bob's clicks on Alice's message (a copy of her DM, or a click made up by hand): Skip,
    a label and Undo are refused and leave her example, her label and her message alone."""
    message = _first(bot, U1)
    alices = bot.api.dm_channel(U1)
    label = true_label(bot, bank, message)
    bot.slack.click(U2, message, ids.SKIP, channel=alices)
    bot.settle()
    bot.slack.choose(U2, message, label)
    bot.settle()
    assert "another expert's" in bot.slack.ephemerals(U2)[0]
    assert "another expert" in bot.slack.ephemerals(U2)[1]
    assert [m["ts"] for m in bot.slack.open_examples(U1)] == [message["ts"]]
    assert projects.project_status(bot.ws, PROJECT)["annotations"] == 0
    bot.slack.choose(U1, message, label)
    bot.settle()
    (labeled,) = [m for m in bot.slack.dm(U1) if m["ts"] == message["ts"]]
    bot.slack.click(U2, labeled, ids.UNDO, channel=alices)
    bot.settle()
    assert "no label of yours on this message" in bot.slack.ephemerals(U2)[-1]
    assert projects.project_status(bot.ws, PROJECT)["annotations"] == 1
    assert [m for m in bot.slack.dm(U1) if m["ts"] == message["ts"]] == [labeled]
    assert bot.slack.open_examples(U2) == [] and bot.slack.dm(U2) == []


def test_quiet_hours_do_not_hold_back_what_the_expert_asks_for(
    bot: Bot, bank: dict[str, str]
) -> None:
    bot.slack.command(U1, "quiet 00:00-23:59")
    bot.settle()
    message = _first(bot, U1)
    bot.slack.choose(U1, message, true_label(bot, bank, message))
    bot.settle()
    (nxt,) = bot.slack.open_examples(U1)
    assert nxt["ts"] != message["ts"]


def test_after_discuss_the_example_is_still_labeled_from_its_message(
    bot: Bot, bank: dict[str, str]
) -> None:
    message = _first(bot, U1)
    bot.slack.click(U1, message, ids.DISCUSS)
    bot.settle()
    assert [m["ts"] for m in bot.slack.open_examples(U1)] == [message["ts"]]
    bot.slack.choose(U1, message, true_label(bot, bank, message))
    bot.settle()
    (nxt,) = bot.slack.open_examples(U1)
    assert nxt["ts"] != message["ts"]
    assert projects.project_status(bot.ws, PROJECT)["annotations"] == 1


def test_the_skipped_message_is_updated_even_if_the_next_fails(
    bot: Bot, bank: dict[str, str]
) -> None:
    """As for a label: the skipped message loses its buttons first, so a next example Slack
    refuses leaves no live copy of an example the expert passed on."""
    message = _first(bot, U1)
    bot.api.fail_next("chat.postMessage", status=200, error="invalid_blocks")
    bot.slack.click(U1, message, ids.SKIP)
    bot.settle()
    skipped = next(m for m in bot.slack.dm(U1) if m["ts"] == message["ts"])
    assert "Skipped" in skipped["text"] and not choices(skipped)


def test_a_batch_left_unfinished_for_12_hours_lapses(bot: Bot, bank: dict[str, str]) -> None:
    """`/label 2`, one answer, then the second half a day later: no summary of a batch from
    another sitting, the next example follows as after a plain `/label`."""
    message = _first(bot, U1, "2")
    bot.slack.choose(U1, message, true_label(bot, bank, message))
    bot.settle()
    with session_scope(bot.ws.db) as session:
        (batch,) = session.exec(select(LabelingBatch)).all()
        batch.started_at = utcnow() - timedelta(hours=12, minutes=1)
        session.add(batch)
    (second,) = bot.slack.open_examples(U1)
    bot.slack.choose(U1, second, true_label(bot, bank, second))
    bot.settle()
    assert not [m for m in bot.slack.dm(U1) if " done — " in m.get("text", "")]
    (third,) = bot.slack.open_examples(U1)
    assert third["ts"] != second["ts"]


def test_a_menu_offers_the_models_guess_as_one_click(bot: Bot, bank: dict[str, str]) -> None:
    """More than 15 labels and a model: beside the menu, a ✓ button for the model's guess (a
    menu cannot offer it pre-chosen); its click stores that label as a menu pick would."""
    projects.update_settings(bot.ws, project=PROJECT, audit_share=0.0, multi_label_share=0.0,
                             review_share=0.0)  # fmt: skip
    train_bank(bot, bank)
    projects.add_labels(bot.ws, project=PROJECT, names=[f"extra_{i:02d}" for i in range(11)])
    message = _first(bot, U1)
    block_id, suggested = button(message, f"{ids.LABEL}:suggested")
    assert block_id == button(message, ids.LABEL_SELECT)[0]  # one row: the menu, then ✓
    guess = suggested["text"]["text"].removeprefix("✓ ")
    assert f"Model's guess: *{guess}*" in json.dumps(message["blocks"])
    bot.slack.click(U1, message, f"{ids.LABEL}:suggested")
    bot.settle()
    record = next(
        r for r in exporting.export_records(bot.ws, PROJECT) if r["id"] == str(example_id(message))
    )
    assert record["label"] == guess
    (nxt,) = bot.slack.open_examples(U1)
    assert nxt["ts"] != message["ts"]


def test_label_typed_in_a_dm_with_a_colleague_says_where_the_example_went(
    bot: Bot, bank: dict[str, str]
) -> None:
    """A DM between two people has a D… id too: `/label` typed there showed nothing (the
    example went to the DM with labelbot, unannounced), as if typed in the DM with labelbot."""
    for text in ("", "2"):
        told = len(bot.slack.ephemerals(U1))
        bot.slack.command(U1, text, channel="D0ALICEBOB")
        bot.settle()
        assert "is in your direct messages with labelbot" in bot.slack.ephemerals(U1)[told]
    assert len(bot.slack.open_examples(U1)) == 1
    assert bot.api.messages("D0ALICEBOB") == []
    # in the DM with labelbot nothing more is said; where Slack does not say which DM that
    # is, saying where the example went is harmless there too
    for fail, said in ((False, []), (True, ["is in your direct messages with labelbot"])):
        if fail:
            bot.api.fail_next("conversations.open", error="internal_error")
        told = len(bot.slack.ephemerals(U1))
        bot.slack.command(U1)
        bot.settle()
        assert [s for s in said if s in " ".join(bot.slack.ephemerals(U1)[told:])] == said
        assert len(bot.slack.ephemerals(U1)) - told == len(said)


def test_undo_past_its_window_is_refused_and_the_button_goes(
    bot: Bot, bank: dict[str, str]
) -> None:
    """Undo is offered for 5 minutes ("Undo available until …"); a click after that changes
    nothing, says why, and the message keeps its label without the button it no longer
    honours. No copy of the example is posted again."""
    message = _first(bot, U1)
    label = true_label(bot, bank, message)
    bot.slack.choose(U1, message, label)
    bot.settle()
    (labeled,) = [m for m in bot.slack.dm(U1) if m["ts"] == message["ts"]]
    with session_scope(bot.ws.db) as session:
        (annotation,) = session.exec(select(Annotation)).all()
        annotation.created_at = utcnow() - timedelta(minutes=6)
        session.add(annotation)
    posts = len(bot.api.calls("chat.postMessage"))
    bot.slack.click(U1, labeled, ids.UNDO)
    bot.settle()
    assert "only possible for 5 minutes" in bot.slack.ephemerals(U1)[-1]
    assert projects.project_status(bot.ws, PROJECT)["annotations"] == 1
    assert len(bot.api.calls("chat.postMessage")) == posts
    (after,) = [m for m in bot.slack.dm(U1) if m["ts"] == message["ts"]]
    assert f"Labeled *{label}*" in json.dumps(after) and ids.UNDO not in json.dumps(after)


def _disagree(bot: Bot) -> tuple[dict[str, Any], dict[str, Any]]:
    """Alice labels an example LABELS[0], Bob (the second opinion it waits for) LABELS[2]:
    their messages as they were delivered."""
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=1.0, audit_share=0.0)
    alices = _first(bot, U1)
    bot.slack.choose(U1, alices, LABELS[0])
    bot.settle()
    bobs = _first(bot, U2)
    assert example_id(bobs) == example_id(alices)
    bot.slack.choose(U2, bobs, LABELS[2])
    bot.settle()
    return alices, bobs


def test_settling_a_disagreement_takes_the_voters_undo_away_at_once(
    bot: Bot, bank: dict[str, str]
) -> None:
    """An admin settles Alice's and Bob's disagreement within their 5 minutes: each voter's
    labeled message is redrawn at once with their label and without the Undo the settlement
    closed (it offered it until clicked, then refused it). A voter whose window had passed
    already is not redrawn."""
    admin = "U0ADMIN"
    projects.update_settings(bot.ws, project=PROJECT, admins=[admin])
    alices, bobs = _disagree(bot)
    for user, message in ((U1, alices), (U2, bobs)):
        (labeled,) = [m for m in bot.slack.dm(user) if m["ts"] == message["ts"]]
        assert ids.UNDO in json.dumps(labeled)
    updates = len(bot.api.calls("chat.update"))
    (root,) = bot.api.messages(CHANNEL)
    bot.slack.click(admin, root, f"{ids.SETTLE}:1", channel=CHANNEL)
    bot.settle()
    assert "Settled" in json.dumps(bot.api.messages(CHANNEL)[0])
    redrawn = {
        (c.params["channel"], c.params["ts"]): json.dumps(c.params)
        for c in bot.api.calls("chat.update")[updates:]
    }
    for user, message, label in ((U1, alices, LABELS[0]), (U2, bobs, LABELS[2])):
        where = (bot.api.dm_channel(user), message["ts"])
        assert where in redrawn, (user, list(redrawn))
        assert f"Labeled *{label}*" in redrawn[where] and ids.UNDO not in redrawn[where]
        (labeled,) = [m for m in bot.slack.dm(user) if m["ts"] == message["ts"]]
        assert ids.UNDO not in json.dumps(labeled)
    assert bot.slack.ephemerals(U1) == bot.slack.ephemerals(U2) == []


def test_settling_redraws_only_the_votes_whose_undo_is_still_offered(
    bot: Bot, bank: dict[str, str]
) -> None:
    """Alice's Undo window passed before Bob settled: only Bob's message is redrawn (Alice's
    says until when Undo was offered; a click on it is refused as any late one)."""
    alices, bobs = _disagree(bot)
    with session_scope(bot.ws.db) as session:
        (first,) = session.exec(select(Annotation).where(Annotation.annotator == U1)).all()
        first.created_at = utcnow() - timedelta(minutes=6)
        session.add(first)
    updates = len(bot.api.calls("chat.update"))
    (root,) = bot.api.messages(CHANNEL)
    bot.slack.click(U2, root, f"{ids.SETTLE}:0", channel=CHANNEL)
    bot.settle()
    redrawn = {
        (c.params["channel"], c.params["ts"]) for c in bot.api.calls("chat.update")[updates:]
    }
    assert (bot.api.dm_channel(U2), bobs["ts"]) in redrawn
    assert (bot.api.dm_channel(U1), alices["ts"]) not in redrawn


def test_undo_after_the_disagreement_was_settled_is_refused_and_the_button_goes(
    bot: Bot, bank: dict[str, str]
) -> None:
    """Alice and Bob disagree; Alice settles it from the thread. Bob's Undo, within its 5
    minutes, is refused (his vote stays part of the record) and his message keeps his label
    without the button it no longer honours. No copy of the example is posted again."""
    alices, bobs = _disagree(bot)
    (labeled,) = [m for m in bot.slack.dm(U2) if m["ts"] == bobs["ts"]]
    assert ids.UNDO in json.dumps(labeled)
    (root,) = bot.api.messages(CHANNEL)
    bot.slack.click(U1, root, f"{ids.SETTLE}:0", channel=CHANNEL)
    bot.settle()
    assert "Settled" in json.dumps(bot.api.messages(CHANNEL)[0]), bot.api.messages(CHANNEL)[0]
    # the button went as it was settled (the test below); a click sent before is refused
    posts = len(bot.api.calls("chat.postMessage"))
    bot.slack.click(U2, labeled, ids.UNDO)
    bot.settle()
    assert bot.slack.ephemerals(U2)[-1] == (
        f":warning: This example was settled as '{LABELS[0]}' since your label: your label "
        "stays part of its record. Nothing was changed."
    )
    assert len(bot.api.calls("chat.postMessage")) == posts
    record = next(
        r for r in exporting.export_records(bot.ws, PROJECT) if r["id"] == str(example_id(bobs))
    )
    assert sorted(a["label"] for a in record["annotations"] if a["annotator"] != U1) == [
        LABELS[2]
    ], record
    (after,) = [m for m in bot.slack.dm(U2) if m["ts"] == bobs["ts"]]
    assert f"Labeled *{LABELS[2]}*" in json.dumps(after) and ids.UNDO not in json.dumps(after)


def test_a_flag_form_submitted_twice_flags_once(bot: Bot, bank: dict[str, str]) -> None:
    """The same Flag form sent again (Submit clicked again after Slack said it got no answer,
    or one submission answered by two replicas) stores no second flag, tells the thread of no
    second one, and counts once in the batch."""
    message = _first(bot, U1, "2")
    eid = example_id(message)
    assert eid is not None
    form = flow.flag_form(eid, channel=bot.api.dm_channel(U1), ts=message["ts"])

    def submit(reason: str) -> None:
        typed = {"type": "plain_text_input", "value": reason}
        values = {ids.FLAG_REASON_BLOCK: {ids.FLAG_REASON_INPUT: typed}}
        body = payloads.view_submission(
            U1, ids.FLAG_MODAL, values, private_metadata=form["private_metadata"]
        )
        assert bot.slack.post(signed_interactivity(bot.slack.secret, body)).status_code == 200
        bot.settle()

    for _ in range(2):
        submit("a card number")
    record = next(r for r in exporting.export_records(bot.ws, PROJECT) if r["id"] == str(eid))
    assert [f["reason"] for f in record["flags"]] == ["a card number"]
    (root,) = bot.api.messages(CHANNEL)
    assert "again" not in json.dumps(root)
    assert not [m for m in bot.slack.dm(U1) if " done — " in m.get("text", "")]
    (nxt,) = bot.slack.open_examples(U1)
    assert example_id(nxt) != eid
    submit("and a name")  # another reason from the same expert: another flag, told in the thread
    assert projects.project_status(bot.ws, PROJECT)["open_flags"] == 2
    assert any("Flagged again" in m.get("text", "") for m in bot.api.messages(CHANNEL))


def test_discuss_and_flag_clicked_by_someone_other_than_the_expert_change_nothing(
    bot: Bot, bank: dict[str, str]
) -> None:
    """Bob's Discuss and Flag on Alice's message (a copy of her DM, or a click made up by
    hand), and a flag form naming her message submitted as his: no note in her message's
    thread, no thread in the channel, no flag, her message as it was. Her own clicks still
    work."""
    message = _first(bot, U1)
    alices = bot.api.dm_channel(U1)
    eid = example_id(message)
    assert eid is not None
    bot.slack.click(U2, message, ids.DISCUSS, channel=alices)
    bot.settle()
    bot.slack.click(U2, message, ids.FLAG, channel=alices)
    bot.settle()
    form = flow.flag_form(eid, channel=alices, ts=message["ts"])
    typed = {"type": "plain_text_input", "value": "spam"}
    body = payloads.view_submission(
        U2, ids.FLAG_MODAL, {ids.FLAG_REASON_BLOCK: {ids.FLAG_REASON_INPUT: typed}},
        private_metadata=form["private_metadata"],
    )  # fmt: skip
    assert bot.slack.post(signed_interactivity(bot.slack.secret, body)).status_code == 200
    bot.settle()

    refused = ":warning: This message is another expert's: only the expert it was sent to can "
    assert [t.startswith(refused) for t in bot.slack.ephemerals(U2)] == [True, True]
    (told,) = bot.slack.dm(U2)  # a modal has no response_url: the refusal comes in the DM
    assert told["text"].startswith(refused) and "Nothing was changed." in told["text"]
    assert not bot.api.calls("views.open")
    assert [m for m in bot.slack.dm(U1) if m["ts"] == message["ts"]] == [message]
    assert [m["ts"] for m in bot.slack.dm(U1)] == [message["ts"]]  # no thread note either
    assert bot.api.messages(CHANNEL) == []
    record = next(r for r in exporting.export_records(bot.ws, PROJECT) if r["id"] == str(eid))
    assert record["flags"] == [] and projects.project_status(bot.ws, PROJECT)["open_flags"] == 0

    bot.slack.click(U1, message, ids.DISCUSS)
    bot.settle()
    bot.slack.click(U1, message, ids.FLAG)
    bot.settle()
    assert [m.get("thread_ts") for m in bot.slack.dm(U1)] == [None, message["ts"]]
    assert len(bot.api.calls("views.open")) == 1 and bot.slack.ephemerals(U1) == []


def _comments(bot: Bot, eid: int | None) -> list[tuple[str, str, str]]:
    record = next(r for r in exporting.export_records(bot.ws, PROJECT) if r["id"] == str(eid))
    return [(c["author"], c["text"], c["created_at"]) for c in record["comments"]]


def test_replies_written_under_the_message_before_discuss_are_kept_once(
    bot: Bot, bank: dict[str, str]
) -> None:
    """Discuss's note says "Replies there (and here) are saved": a reply written under the
    labeling message before the click (its event came while the thread was no discussion) is
    kept when Discuss is clicked, dated when it was written; that reply's event delivered
    again after (under another event id) is not kept twice, nor is it on a second Discuss. A
    reply after Discuss is kept as before."""
    message = _first(bot, U1)
    eid = example_id(message)
    dm = bot.api.dm_channel(U1)

    def reply(text: str, event_id: str, ts: str | None = None) -> str:
        ts = ts or bot.api.add_message(dm, text=text, user=U1, thread_ts=message["ts"])
        event = payloads.message_event(dm, U1, text, ts, thread_ts=message["ts"],
                                       event_id=event_id)  # fmt: skip
        assert bot.slack.event(event).status_code == 200
        bot.settle()
        return ts

    early = reply("is a refund a card question?", "Ev0EARLY")
    assert _comments(bot, eid) == []  # no discussion yet: nothing to keep it with
    bot.slack.click(U1, message, ids.DISCUSS)
    bot.settle()
    written = flow.slack_time(early).isoformat()  # not when Discuss read it
    assert _comments(bot, eid) == [(U1, "is a refund a card question?", written)]
    assert bot.api.calls("conversations.replies")[-1].params["ts"] == message["ts"]

    reply("is a refund a card question?", "Ev0RESENT", ts=early)  # the same message again
    bot.slack.click(U1, message, ids.DISCUSS)
    bot.settle()
    assert [t for _, t, _ in _comments(bot, eid)] == ["is a refund a card question?"]
    reply("no, a transfer", "Ev0LATER")
    assert [t for _, t, _ in _comments(bot, eid)] == [
        "is a refund a card question?",
        "no, a transfer",
    ]
    notes = [m for m in bot.slack.dm(U1) if m.get("bot_id") and m.get("thread_ts")]
    assert len(notes) == 1 and "(and here) are saved" in notes[0]["text"]
