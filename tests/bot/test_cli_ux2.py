"""What a new user met in the CLI, second round (the UX audit's L5, L7, L9, L13, L14, L19):
the import report says what happened to texts already stored, counts are singular for one, a
renamed label keeps its F1, empty projects say what to do, the demo counts what it stored,
review and label panels name who labeled, and small hints on files, labels and usage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.bot.test_cli import _csv, _open_review, cli_env  # noqa: F401  (the fixture)
from tests.bot.test_cli_ux import LABELS, TEXTS, _fresh_settings  # noqa: F401  (autouse)


def _run(runner: CliRunner, *args: str, code: int = 0, **kwargs: Any) -> str:
    result = runner.invoke(app, list(args), **kwargs)
    assert result.exit_code == code, result.output
    return " ".join(str(result.output).split())


# --- L5: the import report, and counts of one ------------------------------------------------


@pytest.mark.usefixtures("cli_env")
def test_the_import_report_says_what_happened_to_texts_already_stored(tmp_path: Path) -> None:
    runner = CliRunner()
    _run(runner, "project", "create", "p", "--labels", LABELS)
    unlabeled = _csv(tmp_path / "all.csv", [(t, "") for t, _ in TEXTS])
    assert "imported 6 new examples, 0 labels" in _run(runner, "import", "p", str(unlabeled))

    seed = _csv(tmp_path / "seed.csv", TEXTS[:3])  # labels for texts the project has
    said = _run(runner, "import", "p", str(seed))
    assert "imported 0 new examples; 3 already in the project (their labels added as votes)" in (
        said
    )
    assert "duplicates skipped" not in said
    one = _csv(tmp_path / "one.csv", [TEXTS[4]])
    assert "imported 0 new examples; 1 already in the project (its label added as a vote)" in (
        _run(runner, "import", "p", str(one))
    )
    again = _run(runner, "import", "p", str(one))  # the same vote again stores nothing
    assert again.startswith("imported 0 new examples; 1 already in the project")
    assert "vote" not in again

    # new and known texts together, and a text the file repeats (stored once)
    mixed = _csv(
        tmp_path / "mixed.csv",
        [("a brand new clause", "NDA"), ("a brand new clause", "NDA"), TEXTS[5]],
    )
    said = _run(runner, "import", "p", str(mixed))
    assert (
        "imported 1 new example; 1 already in the project; 1 row repeats an earlier row's text "
        "(stored once); 2 labels (added as votes where the text was already in the project)"
    ) in said


@pytest.mark.usefixtures("cli_env")
def test_counts_of_one_are_singular(tmp_path: Path) -> None:
    runner = CliRunner()
    created = runner.invoke(app, ["project", "create", "solo", "--labels", "A"])
    assert created.exit_code == 0, created.output  # allowed: labels can be added later
    assert "created project 'solo' with 1 label" in created.output
    assert "1 labels" not in created.output
    assert "a model needs at least 2 labels" in " ".join(created.output.split())
    two = _run(runner, "project", "create", "two", "--labels", "A,B")
    assert "with 2 labels" in two and "at least 2" not in two

    assert "added 1 label: C" in _run(runner, "labels", "add", "two", "C")
    _run(runner, "import", "two", str(_csv(tmp_path / "t.csv", [("only text", "A")])))
    assert "two: 1 example, 1 labeled, 0 waiting, 0 flagged, 0 comments" in _run(
        runner, "status", "two"
    )
    out = tmp_path / "one.jsonl"
    exported = runner.invoke(app, ["export", "two", "--out", str(out)])
    assert exported.exit_code == 0 and f"wrote 1 example to {out}" in exported.output


# --- L7: a renamed label keeps its F1 ---------------------------------------------------------


@pytest.mark.usefixtures("cli_env")
def test_status_keeps_a_renamed_labels_f1(tmp_path: Path) -> None:
    runner = CliRunner()
    _run(runner, "project", "create", "p", "--labels", LABELS)
    _run(runner, "import", "p", str(_csv(tmp_path / "p.csv", TEXTS)))
    _run(runner, "train", "p")
    before = json.loads(runner.invoke(app, ["status", "p", "--json"]).output)
    lease = before["model"]["per_class_f1"]["scores"]["Lease"]

    _run(runner, "labels", "rename", "p", "Lease", "Tenancy")
    info = json.loads(runner.invoke(app, ["status", "p", "--json"]).output)
    scores = info["model"]["per_class_f1"]["scores"]
    assert scores["Tenancy"] == lease and "Lease" not in scores
    table = runner.invoke(app, ["status", "p"], terminal_width=200).output
    row = next(line for line in table.splitlines() if "Tenancy" in line)
    assert f"{lease['f1']:.2f}" in row and " - " not in row

    # a merge is no rename: the label it went into keeps its own score, and the label merged
    # away, no class to work on now, is left out as the digest leaves it out
    _run(runner, "labels", "merge", "p", "NDA", "Tenancy", "--into", "Tenancy")
    merged = json.loads(runner.invoke(app, ["status", "p", "--json"]).output)
    assert merged["model"]["per_class_f1"]["scores"]["Tenancy"] == lease
    assert "NDA" not in merged["model"]["per_class_f1"]["scores"]


# --- L9: empty states ---------------------------------------------------------------------


@pytest.mark.usefixtures("cli_env")
def test_an_empty_project_says_what_to_do(tmp_path: Path) -> None:
    runner = CliRunner()
    _run(runner, "project", "create", "empty", "--labels", "A,B")
    assert _run(runner, "models", "empty") == (
        "no models yet: import examples first (`labelbot import empty FILE`), then label a few "
        "per class"
    )

    out = tmp_path / "empty.jsonl"
    written = runner.invoke(app, ["export", "empty", "--out", str(out)])
    assert written.exit_code == 0
    assert f"empty has no examples yet: nothing exported ({out}: empty)" in written.output
    assert out.read_text() == ""
    piped = runner.invoke(app, ["export", "empty"])
    assert piped.exit_code == 0
    assert "empty has no examples yet: nothing exported" in piped.output  # on stderr

    status = _run(runner, "status", "empty")
    assert "too rare" not in status  # nothing is labeled: every class would be "too rare"
    _run(runner, "import", "empty", str(_csv(tmp_path / "e.csv", [("one text", "A")])))
    assert "too rare to learn (under 5 labels): B, A" in _run(runner, "status", "empty")


# --- L14: who labeled, in the review and label panels -----------------------------------------


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize(
    ("who", "said"), [("dave", "dave said NDA"), ("import", "imported as NDA")]
)
def test_the_review_panel_names_who_said_what(tmp_path: Path, who: str, said: str) -> None:
    from bot.cli.common import workspace
    from engine import projects

    runner = CliRunner()
    _run(runner, "project", "create", "p", "--labels", LABELS)
    ws = workspace()
    projects.import_file(
        ws, project="p", path=_csv(tmp_path / "p.csv", TEXTS[:1]), annotator=who, embed=False
    )
    ws.close()
    _open_review(TEXTS[0][0], "Lease")
    shown = _run(runner, "review", "p", "--annotator", "zed", input="q\n")
    assert f"{said}; the model suggests Lease (90%)" in shown
    assert "NDA said" not in shown


def test_the_label_panel_says_imported_as_for_an_imported_label() -> None:
    from bot.cli.interactive import _who_labeled

    assert _who_labeled(["import"], "Employment") == "imported as Employment"
    assert _who_labeled(["dave", "ann"], "Employment") == "dave, ann labeled it Employment"
    assert _who_labeled(["import", "dave"], "X") == "dave labeled it X (and it was imported so)"


# --- L19: directories, separators, one label, rounding, a version where none is taken ----------


@pytest.mark.usefixtures("cli_env")
def test_import_hints_for_a_directory_and_another_separator(tmp_path: Path) -> None:
    runner = CliRunner()
    _run(runner, "project", "create", "p", "--labels", LABELS)
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    said = _run(runner, "import", "p", str(folder), code=2)
    assert f"{folder}: is a directory" in said and "no such file" not in said

    # Excel's "CSV" in locales with a decimal comma is separated by ';': read so when the
    # header names the text column that way, its quoted cells as in any CSV
    semi = tmp_path / "semi.csv"
    semi.write_text(
        'id;text;label\n1;"the tenant pays; monthly";Lease\n2;both sign, then;NDA\n',
        encoding="utf-8-sig",
    )
    said = _run(runner, "import", "p", str(semi), "--label-column", "label", "--id-column", "id")
    assert "imported 2 new examples" in said
    _run(runner, "export", "p", "--out", str(tmp_path / "out.jsonl"))
    exported = json.loads((tmp_path / "out.jsonl").read_text("utf-8").splitlines()[0])
    assert (exported["id"], exported["text"], exported["label"]) == (
        "1", "the tenant pays; monthly", "Lease",
    )  # fmt: skip
    other = tmp_path / "other.csv"
    other.write_text("body;label\nthe landlord may enter;Lease\n", encoding="utf-8")
    said = _run(runner, "import", "p", str(other), code=2)
    assert "no 'text' column (columns: body;label); separated by ';', its columns are " in said
    assert "body, label: name the text one with --text-column" in said
    said = _run(runner, "import", "p", str(other), "--text-column", "body")
    assert "imported 1 new example" in said
    tabbed = tmp_path / "tabbed.csv"
    tabbed.write_text("text\tlabel\nthe tenant pays\tLease\n", encoding="utf-8")
    said = _run(runner, "import", "p", str(tabbed), code=2)
    assert "is it separated by tabs? save it comma-separated, or name it .tsv" in said
    # a .txt with tabs is what Excel's "Unicode Text" writes: read as tab-separated
    said = _run(runner, "import", "p", str(tabbed.rename(tmp_path / "tabbed.txt")))
    assert "imported 1 new example" in said
    plain = tmp_path / "plain.csv"
    plain.write_text("body,label\nthe tenant pays,Lease\n", encoding="utf-8")
    said = _run(runner, "import", "p", str(plain), code=2)
    assert "use --text-column" in said and "separated" not in said


def test_a_small_overlap_share_is_not_rounded_to_zero() -> None:
    from bot.cli.experiments import share

    assert share(1, 200) == "0.5%"
    assert share(1, 5000) == "under 0.1%"
    assert share(3, 200) == "2%"
    assert share(0, 200) == "0.0%"


@pytest.mark.usefixtures("cli_env")
def test_models_with_a_version_suggests_pin(tmp_path: Path) -> None:
    runner = CliRunner()
    _run(runner, "project", "create", "contracts", "--labels", LABELS)
    said = _run(runner, "models", "contracts", "7", code=2)
    assert "`models NAME` takes no version; did you mean `labelbot models pin contracts 7`?" in said
    other = _run(runner, "models", "contracts", "extra", code=2)
    assert "unknown action 'contracts'" in other


# --- L13: the demo counts what it stored --------------------------------------------------------


def tiny_demo_data(
    monkeypatch: pytest.MonkeyPatch, train: list[tuple[str, str]], test: list[tuple[str, str]]
) -> None:
    """The demo runs on ``train`` and ``test`` (text, label) rows instead of Banking77's."""
    from engine import demo

    def load_split(split: str) -> tuple[list[str], list[str]]:
        rows = train if split == "train" else test
        return [t for t, _ in rows], [lb for _, lb in rows]

    monkeypatch.setattr(demo, "dataset_path", lambda _name, split: split)
    monkeypatch.setattr(demo, "load_split", load_split)


