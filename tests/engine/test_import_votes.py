"""A re-import adds nothing, and an imported label never settles what experts disagree on.

Re-importing the project's export added one `import` vote per labeled example: a label the
experts agreed on counted twice in a later tie, and the label a tie went to (the latest vote,
what the export's `label` is) won a dispute 2-1 without anyone settling it. Now a file's label
for a text labeled before adds no vote where it is the agreed label already, an import gave it
already, the experts disagree there, or an adjudication decides the label, and the import's
report says how many of each; elsewhere it is one more vote, as before. Through the engine (on
SQLite and PostgreSQL) and through `labelbot import`."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from engine import consensus, exporting, projects
from engine.workspace import Workspace
from storage.db import session_scope
from storage.repositories import examples, feedback
from storage.repositories import projects as project_repo
from tests.bot.test_cli import cli_env  # noqa: F401  (the fixture)
from tests.helpers import labeled_csv

LABELS = ["yes", "no", "maybe"]
AGREED = "the parcel arrived on time"  # ana: yes
DISPUTED = "the parcel arrived, but late"  # ana: yes, ben: no (a tie: ben's, the latest)
SETTLED = "the parcel never arrived"  # ana: yes, ben: no, settled by lead as no
ALONE = "the parcel arrived damaged"  # ana: yes
FRESH = "the parcel was left next door"  # unlabeled
TEXTS = [AGREED, DISPUTED, SETTLED, ALONE, FRESH]


def _ids(ws: Workspace, project: str = "p") -> dict[str, int]:
    with session_scope(ws.db, read_only=True) as s:
        found = project_repo.get_project(session=s, name=project)
        assert found.id is not None
        return {
            e.text: int(e.id or 0) for e in examples.list_examples(session=s, project_id=found.id)
        }


def _vote(ws: Workspace, text: str, label: str, who: str, source: str = "slack") -> None:
    """A live vote as a click stores it."""
    with session_scope(ws.db) as s:
        found = project_repo.get_project(session=s, name="p")
        assert found.id is not None
        label_id = project_repo.get_label(session=s, project_id=found.id, name=label).id
        assert label_id is not None
        feedback.add_annotation(
            session=s, example_id=_ids(ws)[text], label_id=label_id, annotator=who,
            source=source, key=f"{who}:{text}:{label}:{source}",
        )  # fmt: skip


def _votes(ws: Workspace) -> dict[str, list[tuple[str, str]]]:
    """Each text's live votes, oldest first, as (annotator, label)."""
    by_id = {i: t for t, i in _ids(ws).items()}
    with session_scope(ws.db, read_only=True) as s:
        found = project_repo.get_project(session=s, name="p")
        assert found.id is not None
        rows = feedback.list_annotations(session=s, project_id=found.id)
    out: dict[str, list[tuple[str, str]]] = {t: [] for t in TEXTS}
    for row in rows:
        out[by_id[row.example_id]].append((row.annotator, row.label))
    return out


def _agreed(ws: Workspace) -> dict[str, str | None]:
    return {r["text"]: r["label"] for r in exporting.export_records(ws, "p")}


def _seed(ws: Workspace, tmp_path: Path) -> None:
    """Project "p"'s five texts, imported unlabeled, and the votes TEXTS' comments name."""
    path = tmp_path / "texts.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([["text"], *([t] for t in TEXTS)])
    projects.import_file(ws, project="p", path=path, embed=False)
    for text in (AGREED, DISPUTED, SETTLED, ALONE):
        _vote(ws, text, "yes", "ana")
    for text in (DISPUTED, SETTLED):
        _vote(ws, text, "no", "ben")
    consensus.adjudicate(ws, project="p", example_id=_ids(ws)[SETTLED], label="no", actor="lead")


@pytest.fixture
def labeled(ws: Workspace, tmp_path: Path) -> Workspace:
    projects.create_project(ws, name="p", labels=LABELS)
    _seed(ws, tmp_path)
    return ws


