"""An audit pick drawn with a seeded generator (the demo's `--seed`) repeats: the same seed gives
the same picks on SQLite and PostgreSQL, also where few examples are free and the pick is made
among the free ones rather than by drawing any example (SQL's random() cannot be seeded); it
stays uniform there, and leaves the process-wide generator live labeling draws with alone."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from engine.workspace import Workspace
from storage.db import session_scope
from storage.repositories import assignments
from storage.repositories import projects as projects_repo
from tests.storage.test_audit_pick_uniform import CHI2_7_P001, _project


def _picks(ws: Workspace, rng: random.Random, k: int) -> list[str]:
    with session_scope(ws.db) as session:  # not read-only: PostgreSQL's claim locks its pick
        pid = projects_repo.get_project(session=session, name="p").id
        assert pid is not None
        picks = []
        for _ in range(k):
            found = assignments._next_free_example(session, pid, "ana", uniform=True, rng=rng)
            assert found is not None
            picks.append(found.text)
        return picks


# 3 free of 300: a draw of any example finds a free one 1 time in 100, so most picks are made
# after the 16 missed draws, among the free examples
FEW_FREE = {5, 150, 299}


def test_a_seeded_generator_repeats_the_picks(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _project(ws, tmp_path, FEW_FREE, n=300)
    first = _picks(ws, random.Random(7), 40)
    assert set(first) == {f"text {i:02d}" for i in FEW_FREE}
    assert _picks(ws, random.Random(7), 40) == first


def test_a_seeded_claim_repeats_and_leaves_the_live_generator_alone(
    ws, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    live = random.Random(1)
    monkeypatch.setattr(assignments, "_audit_rng", live)
    before = live.getstate()
    _project(ws, tmp_path, FEW_FREE, n=300)
    claimed = []
    for who in ("ana", "ben"):  # two experts, each as the first to claim with seed 11
        with session_scope(ws.db) as session:
            pid = projects_repo.get_project(session=session, name="p").id
            assert pid is not None
            got = assignments.claim_next_example(
                session=session, project_id=pid, annotator=who, ttl=timedelta(minutes=5),
                audit=True, rng=random.Random(11),
            )  # fmt: skip
            assert got is not None
            claimed.append(got[0].id)
            session.rollback()  # the claim undone: the second sees the same free examples
    assert claimed[0] == claimed[1]
    assert live.getstate() == before


def test_seeded_picks_among_few_free_are_uniform(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    free = {3, 40, 41, 42, 100, 180, 181, 299}
    _project(ws, tmp_path, free, n=300)
    picks = Counter(_picks(ws, random.Random(2), 240))  # most made among the free
    assert set(picks) == {f"text {i:02d}" for i in free}  # never a labeled one
    expected = 240 / len(free)
    chi2 = sum((picks[f"text {i:02d}"] - expected) ** 2 / expected for i in free)
    assert chi2 < CHI2_7_P001, picks