def test_the_demo_counts_the_queries_it_stored(
    tmp_path: Path, embedding_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bundled training split repeats 4 texts: the demo said 10,003 queries and stored
    9,999. Here a tiny split with one repeated text."""
    from engine import demo
    from engine.config import Settings

    intents = {
        "card": ["my card has not arrived", "where is my new card", "card still not delivered"],
        "pin": ["how do I change my pin", "reset my pin please", "I forgot my pin code"],
    }
    train = [(t, lb) for lb, texts in intents.items() for t in texts] + [
        ("where is my new card", "card")  # the repeat
    ]
    test = [("card not here yet", "card"), ("new pin needed", "pin")]

    tiny_demo_data(monkeypatch, train, test)
    steps: list[str] = []
    result = demo.run_demo(
        budget=4, batch=2, out_dir=tmp_path / "out",
        database_url=f"sqlite:///{tmp_path / 'demo.db'}",
        settings=Settings(data_dir=embedding_cache_dir), on_step=steps.append,
    )  # fmt: skip
    assert result.examples == 6
    assert any("6 distinct queries to label (1 repeated text stored once)" in s for s in steps)


# --- README audit #17: a number that names no label ------------------------------------------


@pytest.mark.usefixtures("cli_env")
def test_a_number_out_of_range_says_which_numbers_label(tmp_path: Path) -> None:
    runner = CliRunner()
    _run(runner, "project", "create", "p", "--labels", LABELS)  # three labels
    _run(runner, "import", "p", str(_csv(tmp_path / "p.csv", [(t, "") for t, _ in TEXTS])))
    said = _run(runner, "label", "p", "--annotator", "ann", input="9\n0\n²\n2\nq\n")
    assert "no label 9: choose 1–3" in said and "no label 0: choose 1–3" in said
    assert "not understood: '9'" not in said and "not understood: '²'" in said
    assert "labeled Lease" in said  # the example stayed, and a number in range labels it


@pytest.mark.usefixtures("cli_env")
def test_review_answers_a_number_out_of_range_the_same_way(tmp_path: Path) -> None:
    from bot.cli.common import workspace
    from engine import projects

    runner = CliRunner()
    _run(runner, "project", "create", "p", "--labels", LABELS)
    ws = workspace()
    projects.import_file(
        ws, project="p", path=_csv(tmp_path / "p.csv", TEXTS[:1]), annotator="dave", embed=False
    )
    ws.close()
    _open_review(TEXTS[0][0], "Lease")
    said = _run(runner, "review", "p", "--annotator", "zed", input="9\n²\n3\n")
    assert "no label 9: choose 1–3" in said and "not understood: '²'" in said
    assert "changed: Employment" in said
