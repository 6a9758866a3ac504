"""bench/soak.py's Slack checks read the fake's timeline right: besides an example live in two
experts' DMs, one DM showing two different tasks at once (two examples, or an example and a
review, neither answered) is found; before, only the same example twice was looked for, so a
redraw that brought back an answered message's buttons beside the next example went unnoticed.
What the product allows is counted apart: an Undo's copy beside the next example, and the next
example posted before the answered one's update arrived. Real views posted through slack_sdk to
the soak's own recording fake."""

from __future__ import annotations

import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from slack_sdk import WebClient

from bot.views.labeling import labeled_message, labeling_message
from bot.views.models import ExampleCard, LabelChoice
from bot.views.review import ReviewCard, review_message, withdrawn_message

ANA = "U0001SOAK"
LABELS = [LabelChoice("card_arrival", None, 1), LabelChoice("card_lost", None, 2)]


class Dm:
    """Ana's DM on the soak's recording fake, written as the bot writes it."""

    def __init__(self, api: Any) -> None:
        self.api = api
        self.client = WebClient(token=api.token, base_url=api.api_url)
        self.answered: dict[tuple[str, str], float] = {}

    def post(self, message: dict[str, Any]) -> str:
        return str(self.client.chat_postMessage(channel=ANA, **message)["ts"])

    def update(self, ts: str, message: dict[str, Any], text: str | None = None) -> None:
        channel = self.api.dm_channel(ANA)
        self.client.chat_update(
            channel=channel, ts=ts, **{**message, "text": text or message["text"]}
        )

    def example(self, example_id: int) -> str:
        card = ExampleCard(example_id=example_id, text=f"text {example_id}", project="soak",
                           labels=LABELS)  # fmt: skip
        return self.post(labeling_message(card))

    def review(self, example_id: int) -> str:
        card = ReviewCard(review_id=example_id, example_id=example_id, text=f"text {example_id}",
                          project="soak", given="card_arrival", given_by="U0002SOAK",
                          suggested="card_lost", confidence=0.9, labels=LABELS)  # fmt: skip
        return self.post(review_message(card))

    def answer(self, ts: str) -> None:
        """Ana clicks on it (the soak's Expert notes when)."""
        self.answered[(self.api.dm_channel(ANA), ts)] = time.monotonic()

    def labeled(self, ts: str, example_id: int) -> None:
        message = labeled_message(example_id=example_id, text=f"text {example_id}",
                                  label="card_arrival", user_id=ANA, undo_until=None)  # fmt: skip
        self.update(ts, message)

    def undone(self, ts: str, example_id: int) -> None:
        message = labeled_message(example_id=example_id, text=f"text {example_id}",
                                  label="card_arrival", user_id=ANA, undo_until=None)  # fmt: skip
        note = f"<@{ANA}> undid the label *card_arrival*: the example is below again."
        self.update(ts, message, note)


@pytest.fixture
def dm(soak: ModuleType) -> Iterator[Dm]:
    with soak.RecordingSlack() as api:
        yield Dm(api)


def _checks(soak: ModuleType, dm: Dm) -> dict[str, Any]:
    return soak.slack_checks(dm.api, [ANA], dm.answered)  # type: ignore[no-any-return]


def test_two_examples_live_in_one_dm_are_found(soak: ModuleType, dm: Dm) -> None:
    """The redraw race: the answered message's buttons came back beside the next example."""
    first = dm.example(1)
    dm.answer(first)
    dm.labeled(first, 1)
    dm.example(2)
    card = ExampleCard(example_id=1, text="text 1", project="soak", labels=LABELS)
    dm.update(first, labeling_message(card))  # live again, unanswered
    checks = _checks(soak, dm)
    assert checks["together"]["queue"] == 1
    (sample,) = checks["together_samples"]
    assert "example 1" in sample and "example 2" in sample and ANA in sample
    assert checks["pairs"]["one DM (queue)"] == 0  # not the same example twice


def test_a_review_live_beside_an_example_is_found(soak: ModuleType, dm: Dm) -> None:
    """A withdrawn review that kept its buttons while `/label` sent the next example."""
    dm.review(7)
    dm.example(8)
    checks = _checks(soak, dm)
    assert checks["together"]["queue"] == 1 and checks["reviews"] == 1
    assert "review of example 7" in checks["together_samples"][0]


def test_what_the_product_allows_is_counted_apart(soak: ModuleType, dm: Dm) -> None:
    # one after the other: a review answered and withdrawn, then an example labeled
    review = dm.review(3)
    dm.update(review, withdrawn_message(example_id=3, text="text 3", reason="why"))
    first = dm.example(1)
    dm.answer(first)
    dm.labeled(first, 1)
    # the answered window: the next example posted before the answer's update arrived
    second = dm.example(2)
    dm.answer(second)
    dm.example(4)
    dm.labeled(second, 2)
    # Undo: the undone example offered again beside the next one, which waits meanwhile
    dm.undone(first, 1)
    dm.example(1)
    checks = _checks(soak, dm)
    assert checks["together"]["queue"] == 0, checks["together_samples"]
    assert checks["together"]["answered window"] == 1
    assert checks["together"]["undo"] == 1
    assert checks["deliveries"] == 4 and checks["undo_reposts"] == 1
