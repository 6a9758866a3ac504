"""Review 36d: strict xfails for App Home's kept figures (engine.progress.home_summary, 3fb6500)
and the click path's merges memo (engine.predicting.named_as_rescored, 24b68d5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import exporting, labeling, predicting, progress, projects, taxonomy, training
from engine.workspace import Workspace
from storage.db import session_scope
from storage.repositories import examples, models
from tests.engine import test_merge_readers_before_rescore as readers
from tests.engine import test_review34b_findings as review34b

LABELS = ["card_arrival", "age_limit"]


def _bank(ws: Workspace, tmp_path: Path, n: int = 6) -> None:
    projects.create_project(ws, name="bank", labels=LABELS)
    path = tmp_path / "bank.csv"
    path.write_text("text\n" + "".join(f"text number {i}\n" for i in range(n)), "utf-8")
    projects.import_file(ws, project="bank", path=path, embed=False)
    projects.update_settings(ws, project="bank", audit_share=0.0, multi_label_share=0.0)


def _label(ws: Workspace, who: str, label: str) -> labeling.LabelResult:
    task = labeling.next_task(ws, project="bank", annotator=who)
    assert task is not None
    key = f"{who}:{task.example_id}:{label}"
    return labeling.submit_label(ws, project="bank", example_id=task.example_id, label=label,
                                 annotator=who, source="slack", key=key)  # fmt: skip


def _classes(ws: Workspace, who: str) -> dict[str, int]:
    (project,) = progress.user_progress(ws, annotator=who).projects
    return dict(project.class_counts)


def _merged_across_undone(ws: Workspace, tmp_path: Path) -> None:
    """Project "seven", its rows written with x+y and z+w merged (re-scored), both merges
    undone since, then x and z merged as "a" (not re-scored): each column of the rows is two
    of today's labels, "a" one of each."""
    review34b._seven_labeled(ws, tmp_path)
    x, y, z, w = review34b.SEVEN[:4]
    taxonomy.merge_labels(ws, project="seven", labels=[x, y], into="p", actor="admin")
    taxonomy.merge_labels(ws, project="seven", labels=[z, w], into="q", actor="admin")
    taxonomy.undo_last(ws, project="seven", actor="admin", rescore=False)
    taxonomy.undo_last(ws, project="seven", actor="admin", rescore=False)
    taxonomy.merge_labels(ws, project="seven", labels=[x, z], into="a", actor="admin",
                          rescore=False)  # fmt: skip


def _vague_tops_merged(ws: Workspace) -> tuple[dict[int, str], list[str]]:
    """The vague rows' stored top classes merged as "merged" (with others, four in all; not
    re-scored): each vague row's top class is merged, so no row tells the merged label's
    probability. Returns each vague example's stored top class, and the labels merged."""
    with session_scope(ws.db, read_only=True) as session:
        stored = models.get_predictions_for(session=session, example_ids=range(1, 200))
        vague = {
            i: str(r.probs[0][0])
            for i, r in stored.items()
            if examples.get_example(session=session, example_id=i).text in readers.VAGUE
        }
    tops = list(dict.fromkeys(vague.values()))
    merged = (tops + [lb for lb in review34b.SEVEN if lb not in tops])[:4]
    taxonomy.merge_labels(ws, project="seven", labels=merged, into="merged", actor="admin",
                          rescore=False)  # fmt: skip
    return vague, merged


