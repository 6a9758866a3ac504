"""Every bench script still starts against today's code: `--help` of each bench/*.py, in its own
process, as bench/README.md runs them. A bench imports engine, storage and bot names at its top
(and its sibling helpers, bench/baseline.py, bench/fresh_db.py), so a renamed or removed name
fails here instead of the next time someone measures. The helpers have no command line: run as
a script they only import, and must exit 0 as well."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = sorted((ROOT / "bench").glob("*.py"))


def test_the_bench_folder_is_found() -> None:
    assert len(SCRIPTS) > 10, SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_bench_script_help(script: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(script), "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    if '__name__ == "__main__"' in script.read_text(encoding="utf-8"):
        assert "usage:" in done.stdout, done.stdout[-2000:]


# The smallest run of the benches that broke at run time, not at start-up, as the engine moved on
# (a fake encoder fed a label's own text, a query's new keyword, a schema newer than the
# baseline's): each must run through and still find the former and today's outputs the same.
SMOKE = {
    "export_scale.py": (["--sizes", "500"], "| False |"),
    "queue_scale.py": (["--sizes", "1005", "--clicks", "2", "--db", "sqlite"], "Traceback"),
    "predict_memory.py": (["--rows", "200", "--pool", "1000"], "| NO "),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SMOKE))
def test_bench_script_smallest_run(name: str) -> None:
    args, wrong = SMOKE[name]
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / name), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "|" in done.stdout and wrong not in done.stdout, done.stdout[-3000:]
