"""Follow-ups of the audit-34 taxonomy fixes, on SQLite and PostgreSQL: a stale click on a
label merged into one split later offers the split's parts; ties between votes go to the vote
made last (by id), whatever the clock of the replica that stamped it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from engine import consensus, exporting, labeling, projects, taxonomy
from engine.workspace import Workspace
from storage.db import session_scope
from storage.models import Annotation
from storage.repositories import feedback
from tests.helpers import store_vote


def _project(ws: Workspace, tmp_path: Path, labels: list[str]) -> list[int]:
    """Project "p" with ``labels`` and two unlabeled texts; their ids, in order."""
    projects.create_project(ws, name="p", labels=labels)
    path = tmp_path / "texts.csv"
    path.write_text("text\nwhere is my card\nmy card has not come\n", encoding="utf-8")
    projects.import_file(ws, project="p", path=path, embed=False)
    return sorted(int(r["id"]) for r in exporting.export_records(ws, "p"))


def _vote(ws: Workspace, example_id: int, label: str, who: str) -> int:
    """``who`` labels the example ``label`` (by its id, as a button does); the annotation id."""
    found = {lb.name: lb.id for lb in projects.list_labels(ws, project="p")}
    label_id = found[label]
    assert label_id is not None
    return labeling.submit_label(
        ws, project="p", example_id=example_id, label=label_id, annotator=who, source="slack",
        key=f"{who}:{example_id}:{label}",
    ).annotation_id  # fmt: skip


def test_a_stale_click_on_a_label_merged_into_one_split_later_offers_the_splits_parts(
    ws: Workspace, tmp_path: Path
) -> None:
    """ana labeled an example A; A merged into S, then S split into S1, S2: the example is
    back to be labeled S1 or S2. A click on A's old button is told what became of the label
    and that the example waits "as S1 or S2", as the example's own message offers (its earlier
    labels name the same parts), not "with today's labels"."""
    [first, _] = _project(ws, tmp_path, ["A", "S", "X"])
    annotation_id = _vote(ws, first, "A", "ana")
    taxonomy.merge_labels(ws, project="p", labels=["A", "S"], into="S", actor="adm",
                          rescore=False)  # fmt: skip
    taxonomy.split_label(ws, project="p", label="S", into=["S1", "S2"], actor="adm",
                         rescore=False)  # fmt: skip

    changed = labeling.label_changed_since(ws, annotation_id=annotation_id)
    assert changed is not None
    assert changed.note == "the label 'A' was merged into S, which was split into S1, S2"
    assert changed.counts_as is None and changed.waits and changed.agreed is None
    assert changed.into == ("S1", "S2")
    task = labeling.next_task(ws, project="p", annotator="bob")
    assert task is not None and task.example_id == first
    [earlier] = task.earlier
    assert earlier.into == changed.into  # the click and the message offer the same labels


def test_a_stale_click_on_a_split_part_merged_into_a_label_split_later_names_todays_parts(
    ws: Workspace, tmp_path: Path
) -> None:
    """S split into S1, S2; ana labels an example S1; S1 merged into X, then X split into X1,
    X2. A click on S1's old button offers X1 or X2 (where the example can go today), not the
    parts of S's split nor nothing."""
    [first, _] = _project(ws, tmp_path, ["S", "X", "Y"])
    taxonomy.split_label(ws, project="p", label="S", into=["S1", "S2"], actor="adm",
                         rescore=False)  # fmt: skip
    annotation_id = _vote(ws, first, "S1", "ana")
    taxonomy.merge_labels(ws, project="p", labels=["S1", "X"], into="X", actor="adm",
                          rescore=False)  # fmt: skip
    taxonomy.split_label(ws, project="p", label="X", into=["X1", "X2"], actor="adm",
                         rescore=False)  # fmt: skip

    changed = labeling.label_changed_since(ws, annotation_id=annotation_id)
    assert changed is not None and changed.waits
    assert changed.into == ("X1", "X2")


