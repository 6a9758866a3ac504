"""Audit of taxonomy operations in combination (issue 5), on SQLite and PostgreSQL: sequences
of changes that the single-operation tests do not walk. Each test here shows a bug found by the
audit and is marked ``xfail(strict=True)`` until the product is fixed: a fix makes it pass, and
strict xfail then asks for the marker to go."""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from engine import exporting, labeling, predicting, projects, taxonomy, training
from engine.workspace import Workspace
from storage.db import session_scope
from storage.errors import InvalidInputError, StaleActionError
from storage.models import LabelEvent
from storage.repositories import projects as projects_repo
from tests.helpers import store_vote

LABELS = ["card_arrival", "age_limit", "atm_support", "change_pin", "exchange_rate"]


def _labeled(ws: Workspace, rows: list[tuple[str, str]], tmp_path: Path, labels: list[str]) -> None:
    """Project "p" with ``labels``, ``rows`` (text, label) imported with their labels."""
    projects.create_project(ws, name="p", labels=labels)
    path = tmp_path / "p.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    projects.import_file(ws, project="p", path=path)


def _active(ws: Workspace) -> list[str]:
    return [lb.name for lb in projects.list_labels(ws, project="p", active_only=True)]


@pytest.mark.parametrize("into", ["cards", "change_pin"])  # a new label, an existing one
def test_a_model_trained_after_a_merge_says_what_it_cannot_answer_once_the_merge_is_undone(
    ws: Workspace, banking_slice: list[tuple[str, str]], tmp_path: Path, into: str
) -> None:
    """card_arrival + age_limit merged (into a new label "cards", or into change_pin), a model
    trained on that, then the merge undone: card_arrival and age_limit are back (and "cards",
    which nobody clicked, is removed). The model never answers the two restored labels and
    answers the merged one for them ("cards" no longer exists at all). README (predict): until
    the retrain the change makes due, the answer's notes say what the model cannot answer in
    today's taxonomy (a label split or retired since, labels added since). They are empty."""
    four = LABELS[:4]
    rows = [r for r in banking_slice if r[1] in four][:40]  # 10 of each label
    _labeled(ws, rows, tmp_path, four)
    taxonomy.merge_labels(ws, project="p", labels=four[:2], into=into, actor="adm",
                          rescore=False)  # fmt: skip
    training.train_project(ws, "p")
    taxonomy.undo_last(ws, project="p", actor="adm", rescore=False)
    assert set(_active(ws)) == set(four)

    said = predicting.answer(ws, "p", [t for t, label in rows if label == four[0]][:3])
    assert {p.label for p in said.predictions} == {into}  # never card_arrival: it cannot
    # whatever it answers, it must say that it cannot answer today's labels
    assert said.notes, f"the model answers {into!r} for card_arrival and says nothing about it"
    # the labels it has no class for (back since the undo), and the class whose label is gone
    assert four[0] in " ".join(said.notes) and four[1] in " ".join(said.notes), said.notes
    assert any(f"{into!r} was removed" in n for n in said.notes) == (into == "cards"), said.notes


@pytest.mark.parametrize("close", ["merge", "retire"])
def test_a_change_naming_a_split_label_whose_parts_came_back_together_says_where_it_went(
    ws: Workspace, close: str
) -> None:
    """fx split into fx_a, fx_b; then the parts brought back under one label (merged, or fx_a
    retired --map-to fx_b): fx's examples count as that label again. A change that names fx
    is refused, and README promises it says where the label went ("the label 'a' was merged
    into ab"). It says "the label 'fx' was retired": no word of the split or of the label its
    examples count as, which the admin needs to name instead."""
    projects.create_project(ws, name="p", labels=["fx", "other", "third"])
    taxonomy.split_label(ws, project="p", label="fx", into=["fx_a", "fx_b"], actor="adm",
                         rescore=False)  # fmt: skip
    if close == "merge":
        taxonomy.merge_labels(ws, project="p", labels=["fx_a", "fx_b"], actor="adm",
                              rescore=False)  # fmt: skip
        now = "fx_a"
    else:
        taxonomy.retire_label(ws, project="p", label="fx_a", map_to="fx_b", actor="adm",
                              rescore=False)  # fmt: skip
        now = "fx_b"
    with pytest.raises(InvalidInputError) as refused:
        taxonomy.merge_labels(ws, project="p", labels=["fx", "other"], actor="adm", rescore=False)
    said = str(refused.value).split(" (labels:")[0]  # the note, before the list of labels
    assert now in said, said


