"""Approving an "add" proposal takes up the examples experts set aside (engine/proposing.py).

Experts flagged texts of an intent the taxonomy lacks as fitting no label; the engine proposes
adding a label. Approving it must, in the same transaction, resolve those flags, put the
examples at the front of the queue to be labeled with the new label, and supersede any other
open add built from the same examples (two groups of one intent must not become two labels).
On SQLite and PostgreSQL.
"""

from __future__ import annotations

from typing import Any

from engine import labeling, projects, proposing
from storage.db import session_scope
from storage.repositories import flags
from storage.repositories import projects as project_repo
from storage.repositories import proposals as proposal_repo
from tests.conftest import BANKING_SLICE_LABELS
from tests.engine.test_proposing import _texts, make_project, seven_intents  # noqa: F401


def _open_add(ws, project_id: int, key: str, ids: list[int]):  # type: ignore[no-untyped-def]
    """Another open add proposal, as a refresh stores one, holding ``ids``."""
    with session_scope(ws.db) as s:
        row, _ = proposal_repo.save_open_proposal(
            session=s, project_id=project_id, kind="add", labels=[key], key=f'["add", "{key}"]',
            score=0.3, evidence={"size": len(ids), "ids": ids}, evidence_strength=float(len(ids)),
            message=f"Add a label like {key!r}?",
        )  # fmt: skip
        return row.id


def _approve_an_add(ws, intents, tmp_path) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Eight texts of an intent the taxonomy lacks flagged as fitting no label (two more left
    alone), one other text flagged for another reason, two more open adds (one sharing an
    example with the engine's, one not); then the engine's add approved as ``card_lost``."""
    rows = [r for r in intents if r[1] in BANKING_SLICE_LABELS]
    rows += [r for r in intents if r[1] == "lost_or_stolen_card"][:10]
    make_project(ws, tmp_path, rows, rename={"lost_or_stolen_card": None})
    texts = _texts(ws)
    stolen = [i for i, t in texts.items() if t in {r[0] for r in rows[-10:]}]
    for i in stolen[:8]:
        labeling.flag(ws, project="bank", example_id=i, annotator="ana", reason="fits no label")
    other = next(i for i in texts if i not in stolen)  # flagged for another reason: stays so
    labeling.flag(ws, project="bank", example_id=other, annotator="ana", reason="garbled")
    (add,) = [p for p in proposing.refresh_proposals(ws, "bank") if p.kind == "add"]
    ids = [int(i) for i in add.evidence["ids"]]
    assert len(ids) >= 3 and set(ids) <= set(stolen[:8])
    with session_scope(ws.db, read_only=True) as s:
        project_id = project_repo.get_project(session=s, name="bank").id
    sibling = _open_add(ws, project_id, "card_gone", [ids[0], stolen[9]])  # overlaps the group
    apart = _open_add(ws, project_id, "elsewhere", [stolen[9]])  # shares no example with it
    decision = proposing.approve(
        ws, "bank", add.id, actor="erin", actor_is_admin=True, names=["card_lost"]
    )
    assert decision.proposal.status == "applied" and decision.change is not None
    assert "card_lost" in decision.change.labels
    return {"ids": ids, "stolen": stolen, "other": other, "sibling": sibling, "apart": apart,
            "project_id": project_id}  # fmt: skip


def test_approving_an_add_resolves_its_flags_and_supersedes_overlapping_adds(
    ws,
    seven_intents,  # noqa: F811
    tmp_path,
) -> None:  # type: ignore[no-untyped-def]
    got = _approve_an_add(ws, seven_intents, tmp_path)
    ids, project_id = got["ids"], got["project_id"]
    with session_scope(ws.db, read_only=True) as s:
        for i in ids:
            assert flags.open_flags_of(session=s, example_id=i) == []
        every = flags.flagged_examples(session=s, project_id=project_id, open_only=False)
        assert {f.resolved_by for f, _ in every if f.example_id in ids} == {"erin"}
        still = [f.example_id for f, _ in flags.flagged_examples(session=s, project_id=project_id)]
    assert still == [got["other"], *[i for i in got["stolen"][:8] if i not in ids]]
    assert proposing.get_proposal(ws, got["sibling"]).status == "superseded"
    assert proposing.get_proposal(ws, got["apart"]).status == "open"


def test_after_approving_an_add_its_examples_come_first(ws, seven_intents, tmp_path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """A new expert is asked the group's examples first (before the two texts of the same
    intent nobody set aside, which the new label's name search ranks as high), and can label
    them with the new label."""
    ids = _approve_an_add(ws, seven_intents, tmp_path)["ids"]
    # no audit picks: they are drawn at random from the unlabeled examples, by design
    projects.update_settings(ws, project="bank", audit_share=0.0)
    asked = []
    for n in range(len(ids)):
        task = labeling.next_task(ws, project="bank", annotator="carol")
        assert task is not None
        asked.append(task.example_id)
        labeling.submit_label(ws, project="bank", example_id=task.example_id, label="card_lost",
                              annotator="carol", source="slack", key=f"c{n}")  # fmt: skip
    assert sorted(asked) == sorted(ids)
    # labeled now: the queue goes on with the rest, and asks none of them again
    task = labeling.next_task(ws, project="bank", annotator="carol")
    assert task is not None and task.example_id not in ids


def test_an_add_holding_an_approved_adds_example_is_outdated() -> None:
    """A refresh holds back (and a taxonomy change supersedes) an add built from examples an
    approved add took up: skipped ones stay set aside until someone labels them."""
    ev = {"ids": [4, 5, 6]}
    assert proposal_repo.outdated(kind="add", labels=["x"], evidence=ev, active=[], claimed={6})
    assert not proposal_repo.outdated(kind="add", labels=["x"], evidence=ev, active=[], claimed={7})
    assert proposal_repo.outdated(kind="add", labels=["x"], evidence=ev, active=["x"])
