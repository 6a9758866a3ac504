"""`labelbot proposals` as an admin meets it (an audit of README "Proposals from the model"):
a proposal id that is not the project's, or a project that does not exist, is named as what it
is; a decided or superseded proposal says who decided it or why it went, in the refusal, the
`--status` table and the JSON (`status_note`), as its Slack card does. On SQLite and
PostgreSQL, through typer's runner."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from bot.cli import app
from tests.bot.test_cli_model_figures import _import, cli_db  # noqa: F401  (the fixture)
from tests.conftest import BANKING_SLICE_LABELS


def _run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, result.output
    return " ".join(str(result.output).split())


def _listed(status: str = "all") -> dict[int, dict[str, object]]:
    rows = json.loads(_run("proposals", "bank", "--status", status, "--json"))
    return {int(r["id"]): r for r in rows}


def _rare_project(tmp_path: Path, banking_slice: list[tuple[str, str]]) -> dict[str, int]:
    """`bank`: the slice's 5 labels and `empty_label`; card_arrival has 2 labeled examples, the
    others 30. The refresh proposes both rare labels; returns each one's proposal id."""
    labels = [*BANKING_SLICE_LABELS, "empty_label"]
    _run("project", "create", "bank", "--labels", ",".join(labels))
    kept: list[tuple[str, str]] = []
    seen = 0
    for text, label in banking_slice:
        if label == "card_arrival":
            seen += 1
            if seen > 2:
                continue
        kept.append((text, label))
    _import(tmp_path / "bank.csv", kept, "bank")
    found = json.loads(_run("proposals", "bank", "--refresh", "--json"))
    rare = {str(p["labels"][0]): int(p["id"]) for p in found if p["kind"] == "rare"}
    assert {"card_arrival", "empty_label"} <= set(rare), found
    return rare


def test_decided_and_missing_proposals_say_what_they_are(
    cli_db: None,  # noqa: F811
    banking_slice: list[tuple[str, str]],
    tmp_path: Path,
) -> None:
    rare = _rare_project(tmp_path, banking_slice)

    # an id the project does not have: named with the project, and where its ids are listed
    missing = _run("proposals", "approve", "bank", "999", code=3)
    assert "no proposal 999 in project 'bank'" in missing
    assert "`labelbot proposals bank --status all` lists" in missing
    # a project that does not exist is that, whatever the id (it was "no proposal with id 999")
    assert "no project named 'nope'" in _run("proposals", "reject", "nope", "999", code=3)

    # a retire makes empty_label's proposal moot: its refusal and listings say why
    _run("labels", "retire", "bank", "empty_label")
    gone = rare["empty_label"]
    refused = _run("proposals", "approve", "bank", str(gone), code=5)
    assert (
        f"proposal {gone} was already superseded: empty_label is no longer a label "
        "(a taxonomy change since)" in refused
    )
    _run("proposals", "reject", "bank", str(rare["card_arrival"]), "--actor", "ana",
         "--reason", "seasonal")  # fmt: skip
    listed = _listed()
    assert listed[gone]["status_note"] == (
        "superseded: empty_label is no longer a label (a taxonomy change since)"
    )
    assert listed[rare["card_arrival"]]["status_note"] == "rejected by ana: seasonal"
    table = _run("proposals", "bank", "--status", "rejected")
    assert "rejected by ana: seasonal" in table
    assert "superseded: empty_label is no longer a label" in _run(
        "proposals", "bank", "--status", "superseded"
    )


def test_help_shows_every_form_the_readme_gives() -> None:
    """README: `labelbot proposals NAME [--json] [--status ...]`, `proposals approve NAME ID
    [--into A,B]` and `reject NAME ID --reason ...`. The help's synopsis had no --status (the
    one way to see decided proposals), no --reason on approve, and did not say which names
    approving uses by default."""
    result = CliRunner().invoke(app, ["proposals", "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "labelbot proposals NAME [--refresh] [--json] [--status S]" in text
    assert "approved, rejected, applied, superseded or all" in text
    assert "labelbot proposals approve NAME ID [--into A,B] [--reason R]" in text
    assert "its own names, which --json lists as into" in text
    assert "until its evidence has grown by half" in text


def test_a_refresh_with_too_few_labels_says_what_it_needs(
    cli_db: None,  # noqa: F811
    banking_slice: list[tuple[str, str]],
    tmp_path: Path,
) -> None:
    """The detectors read labeled examples of 2 labels or more; a refresh before that found
    nothing and said only "no open proposals", as `review --scan` says what it needs."""
    _run("project", "create", "bank", "--labels", ",".join(BANKING_SLICE_LABELS))
    one = [(t, lb) for t, lb in banking_slice if lb == "card_arrival"][:3]
    _import(tmp_path / "bank.csv", one, "bank")
    said = _run("proposals", "bank", "--refresh")
    assert (
        "bank: no open proposals: the detectors look at labeled examples of 2 labels or more "
        "(there are 3, of 1 label)" in said
    )
    assert json.loads(_run("proposals", "bank", "--refresh", "--json")) == []  # JSON alone


def test_options_the_form_does_not_read_are_refused(
    cli_db: None,  # noqa: F811
    banking_slice: list[tuple[str, str]],
    tmp_path: Path,
) -> None:
    """`reject … --into a,b`, `approve … --json`, `--reason` on the list: each was ignored
    without a word, so the command seemed to do what it said. Refused (exit 2), nothing
    decided; the options each form reads still work."""
    rare = _rare_project(tmp_path, banking_slice)
    pid = str(rare["card_arrival"])
    into = _run("proposals", "reject", "bank", pid, "--into", "a,b", code=2)
    assert "--into does not go with `labelbot proposals reject NAME ID`" in into
    assert "(it reads --actor, --reason)" in into
    both = _run("proposals", "approve", "bank", pid, "--json", "--refresh", code=2)
    assert "--refresh, --json do not go with `labelbot proposals approve NAME ID`" in both
    listed = _run("proposals", "bank", "--reason", "why", code=2)
    assert "--reason does not go with `labelbot proposals NAME`" in listed
    assert _listed("open")[int(pid)]["status"] == "open"  # nothing was decided
    _run("proposals", "reject", "bank", pid, "--reason", "we gather more", "--actor", "ana")
    assert _listed()[int(pid)]["status"] == "rejected"