def test_a_stale_click_on_a_label_split_itself_still_offers_its_parts(
    ws: Workspace, tmp_path: Path
) -> None:
    """The plain case the change must keep: ana labeled S, S split into S1, S2."""
    [first, _] = _project(ws, tmp_path, ["S", "X"])
    annotation_id = _vote(ws, first, "S", "ana")
    taxonomy.split_label(ws, project="p", label="S", into=["S1", "S2"], actor="adm",
                         rescore=False)  # fmt: skip
    changed = labeling.label_changed_since(ws, annotation_id=annotation_id)
    assert changed is not None and changed.waits
    assert changed.into == ("S1", "S2")
    assert changed.note == "the label 'S' was split into S1, S2"


def _clock_ahead(ws: Workspace, annotation_id: int, *, minutes: int = 5) -> None:
    """The replica that stored the annotation stamped it by its clock, ``minutes`` ahead."""
    with session_scope(ws.db) as s:
        row = s.get(Annotation, annotation_id)
        assert row is not None
        row.created_at = row.created_at + timedelta(minutes=minutes)
        s.add(row)


def test_a_tie_goes_to_the_vote_given_last_whatever_the_clock_that_stamped_the_first(
    ws: Workspace, tmp_path: Path
) -> None:
    """ana labels an example A on a replica whose clock runs 5 minutes ahead; then bob labels
    it B. One vote each: README's tie goes to the latest vote, bob's, given after ana's. Read
    by the stamps, ana's reads as the later one and A wins."""
    [first, second] = _project(ws, tmp_path, ["A", "B", "X"])
    ana = _vote(ws, first, "A", "ana")
    _clock_ahead(ws, ana)
    store_vote(ws, "p", first, "B", "bob")  # a second opinion (as one asked for is stored)
    # the control: without a clock ahead, the same two votes (B first) go to the last, A
    _vote(ws, second, "B", "bob")
    store_vote(ws, "p", second, "A", "ana")

    labels = {int(r["id"]): r["label"] for r in exporting.export_records(ws, "p")}
    assert labels == {first: "B", second: "A"}
    with session_scope(ws.db, read_only=True) as s:
        rows = feedback.example_annotations(session=s, example_id=first)
        assert [(r.id, r.annotator) for r in rows][0] == (ana, "ana")  # in the order given
        assert rows[0].created_at > rows[1].created_at  # though stamped the other way
        assert feedback.agreed_label(rows) == "B"


def test_the_settle_given_last_decides_whatever_the_clock_that_stamped_the_first(
    ws: Workspace, tmp_path: Path
) -> None:
    """ana and bob disagree (A, B); adm settles it A on a replica whose clock runs ahead, then
    eve settles it B: the latest settle decides, eve's."""
    [first, _] = _project(ws, tmp_path, ["A", "B", "X"])
    _vote(ws, first, "A", "ana")
    store_vote(ws, "p", first, "B", "bob")
    adm = consensus.adjudicate(ws, project="p", example_id=first, label="A", actor="adm")
    _clock_ahead(ws, adm.annotation_id)
    eve = consensus.adjudicate(ws, project="p", example_id=first, label="B", actor="eve")
    assert (adm.previous, eve.previous) == ("B", "A")  # a tie to bob's; then adm's settle
    labels = {int(r["id"]): r["label"] for r in exporting.export_records(ws, "p")}
    assert labels[first] == "B"


def test_an_examples_earlier_labels_are_in_the_order_given_whatever_the_clocks(
    ws: Workspace, tmp_path: Path
) -> None:
    """ana labels an example A on a replica whose clock runs ahead, then bob labels it B; A is
    split and B retired: the example is back, its message naming the earlier labels oldest
    first, ana's A before bob's B (as given), not by the stamps."""
    [first, _] = _project(ws, tmp_path, ["A", "B", "X"])
    _clock_ahead(ws, _vote(ws, first, "A", "ana"))
    store_vote(ws, "p", first, "B", "bob")
    taxonomy.split_label(ws, project="p", label="A", into=["A1", "A2"], actor="adm",
                         rescore=False)  # fmt: skip
    taxonomy.retire_label(ws, project="p", label="B", actor="adm", rescore=False)
    task = labeling.next_task(ws, project="p", annotator="cy")
    assert task is not None and task.example_id == first
    assert [(e.label, e.annotators, e.into) for e in task.earlier] == [
        ("A", ("ana",), ("A1", "A2")),
        ("B", ("bob",), None),
    ]
