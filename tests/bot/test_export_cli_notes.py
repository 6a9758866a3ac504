"""`labelbot export` across a taxonomy change, and .tsv names (found by an audit): an export
whose predictions a change emptied says so on stderr; a .tsv --out is refused (the importer
reads .tsv as tab-separated, so the file could not come back); a comma-separated file named
.tsv is told to be named .csv."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bot.test_cli_audit_fixes import _invoke, _ok
from tests.bot.test_cli_project_delete import _project, env  # noqa: F401 (a fixture)


def test_an_export_emptied_of_predictions_by_a_change_says_why(
    env: dict[str, str],  # noqa: F811 (the imported fixture)
    tmp_path: Path,
) -> None:
    _project("trial", tmp_path)  # two labels, four labeled texts, model v1
    before = _invoke("export", "trial")
    assert before.exit_code == 0 and "note:" not in before.stderr
    assert all(json.loads(line)["prediction"] for line in before.stdout.splitlines())

    _ok("labels", "add", "trial", "Employment")
    after = _invoke("export", "trial", "--out", str(tmp_path / "e.jsonl"))

    assert after.exit_code == 0, after.output
    said = after.stderr.replace("\n", " ")
    assert (
        "note: no predictions in this export: a label was added, split or retired since "
        "model v1" in said
    )
    assert "`labelbot train trial`" in said


def test_a_tsv_export_is_refused_and_a_comma_separated_tsv_import_is_told_why(
    env: dict[str, str],  # noqa: F811 (the imported fixture)
    tmp_path: Path,
) -> None:
    _project("trial", tmp_path, train=False)
    out = tmp_path / "e.tsv"
    for args in ([], ["--format", "csv"]):
        refused = _invoke("export", "trial", "--out", str(out), *args)
        assert refused.exit_code == 2, refused.output
        assert "not tab-separated: name it e.csv or e.jsonl" in refused.stderr.replace("\n", " ")
        assert not out.exists()

    out.write_text("id,text,label\n1,hello there,NDA\n", encoding="utf-8")
    _ok("project", "create", "other", "--labels", "NDA,Lease")
    told = _invoke("import", "other", str(out))
    assert told.exit_code == 2
    assert "is it comma-separated? name it .csv" in told.stderr.replace("\n", " ")


def test_an_export_emptied_because_the_model_file_is_gone_says_that(
    env: dict[str, str],  # noqa: F811 (the imported fixture)
    tmp_path: Path,
) -> None:
    """Not a taxonomy change: the note said "a label was added, split or retired" (a review of
    the note found it) when the re-scoring fell back to a cold start for a missing file."""
    _project("trial", tmp_path)
    for model_file in (Path(env["LABELBOT_DATA_DIR"]) / "models" / "trial").glob("*.npz"):
        model_file.unlink()
    more = tmp_path / "more.csv"
    more.write_text("text\nthe landlord keeps the deposit\n", encoding="utf-8")
    _ok("import", "trial", str(more))  # its re-scoring finds the file gone: a cold start

    said = _invoke("export", "trial", "--out", str(tmp_path / "e.jsonl")).stderr.replace("\n", " ")

    assert "note: no predictions in this export: model v1 of 'trial' is missing its file" in said
    assert "split or retired" not in said
