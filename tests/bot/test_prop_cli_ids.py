"""`labelbot proposals approve|reject NAME ID` reads the id as people copy it, on SQLite and
PostgreSQL, through typer's runner: `#12` as the digest and `/label proposals` print it; an id
no proposal can have (too large for the database, or "²", which isdigit() passes and int()
refuses) is a one-line answer with its exit code, never a traceback."""

from __future__ import annotations

from pathlib import Path

from tests.bot.test_cli_model_figures import cli_db  # noqa: F401  (the fixture)
from tests.bot.test_cli_proposals_audit import _rare_project, _run


def test_ids_are_read_as_the_digest_prints_them(
    cli_db: None,  # noqa: F811
    banking_slice: list[tuple[str, str]],
    tmp_path: Path,
) -> None:
    rare = _rare_project(tmp_path, banking_slice)
    gather, merge = sorted(rare.values())

    # a number past the database's integers names no proposal: not found (exit 3)
    huge = "9" * 25
    missing = _run("proposals", "reject", "bank", huge, code=3)
    assert f"no proposal {huge} in project 'bank'" in missing
    assert _run("proposals", "approve", "bank", "2147483648", code=3).startswith(
        "error: no proposal 2147483648"
    )
    # not a number: the usage line (exit 2), not a traceback
    for typed in ("²", "#", "1.0", "#-1"):
        refused = _run("proposals", "reject", "bank", typed, code=2)
        assert refused == "error: usage: labelbot proposals reject NAME ID", typed
    # `#N`, as the digest lists it
    said = _run("proposals", "reject", "bank", f"#{gather}", "--reason", "not now")
    assert f"bank: proposal {gather} rejected" in said
    assert _run("proposals", "reject", "bank", f"#{merge}").startswith(
        f"bank: proposal {merge} rejected"
    )
