"""The counts a taxonomy change reports, on SQLite and PostgreSQL: a label that absorbed others
(a merge, a retire with a mapping) has their examples too when its guidelines are set, and a
split that closes counts again only the examples still waiting to be relabeled."""

from __future__ import annotations

from pathlib import Path

from engine import labeling, projects, taxonomy
from engine.workspace import Workspace
from storage.db import session_scope
from storage.repositories import projects as projects_repo
from storage.repositories import taxonomy as taxonomy_repo


def _import(ws: Workspace, tmp_path: Path, rows: list[tuple[str, str]]) -> None:
    path = tmp_path / "p.csv"
    path.write_text(
        "text,label\n" + "".join(f"{text},{label}\n" for text, label in rows), encoding="utf-8"
    )
    projects.import_file(ws, project="p", path=path, embed=False)


def _counts(ws: Workspace) -> dict[str, int]:
    return {lb["name"]: lb["count"] for lb in projects.project_status(ws, "p")["labels"]
            if lb["active"]}  # fmt: skip


def _waiting(ws: Workspace) -> list[int]:
    """The examples waiting to be labeled again."""
    with session_scope(ws.db, read_only=True) as session:
        project_id = int(projects_repo.get_project(session=session, name="p").id or 0)
        return taxonomy_repo.examples_to_relabel(session=session, project_id=project_id)


def _relabel(ws: Workspace, example_ids: list[int], label: str) -> None:
    for example_id in example_ids:
        labeling.submit_label(
            ws, project="p", example_id=example_id, label=label, annotator="U1", source="slack",
            key=f"{example_id}:{label}",
        )  # fmt: skip


def test_guidelines_of_a_merge_target_count_the_examples_merged_into_it(  # type: ignore[no-untyped-def]
    ws, tmp_path: Path
) -> None:
    """card (3 examples) and pin (3) merged into a new label "cards": its 6 examples are enough
    for the model, so its guidelines do not make it searched by them (it was: only annotations
    made with "cards" itself were counted, none). The same for a label that kept its id and
    absorbed another (merge into one of them, retire mapped to it)."""
    projects.create_project(ws, name="p", labels=["card", "pin", "atm", "fee", "fx"])
    _import(ws, tmp_path, [(f"card question {i}", "card") for i in range(3)]
            + [(f"pin question {i}", "pin") for i in range(3)]
            + [(f"atm question {i}", "atm") for i in range(2)]
            + [(f"fee question {i}", "fee") for i in range(3)]
            + [(f"fx question {i}", "fx") for i in range(2)])  # fmt: skip
    taxonomy.merge_labels(ws, project="p", labels=["card", "pin"], into="cards", actor="ana",
                          rescore=False)  # fmt: skip
    assert _counts(ws)["cards"] == 6

    change = taxonomy.describe_label(ws, project="p", label="cards", actor="ana",
                                     description="Card delivery and PIN questions")  # fmt: skip
    assert change.details["searched"] is False
    [event] = [e for e in taxonomy.label_history(ws, project="p") if e.kind == "describe"]
    assert event.details["searched"] is False

    # fee (3) absorbs fx (2) through a mapped retire: 5 examples, not searched either
    taxonomy.retire_label(ws, project="p", label="fx", map_to="fee", actor="ana", rescore=False)
    assert _counts(ws)["fee"] == 5
    change = taxonomy.describe_label(ws, project="p", label="fee", description="Fees",
                                     actor="ana", rescore=False)  # fmt: skip
    assert change.details["searched"] is False
    # the queue searches by a label's words only while it has no example (engine.rare): atm's
    # 2 examples are searched from, its guidelines steer nothing
    change = taxonomy.describe_label(ws, project="p", label="atm", description="Cash machines",
                                     actor="ana", rescore=False)  # fmt: skip
    assert change.details["searched"] is False
    taxonomy.add_labels(ws, project="p", names=["loan"], actor="ana", rescore=False)
    change = taxonomy.describe_label(ws, project="p", label="loan", description="Loans",
                                     actor="ana", rescore=False)  # fmt: skip
    assert change.details["searched"] is True


