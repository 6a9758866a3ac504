"""An "add" proposal is keyed by its examples (engine/proposals/additions.py ``add_key``), and
a refresh keeps an open add's row for the same group, and holds a decided one back by its
examples, whatever key it was stored under (engine/proposing.py). On SQLite and PostgreSQL."""

from __future__ import annotations

from engine import labeling, proposing
from storage.db import session_scope
from storage.repositories import projects as project_repo
from storage.repositories import proposals as proposal_repo
from tests.conftest import BANKING_SLICE_LABELS
from tests.engine.test_proposing import _texts, make_project, seven_intents  # noqa: F401


def _flag_lost_cards(ws, intents, tmp_path, n: int) -> list[int]:  # type: ignore[no-untyped-def]
    """A project without the intent lost_or_stolen_card, ``n`` of its 10 texts flagged as
    fitting no label; the 10 example ids."""
    rows = [r for r in intents if r[1] in BANKING_SLICE_LABELS]
    rows += [r for r in intents if r[1] == "lost_or_stolen_card"][:10]
    make_project(ws, tmp_path, rows, rename={"lost_or_stolen_card": None})
    texts = _texts(ws)
    stolen = [i for i, t in texts.items() if t in {r[0] for r in rows[-10:]}]
    for i in stolen[:n]:
        labeling.flag(ws, project="bank", example_id=i, annotator="ana", reason="fits no label")
    return stolen


def _adds(ws):  # type: ignore[no-untyped-def]
    return [p for p in proposing.refresh_proposals(ws, "bank") if p.kind == "add"]


def test_an_open_add_keeps_its_row_as_its_group_grows(ws, seven_intents, tmp_path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    """One more flagged example of the group changes the sample of ids a key holds: the
    refresh finds the same group and updates its open row (same id, same Slack message)."""
    stolen = _flag_lost_cards(ws, seven_intents, tmp_path, 6)
    (first,) = _adds(ws)
    labeling.flag(ws, project="bank", example_id=stolen[6], annotator="bo", reason="none fits")
    (again,) = _adds(ws)
    assert (again.id, again.key) == (first.id, first.key)
    assert set(first.evidence["ids"]) <= set(again.evidence["ids"])


def test_an_add_decided_under_its_words_is_held_back_by_its_examples(  # type: ignore[no-untyped-def]
    ws,
    seven_intents,  # noqa: F811
    tmp_path,
) -> None:
    """An add rejected while adds were keyed by their words (a row as stored then): the same
    group, not grown by half, is not proposed again under its examples' key."""
    stolen = _flag_lost_cards(ws, seven_intents, tmp_path, 8)
    (found,) = _adds(ws)
    ids = [int(i) for i in found.evidence["ids"]]
    with session_scope(ws.db) as s:
        project_id = project_repo.get_project(session=s, name="bank").id
        assert project_id is not None
        row = proposal_repo.get_proposal(session=s, proposal_id=int(found.id or 0))
        row.key, row.status = '["add", "card", "lost"]', "rejected"  # as keyed before
        s.add(row)
    labeling.flag(ws, project="bank", example_id=stolen[8], annotator="bo", reason="none fits")
    assert [p.evidence["ids"] for p in _adds(ws) if set(ids) & set(p.evidence["ids"])] == []
