"""`labelbot import`'s summary groups thousands in every count, as its other counts ("imported
20,000 new examples", "20,000 of the file's labels added nothing") and the rest of the CLI do;
"20000 already in the project" stood beside them."""

from __future__ import annotations

from bot.cli.data import import_summary, shared_ids_note
from engine.projects import ImportReport


def test_the_summary_groups_thousands_in_every_count() -> None:
    again = ImportReport(
        rows=21_500, inserted=0, duplicates=21_500, annotations=0, embedded=0, repeated=1_500
    )
    assert import_summary(again) == (
        "imported 0 new examples; 20,000 already in the project; 1,500 rows repeat an earlier "
        "row's text (stored once)"
    )
    votes = ImportReport(rows=2_000, inserted=0, duplicates=2_000, annotations=2_000, embedded=0)
    assert import_summary(votes) == (
        "imported 0 new examples; 2,000 already in the project (their labels added as votes)"
    )


def test_the_shared_ids_warning_groups_thousands() -> None:
    ids = tuple(f"x{i}" for i in range(1_200))
    assert shared_ids_note(ids).startswith(
        "warning: 1,200 ids now name more than one example each ('x0', 'x1', 'x2', 'x3', 'x4', ...)"
    )
