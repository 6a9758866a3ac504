"""storage/repositories/proposals.py on SQLite and PostgreSQL: one open row per key, decisions
made once, history kept."""

from __future__ import annotations

from datetime import timedelta

from storage.db import session_scope
from storage.models import Assignment, utcnow
from storage.repositories import examples, flags, projects
from storage.repositories import proposals as repo
from storage.repositories.examples import NewExample


def _project(db) -> int:  # type: ignore[no-untyped-def]
    with session_scope(db) as s:
        project = projects.create_project(session=s, name="p", labels=["A", "B"])
        assert project.id is not None
        return project.id


def _save(db, project_id: int, key: str, strength: float = 3.0, score: float = 0.5):  # type: ignore[no-untyped-def]
    with session_scope(db) as s:
        return repo.save_open_proposal(
            session=s,
            project_id=project_id,
            kind="merge",
            labels=["A", "B"],
            key=key,
            score=score,
            evidence={"counts": {"A": 3}},
            evidence_strength=strength,
            message=f"Merge? {key}",
        )


def test_same_key_keeps_its_open_row_and_a_decided_key_may_open_again(db) -> None:  # type: ignore[no-untyped-def]
    pid = _project(db)
    first, created = _save(db, pid, '["merge", "A", "B"]')
    assert created and first.status == "open"
    again, created = _save(db, pid, '["merge", "A", "B"]', strength=4.0, score=0.7)
    assert not created and again.id == first.id and again.evidence_strength == 4.0
    with session_scope(db) as s:
        assert repo.change_status(
            session=s, proposal_id=first.id, status="rejected", actor="ana", reason="no"
        )
        # a second click finds it decided: exactly one decision counts
        assert not repo.change_status(
            session=s, proposal_id=first.id, status="approved", actor="bo"
        )
    reopened, created = _save(db, pid, '["merge", "A", "B"]', strength=9.0)
    assert created and reopened.id != first.id
    with session_scope(db, read_only=True) as s:
        row = repo.get_proposal(session=s, proposal_id=first.id)
        assert (row.status, row.decided_by, row.reason) == ("rejected", "ana", "no")
        assert row.decided_at is not None
        assert repo.decided_strengths(session=s, project_id=pid) == {'["merge", "A", "B"]': 4.0}
        assert [p.id for p in repo.list_proposals(session=s, project_id=pid)] == [reopened.id]
        assert len(repo.list_proposals(session=s, project_id=pid, status=None)) == 2
        assert repo.count_open(session=s, project_id=pid) == 1


def test_supersede_ordering_reopen_and_message_ref(db) -> None:  # type: ignore[no-untyped-def]
    pid = _project(db)
    weak, _ = _save(db, pid, '["rare", "A"]', score=0.2)
    strong, _ = _save(db, pid, '["split", "B"]', score=0.9)
    with session_scope(db) as s:
        ordered = repo.list_proposals(session=s, project_id=pid)
        assert [p.id for p in ordered] == [strong.id, weak.id]
        assert repo.supersede(session=s, proposal_ids=[weak.id]) == 1
        repo.set_proposal_message(session=s, proposal_id=strong.id, channel="C1", message_ts="1.5")
        # an approval whose change failed goes back to open, undecided
        assert repo.change_status(session=s, proposal_id=strong.id, status="approved", actor="x")
        assert repo.change_status(
            session=s, proposal_id=strong.id, status="open", from_status="approved"
        )
    with session_scope(db, read_only=True) as s:
        row = repo.get_proposal(session=s, proposal_id=strong.id)
        assert (row.status, row.decided_by, row.channel, row.message_ts) == (
            "open",
            None,
            "C1",
            "1.5",
        )
        assert repo.get_proposal(session=s, proposal_id=weak.id).status == "superseded"
        assert repo.decided_strengths(session=s, project_id=pid) == {}


def test_set_aside_examples_are_skipped_or_openly_flagged(db) -> None:  # type: ignore[no-untyped-def]
    pid = _project(db)
    with session_scope(db) as s:
        ids = examples.add_examples(
            session=s, project_id=pid, rows=[NewExample(f"text {i}", None, {}) for i in range(4)]
        ).ids
        for example_id, status in ((ids[0], "skipped"), (ids[1], "done")):
            s.add(
                Assignment(
                    project_id=pid,
                    example_id=example_id,
                    annotator="ana",
                    status=status,
                    expires_at=utcnow() + timedelta(minutes=5),
                )
            )
        flags.add_flag(session=s, example_id=ids[2], annotator="ana", reason="fits nothing")
        resolved = flags.add_flag(session=s, example_id=ids[3], annotator="ana", reason="typo")
        assert resolved.id is not None
        flags.resolve_flag(session=s, flag_id=resolved.id, resolved_by="bo")
    with session_scope(db, read_only=True) as s:
        assert repo.set_aside_example_ids(session=s, project_id=pid) == [ids[0], ids[2]]


def test_proposals_follow_renames_and_open_ones_stay_open(db) -> None:  # type: ignore[no-untyped-def]
    pid = _project(db)
    rows = {}
    with session_scope(db) as s:
        for kind, labels, status in [
            ("merge", ["A", "B"], "rejected"),
            ("rare", ["A"], "approved"),
            ("split", ["B"], "applied"),
            ("split", ["A"], "open"),  # undecided: stays open, its message follows too
            ("add", ["A"], "rejected"),  # keyed by words, not by label
        ]:
            key = repo.key_text([kind, *labels]) if kind != "add" else '["add", "w1", "w2"]'
            row, _ = repo.save_open_proposal(
                session=s, project_id=pid, kind=kind, labels=labels, key=key, score=0.5,
                evidence={}, evidence_strength=4.0, message=f"{kind} {labels}",
            )  # fmt: skip
            if status != "open":
                assert repo.change_status(session=s, proposal_id=row.id, status=status)
            rows[(kind, status)] = row.id

    def stored(kind: str, status: str) -> tuple[str, list[str], str]:
        with session_scope(db, read_only=True) as s:
            row = repo.get_proposal(session=s, proposal_id=rows[(kind, status)])
            return row.key, row.labels, row.message

    with session_scope(db) as s:  # A renamed Z: a merge's names sorted again, as keyed
        assert repo.follow_renames(session=s, project_id=pid, renamed={"A": "Z"}) == 3
    assert stored("merge", "rejected") == ('["merge", "B", "Z"]', ["B", "Z"], "merge ['A', 'B']")
    assert stored("rare", "approved")[:2] == ('["rare", "Z"]', ["Z"])
    assert stored("split", "applied")[:2] == ('["split", "B"]', ["B"])
    assert stored("split", "open") == ('["split", "Z"]', ["Z"], "split ['Z']")
    assert stored("add", "rejected")[:2] == ('["add", "w1", "w2"]', ["A"])
    with session_scope(db) as s:  # two names swapped in one change: each follows its label
        assert repo.follow_renames(session=s, project_id=pid, renamed={"B": "Z", "Z": "B"}) == 4
        assert repo.decided_strengths(session=s, project_id=pid) == {
            '["merge", "B", "Z"]': 4.0, '["rare", "B"]': 4.0, '["split", "Z"]': 4.0,
            '["add", "w1", "w2"]': 4.0,
        }  # fmt: skip
    assert stored("split", "open") == ('["split", "B"]', ["B"], "split ['B']")
