"""The code of an earlier commit, extracted for a bench to measure beside this tree's (each in
its own process, with ``--code-root``). Imports nothing of labelbot's: a bench that measures a
baseline must not load this tree's code first."""

from __future__ import annotations

import subprocess
from pathlib import Path


def extract(root: Path, commit: str, into: Path, packages: tuple[str, ...]) -> Path | None:
    """``packages`` of ``commit`` (git archive of the checkout at ``root``) under ``into``; None,
    with a line saying why, when git cannot (no such commit, no git checkout)."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(root), "archive", commit, *packages], capture_output=True
    )
    if archive.returncode != 0:
        print(f"\n(no baseline: git archive {commit} failed: {archive.stderr.decode()})")
        return None
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into