def _count_rescores(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """The example ids of each model call that scores merged rows live, from now on."""
    calls: list[list[int]] = []
    rescored = predicting.Merges.rescored

    def counted(self, ws_, example_ids, texts):  # type: ignore[no-untyped-def]
        calls.append(list(example_ids))
        return rescored(self, ws_, example_ids, texts)

    monkeypatch.setattr(predicting.Merges, "rescored", counted)
    return calls


def test_the_viewers_own_relabel_shows_at_once(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _bank(ws, tmp_path)
    monkeypatch.setattr(progress, "_clock", lambda: 1000.0)  # no minute passes
    given = _label(ws, "ana", "card_arrival")
    assert _classes(ws, "ana").get("card_arrival") == 1
    relabel = labeling.undo_to_relabel(ws, annotation_id=given.annotation_id, annotator="ana")
    assert relabel is not None
    labeling.submit_label(ws, project="bank", example_id=relabel.example_id, label="age_limit",
                          annotator="ana", source="slack", key="ana:again")  # fmt: skip
    shown = _classes(ws, "ana")
    assert shown.get("age_limit") == 1 and not shown.get("card_arrival"), shown


def test_deleting_a_project_forgets_its_kept_home_figures(ws: Workspace, tmp_path: Path) -> None:
    _bank(ws, tmp_path)
    _label(ws, "ana", "card_arrival")
    progress.user_progress(ws, annotator="ana")
    assert ("home_summary", "bank") in ws.notes
    projects.delete_project(ws, "bank")
    assert ("home_summary", "bank") not in ws.notes


def test_export_after_undone_merges_and_a_merge_across_them(ws: Workspace, tmp_path: Path) -> None:
    _merged_across_undone(ws, tmp_path)
    records = list(exporting.export_records(ws, "seven"))
    texts = [r["text"] for r in records[:5]]
    said = predicting.predict_texts(ws, "seven", texts)
    for record, answer in zip(records, said, strict=False):
        assert (record["prediction"]["label"], record["prediction"]["confidence"]) == (
            answer.label,
            answer.confidence,
        )


def test_a_click_after_a_merge_on_a_blend_reads_no_whole_pool(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    review34b._seven_labeled(ws, tmp_path)
    run = training.train_project(ws, "seven", kind="blend")
    assert run.kind == "blend"
    with session_scope(ws.db, read_only=True) as session:
        stored = models.get_predictions_for(session=session, example_ids=range(1, 200))
        vague = {
            i: r
            for i, r in stored.items()
            if examples.get_example(session=session, example_id=i).text in readers.VAGUE
            and r.model_run_id == run.id
        }
    example_id, row = next(iter(vague.items()))
    top_two = [str(lb) for lb, _ in row.probs[:2]]
    taxonomy.merge_labels(ws, project="seven", labels=top_two, into="merged", actor="admin",
                          rescore=False)  # fmt: skip
    reads = []
    whole = examples.example_texts

    def counted(**kwargs):  # type: ignore[no-untyped-def]
        reads.append(kwargs)
        return whole(**kwargs)

    monkeypatch.setattr(examples, "example_texts", counted)
    task = readers._handed(ws, example_id, "U1")
    assert task.suggestion is not None and task.suggestion[0] == "merged"  # scored live
    assert reads == []


def test_a_disagreements_listing_after_a_merge_scores_its_rows_live_at_once(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine import consensus

    review34b._seven_labeled(ws, tmp_path)
    # the vague rows' top classes merged: each is scored live
    vague, merged = _vague_tops_merged(ws)
    projects.update_settings(ws, project="seven", multi_label_share=1.0, multi_label_k=2)
    first, second = [lb for lb in review34b.SEVEN if lb not in merged][:2]
    disputed = [i for i, top in vague.items() if top in merged][:3]
    assert len(disputed) >= 2
    for k, example_id in enumerate(disputed):  # its own experts: each skips the others
        for annotator, label in ((f"W{k}a", first), (f"W{k}b", second)):
            readers._handed(ws, example_id, annotator)
            labeling.submit_label(ws, project="seven", example_id=example_id, label=label,
                                  annotator=annotator, source="slack",
                                  key=f"{annotator}:{example_id}")  # fmt: skip
    calls = _count_rescores(monkeypatch)
    found = consensus.disagreements(ws, "seven")
    assert {d.example_id for d in found} >= set(disputed)
    assert all(d.model is not None and d.model[0] == "merged" for d in found)
    assert len(calls) <= 1, calls


def test_a_slower_visit_kept_last_never_hides_the_viewers_own_label(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _bank(ws, tmp_path)
    clock = [1000.0]
    monkeypatch.setattr(progress, "_clock", lambda: clock[0])
    _label(ws, "ana", "card_arrival")
    assert progress.user_progress(ws, annotator="ana").projects[0].labeled == 1
    clock[0] += progress.SUMMARY_MAX_AGE  # bob's next visit works the figures out again
    real = progress.project_summary
    inside: list[bool] = []

    def meanwhile(ws_: Workspace, name: str) -> progress.ProjectSummary:
        summary = real(ws_, name)  # bob's read: before ana's second label
        if not inside:
            inside.append(True)
            # another listener thread, while bob's visit is still on its way: ana labels
            # and her tab counts it
            _label(ws, "ana", "card_arrival")
            assert progress.user_progress(ws, annotator="ana").projects[0].labeled == 2
        return summary

    monkeypatch.setattr(progress, "project_summary", meanwhile)
    progress.user_progress(ws, annotator="bob")  # kept last, read first
    mine = progress.user_progress(ws, annotator="ana")
    assert mine.labeled_total == 2
    assert mine.projects[0].labeled == 2
