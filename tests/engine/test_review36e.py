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
from tests.engine import test_reviews as tr
from tests.engine.test_proposing import make_project

flipped = tr.flipped


def _marks(ws, *, exact: bool = False) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with session_scope(ws.db, read_only=True) as s:
        pid = projects_repo.get_project(session=s, name="bank").id
        assert pid is not None
        return repo.refresh_watermark(session=s, project_id=pid, exact=exact)


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


def test_two_scans_meeting_suspects_in_opposite_orders_both_finish(  # type: ignore[no-untyped-def]
    flipped, monkeypatch
) -> None:
    import threading

    from sqlalchemy import text

    from engine import reviews, training
    from engine import reviews as engine_reviews
    from storage.repositories import reviews as reviews_repo
    from tests.storage.test_settings_races import HUNG

    ws, _, _ = flipped
    if ws.db.url.get_backend_name() != "postgresql":
        pytest.skip("two write transactions overlap on PostgreSQL only (SQLite serialises them)")
    training.train_project(ws, "bank")
    real_detect = engine_reviews.detect_mislabels
    found: list = []  # type: ignore[type-arg]

    def detect(*args, **kwargs):  # type: ignore[no-untyped-def]
        suspects = [
            s for s in real_detect(*args, **kwargs)
            if s.confidence >= engine_reviews.MIN_REVIEW_CONFIDENCE
        ]  # fmt: skip
        found.append(len(suspects))
        pair = suspects[:2]
        # the two scans read (say) different models or votes: they rank the same two apart
        return pair if threading.current_thread().name == "one" else pair[::-1]

    monkeypatch.setattr(engine_reviews, "detect_mislabels", detect)
    real_add = reviews_repo.add_review
    first_done = {"one": threading.Event(), "two": threading.Event()}
    backend: dict[str, int] = {}

    def waiting(session, name: str) -> bool:  # type: ignore[no-untyped-def]
        """Whether scan ``name``'s connection waits on a lock (its first example, held here)."""
        if name not in backend:
            return False
        query = text("SELECT count(*) FROM pg_locks WHERE pid = :pid AND NOT granted")
        return bool(session.execute(query, {"pid": backend[name]}).scalar())

    def add_review(**kwargs):  # type: ignore[no-untyped-def]
        me = threading.current_thread().name
        other = "two" if me == "one" else "one"
        backend.setdefault(me, kwargs["session"].execute(text("SELECT pg_backend_pid()")).scalar())
        created = real_add(**kwargs)
        if not first_done[me].is_set():  # each holds its first example, then asks the other's
            first_done[me].set()
            # until the other holds its own first example too, or waits on this one's (as it
            # does when both scans meet the same example first)
            with session_scope(ws.db, read_only=True) as probe:
                for _ in range(int(HUNG / 0.05)):
                    if first_done[other].wait(0.05) or waiting(probe, other):
                        break
                else:
                    raise AssertionError("the other scan neither opened a review nor waited")
        return created

    monkeypatch.setattr(reviews_repo, "add_review", add_review)
    errors: list[BaseException] = []

    def scan() -> None:
        try:
            reviews.scan_project(ws, "bank")
        except BaseException as exc:  # noqa: BLE001 -- reported by the assertion below
            errors.append(exc)
        finally:
            for event in first_done.values():
                event.set()  # a failed scan lets the other go on

    threads = [threading.Thread(target=scan, name=name) for name in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(HUNG * 2)
    assert not any(t.is_alive() for t in threads), "a scan never finished"
    assert found and min(found) >= 2, found  # two suspects to meet
    assert not errors, [type(e).__name__ + ": " + str(e)[:200] for e in errors]


def test_character_pairs_are_words_a_label_name_can_start_with() -> None:
    import unicodedata

    from engine.proposals.words import tokens

    words = tokens("ア\u3099イウ 口座\u30a0振替")
    assert words  # pairs were read
    # a letter first, then letters or the marks that follow them: no punctuation
    odd = [
        w for w in words
        if unicodedata.category(w[0])[0] != "L"
        or any(unicodedata.category(c)[0] not in "LM" for c in w)
    ]  # fmt: skip
    assert odd == []
