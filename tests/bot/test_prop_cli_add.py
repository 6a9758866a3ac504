"""`labelbot proposals approve` of an *add* says what became of the set-aside examples behind
it (README: their open flags resolved, the unlabeled ones first in the queue), on SQLite and
PostgreSQL, through typer's runner; it said only "added card_stolen"."""

from __future__ import annotations

from pathlib import Path

from engine import labeling, proposing
from storage.db import session_scope
from storage.repositories import examples
from storage.repositories import projects as project_repo
from storage.repositories import proposals as proposal_repo
from tests.bot.test_cli_model_figures import _import, cli_db  # noqa: F401  (the fixture)
from tests.bot.test_cli_proposals_audit import _run
from tests.conftest import BANKING_SLICE_LABELS


def test_approving_an_add_says_where_its_examples_went(
    cli_db: None,  # noqa: F811
    banking_slice: list[tuple[str, str]],
    tmp_path: Path,
) -> None:
    from bot.cli.common import workspace

    _run("project", "create", "bank", "--labels", ",".join(BANKING_SLICE_LABELS))
    rows = [(t, lb) for t, lb in banking_slice[:20]] + [(t, "") for t, _ in banking_slice[20:24]]
    _import(tmp_path / "bank.csv", rows, "bank")
    ws = workspace()
    unlabeled = {t for t, lb in rows if not lb}
    with session_scope(ws.db) as s:
        project = project_repo.get_project(session=s, name="bank")
        ids = [i for i, t, _ in examples.example_texts(session=s, project_id=project.id)
               if t in unlabeled]  # fmt: skip
    for i in ids[:3]:  # three flagged, the fourth skipped
        labeling.flag(ws, project="bank", example_id=i, annotator="ana", reason="no label fits")
    with session_scope(ws.db) as s:
        row, _ = proposal_repo.save_open_proposal(
            session=s, project_id=project.id, kind="add", labels=["card_stolen"],
            key=proposing.key_text(["add", "card", "stolen"]), score=0.5,
            evidence={"ids": ids, "size": len(ids)}, evidence_strength=4.0,
            message="Add a label like 'card_stolen'?",
        )  # fmt: skip
    said = _run("proposals", "approve", "bank", str(row.id))
    assert f"bank: proposal {row.id} applied: added card_stolen" in said
    assert (
        "4 set-aside examples to label: they wait at the front of the queue, asked without the "
        "model's guess; the open flags of 3 examples resolved" in said
    )
