"""SIGTERM (a `timeout`, a cancelled cron or CI job, `docker stop`, `kill`) stops a command as
Ctrl-C does: one line on what was done and what is left, no half-written file left beside the
output, and exit 143 -- where its default action killed the process with nothing said and a
hidden `.tmp` of the export left for good. A real console-script process gets a real SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.bot.test_cli_audit_fixes import _ok
from tests.bot.test_cli_project_delete import _project, env  # noqa: F401  (the fixture)

# `labelbot export`, its export held after the first record (as a large one is while written),
# until a signal ends it; "written" on stderr says the temporary file has content.
SLOW_EXPORT = """
import sys, time
from engine import exporting
written = exporting.write_export
def slow(records, handle, fmt, **kw):
    def one_then_wait():
        for record in records:
            yield record
            handle.flush()
            print("written", file=sys.stderr, flush=True)
            time.sleep(120)
    return written(one_then_wait(), handle, fmt, **kw)
exporting.write_export = slow
from bot.console import main
sys.argv = ["labelbot", *sys.argv[1:]]
main()
"""


def test_sigterm_during_an_export_is_ctrl_c_with_exit_143(
    env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    _project("trial", tmp_path, train=False)
    out = tmp_path / "out"
    out.mkdir()
    (out / "e.jsonl").write_text("yesterday's export\n")
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_EXPORT, "export", "trial", "--out", str(out / "e.jsonl")],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, **env, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"},
        text=True,
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 120
    while process.stderr.readline().strip() != "written":
        assert process.poll() is None and time.monotonic() < deadline, "it never wrote"
    assert [p.name for p in out.iterdir() if p.name.endswith(".tmp")]  # being written
    process.send_signal(signal.SIGTERM)
    _, rest = process.communicate(timeout=60)
    assert process.returncode == 143, rest
    assert "interrupted while exporting" in rest and "Traceback" not in rest, rest
    assert sorted(p.name for p in out.iterdir()) == ["e.jsonl"]  # no .tmp left
    assert (out / "e.jsonl").read_text() == "yesterday's export\n"  # left as it was


def test_sigterm_at_the_label_prompt_hands_the_example_back_and_exits_143(
    env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    """At `labelbot label`'s prompt Ctrl-C is the way to leave (exit 0); SIGTERM there took the
    same way, so a `timeout` read success. The example still goes back to the pool."""
    import select

    _ok("project", "create", "trial", "--labels", "NDA,Lease")
    texts = tmp_path / "texts.csv"
    texts.write_text("text\nthe tenant pays the rent\nthe parties keep it confidential\n")
    _ok("import", "trial", str(texts))
    script = "import sys; from bot.console import main; sys.argv[0] = 'labelbot'; main()"
    process = subprocess.Popen(
        [sys.executable, "-c", script, "label", "trial", "--annotator", "rev"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, **env, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"},
    )
    assert process.stdout is not None
    shown = b""
    deadline = time.monotonic() + 120
    while not shown.rstrip().endswith(b">"):  # the prompt: it waits for an answer
        assert process.poll() is None and time.monotonic() < deadline, shown
        if select.select([process.stdout], [], [], 1.0)[0]:
            shown += os.read(process.stdout.fileno(), 4096)
    process.send_signal(signal.SIGTERM)
    rest, _ = process.communicate(timeout=60)
    said = (shown + rest).decode()
    assert process.returncode == 143, said
    assert "went back to the pool" in said and "Traceback" not in said, said
