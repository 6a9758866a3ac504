"""Each label is counted in one digest. A digest used to count labels from the last one's send
time with no end, and was marked sent as of its round's start: labels stored while a round was
posting (other projects' digests and charts first, a slow channel) were counted in that digest
and again in the next (an audit: 15 labels reported as 15 + 5). Now a digest counts up to the
moment it is built, and the next one counts from there -- on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from engine import digest, jobs, projects
from storage.models import utcnow
from tests.helpers import label_next, load_slice


def test_labels_stored_while_a_round_posts_are_counted_once(
    ws: Any, banking_slice: Any, tmp_path: Path
) -> None:
    truth = load_slice(ws, banking_slice, tmp_path, channel_id="C1")
    projects.update_settings(ws, project="bank", digest_cron="* * * * *",
                             last_digest_at="2026-01-01T00:00:00+00:00")  # fmt: skip
    label_next(ws, truth, 10, annotators=("U1",))
    reported: list[int] = []

    def send(name: str, *, late: int) -> datetime:
        # what the round does before it reaches this digest: other projects' posts, meanwhile
        # experts label on
        label_next(ws, truth, late, annotators=("U2",))
        built = digest.build_digest(ws, name)
        reported.append(built.labels_since)
        label_next(ws, truth, late, annotators=("U3",))  # while it is posted
        return built.generated_at

    start = utcnow()
    assert jobs.digest_cycle(ws, lambda name: send(name, late=5), now=start) == ["bank"]
    later = utcnow() + timedelta(minutes=2)  # the next slot
    assert jobs.digest_cycle(ws, lambda name: send(name, late=0), now=later) == ["bank"]

    assert reported == [15, 5]  # 10 before + 5 during; then the 5 stored while it was posted
    assert sum(reported) == 20  # every label given, once


def test_a_digest_sent_by_hand_counts_from_its_own_build(
    ws: Any, banking_slice: Any, tmp_path: Path
) -> None:
    """`labelbot digest --post` and the admin's "post the digest now" mark it sent after the
    post: the labels given between the build and the mark are the next digest's."""
    truth = load_slice(ws, banking_slice, tmp_path, channel_id="C1")
    label_next(ws, truth, 4, annotators=("U1",))
    built = digest.build_digest(ws, "bank")
    assert built.labels_since == 4
    label_next(ws, truth, 3, annotators=("U2",))  # while it was posted
    digest.mark_sent(ws, "bank", counted_until=built.generated_at)

    after = digest.build_digest(ws, "bank")
    assert after.labels_since == 3 and after.by_annotator == [("U2", 3)]
