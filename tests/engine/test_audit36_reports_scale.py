"""Audit 36: the reads of App Home, `labelbot status` and the digest as the project grows.

The projects are tests/engine/test_audit36_scale.py's (``build``: ``SMALL`` and ``LARGE``
examples, half of them labeled, a tenth of those twice), their complete second opinions marked
settled as ``settle_requests`` marks them. The database work of one call is counted as there
(``Work``: SQLite virtual machine steps, PostgreSQL rows of ``EXPLAIN ANALYZE``). No timings.

An App Home visit is made per user per open, and the proposals job asks whether a refresh is due
at every scheduler poll (15 s) for every project: their work may not grow with the project
(bounded reads, or a summary kept). A whole-project report or job (status, the digest, the
proposals refresh) may scan the project's annotations once; these read them several times, each
time every row into Python.

On SQLite a read's steps are those of the statement run to its last row (a scan returned in index
order does its work as it is fetched). PostgreSQL's counts are whole."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import update

from engine import digest, labeling, progress, projects, proposing
from storage.db import session_scope
from storage.models import MultiLabelRequest
from tests.engine.test_audit36_scale import LABELS, LARGE, SMALL, Work, _grows, build

Log = list[tuple[int, str]]


def _project(ws: Any, name: str, n: int) -> None:
    build(ws, name, n)
    with session_scope(ws.db) as s:  # each request has its second opinion: settled
        s.execute(update(MultiLabelRequest).values(pending=False))


def _counted(ws: Any, call: Any) -> tuple[Log, Log]:
    """The statements (and work) of ``call(name)`` in the small and the large project, each
    called once before counting (caches warm)."""
    logs = []
    for name, n in (("small", SMALL), ("large", LARGE)):
        _project(ws, name, n)
        call(name)
        counter = Work(ws.db)
        with counter.count() as log:
            call(name)
        logs.append(list(log))
    return logs[0], logs[1]


def _total(log: Log) -> int:
    return sum(w for w, _ in log)


# A read of every live annotation of the project, row by row (feedback.list_annotations)
_EVERY_ANNOTATION = r"^SELECT annotations\.id, annotations\.example_id, annotations\.label_id"
_ANNOTATIONS = re.compile(r"\bFROM annotations\b|\bJOIN annotations\b")


def _annotation_scans(small: Log, large: Log) -> list[tuple[int, int, str]]:
    """The statements over the annotations whose work grows with the project (the same calls
    run the same statements in both projects, in order)."""
    assert [sql for _, sql in small] == [sql for _, sql in large]
    return [
        (s, b, sql[:90])
        for (s, sql), (b, _) in zip(small, large, strict=True)
        if _ANNOTATIONS.search(sql) and _grows(s, b)
    ]


def _visits(ws: Any, name: str) -> tuple[Log, Log]:
    """Two App Home visits in a row (``progress.user_progress``, as ``app_home_opened``
    publishes it) of an expert who labeled in project ``name`` only, shown that one project."""
    viewer = f"viewer-{name}"
    task = labeling.next_task(ws, project=name, annotator=viewer)
    assert task is not None
    labeling.submit_label(ws, project=name, example_id=task.example_id, label=LABELS[1],
                          annotator=viewer, source="slack", key=f"{name}-viewer")  # fmt: skip
    counter = Work(ws.db)
    logs = []
    for _ in range(2):
        with counter.count() as log:
            shown = progress.user_progress(ws, annotator=viewer, max_projects=1)
        assert [p.name for p in shown.projects] == [name] and shown.labeled_total == 1
        logs.append(list(log))
    return logs[0], logs[1]


def test_app_home_visit_does_not_grow_with_the_project(ws) -> None:  # type: ignore[no-untyped-def]
    """What App Home shows of one project per visit (``progress.user_progress``, on every
    ``app_home_opened``). The project's figures (its labels, the digest's) read every
    annotation of it: this process works them out at most once a minute per project
    (``progress.home_summary``; the tab says "as of" when), again at once when the viewer's own
    labels changed. So the first visit reads the whole project (shown here: it grows), and the
    next one, nothing having changed, does not: the viewer's own counts are read fresh, by
    index. (Before, every visit worked the figures out afresh.)"""
    _project(ws, "small", SMALL)
    first_small, again_small = _visits(ws, "small")
    _project(ws, "large", LARGE)
    first_large, again_large = _visits(ws, "large")
    s, b = _total(first_small), _total(first_large)
    assert _grows(s, b), f"the first visit works the figures out: {s} at {SMALL}, {b} at {LARGE}"
    s, b = _total(again_small), _total(again_large)
    grown = [(x, y, sql[:90]) for (x, sql), (y, _) in zip(again_small, again_large, strict=True)
             if _grows(x, y)]  # fmt: skip
    assert not _grows(s, b), f"the next visit: {s} at {SMALL} examples, {b} at {LARGE}: {grown}"
    assert not any(_ANNOTATIONS.search(sql) and "annotator" not in sql for _, sql in again_large)


def test_status_scans_the_annotations_once(ws) -> None:  # type: ignore[no-untyped-def]
    small, large = _counted(ws, lambda name: projects.project_status(ws, name))
    scans = _annotation_scans(small, large)
    assert len(scans) <= 1, f"status: {len(scans)} scans of the annotations: {scans}"


def test_digest_scans_the_annotations_once(ws) -> None:  # type: ignore[no-untyped-def]
    small, large = _counted(ws, lambda name: digest.build_digest(ws, name))
    scans = _annotation_scans(small, large)
    assert len(scans) <= 1, f"digest: {len(scans)} scans of the annotations: {scans}"


def _reads(log: Log, pattern: str) -> list[int]:
    return [w for w, sql in log if re.search(pattern, sql)]


def test_proposals_refresh_reads_the_annotations_once(ws) -> None:  # type: ignore[no-untyped-def]
    small, large = _counted(ws, lambda name: proposing.refresh_proposals(ws, name))
    s, b = _reads(small, _EVERY_ANNOTATION), _reads(large, _EVERY_ANNOTATION)
    assert s and b and all(_grows(x, y) for x, y in zip(s, b, strict=True)), (s, b)
    assert len(b) <= 1, f"every annotation read {len(b)} times: {s} at {SMALL}, {b} at {LARGE}"


def test_proposals_due_check_does_not_grow_with_the_project(ws) -> None:  # type: ignore[no-untyped-def]
    small, large = _counted(ws, lambda name: proposing.refresh_due(ws, name))
    s, b = _total(small), _total(large)
    assert not _grows(s, b), f"refresh_due: {s} at {SMALL} examples, {b} at {LARGE}: {large}"
