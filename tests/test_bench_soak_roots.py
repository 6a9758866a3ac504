"""bench/soak.py's "threads posted twice" check tells an example's thread kinds apart: a
disagreement's and a flag's roots show the example's text, as a Discuss root does, and were
counted as discussion roots, so an example discussed and then disputed (two threads by design,
README: "a disagreement on an example already discussed is linked from its Discuss thread")
read as its discussion thread posted twice. Real views posted through slack_sdk to the soak's
own recording fake."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest
from slack_sdk import WebClient

from bot.views.disputes import DisputeCard, dispute_message
from bot.views.flags import flag_message
from bot.views.messages import discussion_root
from bot.views.models import LabelChoice
from engine.flags import FlaggedExample, FlagView

EXAMPLE = 87
LABELS = [LabelChoice("card_arrival", None, 1), LabelChoice("card_lost", None, 2)]


@pytest.fixture
def channel(soak: ModuleType) -> Iterator[tuple[Any, WebClient]]:
    with soak.RecordingSlack() as api:
        yield api, WebClient(token=api.token, base_url=api.api_url)


def _discussion() -> dict[str, Any]:
    return discussion_root(example_id=EXAMPLE, text="where is my card", project="soak",
                           opener="U0001SOAK")  # fmt: skip


def _dispute() -> dict[str, Any]:
    card = DisputeCard(example_id=EXAMPLE, text="where is my card", project="soak",
                       votes=[("U0001SOAK", "card_arrival"), ("U0002SOAK", "card_lost")],
                       model=("card_arrival", 0.6), involved=["U0001SOAK", "U0002SOAK"],
                       labels=LABELS)  # fmt: skip
    return dispute_message(card)


def _flag() -> dict[str, Any]:
    flag = FlagView(id=1, example_id=EXAMPLE, external_id="e87", text="where is my card",
                    annotator="U0003SOAK", reason="ambiguous", created_at=datetime.now(UTC),
                    resolved_at=None, resolved_by=None)  # fmt: skip
    found = FlaggedExample(example_id=EXAMPLE, project="soak", text="where is my card",
                           flags=[flag], labeled=False)  # fmt: skip
    return flag_message(found)


def _checks(soak: ModuleType, api: Any) -> dict[str, Any]:
    return soak.slack_checks(api, [], {})  # type: ignore[no-any-return]


def test_an_examples_discussion_dispute_and_flag_threads_are_no_double(
    soak: ModuleType, channel: tuple[Any, WebClient]
) -> None:
    api, client = channel
    for root in (_discussion(), _dispute(), _flag()):
        client.chat_postMessage(channel=soak.CHANNEL, **root)
    checks = _checks(soak, api)
    assert checks["dup_roots"] == {}
    assert checks["roots"] == {"discussion": 1, "dispute": 1, "flag": 1}


@pytest.mark.parametrize("kind", ["discussion", "dispute", "flag"])
def test_a_thread_posted_twice_is_found(
    soak: ModuleType, channel: tuple[Any, WebClient], kind: str
) -> None:
    api, client = channel
    root = {"discussion": _discussion, "dispute": _dispute, "flag": _flag}[kind]
    others = [make for name, make in (("discussion", _discussion), ("dispute", _dispute),
                                      ("flag", _flag)) if name != kind]  # fmt: skip
    for message in (root(), *(make() for make in others), root()):
        client.chat_postMessage(channel=soak.CHANNEL, **message)
    client.chat_postMessage(channel=soak.CHANNEL, thread_ts="1.000001", **root())  # a reply
    assert _checks(soak, api)["dup_roots"] == {(kind, EXAMPLE): 2}