def test_an_empty_merge_target_is_refused_not_read_as_the_default(ws: Workspace) -> None:
    """`labelbot labels merge p A B --into "$NAME"` with NAME unset: the empty name is a name
    left out, as README says of `proposals approve --into ""` (refused, exit 2) and of empty
    names in every list. The merge goes through into A instead."""
    projects.create_project(ws, name="p", labels=["A", "B", "C"])
    with pytest.raises(InvalidInputError):
        taxonomy.merge_labels(ws, project="p", labels=["A", "B"], into="", actor="adm",
                              rescore=False)  # fmt: skip
    assert _active(ws) == ["A", "B", "C"]
    assert taxonomy.label_history(ws, project="p") == []


@pytest.mark.parametrize("into", ["", "  "])
def test_the_cli_refuses_an_empty_merge_target_with_exit_code_2(
    ws: Workspace,
    db_url_and_schema: tuple[str, str | None],
    embedding_cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    into: str,
) -> None:
    """`labelbot labels merge p A B --into "$NAME"` with NAME unset: refused with a one-line
    error and exit code 2, as `proposals approve --into ""` is; nothing changes."""
    from typer.testing import CliRunner

    from bot.cli import app
    from engine.config import get_settings
    from tests.bot.conftest import cli_environment

    projects.create_project(ws, name="p", labels=["A", "B", "C"])
    url, schema = db_url_and_schema
    cli_environment(monkeypatch, url, embedding_cache_dir, schema=schema)
    try:
        result = CliRunner().invoke(app, ["labels", "merge", "p", "A", "B", "--into", into])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2, result.output
    said = (  # the line as the terminal wraps it: runs of spaces read as one
        f"error: --into {into!r} names no label: give the merged label's name, or leave --into "
        "out to merge into A"
    )
    assert " ".join(result.output.split()) == " ".join(said.split())
    assert _active(ws) == ["A", "B", "C"]
    assert taxonomy.label_history(ws, project="p") == []


def test_a_split_label_whose_part_was_split_again_names_every_label_its_examples_can_take(
    ws: Workspace, tmp_path: Path
) -> None:
    """S split into S1, S2; then S1 split into S1a, S1b. An example labeled S before both waits
    to be labeled again, and any of S1a, S1b, S2 may be its label now. A click on S's old
    button (and the note that says why the example is back) answers "the label 'S' was split
    into S2: pick one of those", sending every expert away from S1a and S1b."""
    projects.create_project(ws, name="p", labels=["S", "X", "Y"])
    path = tmp_path / "texts.csv"
    path.write_text("text\nwhere is my card\nmy card has not come\n", encoding="utf-8")
    projects.import_file(ws, project="p", path=path, embed=False)
    [first, _] = sorted(int(r["id"]) for r in exporting.export_records(ws, "p"))
    store_vote(ws, "p", first, "S", "ana")
    taxonomy.split_label(ws, project="p", label="S", into=["S1", "S2"], actor="adm",
                         rescore=False)  # fmt: skip
    taxonomy.split_label(ws, project="p", label="S1", into=["S1a", "S1b"], actor="adm",
                         rescore=False)  # fmt: skip
    with session_scope(ws.db, read_only=True) as s:
        project_id = projects_repo.get_project(session=s, name="p").id
        assert project_id is not None
        label = projects_repo.get_label(session=s, project_id=project_id, name="S")
        [earlier] = taxonomy.earlier_labels(session=s, example_id=first)
    assert earlier.label == "S"
    assert set(earlier.into or ()) == {"S1a", "S1b", "S2"}, earlier.into
    with pytest.raises(StaleActionError) as refused:
        labeling.submit_label(ws, project="p", example_id=first, label=int(label.id or 0),
                              annotator="bob", source="slack", key="bob:stale-S")  # fmt: skip
    assert "S1a" in str(refused.value) and "S1b" in str(refused.value), str(refused.value)


