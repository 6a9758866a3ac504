"""Audit 36: the "proposals due?" check remembers the project's counts while nothing that could
grow them moved (``proposals.refresh_watermark``). What it remembers may not hide growth: each
kind of new evidence is counted at the next check, a skip (no new row, an open delivery closed)
included. On SQLite and PostgreSQL."""

from __future__ import annotations

from engine import labeling
from storage.db import session_scope
from storage.repositories import projects as projects_repo
from storage.repositories import proposals as repo
from tests.engine.test_proposing import make_project


def _marks(ws) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with session_scope(ws.db, read_only=True) as s:
        pid = projects_repo.get_project(session=s, name="bank").id
        assert pid is not None
        return repo.refresh_watermark(session=s, project_id=pid)


def test_remembered_counts_see_every_kind_of_growth(ws, banking_slice, tmp_path) -> None:  # type: ignore[no-untyped-def]
    make_project(ws, tmp_path, banking_slice, labeled=10)
    task = labeling.next_task(ws, project="bank", annotator="cy")
    assert task is not None
    before = _marks(ws)
    assert _marks(ws) == before  # remembered, nothing moved
    labeling.skip(ws, project="bank", example_id=task.example_id, annotator="cy")
    skipped = _marks(ws)
    assert skipped["skips"] == before["skips"] + 1
    task = labeling.next_task(ws, project="bank", annotator="cy")
    assert task is not None
    _marks(ws)
    labeling.flag(ws, project="bank", example_id=task.example_id, annotator="cy",
                  reason="fits no label")  # fmt: skip
    flagged = _marks(ws)
    assert flagged["flags"] == skipped["flags"] + 1
    task = labeling.next_task(ws, project="bank", annotator="cy")
    assert task is not None
    labeling.submit_label(ws, project="bank", example_id=task.example_id, label=banking_slice[0][1],
                          annotator="cy", source="slack", key="due-1")  # fmt: skip
    assert _marks(ws)["labels"] == flagged["labels"] + 1
