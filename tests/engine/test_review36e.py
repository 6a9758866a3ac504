"""Review 36e: findings in this session's fixes (strict xfails: each fails today for the reason
given, and passes once fixed)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from engine import labeling
from storage.db import session_scope
from storage.models import utcnow
from storage.repositories import assignments
from storage.repositories import projects as projects_repo
from storage.repositories import proposals as repo
from tests.engine.test_proposing import make_project


def _marks(ws, *, exact: bool = False) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with session_scope(ws.db, read_only=True) as s:
        pid = projects_repo.get_project(session=s, name="bank").id
        assert pid is not None
        return repo.refresh_watermark(session=s, project_id=pid, exact=exact)


@pytest.mark.xfail(
    strict=True,
    reason="review36e: a late Skip of a lapsed delivery (skip_lapsed: expired -> skipped) adds no "
    "row and closes no open delivery, so refresh_watermark's remembered skips miss it",
)
def test_remembered_counts_see_a_late_skip_of_a_lapsed_delivery(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path
) -> None:
    make_project(ws, tmp_path, banking_slice, labeled=10)
    task = labeling.next_task(ws, project="bank", annotator="cy")
    assert task is not None
    with session_scope(ws.db) as s:
        pid = projects_repo.get_project(session=s, name="bank").id
        assert pid is not None
        lapsed = assignments.expire_assignments(
            session=s, project_id=pid, now=utcnow() + timedelta(days=2)
        )
    assert lapsed == 1
    before = _marks(ws)  # counted afresh: a delivery closed since the last read
    assert _marks(ws, exact=True) == before
    assert labeling.skip(ws, project="bank", example_id=task.example_id, annotator="cy")
    remembered = _marks(ws)["skips"]  # today: the remembered count, one short
    assert _marks(ws, exact=True)["skips"] == before["skips"] + 1  # the skip was recorded
    assert remembered == before["skips"] + 1


@pytest.mark.xfail(
    strict=True,
    reason="review36e: an add's suggested name that repr() does not quote as 'name' (an inner "
    "apostrophe, or the ZWNJ words now keep) is left unmarked in message_names; once the "
    "message has other marks (its nearest label), free_suggested_names rewrites only the marks "
    "and skips the repr() replacement, so the message keeps the taken name",
)
@pytest.mark.parametrize("name", ["customer's", "کتاب\u200cها"])
def test_an_add_named_with_an_apostrophe_or_zwnj_says_its_free_name(ws, name) -> None:  # type: ignore[no-untyped-def]
    from engine import projects, proposing
    from engine.proposals.base import MESSAGE_NAMES, quoted, spelled
    from tests.engine.test_proposals_follow_renames import _save

    projects.create_project(ws, name="bank", labels=[name, "refund"])

    def add(suggested: str) -> tuple[str, list[list[object]]]:
        return spelled("Add a label like ", *quoted(suggested), "? 6 examples set aside by "
                       "experts form a group (nearest: ", ("refund",), ", 0.42).")  # fmt: skip

    message, names = add(name)
    evidence = {"nearest_label": "refund", "ids": [1, 2, 3], MESSAGE_NAMES: names}
    row = _save(ws, "add", [name], evidence, message, key=["add", "#1"])
    with session_scope(ws.db) as s:  # as a refresh does once it saved the proposals
        project = projects_repo.get_project(session=s, name="bank")
        assert repo.free_suggested_names(session=s, project_id=int(project.id or 0))
    saved = proposing.get_proposal(ws, row)
    assert list(saved.labels) == [f"{name}_2"]
    assert saved.message == add(f"{name}_2")[0]