def test_an_example_back_after_its_merge_target_was_split_says_which_parts_to_pick(
    ws: Workspace, tmp_path: Path
) -> None:
    """ana labeled an example A; A was merged into S, then S split into S1, S2. The example is
    back in the queue to be labeled S1 or S2 (README: "↩ @ana labeled it billing, since split:
    is it invoices or refunds?"). Its message says "ana labeled it A, since retired: which label
    fits now?" (earlier.into is None), though nobody retired A, and a click on A's old button
    on the same example answers "... was merged into S, which was split into S1, S2"."""
    projects.create_project(ws, name="p", labels=["A", "S", "X"])
    path = tmp_path / "texts.csv"
    path.write_text("text\nwhere is my card\nmy card has not come\n", encoding="utf-8")
    projects.import_file(ws, project="p", path=path, embed=False)
    [first, _] = sorted(int(r["id"]) for r in exporting.export_records(ws, "p"))
    store_vote(ws, "p", first, "A", "ana")
    taxonomy.merge_labels(ws, project="p", labels=["A", "S"], into="S", actor="adm",
                          rescore=False)  # fmt: skip
    taxonomy.split_label(ws, project="p", label="S", into=["S1", "S2"], actor="adm",
                         rescore=False)  # fmt: skip
    task = labeling.next_task(ws, project="p", annotator="bob")
    assert task is not None and task.example_id == first  # back, first in the queue
    [earlier] = task.earlier
    assert earlier.label == "A" and earlier.annotators == ("ana",)
    with session_scope(ws.db, read_only=True) as s:
        project_id = projects_repo.get_project(session=s, name="p").id
        assert project_id is not None
        label = projects_repo.get_label(session=s, project_id=project_id, name="A")
        note = taxonomy.stale_label_note(session=s, label=label)
    assert note == "the label 'A' was merged into S, which was split into S1, S2: pick one of those"
    assert earlier.into == ("S1", "S2")  # as the click says; None reads "since retired"


def test_a_label_added_by_a_replica_whose_clock_runs_ahead_is_one_of_the_models_classes(
    ws: Workspace, banking_slice: list[tuple[str, str]], tmp_path: Path
) -> None:
    """atm_support added by one replica (its clock 3 minutes ahead), labeled, and a model
    trained on another at once: the model has atm_support among its classes, stored by label
    id, and answers it. Its notes say "model v1 predates a label atm_support: it never answers
    it until the next model": the label's time is compared with the run's, two clocks that may
    differ (as engine.taxonomy.trained_before says of change stamps), although the run names the
    label by id."""
    three = LABELS[:3]
    projects.create_project(ws, name="p", labels=three[:2])
    taxonomy.add_labels(ws, project="p", names=[three[2]], actor="r1", rescore=False)
    with session_scope(ws.db) as s:  # the replica that added it stamped it by its own clock
        project_id = projects_repo.get_project(session=s, name="p").id
        assert project_id is not None
        label = projects_repo.get_label(session=s, project_id=project_id, name=three[2])
        label.created_at = label.created_at + timedelta(minutes=3)
        s.add(label)
    rows = [r for r in banking_slice if r[1] in three][:30]
    path = tmp_path / "p.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    projects.import_file(ws, project="p", path=path)
    run = training.train_project(ws, "p")
    assert three[2] in run.classes

    said = predicting.answer(ws, "p", [t for t, label in rows if label == three[2]][:3])
    assert three[2] in {p.label for p in said.predictions}  # it does answer it
    assert not any(three[2] in note for note in said.notes), said.notes


def test_a_relabel_after_a_split_counts_whatever_the_clock_of_the_replica_that_split(
    ws: Workspace, tmp_path: Path
) -> None:
    """ana and cy labeled an example S; S is split (by a replica whose clock runs 30 s ahead);
    then bob labels the example again, S1. README: "once it is labeled again its votes for the
    old label are set aside", so S1 is its label. Because bob's vote is stamped before the
    split's event, ana's and cy's S votes still take part, outvote S1 ("label it again"),
    and the example stays in the queue with no label, to be asked again."""
    projects.create_project(ws, name="p", labels=["S", "X"])
    path = tmp_path / "texts.csv"
    path.write_text("text\nwhere is my card\nmy card has not come\n", encoding="utf-8")
    projects.import_file(ws, project="p", path=path, embed=False)
    [first, _] = sorted(int(r["id"]) for r in exporting.export_records(ws, "p"))
    store_vote(ws, "p", first, "S", "ana")
    store_vote(ws, "p", first, "S", "cy")
    taxonomy.split_label(ws, project="p", label="S", into=["S1", "S2"], actor="adm",
                         rescore=False)  # fmt: skip
    with session_scope(ws.db) as s:  # the replica that split stamped its event by its clock
        [event] = s.exec(select(LabelEvent)).all()
        event.created_at = event.created_at + timedelta(seconds=30)
        s.add(event)
    store_vote(ws, "p", first, "S1", "bob")  # labeled again, after the split
    labels = {int(r["id"]): r["label"] for r in exporting.export_records(ws, "p")}
    assert labels[first] == "S1"


