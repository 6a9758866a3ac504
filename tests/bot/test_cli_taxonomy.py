"""`labelbot labels rename|merge|split|retire|describe|undo|history` through typer's runner."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from typer.testing import CliRunner

from bot.cli import app

LABELS = "card_arrival,age_limit,atm_support,change_pin,exchange_rate"


def _ok(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _bank(runner: CliRunner, tmp_path: Path, rows: list[tuple[str, str]]) -> None:
    """The project "bank" with the five intents, ``rows`` (text, label) imported."""
    _ok(runner, "project", "create", "bank", "--labels", LABELS)
    path = tmp_path / "bank.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    _ok(runner, "import", "bank", str(path))


def _export(runner: CliRunner, tmp_path: Path) -> list[dict]:  # type: ignore[type-arg]
    out = tmp_path / "export.jsonl"
    _ok(runner, "export", "bank", "--out", str(out))
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_taxonomy_commands_change_labels_and_exports(
    cli_env, banking_slice, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    _bank(runner, tmp_path, banking_slice[:40])  # 8 labeled examples per class

    out = _ok(runner, "labels", "rename", "bank", "age_limit", "minimum_age", "--actor", "ana")
    assert "renamed age_limit to minimum_age" in out
    out = _ok(
        runner, "labels", "merge", "bank", "card_arrival", "change_pin", "--into", "cards",
        "--reason", "one topic for us", "--actor", "ana",
    )  # fmt: skip
    assert "merged card_arrival, change_pin into cards (new); 16 examples mapped" in out
    out = _ok(runner, "labels", "split", "bank", "exchange_rate", "--into", "rates,fees")
    assert "split exchange_rate into rates, fees; 8 examples back in the queue" in out
    # the count once, then where they wait (it said "8 examples are back" a second time)
    assert "\nthey wait at the front of the queue, to be labeled again" in out
    assert out.count("8 examples") == 1, out
    out = _ok(runner, "labels", "retire", "bank", "atm_support", "--map-to", "cards")
    assert "retired atm_support; its 8 examples count as cards" in out
    out = _ok(runner, "labels", "describe", "bank", "cards", "Anything about the card itself")
    assert "described cards" in out and "next model" not in out

    listed = _ok(runner, "labels", "list", "bank")
    assert "cards" in listed and "retired" in listed
    status = json.loads(_ok(runner, "status", "bank", "--json"))
    counts = {lb["name"]: lb["count"] for lb in status["labels"]}
    assert counts["cards"] == 24 and counts["minimum_age"] == 8 and counts["rates"] == 0
    assert status["labeled"] == 32 and status["annotations"] == 40

    records = _export(runner, tmp_path)
    by_clicked = {r["annotations"][0]["label"]: r["label"] for r in records if r["annotations"]}
    assert by_clicked == {
        "card_arrival": "cards", "change_pin": "cards", "atm_support": "cards",
        "minimum_age": "minimum_age", "exchange_rate": None,
    }  # fmt: skip

    history = _ok(runner, "labels", "history", "bank")
    # a table (wrapped at the terminal's width): each change, who and why
    assert all(w in history for w in ("renamed", "merged", "split", "retired", "ana", "topic"))
    lines = [json.loads(x) for x in _ok(runner, "labels", "history", "bank", "--json").splitlines()]
    assert [e["kind"] for e in lines] == ["rename", "merge", "split", "retire", "describe"]
    assert lines[0]["actor"] == "ana" and lines[1]["reason"] == "one topic for us"
    assert lines[2]["details"]["requeued"] == 8

    # undo, newest first, back to the labels the import gave
    preview = " ".join(_ok(runner, "labels", "undo", "bank", "--dry-run").split())
    assert f"an undo would take back #{lines[4]['id']} (described cards" in preview
    assert len(_ok(runner, "labels", "history", "bank", "--json").splitlines()) == 5  # unchanged
    out = _ok(runner, "labels", "undo", "bank", "--reason", "wrong call", "--actor", "bo")
    assert f"bank: undid #{lines[4]['id']} (described cards" in " ".join(out.split())
    assert "next model" not in out  # guidelines only: the model is not affected
    out = _ok(runner, "labels", "undo", "bank")
    assert "retired atm_support" in out and "8 examples count again" not in out  # were mapped
    out = " ".join(_ok(runner, "labels", "undo", "bank").split())
    assert "split exchange_rate into rates, fees" in out and "8 examples count again" in out
    for _ in range(2):
        _ok(runner, "labels", "undo", "bank")
    result = runner.invoke(app, ["labels", "undo", "bank"])
    assert result.exit_code == 2 and "no taxonomy change left to undo" in result.output
    dry = runner.invoke(app, ["labels", "undo", "bank", "--dry-run"])  # says what the undo would
    assert (dry.exit_code, dry.output) == (result.exit_code, result.output)
    records = _export(runner, tmp_path)
    assert all(r["label"] == r["annotations"][0]["label"] for r in records if r["annotations"])
    history = [
        json.loads(x) for x in _ok(runner, "labels", "history", "bank", "--json").splitlines()
    ]
    assert [e["undone_by"] is not None for e in history] == [True] * 5 + [False] * 5
    assert history[5]["kind"] == "undo" and history[5]["reason"] == "wrong call"
    assert "(undone by #" in _ok(runner, "labels", "history", "bank")


def test_labels_add_is_recorded_and_unchanged(cli_env) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    _ok(runner, "project", "create", "p", "--labels", "a,b")
    assert _ok(runner, "labels", "history", "p").strip() == ("p: no taxonomy changes yet")
    out = _ok(runner, "labels", "add", "p", "c", "d", "--reason", "new topics", "--actor", "bo")
    assert "added 2 labels: c, d" in out
    entry = json.loads(_ok(runner, "labels", "history", "p", "--json"))
    assert (entry["kind"], entry["actor"], entry["summary"]) == ("add", "bo", "added c, d")


def test_labels_add_takes_guidelines_and_rescores_the_queue(
    cli_env, banking_slice, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    _ok(runner, "project", "create", "bank", "--labels", "card_arrival,age_limit")
    path = tmp_path / "bank.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        for text, label in banking_slice[:40]:
            writer.writerow([text, label if label in ("card_arrival", "age_limit") else ""])
    _ok(runner, "import", "bank", str(path))
    result = runner.invoke(app, ["labels", "add", "bank", "x", "y", "--description", "only one"])
    assert result.exit_code == 2 and "1 --description for 2 labels" in result.output
    assert "no taxonomy changes yet" in _ok(runner, "labels", "history", "bank")  # nothing added
    guidelines = ["--description", "Rates between currencies", "--description", "Cash machines"]
    out = _ok(runner, "labels", "add", "bank", "exchange_rate", "atm_support", *guidelines)
    assert "added 2 labels: exchange_rate, atm_support" in out
    assert "queue re-scored for the new labels" in out
    listed = _ok(runner, "labels", "list", "bank")
    assert "Rates between currencies" in listed and "Cash machines" in listed
    # a label with no example yet is searched by its guidelines at once, or by its name alone
    described = _ok(runner, "labels", "describe", "bank", "atm_support", "ATMs and cash")
    assert "the queue now looks for atm_support with these guidelines" in described
    cleared = _ok(runner, "labels", "describe", "bank", "atm_support", "")
    assert "the queue now looks for atm_support by its name alone" in cleared


def test_taxonomy_errors_are_one_line_with_exit_codes(cli_env) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    _ok(runner, "project", "create", "p", "--labels", "a,b,c")
    cases = [
        (["labels", "rename", "p", "zzz", "y"], 2, "unknown label 'zzz' (labels: a, b, c)"),
        (["labels", "merge", "p", "a", "a"], 2, "cannot merge label 'a' with itself"),
        (["labels", "split", "p", "a", "--into", "b,x"], 4, "cannot split 'a' into 'b'"),
        (["labels", "split", "p", "a", "--into", "x"], 2, "at least two new labels"),
        (["labels", "retire", "p", "a", "--map-to", "nope"], 2, "unknown label 'nope'"),
        (["labels", "history", "nope"], 3, "no project named 'nope'"),
    ]
    for args, code, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == code and message in result.output, (args, result.output)
        assert "Traceback" not in result.output
    assert "no taxonomy changes yet" in _ok(runner, "labels", "history", "p")
    helped = _ok(runner, "labels", "merge", "--help")
    assert "--into" in helped and "--reason" in helped and "--actor" in helped


def test_an_empty_name_between_commas_is_refused_and_nothing_changes(cli_env) -> None:  # type: ignore[no-untyped-def]
    """Names "c,,d" added c and d: the name between the commas went without a word (a name
    left out by mistake). Refused wherever names are given as a comma-separated list."""
    runner = CliRunner()
    _ok(runner, "project", "create", "p", "--labels", "a,b")
    cases = [
        (["labels", "add", "p", "c,,d"], "c,,d"),
        (["labels", "add", "p", "c", "d, "], "d, "),
        (["labels", "split", "p", "a", "--into", ",x,y"], ",x,y"),
        (["project", "create", "q", "--labels", "c, ,d"], "c, ,d"),
    ]
    before = _ok(runner, "labels", "history", "p", "--json"), _ok(runner, "project", "list")
    for args, given in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr == (
            f"error: an empty label name in {given!r}: write the names with one comma between "
            "each, none at either end (A,B)\n"
        ), args
    assert (_ok(runner, "labels", "history", "p", "--json"), _ok(runner, "project", "list")) == (
        before
    )


def test_a_change_naming_a_merged_or_split_label_says_where_it_went(cli_env) -> None:  # type: ignore[no-untyped-def]
    """A merge and a split retire labels too: a change that names one says where it went (the
    name to give instead), not just "was retired"; nothing changes, exit 2."""
    runner = CliRunner()
    _ok(runner, "project", "create", "p", "--labels", "a,b,c,d,e")
    _ok(runner, "labels", "merge", "p", "a", "b", "--into", "ab")
    _ok(runner, "labels", "split", "p", "c", "--into", "c1,c2")
    _ok(runner, "labels", "retire", "p", "d", "--map-to", "e")
    _ok(runner, "labels", "merge", "p", "e", "ab", "--into", "abe")  # d counts as abe now
    active = "(labels: c1, c2, abe)"
    cases = [
        (["labels", "rename", "p", "a", "x"], "the label 'a' was merged into ab, which was "
         f"merged into abe {active}"),
        (["labels", "merge", "p", "c", "c1"], f"the label 'c' was split into c1, c2 {active}"),
        (["labels", "describe", "p", "d", "x"], "the label 'd' was retired, mapped to e, which "
         f"was merged into abe {active}"),
        (["labels", "retire", "p", "c1", "--map-to", "ab"], f"the label 'ab' was merged into "
         f"abe {active}"),
    ]  # fmt: skip
    before = _ok(runner, "labels", "history", "p", "--json")
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert " ".join(result.output.split()) == f"error: {message}", args
    assert _ok(runner, "labels", "history", "p", "--json") == before


def test_undo_dry_run_says_when_the_undo_would_be_refused(cli_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    _ok(runner, "project", "create", "p", "--labels", "a,b")
    _ok(runner, "labels", "add", "p", "c", "--actor", "ana")
    out = " ".join(_ok(runner, "labels", "undo", "p", "--dry-run").split())
    assert "p: an undo would take back #1 (added c), made by ana" in out
    path = tmp_path / "used.csv"
    path.write_text("text,label\nfirst text,c\n", encoding="utf-8")
    _ok(runner, "import", "p", str(path))  # c is used now: undoing its addition would lose it
    dry = runner.invoke(app, ["labels", "undo", "p", "--dry-run"])
    out = " ".join(dry.stderr.split())
    assert out.startswith("error: an undo of #1 (added c), made by ana at ")
    assert "would be refused: cannot undo adding 'c': 'c' has been used since" in out
    refused = runner.invoke(app, ["labels", "undo", "p"])
    assert refused.exit_code == 4 and "has been used since" in refused.output
    assert dry.exit_code == refused.exit_code and dry.stdout == ""  # one line, the undo's status
    history = _ok(runner, "labels", "history", "p", "--json").splitlines()
    assert len(history) == 1  # neither the dry run nor the refused undo changed anything
    assert "c" in _ok(runner, "labels", "list", "p")


def test_a_name_that_starts_with_a_dash_is_pointed_at_double_dash(cli_env) -> None:  # type: ignore[no-untyped-def]
    """A label `-1` (as sentiment projects have) is read by click as an unknown option; the
    answer says how to pass it, and the way it names works."""
    runner = CliRunner()
    _ok(runner, "project", "create", "bank", "--labels", "a,b")

    result = runner.invoke(app, ["labels", "add", "bank", "-1"])
    assert result.exit_code == 2
    assert "If -1 is a name, put -- before the names, after any options" in result.output
    assert "labels add [OPTIONS] -- NAME LABEL..." in " ".join(result.output.split())
    _ok(runner, "labels", "add", "bank", "--", "-1")
    assert "-1" in _ok(runner, "labels", "list", "bank")

    # a mistyped long option keeps click's own answer (its suggestion), with no such hint
    result = runner.invoke(app, ["labels", "retire", "bank", "a", "--mapto", "b"])
    assert result.exit_code == 2
    assert "--map-to" in result.output and "put -- before" not in result.output
