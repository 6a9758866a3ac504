"""Taxonomy changes at their edges, on SQLite and PostgreSQL: a label named in another spelling
is the same label (so it cannot be mapped or merged into itself), and a change that committed
stands even when the re-score after it fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import projects, taxonomy, training
from engine.workspace import Workspace
from storage.db import session_scope
from storage.errors import ConflictError, InvalidInputError
from storage.repositories import projects as projects_repo
from storage.repositories import taxonomy as taxonomy_repo
from tests.helpers import load_slice

CAFE = "caf\u00e9"  # "é" as one code point: how the name is stored (NFC)
SPELLINGS = [
    ("age_limit", "age_limit "),  # a trailing space
    ("age_limit", "age_limit\u00a0"),  # a no-break space, as pasted from a chat
    (CAFE, "cafe\u0301"),  # "e" + a combining acute accent
]


def _unchanged(ws: Workspace, label: str) -> None:
    assert taxonomy.label_history(ws, project="p") == []
    found = {lb.name: lb for lb in projects.list_labels(ws, project="p")}[label]
    assert found.active and found.mapped_to_id is None


@pytest.mark.parametrize(("label", "other"), SPELLINGS)
def test_retiring_a_label_mapped_to_another_spelling_of_itself_is_refused(  # type: ignore[no-untyped-def]
    ws, label: str, other: str
) -> None:
    projects.create_project(ws, name="p", labels=["age_limit", CAFE, "change_pin"])
    with pytest.raises(InvalidInputError, match=f"cannot retire '{label}' and map it to itself"):
        taxonomy.retire_label(ws, project="p", label=label, map_to=other, actor="ana")
    with pytest.raises(InvalidInputError, match=f"cannot retire '{label}' and map it to itself"):
        taxonomy.retire_label(ws, project="p", label=other, map_to=label, actor="ana")
    _unchanged(ws, label)


@pytest.mark.parametrize(("label", "other"), SPELLINGS)
def test_merging_a_label_with_another_spelling_of_itself_is_refused(  # type: ignore[no-untyped-def]
    ws, label: str, other: str
) -> None:
    projects.create_project(ws, name="p", labels=["age_limit", CAFE, "change_pin"])
    with pytest.raises(InvalidInputError, match=f"cannot merge label '{label}' with itself"):
        taxonomy.merge_labels(ws, project="p", labels=[label, other], actor="ana")
    with pytest.raises(InvalidInputError, match=f"cannot merge label '{label}' with itself"):
        taxonomy.merge_labels(
            ws, project="p", labels=[other, "change_pin", label], into="both", actor="ana"
        )
    _unchanged(ws, label)
    assert "both" not in [lb.name for lb in projects.list_labels(ws, project="p")]
    # the same labels, each once, merge as before
    change = taxonomy.merge_labels(ws, project="p", labels=[other, "change_pin"], actor="ana")
    assert change.summary.startswith(f"merged change_pin into {label}")


def test_a_change_stands_when_the_rescore_after_it_fails(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The re-score is a convenience after the change: when it fails (here LABELBOT_ENCODER
    names an encoder that cannot be loaded), the change is still reported as made, with the
    re-score pending, instead of an error that a retry would answer with "was retired"."""
    load_slice(ws, banking_slice[:20], tmp_path)
    broken = Workspace(
        settings=ws.settings.model_copy(update={"encoder": "no-such-encoder"}), db=ws.db
    )
    with caplog.at_level("WARNING", logger="engine.taxonomy"):
        change = taxonomy.retire_label(broken, project="bank", label="age_limit", actor="ana")
    assert change.kind == "retire"
    assert change.summary == (
        "retired age_limit; 0 examples back in the queue; queue re-score pending"
    )
    assert "encoder 'no-such-encoder' cannot be loaded" in change.details["rescore_pending"]
    assert "age_limit" not in change.labels
    assert "re-scoring bank after change" in caplog.text and "no-such-encoder" in caplog.text
    [entry] = taxonomy.label_history(ws, project="bank")  # recorded once, as it was made
    assert entry.id == change.event_id
    assert entry.summary == "retired age_limit; 0 examples back in the queue"
    assert "rescore_pending" not in entry.details
    with pytest.raises(InvalidInputError, match="'age_limit' was retired"):
        taxonomy.retire_label(broken, project="bank", label="age_limit", actor="ana")
    assert training.rescore_project(ws, "bank") == 20  # with a working encoder: re-scored


@pytest.mark.parametrize(("label", "typed"), SPELLINGS)
def test_a_rename_typed_in_another_spelling_keeps_the_old_name_known(  # type: ignore[no-untyped-def]
    ws, tmp_path: Path, label: str, typed: str
) -> None:
    """The rename records the name as stored: the old name still counts as the label (a file
    that uses it, a button or key sent before), and the history shows it as it was."""
    projects.create_project(ws, name="p", labels=["age_limit", CAFE, "change_pin"])
    taxonomy.rename_label(ws, project="p", label=typed, new_name="renamed", actor="ana")
    (event,) = taxonomy.label_history(ws, project="p")
    assert event.details["old"] == label
    path = tmp_path / "old_names.csv"
    path.write_text(f"text,label\nan example under the old name,{label}\n", encoding="utf-8")
    report = projects.import_file(ws, project="p", path=path, label_column="label")
    assert report.annotations == 1
    counts = {lb["name"]: lb["count"] for lb in projects.project_status(ws, "p")["labels"]}
    assert counts["renamed"] == 1