def test_undo_takes_back_the_latest_change_whatever_the_clocks_of_the_replicas(
    ws: Workspace, tmp_path: Path
) -> None:
    """A and B merged into a new label M by one replica (its clock 60 s ahead), then M split
    into M1, M2 by another. `labels undo` must take back the split first (the latest change).
    It takes back the merge: M, the label the standing split retired, is removed as unused,
    A, B, M1 and M2 are all active at once (a taxonomy that never was), and the split can never
    be undone ("label N is not a label of the project")."""
    projects.create_project(ws, name="p", labels=["A", "B", "X"])
    path = tmp_path / "texts.csv"
    path.write_text("text\nwhere is my card\nmy card has not come\n", encoding="utf-8")
    projects.import_file(ws, project="p", path=path, embed=False)
    [first, _] = sorted(int(r["id"]) for r in exporting.export_records(ws, "p"))
    store_vote(ws, "p", first, "A", "ana")
    merge = taxonomy.merge_labels(ws, project="p", labels=["A", "B"], into="M", actor="r1",
                                  rescore=False)  # fmt: skip
    with session_scope(ws.db) as s:  # the replica that merged stamped its event by its clock
        event = s.get(LabelEvent, merge.event_id)
        assert event is not None
        event.created_at = event.created_at + timedelta(seconds=60)
        s.add(event)
    split = taxonomy.split_label(ws, project="p", label="M", into=["M1", "M2"], actor="r2",
                                 rescore=False)  # fmt: skip

    history = [h.id for h in taxonomy.label_history(ws, project="p")]
    undone = taxonomy.undo_last(ws, project="p", actor="adm", rescore=False)
    assert undone.details["event_id"] == split.event_id
    assert history == [merge.event_id, split.event_id]
    assert _active(ws) == ["X", "M"]


def test_a_part_kept_by_an_undone_split_follows_its_label_into_the_next_split(
    ws: Workspace, tmp_path: Path
) -> None:
    """S split into S1, S2; ana labels an example S1; the split undone (S1, used, counts as S
    again); S split once more, into T1, T2. No change names S1 since, yet its example waits
    to be labeled T1 or T2, and says so (not "since retired"), as a click on S1 does."""
    projects.create_project(ws, name="p", labels=["S", "X", "Y"])
    path = tmp_path / "texts.csv"
    path.write_text("text\nwhere is my card\nmy card has not come\n", encoding="utf-8")
    projects.import_file(ws, project="p", path=path, embed=False)
    [first, _] = sorted(int(r["id"]) for r in exporting.export_records(ws, "p"))
    taxonomy.split_label(ws, project="p", label="S", into=["S1", "S2"], actor="adm",
                         rescore=False)  # fmt: skip
    store_vote(ws, "p", first, "S1", "ana")
    undone = taxonomy.undo_last(ws, project="p", actor="adm", rescore=False)
    assert undone.details["kept_as"] == ["S1"]
    taxonomy.split_label(ws, project="p", label="S", into=["T1", "T2"], actor="adm",
                         rescore=False)  # fmt: skip
    with session_scope(ws.db, read_only=True) as s:
        project_id = projects_repo.get_project(session=s, name="p").id
        assert project_id is not None
        label = projects_repo.get_label(session=s, project_id=project_id, name="S1")
        [earlier] = taxonomy.earlier_labels(session=s, example_id=first)
        note = taxonomy.stale_label_note(session=s, label=label)
    assert (earlier.label, earlier.into) == ("S1", ("T1", "T2"))
    assert note == "the label 'S1' counted as a label since split into T1, T2: pick one of those"
