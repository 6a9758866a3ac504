"""`labelbot flags`: a flagged example is listed with who flagged it, why and when, and
resolving its flags puts it back in the queue (the audit's M7: flagging was a dead end)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app
from engine import labeling
from tests.bot.test_cli import _csv, cli_env  # noqa: F401  (the fixture)

pytestmark = pytest.mark.usefixtures("cli_env")
TEXTS = [("the deposit is refunded within thirty days", ""), ("salary is paid monthly", "")]


def _ok(runner: CliRunner, *args: str, **kwargs: Any) -> str:
    result = runner.invoke(app, list(args), **kwargs)
    assert result.exit_code == 0, result.output
    return str(result.output)


def _shown(output: str) -> list[int]:
    return [int(n) for n in re.findall(r"· example (\d+)", output)]


def _project(tmp_path: Path) -> CliRunner:
    runner = CliRunner()
    _ok(runner, "project", "create", "p", "--labels", "a,b")
    _ok(runner, "import", "p", str(_csv(tmp_path / "p.csv", TEXTS)))
    return runner


def test_a_flag_is_listed_and_resolving_it_brings_the_example_back(tmp_path: Path) -> None:
    runner = _project(tmp_path)
    flagged = _ok(runner, "label", "p", "--annotator", "ann", input="f\nweird clause\nq\n")
    assert "flagged: it leaves the queue until resolved (`labelbot flags p`)" in flagged
    example = _shown(flagged)[0]

    listed = _ok(runner, "flags", "p")
    assert listed.splitlines()[0].startswith(f"#{example} ")
    assert any(listed.splitlines()[0].endswith(text) for text, _ in TEXTS)
    assert "flagged by ann at " in listed and "UTC: weird clause" in listed
    assert "labelbot flags resolve p EXAMPLE_ID" in listed
    record = json.loads(_ok(runner, "flags", "p", "--json"))[0]
    assert (record["example_id"], record["annotator"], record["reason"]) == (
        example, "ann", "weird clause"
    )  # fmt: skip
    assert record["resolved_at"] is None

    # out of everyone's queue while the flag is open
    bob = _ok(runner, "label", "p", "--annotator", "bob", input="s\nq\n")
    assert example not in _shown(bob)

    resolved = _ok(runner, "flags", "resolve", "p", f"#{example}", "--actor", "lead")
    assert f"p: example #{example}: 1 flag resolved; it is back in the queue" in resolved
    assert "p: no open flags" in _ok(runner, "flags", "p")
    everything = _ok(runner, "flags", "p", "--all")
    assert "UTC: weird clause · resolved by lead at " in everything

    back = _ok(runner, "label", "p", "--annotator", "ann", input="s\ns\nq\n")  # the flagger too
    assert example in _shown(back)


def test_resolving_resolves_every_open_flag_and_says_when_the_example_is_labeled(
    tmp_path: Path,
) -> None:
    from bot.cli.common import workspace

    runner = _project(tmp_path)
    example = _shown(_ok(runner, "label", "p", "--annotator", "ann", input="f\nodd\nq\n"))[0]
    ws = workspace()
    labeling.flag(ws, project="p", example_id=example, annotator="cy", reason="also odd")
    ws.close()
    text = next(t for t, _ in TEXTS if t in _ok(runner, "flags", "p"))
    _ok(runner, "import", "p", str(_csv(tmp_path / "label.csv", [(text, "a")])))  # labeled now

    resolved = _ok(runner, "flags", "resolve", "p", str(example))
    assert "2 flags resolved; it has a label already, so it stays out of the queue" in resolved
    again = runner.invoke(app, ["flags", "resolve", "p", str(example)])
    assert again.exit_code == 3 and "has no open flag" in again.output


def test_flags_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    runner = _project(tmp_path)
    assert "p: no open flags" in _ok(runner, "flags", "p")
    unknown = runner.invoke(app, ["flags", "p", "extra"])
    assert unknown.exit_code == 2 and "unknown action 'p'" in unknown.output
    usage = runner.invoke(app, ["flags", "resolve", "p"])
    assert usage.exit_code == 2 and "usage: labelbot flags resolve NAME EXAMPLE_ID" in usage.output
    nowhere = runner.invoke(app, ["flags", "resolve", "p", "#999"])
    assert nowhere.exit_code == 3 and "no example '#999'" in nowhere.output
    nothing = runner.invoke(app, ["flags", "nope"])
    assert nothing.exit_code == 3 and "no project named 'nope'" in nothing.output
    # an option the form does not read was ignored without a word: refused, nothing resolved
    stray = runner.invoke(app, ["flags", "p", "--actor", "lead"])
    assert stray.exit_code == 2, stray.output
    said = " ".join(stray.output.split())
    assert "--actor does not go with `labelbot flags NAME` (it reads --all, --json)" in said
    json_on_resolve = runner.invoke(app, ["flags", "resolve", "p", "#1", "--json"])
    assert json_on_resolve.exit_code == 2, json_on_resolve.output
    assert "--json does not go with `labelbot flags resolve NAME EXAMPLE_ID`" in " ".join(
        json_on_resolve.output.split()
    )


def test_flags_and_skips_are_counted_and_resolved_in_the_engine(ws, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """engine.flags on both databases: open flags listed, every open flag of one example
    resolved at once, and the examples one expert skipped that still wait for a label."""
    from engine import flags, projects

    projects.create_project(ws, name="e", labels=["a", "b"])
    rows = _csv(tmp_path / "e.csv", [*TEXTS, ("third text", "")])
    projects.import_file(ws, project="e", path=rows, embed=False)
    held = labeling.next_task(ws, project="e", annotator="ann")
    assert held is not None
    labeling.skip(ws, project="e", example_id=held.example_id, annotator="ann")
    other = labeling.next_task(ws, project="e", annotator="ann")
    assert other is not None
    labeling.flag(ws, project="e", example_id=other.example_id, annotator="ann", reason="odd")
    labeling.flag(ws, project="e", example_id=other.example_id, annotator="bo", reason="hm")

    left = flags.set_aside(ws, project="e", annotator="ann")
    # two flags on one example set one example aside: 3 = 2 waiting + 1 flagged
    assert (left.examples, left.waiting, left.skipped, left.flagged) == (3, 2, 1, 1)
    assert flags.set_aside(ws, project="e", annotator="bo").skipped == 0
    assert [(f.example_id, f.reason) for f in flags.list_flags(ws, "e")] == [
        (other.example_id, "odd"), (other.example_id, "hm"),
    ]  # fmt: skip

    done = flags.resolve_flags(ws, project="e", example_id=other.example_id, actor="lead")
    assert (done.resolved, done.requeued) == (2, True)
    assert flags.list_flags(ws, "e") == []
    assert {f.resolved_by for f in flags.list_flags(ws, "e", include_resolved=True)} == {"lead"}
    left = flags.set_aside(ws, project="e", annotator="ann")
    assert (left.waiting, left.skipped, left.flagged) == (3, 1, 0)