def test_a_split_whose_parts_are_merged_back_needs_no_relabel(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Split fx into fx_a, fx_b, then merge both parts: fx's examples count as the merge's label
    at once (their answer is known), and undoing the merge sends them back to be relabeled."""
    projects.create_project(ws, name="p", labels=["fx", "card", "atm"])
    path = tmp_path / "p.csv"
    rows = [f"rate question {i},fx" for i in range(6)] + [f"card question {i},card" for i in (1, 2)]
    path.write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    projects.import_file(ws, project="p", path=path, embed=False)

    def counts() -> dict[str, int]:  # the active labels' examples
        labels = projects.project_status(ws, "p")["labels"]
        return {lb["name"]: lb["count"] for lb in labels if lb["active"]}

    split = taxonomy.split_label(ws, project="p", label="fx", into=["fx_a", "fx_b"], actor="ana")
    assert split.details["requeued"] == 6
    merged = taxonomy.merge_labels(ws, project="p", labels=["fx_a", "fx_b"], into="rates",
                                   actor="ana")  # fmt: skip
    assert merged.details["restored_examples"] == 6 and counts()["rates"] == 6
    assert "split label fx's 6 examples count again" in taxonomy.summarize("merge", merged.details)
    with session_scope(ws.db, read_only=True) as session:
        project_id = int(projects_repo.get_project(session=session, name="p").id or 0)
        assert taxonomy_repo.examples_to_relabel(session=session, project_id=project_id) == []
    taxonomy.undo_last(ws, project="p", actor="ana")  # the split stands again: relabel
    assert counts() == {"card": 2, "atm": 0, "fx_a": 0, "fx_b": 0}

    # merging only one part with another label leaves the split open
    taxonomy.merge_labels(ws, project="p", labels=["fx_a", "atm"], actor="ana")
    assert "rates" not in counts() and counts()["fx_a"] == 0
    # a part retired into the other part: the split's examples are all that part's
    retired = taxonomy.retire_label(ws, project="p", label="fx_a", map_to="fx_b", actor="ana")
    assert [r["name"] for r in retired.details["rejoined"]] == ["fx"] and counts()["fx_b"] == 6


def test_names_that_look_alike_are_refused_and_a_retired_name_says_so(ws) -> None:  # type: ignore[no-untyped-def]
    """ "lease" beside "Lease" (or a full-width "Ｌｅａｓｅ") could not be told apart on a button:
    refused wherever a name is given, with the label it looks like; a label may still change
    the case of its own name."""
    projects.create_project(ws, name="p", labels=["Lease", "NDA", "fees"])
    for call in (
        lambda: taxonomy.add_labels(ws, project="p", names=["lease"], actor="ana"),
        lambda: taxonomy.add_labels(
            ws, project="p", names=["\uff2c\uff45\uff41\uff53\uff45"], actor="ana"
        ),  # fmt: skip
        lambda: taxonomy.rename_label(ws, project="p", label="NDA", new_name="LEASE", actor="a"),
        lambda: taxonomy.split_label(ws, project="p", label="NDA", into=["x", "lease"], actor="a"),
        lambda: taxonomy.merge_labels(
            ws, project="p", labels=["NDA", "fees"], into="lease", actor="ana"
        ),  # fmt: skip
    ):
        with pytest.raises(ConflictError, match=r"\('Lease': it differs only in case or width\)"):
            call()
    with pytest.raises(InvalidInputError, match="duplicate label names: Nda, nda"):
        projects.create_project(ws, name="q", labels=["nda", "Nda"])
    assert taxonomy.label_history(ws, project="p") == []

    taxonomy.rename_label(ws, project="p", label="Lease", new_name="lease", actor="ana")
    taxonomy.undo_last(ws, project="p", actor="ana")  # back to "Lease": its own name
    taxonomy.retire_label(ws, project="p", label="fees", actor="ana")
    with pytest.raises(ConflictError, match="a retired label has the name 'fees': retired"):
        taxonomy.add_labels(ws, project="p", names=["fees"], actor="ana")
    assert [lb.name for lb in projects.list_labels(ws, project="p", active_only=True)] == [
        "Lease", "NDA"
    ]  # fmt: skip


def test_summaries_count_one_example_in_the_singular() -> None:
    """ "1 examples back in the queue", "its 1 examples count as": the history's lines (and
    the CLI and Slack answers that quote them) say one example as one."""
    fx, fy = {"name": "fx_a"}, {"name": "fx_b"}
    split = {"label": {"name": "fx"}, "into": [fx, fy], "requeued": 1}
    assert (
        taxonomy.summarize("split", split)
        == "split fx into fx_a, fx_b; 1 example back in the queue"
    )
    retired = {"label": {"name": "old"}, "map_to": {"name": "new"}, "mapped": 1}
    assert taxonomy.summarize("retire", retired) == "retired old; its 1 example counts as new"
    merged = {"from": [fx, fy], "into": {"name": "fx"}, "mapped": 1,
              "rejoined": [{"name": "fx", "examples": 1}]}  # fmt: skip
    assert taxonomy.summarize("merge", merged) == (
        "merged fx_a, fx_b into fx; 1 example mapped; split label fx's 1 example counts again"
    )
    undo = {"event_id": 3, "summary": "merged a, b into c", "restored_examples": 1}
    assert taxonomy.summarize("undo", undo).endswith("; 1 example counts again")
    many = {**retired, "mapped": 2}
    assert taxonomy.summarize("retire", many) == "retired old; its 2 examples count as new"
