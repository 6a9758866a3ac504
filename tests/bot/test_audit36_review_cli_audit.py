"""Audit 36: `labelbot review`'s answer to a change of an audit label: it scores models, no model
trains on it (the CLI's twin of tests/bot/test_audit36_reviews_slack.py)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.bot.test_cli_reviews import LABELS


def _ok(runner: CliRunner, *args: str, input: str | None = None) -> str:
    result = runner.invoke(app, list(args), input=input)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())  # rich wraps long lines: compare words


def _doubted_examples(texts: list[str]) -> tuple[int, int]:
    """ana labels the project's examples (half of them drawn for the audit stream) as
    LABELS[0]; a review of one audit label and of one training label is opened, each
    suggesting LABELS[1], as a scan would: their example ids (audit, training)."""
    from bot.cli.common import workspace
    from engine import labeling, projects
    from storage.db import session_scope
    from storage.repositories import assignments, feedback
    from storage.repositories import projects as projects_repo
    from storage.repositories import reviews as reviews_repo

    ws = workspace()
    try:
        projects.update_settings(
            ws, project="bank", review_share=1.0, multi_label_share=0.0, audit_share=0.5
        )
        labeled = []
        for _ in texts:
            task = labeling.next_task(ws, project="bank", annotator="ana")
            assert task is not None
            labeling.submit_label(
                ws, project="bank", example_id=task.example_id, label=LABELS[0],
                annotator="ana", source="cli", key=f"ana:{task.example_id}",
            )  # fmt: skip
            labeled.append(task.example_id)
        with session_scope(ws.db) as s:
            project = projects_repo.get_project(session=s, name="bank")
            pid = int(project.id or 0)
            audited = assignments.audit_labeled_ids(session=s, project_id=pid)
            audit = next(e for e in labeled if e in audited)
            trains = next(e for e in labeled if e not in audited)
            ids_ = {lb.name: int(lb.id or 0) for lb in projects_repo.list_labels(
                session=s, project_id=pid)}  # fmt: skip
            for example, margin in ((audit, 0.9), (trains, 0.6)):  # the audit one first
                (row,) = feedback.example_annotations(session=s, example_id=example)
                assert reviews_repo.add_review(
                    session=s, project_id=pid, example_id=example, annotation_id=row.id,
                    annotator=row.annotator, given_label_id=ids_[LABELS[0]],
                    suggested_label_id=ids_[LABELS[1]], confidence=0.9, margin=margin,
                ) is not None  # fmt: skip
        return audit, trains
    finally:
        ws.close()


@pytest.mark.usefixtures("cli_env")
def test_a_changed_audit_label_is_not_said_to_train_the_next_model(
    banking_slice, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    _ok(runner, "project", "create", "bank", "--labels", ",".join(LABELS))
    texts = [text for text, _ in banking_slice[:8]]
    path = tmp_path / "texts.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text"])
        writer.writerows([t] for t in texts)
    _ok(runner, "import", "bank", str(path))
    _doubted_examples(texts)

    out = _ok(runner, "review", "bank", "--annotator", "ben", input="c\nc\nq\n")
    now = f"changed: {LABELS[1]} is the example's label now"
    audit_said = f"{now}; it scores models; no model trains on it"
    trains_said = f"{now}; the next model trains on it"
    assert audit_said in out, out
    assert out.count("the next model trains on it") == 1, out  # the training label's alone
    assert out.index(audit_said) < out.index(trains_said)
