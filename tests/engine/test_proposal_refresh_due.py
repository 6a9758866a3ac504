"""When the scheduler refreshes taxonomy proposals (engine/proposing.py ``refresh_due``).

Not only when the active model changes: the detectors train their own probes on the labels and
the examples experts set aside, so a model held back (by a pin, or by the audit set), new labels,
flags or skips, and a day with any change make a refresh due too. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta

from engine import jobs, labeling, proposing, training
from storage.models import utcnow
from tests.engine.test_proposing import make_project


def _refreshed(ws) -> None:  # type: ignore[no-untyped-def]
    assert jobs.proposal_cycle(ws) == ["bank"]
    assert not proposing.refresh_due(ws, "bank")
    assert jobs.proposal_cycle(ws) == []


def test_a_model_held_back_by_a_pin_makes_a_refresh_due(ws, banking_slice, tmp_path) -> None:  # type: ignore[no-untyped-def]
    make_project(ws, tmp_path, banking_slice, labeled=10)
    assert not proposing.refresh_due(ws, "bank")  # no model yet: little to look at
    training.train_project(ws, "bank")
    _refreshed(ws)
    training.pin_version(ws, "bank", 1)
    held = training.train_project(ws, "bank")
    assert held.status == "ready" and not held.is_active  # v2, held back by the pin
    assert proposing.refresh_due(ws, "bank")
    _refreshed(ws)


def test_new_labels_flags_and_a_day_make_a_refresh_due(ws, banking_slice, tmp_path) -> None:  # type: ignore[no-untyped-def]
    truth = make_project(ws, tmp_path, banking_slice, labeled=10)  # 50 labels, 100 unlabeled
    training.train_project(ws, "bank")
    _refreshed(ws)

    def label(n: int, key: str) -> None:
        for i in range(n):
            task = labeling.next_task(ws, project="bank", annotator="bo")
            assert task is not None
            labeling.submit_label(ws, project="bank", example_id=task.example_id,
                                  label=truth[task.text], annotator="bo", source="slack",
                                  key=f"{key}{i}")  # fmt: skip

    label(4, "a")  # under REFRESH_MIN_GROWTH new labels: not yet
    assert not proposing.refresh_due(ws, "bank")
    label(1, "b")
    assert proposing.refresh_due(ws, "bank")
    _refreshed(ws)

    def flag(n: int) -> None:
        for _ in range(n):
            task = labeling.next_task(ws, project="bank", annotator="cy")
            assert task is not None
            labeling.flag(ws, project="bank", example_id=task.example_id, annotator="cy",
                          reason="fits no label")  # fmt: skip

    flag(proposing.REFRESH_MIN_GROWTH)  # a group an "add" could come from
    assert proposing.refresh_due(ws, "bank")
    _refreshed(ws)

    later = utcnow() + proposing.REFRESH_INTERVAL + timedelta(minutes=1)
    assert not proposing.refresh_due(ws, "bank", now=later)  # a day, but nothing changed
    flag(1)
    assert not proposing.refresh_due(ws, "bank")  # one flag: not worth a refresh at once...
    assert proposing.refresh_due(ws, "bank", now=later)  # ...but within a day
    assert jobs.proposal_cycle(ws, now=later) == ["bank"]
    assert not proposing.refresh_due(ws, "bank", now=later)
