"""The labeling loop through real HTTP: /label, clicks, the next example, Undo, Skip, stale
clicks -- on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

from engine import exporting, messaging, projects
from tests.bot.conftest import PROJECT, Bot
from tests.fakes.slack_client import choices, example_id

U1, U2 = "U0ALICE", "U0BOB"


def _text(bot: Bot, message: dict) -> str:  # type: ignore[type-arg]
    eid = example_id(message)
    assert eid is not None
    return messaging.example_ref(bot.ws, example_id=eid).text


def _label_next(bot: Bot, truth: dict[str, str], user: str) -> dict:  # type: ignore[type-arg]
    """Answer the open example in `user`'s DM correctly; returns the message clicked."""
    (message,) = bot.slack.open_examples(user)
    response = bot.slack.choose(user, message, truth[_text(bot, message)])
    assert response.status_code == 200
    bot.settle()
    return message


def test_label_command_delivers_and_20_clicks_label_20(bot: Bot, bank: dict[str, str]) -> None:
    response = bot.slack.command(U1, "")
    assert response.status_code == 200
    bot.settle()
    assert len(bot.slack.open_examples(U1)) == 1
    clicked = [_label_next(bot, bank, U1) for _ in range(20)]

    status = projects.project_status(bot.ws, PROJECT)
    assert status["annotations"] == 20 and status["labeled"] == 20
    records = [r for r in exporting.export_records(bot.ws, PROJECT) if r["label"]]
    assert all(r["label"] == bank[r["text"]] for r in records)
    assert all(r["annotations"][0]["source"] == "slack" for r in records)
    # Every clicked message now says who labeled what, with Undo; the 21st example waits.
    by_ts = {m["ts"]: m for m in bot.slack.dm(U1)}
    for message in clicked:
        updated = by_ts[message["ts"]]
        assert "Labeled" in updated["text"] and f"<@{U1}>" in updated["text"]
        assert not choices(updated)
    assert len(bot.slack.open_examples(U1)) == 1
    assert len({example_id(m) for m in clicked}) == 20
    assert not bot.api.warnings  # every message had a text fallback and valid blocks


def test_retried_and_double_clicks_store_once(bot: Bot, bank: dict[str, str]) -> None:
    bot.slack.command(U1)
    bot.settle()
    (message,) = bot.slack.open_examples(U1)
    label = bank[_text(bot, message)]
    payload = bot.slack.choice_payload(U1, message, label)
    from tests.fakes.signing import signed_interactivity

    def send() -> None:
        assert bot.slack.post(signed_interactivity(bot.slack.secret, payload)).status_code == 200

    threads = [threading.Thread(target=send) for _ in range(3)]  # a double (triple) click
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bot.settle()
    send()  # and a late retry of the same click
    bot.settle()
    assert projects.project_status(bot.ws, PROJECT)["annotations"] == 1
    assert len(bot.slack.open_examples(U1)) == 1  # exactly one next example was posted
    assert len(bot.api.calls("chat.postMessage")) == 2


