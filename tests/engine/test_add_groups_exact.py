"""A decided add is held back by all of its examples, not by its key's sample of them
(engine/proposing.py ``_rejected``): a small group cut from a large rejected one is that group
(it shares all of its examples), even when only one of them is in the stored key's sample."""

from __future__ import annotations

import json

from engine import proposing
from engine.proposals import filter_rejected
from engine.proposals.additions import SKETCH, add_key, key_ids
from engine.proposals.base import Proposal


def _add(ids: list[int]) -> Proposal:
    return Proposal(
        kind="add", labels=("card_fees",), score=0.5, evidence={"ids": ids},
        key=add_key(ids), message="", evidence_strength=float(len(ids)),
    )  # fmt: skip


def _decided(ids: list[int], status: str = "rejected") -> tuple[dict[str, float], list]:  # type: ignore[type-arg]
    stored = json.dumps(list(add_key(ids)))
    return {stored: float(len(ids))}, [(status, stored, ids, float(len(ids)))]


def test_a_subset_of_a_large_rejected_add_is_held_back() -> None:
    group = list(range(1000, 1100))
    sample = key_ids(add_key(group)) or set()
    assert len(sample) == SKETCH
    one = min(sample)
    others = [i for i in group if i not in sample][:5]
    rejected = proposing._rejected(*_decided(group))
    # 6 of the rejected 100, one of them in the key's sample: all 6 shared, the same group
    assert filter_rejected([_add([one, *others])], rejected) == []


def test_a_new_group_sharing_one_example_is_let_through() -> None:
    group = list(range(1000, 1100))
    one = min(key_ids(add_key(group)) or {0})
    new = _add([one, 5001, 5002, 5003, 5004, 5005])
    assert filter_rejected([new], proposing._rejected(*_decided(group))) == [new]


def test_the_rejected_group_itself_stays_held_back_until_it_grows() -> None:
    group = list(range(1000, 1100))
    rejected = proposing._rejected(*_decided(group))
    assert filter_rejected([_add(group)], rejected) == []
    assert filter_rejected([_add(group[:90])], rejected) == []
    grown = _add(list(range(1000, 1150)))  # by half: proposed again
    assert filter_rejected([grown], rejected) == [grown]


def test_an_open_add_holds_nothing_back() -> None:
    group = list(range(1000, 1100))
    decided, adds = _decided(group, status="open")
    assert filter_rejected([_add(group)], proposing._rejected({}, adds)) == [_add(group)]