def _import(ws: Workspace, path: Path) -> projects.ImportReport:
    return projects.import_file(ws, project="p", path=path, embed=False)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_reimporting_the_projects_export_adds_no_vote(
    labeled: Workspace, tmp_path: Path, fmt: str
) -> None:
    ws = labeled
    before, agreed = _votes(ws), _agreed(ws)
    assert agreed == {AGREED: "yes", DISPUTED: "no", SETTLED: "no", ALONE: "yes", FRESH: None}
    path = tmp_path / f"export.{fmt}"
    path.write_text(exporting.export_text(ws, "p", fmt), encoding="utf-8")
    report = _import(ws, path)
    assert (report.inserted, report.annotations, report.relabeled) == (0, 0, 0)
    assert report.left_alone == {"agreed": 3, "disputed": 1}
    assert _votes(ws) == before and _agreed(ws) == agreed
    # the dispute is still open, for the team to settle
    assert [d.example_id for d in consensus.disagreements(ws, "p")] == [_ids(ws)[DISPUTED]]
    assert list(report.notes) == [
        "3 of the file's labels added nothing (3 already the example's agreed label)",
        "1 of the file's labels left alone: experts disagree there (`labelbot disagreements p` "
        "lists them; `labelbot adjudicate` settles one)",
    ]


def test_a_file_never_tips_a_dispute_nor_overrules_an_adjudication(
    labeled: Workspace, tmp_path: Path
) -> None:
    """ana's yes against ben's no goes to ben (the latest): one more yes would have made it
    yes, 2-1, and the example no longer a tie anyone looks at."""
    ws = labeled
    before = _votes(ws)
    report = _import(ws, labeled_csv(tmp_path / "sides.csv", [(DISPUTED, "yes"), (SETTLED, "yes")]))
    assert report.annotations == 0
    assert report.left_alone == {"disputed": 1, "decided": 1}
    assert _votes(ws) == before
    assert (_agreed(ws)[DISPUTED], _agreed(ws)[SETTLED]) == ("no", "no")
    assert (
        report.notes[-1]
        == "1 of the file's labels left alone: an adjudication decides the label there"
    )


def test_elsewhere_a_files_label_is_one_more_vote_once(labeled: Workspace, tmp_path: Path) -> None:
    """Against one expert's label (no dispute among experts) and on an unlabeled text, the
    file's label is a vote, as before; the same file again adds nothing, and says why."""
    ws = labeled
    path = labeled_csv(tmp_path / "fix.csv", [(ALONE, "no"), (FRESH, "maybe"), (AGREED, "yes")])
    report = _import(ws, path)
    assert (report.annotations, report.relabeled) == (2, 1)
    assert report.left_alone == {"agreed": 1}
    assert _votes(ws)[ALONE] == [("ana", "yes"), ("import", "no")]
    assert _votes(ws)[FRESH] == [("import", "maybe")]
    assert _agreed(ws)[ALONE] == "no"  # the tie goes to the latest vote: the file's
    again = _import(ws, path)
    assert again.annotations == 0
    assert again.left_alone == {"imported": 2, "agreed": 1}
    assert again.notes == (
        "3 of the file's labels added nothing (1 already the example's agreed label; 2 given "
        "by an earlier import)",
    )
    assert _votes(ws)[ALONE] == [("ana", "yes"), ("import", "no")]


def test_an_import_against_one_expert_is_no_dispute_between_experts(
    labeled: Workspace, tmp_path: Path
) -> None:
    """The file's no against ana's yes is listed as a disagreement (an import's against an
    expert's), but it is not experts who disagree: a later file is not left out for it."""
    ws = labeled
    _import(ws, labeled_csv(tmp_path / "one.csv", [(ALONE, "no")]))
    assert _ids(ws)[ALONE] in {d.example_id for d in consensus.disagreements(ws, "p")}
    report = _import(ws, labeled_csv(tmp_path / "two.csv", [(ALONE, "maybe")]))
    assert (report.annotations, report.left_alone) == (1, {})


def _run(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.usefixtures("cli_env")
def test_labelbot_import_of_an_export_says_what_it_left_alone(tmp_path: Path) -> None:
    from bot.cli.common import workspace

    runner = CliRunner()
    _run(runner, "project", "create", "p", "--labels", ",".join(LABELS))
    ws = workspace()
    _seed(ws, tmp_path)
    before = _votes(ws)
    out = tmp_path / "p.csv"
    _run(runner, "export", "p", "--out", str(out))
    said = _run(runner, "import", "p", str(out))
    assert "imported 0 new examples; 5 already in the project" in said
    assert "note: 3 of the file's labels added nothing (3 already the example's agreed label)" in (
        said
    )
    assert (
        "note: 1 of the file's labels left alone: experts disagree there (`labelbot "
        "disagreements p` lists them; `labelbot adjudicate` settles one)"
    ) in said
    assert "now count" not in said  # no text moved to another label
    assert _votes(ws) == before
    # the dispute is still there to settle
    assert str(_ids(ws)[DISPUTED]) in _run(runner, "disagreements", "p")
