"""Fresh-eyes audit of the labeling queue as experts meet it (audit 36): each test shows a bug
still open, marked ``xfail(strict=True)`` so that it fails loudly once fixed (then drop the
mark). Real engine calls on SQLite and PostgreSQL (the ``ws`` fixture)."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from scipy.special import entr
from sqlmodel import select

from engine import labeling, projects, training
from storage.db import session_scope
from storage.errors import StaleActionError
from storage.models import Prediction, utcnow
from tests.helpers import label_next, load_slice


def _thirty(ws, banking_slice, tmp_path: Path) -> tuple[datetime, datetime]:  # type: ignore[no-untyped-def]
    """30 examples of the slice, no audit picks; now, and a moment when holds taken now lapsed."""
    load_slice(ws, banking_slice[:30], tmp_path)
    projects.update_settings(ws, project="bank", audit_share=0.0)
    t0 = utcnow()
    return t0, t0 + timedelta(minutes=ws.settings.assignment_ttl_minutes + 1)


def _trained(ws, banking_slice, tmp_path: Path, strategy: str) -> None:  # type: ignore[no-untyped-def]
    """The whole slice, ``strategy`` past a batch of 2 (no audit, second opinion or rare boost),
    25 labeled and the model trained."""
    truth = load_slice(ws, banking_slice, tmp_path)
    projects.update_settings(
        ws, project="bank", audit_share=0.0, multi_label_share=0.0, rare_boost=False,
        strategy=strategy, batch_size=2,
    )  # fmt: skip
    label_next(ws, truth, 25)
    training.train_project(ws, "bank")


def test_a_skipped_example_never_comes_back_after_its_hold_lapsed(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path
) -> None:
    t0, later = _thirty(ws, banking_slice, tmp_path)
    # bob passed on the queue's first example, so it goes to ana
    first = labeling.next_task(ws, project="bank", annotator="bob", now=t0)
    assert first is not None
    labeling.skip(ws, project="bank", example_id=first.example_id, annotator="bob")
    held = labeling.next_task(ws, project="bank", annotator="ana", now=t0)
    assert held is not None and held.example_id == first.example_id
    # ana's message waits past its hold; bob's next request lets the hold go (nobody takes it)
    other = labeling.next_task(ws, project="bank", annotator="bob", now=later)
    assert other is not None and other.example_id != held.example_id
    # ana clicks Skip on the message still in her DM (a late label there is taken: so is a Skip)
    # (today refused: "this example is no longer assigned to you"; taking it is a fix as well)
    with contextlib.suppress(StaleActionError):
        labeling.skip(ws, project="bank", example_id=held.example_id, annotator="ana")
    # "Skip: it never comes back to you"
    following = labeling.next_task(ws, project="bank", annotator="ana", now=later)
    assert following is None or following.example_id != held.example_id, (
        f"example {held.example_id}, which ana skipped, was sent to her again"
    )


def test_a_flagged_example_is_not_served_to_the_expert_holding_it(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path
) -> None:
    t0, later = _thirty(ws, banking_slice, tmp_path)
    bob = labeling.next_task(ws, project="bank", annotator="bob", now=t0)
    assert bob is not None
    # bob's message waited past its hold: the example went to ana
    ana = labeling.next_task(ws, project="bank", annotator="ana", now=later)
    assert ana is not None and ana.example_id == bob.example_id
    # bob flags it from his message (private text): "It left the queue until someone reviews it"
    flagged = labeling.flag(
        ws, project="bank", example_id=bob.example_id, annotator="bob", reason="private data"
    )
    assert flagged.created
    again = labeling.next_task(ws, project="bank", annotator="ana", now=later)
    assert again is not None
    assert again.example_id != bob.example_id, (
        f"flagged example {bob.example_id} served to ana again (queue left {again.queue_left} "
        "already leaves it out)"
    )


def test_the_queue_past_the_batch_follows_the_projects_strategy(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path
) -> None:
    _trained(ws, banking_slice, tmp_path, "entropy")
    with session_scope(ws.db, read_only=True) as session:
        rows = session.exec(select(Prediction)).all()
        # every class's probability is stored (5 labels, TOP_K 5), rounded to 4 places
        probs = {r.example_id: [float(c) for _, c in r.probs] for r in rows if r.probs}
    entropy = {e: float(entr(p).sum()) for e, p in probs.items()}
    served = []
    for _ in range(20):
        task = labeling.next_task(ws, project="bank", annotator="ana")
        assert task is not None
        served.append(task.example_id)
        labeling.skip(ws, project="bank", example_id=task.example_id, annotator="ana")
    # entropy: the highest first, past the strategy's batch of 2 too
    after_batch = [entropy[e] for e in served[2:]]
    tolerance = 3e-3  # the stored rounding (4 places) moves an entropy by less
    out_of_order = [
        (served[2 + i], round(a, 4), served[3 + i], round(b, 4))
        for i, (a, b) in enumerate(zip(after_batch[:-1], after_batch[1:], strict=True))
        if b > a + tolerance
    ]
    assert out_of_order == [], (
        f"served lower entropy before higher: {out_of_order}; served {served}"
    )


def test_the_work_waiting_for_an_expert_is_what_the_queue_would_hand_them(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path
) -> None:
    t0, later = _thirty(ws, banking_slice, tmp_path)
    held_by_ana = labeling.next_task(ws, project="bank", annotator="ana", now=t0)
    flagged = labeling.next_task(ws, project="bank", annotator="cy", now=t0)
    assert held_by_ana is not None and flagged is not None
    labeling.flag(ws, project="bank", example_id=flagged.example_id, annotator="cy", reason="pii")
    skipped = labeling.next_task(ws, project="bank", annotator="bob", now=t0)
    assert skipped is not None
    labeling.skip(ws, project="bank", example_id=skipped.example_id, annotator="bob")
    held_by_bob = labeling.next_task(ws, project="bank", annotator="bob", now=t0)
    assert held_by_bob is not None
    assert len({held_by_ana.example_id, flagged.example_id, skipped.example_id,
                held_by_bob.example_id}) == 4  # fmt: skip

    def waiting(who: str, now=t0) -> int:  # type: ignore[no-untyped-def]
        return labeling.waiting_for(ws, project="bank", annotator=who, now=now)

    # out with someone else or flagged: no one else's work; skipped: never theirs again; the
    # example an expert holds is theirs
    assert waiting("cy") == 30 - 2 - 1
    assert waiting("bob") == 30 - 1 - 1 - 1
    assert waiting("ana") == 30 - 1 - 1
    # holds that lapsed go back to the pool for everyone
    assert waiting("cy", later) == 30 - 1
    # what the queue hands cy, one by one, is what was counted
    served = 0
    while labeling.next_task(ws, project="bank", annotator="cy", now=later) is not None:
        task = labeling.next_task(ws, project="bank", annotator="cy", now=later)
        assert task is not None
        labeling.skip(ws, project="bank", example_id=task.example_id, annotator="cy")
        served += 1
    assert served == 30 - 1


def test_a_late_skip_is_done_once_and_not_once_the_example_went_on(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path
) -> None:
    t0, later = _thirty(ws, banking_slice, tmp_path)
    first = labeling.next_task(ws, project="bank", annotator="ana", now=t0)
    second = labeling.next_task(ws, project="bank", annotator="bob", now=t0)
    assert first is not None and second is not None
    # both holds lapse; cy's request lets them go and takes ana's example
    taken = labeling.next_task(ws, project="bank", annotator="cy", now=later)
    assert taken is not None and taken.example_id == first.example_id
    # ana's example went on to cy: her late Skip is refused (her message says where it went)
    with pytest.raises(StaleActionError):
        labeling.skip(ws, project="bank", example_id=first.example_id, annotator="ana")
    # bob's is out with nobody: his late Skip is taken, once (the same click again does nothing)
    assert labeling.skip(ws, project="bank", example_id=second.example_id, annotator="bob")
    assert not labeling.skip(ws, project="bank", example_id=second.example_id, annotator="bob")
    # and it waits for the others
    ana = labeling.next_task(ws, project="bank", annotator="ana", now=later)
    assert ana is not None and ana.example_id == second.example_id


def test_a_random_projects_queue_past_the_batch_is_in_random_order(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path
) -> None:
    _trained(ws, banking_slice, tmp_path, "random")
    with session_scope(ws.db, read_only=True) as session:
        rows = [r for r in session.exec(select(Prediction)).all() if r.priority < 1000]
    assert len(rows) > 20
    # past the batch, not the margin's order (the stored uncertainty) but a random one
    by_priority = [r.example_id for r in sorted(rows, key=lambda r: -r.priority)]
    by_margin = [r.example_id for r in sorted(rows, key=lambda r: -r.uncertainty)]
    assert by_priority != by_margin
    assert all(0.0 <= r.priority < 1.0 for r in rows)