def test_a_closing_split_counts_again_only_the_examples_still_waiting(  # type: ignore[no-untyped-def]
    ws, tmp_path: Path
) -> None:
    """fx (4 examples, and 2 of rate merged into it) is split into fx_a and fx_b; 4 of its 6
    examples are relabeled into the parts. Merging the parts closes the split: 2 examples count
    again, not 6 (the 4 relabeled count as the parts' label already)."""
    projects.create_project(ws, name="p", labels=["fx", "rate", "card"])
    _import(ws, tmp_path, [(f"fx question {i}", "fx") for i in range(4)]
            + [(f"rate question {i}", "rate") for i in range(2)]
            + [(f"card question {i}", "card") for i in range(2)])  # fmt: skip
    taxonomy.merge_labels(ws, project="p", labels=["fx", "rate"], actor="ana", rescore=False)
    split = taxonomy.split_label(ws, project="p", label="fx", into=["fx_a", "fx_b"], actor="ana",
                                 rescore=False)  # fmt: skip
    assert split.details["requeued"] == 6
    waiting = _waiting(ws)
    assert len(waiting) == 6
    # relabeled since: one example of rate's among them (a follower of fx)
    _relabel(ws, waiting[:2], "fx_a")
    _relabel(ws, waiting[-2:], "fx_b")
    assert len(_waiting(ws)) == 2 and _counts(ws)["fx_a"] == 2 and _counts(ws)["fx_b"] == 2

    merged = taxonomy.merge_labels(ws, project="p", labels=["fx_a", "fx_b"], into="rates",
                                   actor="ana", rescore=False)  # fmt: skip
    [rejoined] = merged.details["rejoined"]
    assert rejoined["name"] == "fx" and rejoined["examples"] == 2
    assert merged.details["restored_examples"] == 2
    assert merged.summary == ("merged fx_a, fx_b into rates (new); 4 examples mapped; "
                              "split label fx's 2 examples count again")  # fmt: skip
    assert _waiting(ws) == [] and _counts(ws)["rates"] == 6


def test_a_split_closed_by_a_mapped_retire_counts_again_only_those_waiting(  # type: ignore[no-untyped-def]
    ws, tmp_path: Path
) -> None:
    """The audit's case: a part merged into another label, the other retired mapped to it."""
    projects.create_project(ws, name="p", labels=["declined", "failed", "card"])
    _import(ws, tmp_path, [(f"declined question {i}", "declined") for i in range(6)]
            + [(f"failed question {i}", "failed") for i in range(3)])  # fmt: skip
    taxonomy.split_label(ws, project="p", label="declined", into=["declined_a", "declined_b"],
                         actor="ana", rescore=False)  # fmt: skip
    waiting = _waiting(ws)
    _relabel(ws, waiting[:3], "declined_a")
    _relabel(ws, waiting[3:4], "declined_b")
    taxonomy.merge_labels(ws, project="p", labels=["failed", "declined_b"], actor="ana",
                          rescore=False)  # fmt: skip
    assert len(_waiting(ws)) == 2

    retired = taxonomy.retire_label(ws, project="p", label="declined_a", map_to="failed",
                                    actor="ana", rescore=False)  # fmt: skip
    assert retired.summary == ("retired declined_a; its 3 examples count as failed; "
                               "split label declined's 2 examples count again")  # fmt: skip
    assert retired.details["restored_examples"] == 2
    assert _waiting(ws) == [] and _counts(ws)["failed"] == 3 + 4 + 2
    # undone: the split is open again, the same 2 examples wait
    taxonomy.undo_last(ws, project="p", actor="ana", rescore=False)
    assert len(_waiting(ws)) == 2