def test_two_experts_at_once_never_share_an_example(bot: Bot, bank: dict[str, str]) -> None:
    # no second opinions here: those are the same example again, on purpose (test_multilabel)
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=0.0)
    for user in (U1, U2):
        bot.slack.command(user)
    bot.settle()

    def expert(user: str) -> None:
        for _ in range(8):
            (message,) = bot.slack.open_examples(user)
            bot.slack.choose(user, message, bank[_text(bot, message)])
            assert _wait(lambda m=message: _moved_on(bot, user, m))

    threads = [threading.Thread(target=expert, args=(u,)) for u in (U1, U2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bot.settle()
    seen = {u: {example_id(m) for m in bot.slack.dm(u) if example_id(m)} for u in (U1, U2)}
    assert len(seen[U1]) == len(seen[U2]) == 9 and not seen[U1] & seen[U2]
    assert projects.project_status(bot.ws, PROJECT)["annotations"] == 16


def _moved_on(bot: Bot, user: str, clicked: dict) -> bool:  # type: ignore[type-arg]
    """The click was answered: one open example again, and not the one clicked."""
    waiting = bot.slack.open_examples(user)
    return len(waiting) == 1 and waiting[0]["ts"] != clicked["ts"]


def _wait(predicate, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_skip_passes_the_example_on(bot: Bot, bank: dict[str, str]) -> None:
    bot.slack.command(U1)
    bot.settle()
    (message,) = bot.slack.open_examples(U1)
    bot.slack.click(U1, message, "label_skip")
    bot.settle()
    (nxt,) = bot.slack.open_examples(U1)
    assert example_id(nxt) != example_id(message)
    skipped = next(m for m in bot.slack.dm(U1) if m["ts"] == message["ts"])
    assert "Skipped" in skipped["text"]
    bot.slack.command(U2)  # the skipped example goes to someone else
    bot.settle()
    assert example_id(bot.slack.open_examples(U2)[0]) == example_id(message)


def test_undo_retracts_and_offers_the_example_again(bot: Bot, bank: dict[str, str]) -> None:
    bot.slack.command(U1)
    bot.settle()
    message = _label_next(bot, bank, U1)
    assert projects.project_status(bot.ws, PROJECT)["annotations"] == 1
    labeled = next(m for m in bot.slack.dm(U1) if m["ts"] == message["ts"])
    bot.slack.click(U1, labeled, "label_undo")
    bot.settle()
    assert projects.project_status(bot.ws, PROJECT)["annotations"] == 0
    again = [m for m in bot.slack.open_examples(U1) if example_id(m) == example_id(message)]
    assert len(again) == 1  # offered anew; relabeling it stores a new label
    text = _text(bot, message)
    wrong = next(lb for lb in set(bank.values()) if lb != bank[text])
    bot.slack.choose(U1, again[0], wrong)
    bot.settle()
    (record,) = [r for r in exporting.export_records(bot.ws, PROJECT) if r["label"]]
    assert record["label"] == wrong
    assert len(bot.slack.open_examples(U1)) == 1  # the waiting example is not posted twice


def test_stale_click_changes_nothing(bot: Bot, bank: dict[str, str]) -> None:
    bot.slack.command(U1)
    bot.settle()
    (message,) = bot.slack.open_examples(U1)
    label = bank[_text(bot, message)]
    # Bob clicks a copy of Alice's message (e.g. forwarded, or hers expired and he got it).
    response = bot.slack.choose(U2, message, label)
    assert response.status_code == 200, response.text
    bot.settle()
    assert projects.project_status(bot.ws, PROJECT)["annotations"] == 0
    assert "another expert" in bot.slack.ephemerals(U2)[-1]
    assert [m["ts"] for m in bot.slack.open_examples(U1)] == [message["ts"]]  # Alice's is live
    # Alice labels it; then Bob's click on it is stale too.
    bot.slack.choose(U1, message, label)
    bot.settle()
    bot.slack.choose(U2, message, label)
    bot.settle()
    assert projects.project_status(bot.ws, PROJECT)["annotations"] == 1
    assert "another expert's" in bot.slack.ephemerals(U2)[-1]  # never his, labeled or not
    assert "Nothing was changed" in bot.slack.ephemerals(U2)[-1]


def test_example_labeled_behind_the_holders_back_is_let_go(bot: Bot, bank: dict[str, str]) -> None:
    """A claim race (or an admin's CLI label) can leave an expert holding an example someone
    else labeled; their click is refused, the example let go, and the next one sent."""
    from engine import labeling

    bot.slack.command(U1)
    bot.settle()
    (message,) = bot.slack.open_examples(U1)
    eid = example_id(message)
    assert eid is not None
    label = bank[_text(bot, message)]
    labeling.submit_label(
        bot.ws, project=PROJECT, example_id=eid, label=label, annotator="U0ADMIN",
        source="cli", key="cli:1",
    )  # fmt: skip
    bot.slack.choose(U1, message, label)
    bot.settle()
    assert "already labeled" in bot.slack.ephemerals(U1)[-1]
    assert projects.project_status(bot.ws, PROJECT)["annotations"] == 1
    (nxt,) = [m for m in bot.slack.open_examples(U1) if m["ts"] != message["ts"]]
    assert example_id(nxt) != eid


def test_an_example_posted_again_leaves_one_live_copy(bot: Bot, bank: dict[str, str]) -> None:
    """/label while an example waits posts it again below: the earlier copy loses its buttons,
    so no copy is left to answer "already labeled" to every click."""
    bot.slack.command(U1)
    bot.settle()
    (first,) = bot.slack.open_examples(U1)
    bot.slack.command(U1)
    bot.settle()
    (second,) = bot.slack.open_examples(U1)
    assert second["ts"] != first["ts"] and example_id(second) == example_id(first)
    earlier = next(m for m in bot.slack.dm(U1) if m["ts"] == first["ts"])
    assert "moved to a newer message" in earlier["text"]
    _label_next(bot, bank, U1)
    assert projects.project_status(bot.ws, PROJECT)["annotations"] == 1


def test_a_leftover_copy_clicked_loses_its_buttons(bot: Bot, bank: dict[str, str]) -> None:
    """A copy left live (posted before copies were retired, or its retiring failed): a click
    on it after the example was labeled elsewhere stores nothing and takes its buttons."""
    bot.slack.command(U1)
    bot.settle()
    (first,) = bot.slack.open_examples(U1)
    bot.api.fail_next("chat.update", status=200, error="message_not_found")
    bot.slack.command(U1)
    bot.settle()
    assert len(bot.slack.open_examples(U1)) == 2  # the earlier copy could not be retired
    label = bank[_text(bot, first)]
    second = next(m for m in bot.slack.open_examples(U1) if m["ts"] != first["ts"])
    bot.slack.choose(U1, second, label)
    bot.settle()
    bot.slack.choose(U1, first, label)
    bot.settle()
    assert projects.project_status(bot.ws, PROJECT)["annotations"] == 1
    assert "already labeled" in bot.slack.ephemerals(U1)[-1]
    earlier = next(m for m in bot.slack.dm(U1) if m["ts"] == first["ts"])
    assert not choices(earlier) and "from another message" in earlier["text"]


def test_the_answered_message_is_updated_even_if_the_next_fails(
    bot: Bot, bank: dict[str, str]
) -> None:
    """The clicked message loses its buttons first: a next example that Slack refuses to take
    leaves no live copy of an example already labeled."""
    bot.slack.command(U1)
    bot.settle()
    (message,) = bot.slack.open_examples(U1)
    bot.api.fail_next("chat.postMessage", status=200, error="invalid_blocks")
    bot.slack.choose(U1, message, bank[_text(bot, message)])
    bot.settle()
    assert projects.project_status(bot.ws, PROJECT)["annotations"] == 1
    answered = next(m for m in bot.slack.dm(U1) if m["ts"] == message["ts"])
    assert "Labeled" in answered["text"] and not choices(answered)
