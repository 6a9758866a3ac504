"""`labelbot label` with labels named like its keys: typing a label's name labels the example
(the help: "number or name = label"), but the keys were checked first, so a label named T
trained and one named quit quit. An answer that is both is refused as ambiguous now, in one
line naming the label's number and a form of the key that works; every other answer does
what it did, and Ctrl-D still ends the session. On SQLite and PostgreSQL (labels are stored)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.cli.interactive import command_key
from engine.labeling import LabelChoice
from storage.errors import InvalidInputError
from tests.bot.test_cli import _csv


@pytest.fixture
def any_db_cli(
    db_url_and_schema: tuple[str, str | None],
    embedding_cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[None]:
    """The CLI on a fresh database: SQLite, and a PostgreSQL schema (psycopg takes the
    search_path from the URL)."""
    from engine.config import get_settings

    url, schema = db_url_and_schema
    if schema is not None:
        url = f"{url}?options=-csearch_path%3D{schema}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("LABELBOT_DATA_DIR", str(embedding_cache_dir))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _run(runner: CliRunner, *args: str, code: int = 0, **kwargs: object) -> str:
    result = runner.invoke(app, list(args), **kwargs)  # type: ignore[arg-type]
    assert result.exit_code == code, result.output
    return result.output


def _project(tmp_path: Path, labels: str) -> CliRunner:
    runner = CliRunner()
    _run(runner, "project", "create", "p", "--labels", labels)
    rows = [(f"text number {i} about cards", "") for i in range(3)]
    _run(runner, "import", "p", str(_csv(tmp_path / "p.csv", rows)))
    return runner


def _labels() -> list[str | None]:
    """Each example's label, as exported."""
    exported = _run(CliRunner(), "export", "p").splitlines()
    return [json.loads(line)["label"] for line in exported]


def _said(output: str) -> str:
    return " ".join(output.split())


@pytest.mark.usefixtures("any_db_cli")
def test_a_key_that_is_a_label_name_is_refused_and_nothing_happens(tmp_path: Path) -> None:
    runner = _project(tmp_path, labels="T,quit,Lease")
    # t and T: train, and quit: quit, before; each is asked again now, nothing done
    said = _run(runner, "label", "p", "--annotator", "ann", input="t\nQUIT\nT\n3\nq\n")
    text = _said(said)
    assert "'t' is both a label and a command: type 1 for the label, or /t to train now" in text
    assert "'QUIT' is both a label and a command: type 2 for the label, or q to quit" in text
    assert "'T' is both a label and a command: type 1 for the label, or /t to train now" in text
    assert "training now" not in said and "labeled Lease" in said and "bye" in said
    assert said.count("p · example") == 2  # a refusal asks again without reprinting
    assert Counter(_labels()) == {None: 2, "Lease": 1}


@pytest.mark.usefixtures("any_db_cli")
def test_the_number_labels_and_the_named_alternative_does_the_command(tmp_path: Path) -> None:
    runner = _project(tmp_path, labels="T,quit,Lease")
    said = _run(runner, "label", "p", "--annotator", "ann", input="1\n2\n/t\nq\n")
    assert "labeled T" in said and "labeled quit" in said
    assert "training now" in said  # /t trains, however the training then goes
    assert "bye — your example went back to the pool" in said
    assert Counter(_labels()) == {None: 1, "T": 1, "quit": 1}


@pytest.mark.usefixtures("any_db_cli")
def test_every_word_for_quit_a_label_and_ctrl_d_still_leaves(tmp_path: Path) -> None:
    """With labels q, quit and exit, /q is named; and Ctrl-D (end of input) ends the session
    whatever the labels are called."""
    runner = _project(tmp_path, labels="q,Quit,exit")
    said = _run(runner, "label", "p", "--annotator", "ann", input="exit\n")  # then Ctrl-D
    assert "'exit' is both a label and a command: type 3 for the label, or /q to quit" in _said(
        said
    )
    assert "bye — your example went back to the pool" in said
    said = _run(runner, "label", "p", "--annotator", "ann", input="/q\n")
    assert "bye" in said and "both a label" not in said
    assert _labels() == [None, None, None]


@pytest.mark.usefixtures("any_db_cli")
def test_answers_that_are_not_ambiguous_do_what_they_did(tmp_path: Path) -> None:
    """Without a clash: t trains, a name labels (any case), quit quits, exit too."""
    runner = _project(tmp_path, labels="Lease,NDA")
    said = _run(runner, "label", "p", "--annotator", "ann", input="nda\nt\nlease\nQuit\n")
    assert "both a label" not in said
    assert "labeled NDA" in said and "training now" in said and "labeled Lease" in said
    assert "bye" in said
    said = _run(runner, "label", "p", "--annotator", "ann", input="EXIT\n")
    assert "both a label" not in said and "bye" in said
    assert Counter(_labels()) == {None: 1, "Lease": 1, "NDA": 1}


def _choices(*names: str) -> list[LabelChoice]:
    return [LabelChoice(name, "", i) for i, name in enumerate(names, start=1)]


@pytest.mark.parametrize(
    ("labels", "typed", "other"),
    [
        (("S", "b"), "s", "/s to skip"),
        (("f", "/f"), "F", "//f to flag"),  # the first form that names no label
        (("u", "/u", "//u"), "//U", "///u to undo"),
        (("/t",), "/t", "t to train now"),  # a label named /t: t still trains
        (("Exit", "q"), "exit", "quit to quit"),
    ],
)
def test_the_alternative_named_is_never_a_label(
    labels: tuple[str, ...], typed: str, other: str
) -> None:
    choices = _choices(*labels)
    with pytest.raises(InvalidInputError) as refused:
        command_key(typed, choices)
    assert str(refused.value).endswith(f", or {other}")
    form = other.split()[0]
    assert command_key(form, choices) in ("s", "f", "u", "t", "q")


def test_command_key_reads_keys_and_leaves_the_rest_to_the_labels() -> None:
    labels = _choices("Lease", "NDA")
    assert [command_key(x, labels) for x in ("s", "F", "/u", "T", "quit", "EXIT", "q")] == [
        "s",
        "f",
        "u",
        "t",
        "q",
        "q",
        "q",
    ]
    assert [command_key(x, labels) for x in ("1", "nda", "sk", "/", "zzz")] == [None] * 5


def test_a_name_is_matched_as_labels_are_told_apart() -> None:
    """The prompt matched names by NFC and case alone: "😀" typed did not name a label stored
    as "😀" + U+FE0F, though no other label may look like it."""
    from bot.cli.interactive import pick_label

    labels = [LabelChoice(name, "", i) for i, name in enumerate(["😀\ufe0f", "Lease", "A\u200cB"])]
    assert pick_label("😀", labels) is labels[0]
    assert pick_label("ｌｅａｓｅ", labels) is labels[1]  # full width, other case
    assert pick_label("ab", labels) is labels[2]
    assert pick_label("leases", labels) is None
