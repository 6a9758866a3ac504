"""The expert's loop in Slack, where it went wrong: a batch left unfinished no longer cuts a
later `/label` short, an undo gives its batch place back, a second Discuss posts no second
note, `/label` typed in a channel says where the example went, and a disagreement thread
follows a vote taken back (and a settled example's votes stay)."""

from __future__ import annotations

from engine import projects
from tests.bot.conftest import CHANNEL, PROJECT, Bot
from tests.fakes.signing import signed_interactivity
from tests.fakes.slack_client import button, choices, example_id

ALICE, BOB = "U0ALICE", "U0BOB"


def _text(bot: Bot, message: dict) -> str:  # type: ignore[type-arg]
    from engine import messaging

    return messaging.example_ref(bot.ws, example_id=example_id(message)).text


def _answer(bot: Bot, bank: dict[str, str], user: str, example: int | None = None) -> dict:  # type: ignore[type-arg]
    """Label ``user``'s open example (``example``, when an undo left two open)."""
    shown = bot.slack.open_examples(user)
    (message,) = [m for m in shown if example in (None, example_id(m))]
    bot.slack.choose(user, message, bank[_text(bot, message)])
    bot.settle()
    return message


def _summaries(bot: Bot, user: str) -> list[str]:
    return [m["text"] for m in bot.slack.dm(user) if " done — " in m.get("text", "")]


def test_a_plain_label_after_an_unfinished_batch_goes_on(bot: Bot, bank: dict[str, str]) -> None:
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=0.0)
    bot.slack.command(ALICE, "5")
    bot.settle()
    for _ in range(2):
        _answer(bot, bank, ALICE)
    bot.slack.command(ALICE, "")  # later: one without a size
    bot.settle()
    for _ in range(4):
        _answer(bot, bank, ALICE)
    assert _summaries(bot, ALICE) == []  # the old batch's 3 left no longer end this one
    assert len(bot.slack.open_examples(ALICE)) == 1


def test_an_undo_gives_its_place_in_the_batch_back(bot: Bot, bank: dict[str, str]) -> None:
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=0.0)
    bot.slack.command(ALICE, "3")
    bot.settle()
    first = _answer(bot, bank, ALICE)
    labeled = next(m for m in bot.slack.dm(ALICE) if m["ts"] == first["ts"])
    bot.slack.click(ALICE, labeled, "label_undo")
    bot.settle()
    _answer(bot, bank, ALICE, example_id(first))  # the relabel: one answer, not a second
    _answer(bot, bank, ALICE)
    assert _summaries(bot, ALICE) == []  # 2 answered of 3
    _answer(bot, bank, ALICE)
    (summary,) = _summaries(bot, ALICE)
    assert summary.startswith("3 done — ")


def test_a_second_discuss_posts_no_second_note(bot: Bot, bank: dict[str, str]) -> None:
    bot.slack.command(ALICE, "")
    bot.settle()
    (message,) = bot.slack.open_examples(ALICE)
    for _ in range(2):
        bot.slack.click(ALICE, message, "label_discuss")
        bot.settle()
    notes = [c for c in bot.api.calls("chat.postMessage")
             if "Discussion on this example" in str(c.params.get("text"))]  # fmt: skip
    assert len(notes) == 1


def test_label_typed_in_a_channel_says_where_the_example_went(
    bot: Bot, bank: dict[str, str]
) -> None:
    bot.slack.command(ALICE, "", channel=CHANNEL)
    bot.settle()
    assert "is in your direct messages with labelbot" in bot.slack.ephemerals(ALICE)[-1]
    assert len(bot.slack.open_examples(ALICE)) == 1
    bot.slack.command(BOB, "")  # from the DM: the example shows there, nothing more to say
    bot.settle()
    assert bot.slack.ephemerals(BOB) == []


def _disputed(bot: Bot, bank: dict[str, str]) -> tuple[dict, dict]:  # type: ignore[type-arg]
    projects.update_settings(bot.ws, project=PROJECT, multi_label_share=1.0)
    bot.slack.command(ALICE, "")
    bot.settle()
    alices = _answer(bot, bank, ALICE)
    bot.slack.command(BOB, "")
    bot.settle()
    bobs = next(m for m in bot.slack.open_examples(BOB) if example_id(m) == example_id(alices))
    wrong = next(c.label for c in choices(bobs) if c.label != bank[_text(bot, alices)])
    bot.slack.choose(BOB, bobs, wrong)
    bot.settle()
    return alices, bobs


def _root(bot: Bot) -> dict:  # type: ignore[type-arg]
    (root,) = [m for m in bot.api.messages(CHANNEL) if "Settle" in str(m.get("blocks"))
               or "no longer disagree" in m.get("text", "")]  # fmt: skip
    return root


def test_a_vote_taken_back_redraws_the_disagreement(bot: Bot, bank: dict[str, str]) -> None:
    _, bobs = _disputed(bot, bank)
    assert "dispute_settle" in str(_root(bot)["blocks"])
    labeled = next(m for m in bot.slack.dm(BOB) if m["ts"] == bobs["ts"])
    bot.slack.click(BOB, labeled, "label_undo")
    bot.settle()
    root = _root(bot)
    assert "no longer disagree" in root["text"] and "dispute_settle" not in str(root["blocks"])


def test_a_vote_on_a_settled_example_cannot_be_taken_back(bot: Bot, bank: dict[str, str]) -> None:
    alices, _ = _disputed(bot, bank)
    labeled = next(m for m in bot.slack.dm(ALICE) if m["ts"] == alices["ts"])  # with its Undo
    root = _root(bot)
    block_id, element = button(root, "dispute_settle:0")
    payload = bot.slack.action_payload(BOB, root, "dispute_settle:0", element["value"],
                                       block_id=block_id, channel=CHANNEL)  # fmt: skip
    assert bot.slack.post(signed_interactivity(bot.slack.secret, payload)).status_code == 200
    bot.settle()
    # the message lost its Undo as the example was settled; a click sent before is refused
    bot.slack.click(ALICE, labeled, "label_undo")
    bot.settle()
    assert "was settled as" in bot.slack.ephemerals(ALICE)[-1]
    assert not [m for m in bot.slack.open_examples(ALICE) if example_id(m) == example_id(alices)]
