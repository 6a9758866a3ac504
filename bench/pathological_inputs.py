"""How long do hostile or unlucky inputs take, against a plain input of the same size?

Each row times one pathological input (the audit's: a direction isolate before a long
paragraph, thousands of direction controls on one line, a zero-filled file, a file of blank
lines, a one-line "header" of a paragraph) and a plain input of the same size through the same
code, in the same run, one after the other; each is run ``--repeat`` times and the fastest kept.
The ratio is pathological / plain: near 1 when the pathological input costs no more than its
size says; a quadratic path shows as a ratio that grows with the size. The tests count the work
(tests/bot/test_audit35_security.py, tests/bot/test_review35_security.py); the search for
line ends over NUL runs has no work to count (the regex's own backtracking), so it is timed
here only.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/pathological_inputs.py [--repeat 3] [--blank-mib 16]
        [--zero-mib 1]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.slack_text import escape  # noqa: E402
from bot.views.labeling import example_section  # noqa: E402
from bot.views.messages import _quote  # noqa: E402
from engine import importing  # noqa: E402
from storage.errors import InvalidInputError  # noqa: E402

# what Classify's answer quotes of a member's message (bot/views/messages.py)
QUOTE_LIMIT = 1_000


def _best(repeat: int, work: Callable[[], object]) -> tuple[float, str]:
    """The fastest of ``repeat`` runs of ``work``, and what it gave: its result's length or the
    start of the error it raised (so that both inputs are seen to end the same way)."""
    best, outcome = float("inf"), ""
    for _ in range(repeat):
        start = time.perf_counter()
        try:
            result = work()
            outcome = f"{len(str(result)):,} characters"
        except InvalidInputError as exc:
            outcome = str(exc).split(": ", 1)[1][:40]
        best = min(best, time.perf_counter() - start)
    return best, outcome


def _read(path: Path) -> Callable[[], object]:
    return lambda: importing.read_file(path)


def _cases(
    folder: Path, args: argparse.Namespace
) -> list[tuple[str, int, Callable[[], object], Callable[[], object]]]:
    """(input, size, plain, pathological)"""
    block = importing.READ_BYTES
    isolated = "From \u2068Ann\u2069:\n" + "my card was charged twice " * 1_200
    plain_isolated = isolated.replace("\u2068", " ").replace("\u2069", " ")
    quoted = "From \u2068Ann\u2069:\n" + "my card was charged twice " * 1_500
    plain_quoted = quoted.replace("\u2068", " ").replace("\u2069", " ")
    controls = "hello " + "\u202a" * 13_000 + ("\u2068" + "\u2069") * 13_000
    letters = "hello " + "a" * 13_000 + "bc" * 13_000
    # four times as many: the ratio stays where it is unless a close looks through those open
    controls4 = "hello " + "\u202a" * 52_000 + ("\u2068" + "\u2069") * 52_000
    letters4 = "hello " + "a" * 52_000 + "bc" * 52_000

    def files(name: str, plain: bytes, odd: bytes) -> tuple[Path, Path]:
        paths = folder / f"{name}-plain.csv", folder / f"{name}.csv"
        for path, data in zip(paths, (plain, odd), strict=True):
            path.write_bytes(data)
        return paths

    zero = args.zero_mib << 20
    spaces_file, zeros_file = files("zeros", b" " * zero, b"\x00" * zero)
    # NUL bytes then a line end in the first block: refused by the check for NUL bytes, after
    # the search for line ends has read the NUL run (the regex's own work, not counted in tests)
    tail = b"\ntext\nhello\n"
    run_plain, run_file = files("nulrun", b" " * (block - 64) + tail, b"\x00" * (block - 64) + tail)
    blocks = args.blank_mib * (1 << 20) // block
    header = b"t\x00e\x00x\x00t\nhello\n"  # refused at the first line with text, once found
    line_plain, blank_file = files(
        "blank",
        b" " * (blocks * block - 1) + b"\n" + header,
        (b" " * (block - 1) + b"\n") * blocks + header,
    )
    paragraph = "The quick brown fox jumps over the lazy dog. " * 23_000 + "\n"
    short_header = "label,notes\n" + "a,the quick brown fox jumps over the lazy dog\n" * (
        len(paragraph) // 46
    )
    header_plain, header_file = files("header", short_header.encode(), paragraph.encode())
    return [
        (
            "bidi preview (example_section)",
            len(isolated),
            lambda: example_section(1, plain_isolated),
            lambda: example_section(1, isolated),
        ),
        (
            f"classify quote (_quote, {QUOTE_LIMIT:,})",
            len(quoted),
            lambda: _quote(plain_quoted, QUOTE_LIMIT),
            lambda: _quote(quoted, QUOTE_LIMIT),
        ),
        (
            "many direction controls (escape, whole line)",
            len(controls),
            lambda: escape(letters),
            lambda: escape(controls),
        ),
        (
            "many direction controls x4 (escape, whole line)",
            len(controls4),
            lambda: escape(letters4),
            lambda: escape(controls4),
        ),
        (f"zero-filled file ({args.zero_mib} MiB)", zero, _read(spaces_file), _read(zeros_file)),
        (
            "NUL run before a line end (1 block)",
            block - 64 + len(tail),
            _read(run_plain),
            _read(run_file),
        ),
        (
            f"blank-lines file ({args.blank_mib} MiB)",
            blank_file.stat().st_size,
            _read(line_plain),
            _read(blank_file),
        ),
        (
            "missing-column header (one line)",
            header_file.stat().st_size,
            _read(header_plain),
            _read(header_file),
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--blank-mib", type=int, default=16)
    parser.add_argument("--zero-mib", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pathological-") as folder:
        cases = _cases(Path(folder), args)
        print(f"fastest of {args.repeat} runs each\n")
        print("| input | size | plain (s) | pathological (s) | ratio | outcome (plain / odd) |")
        print("|---|---|---|---|---|---|")
        for name, size, plain, odd in cases:
            plain_s, plain_said = _best(args.repeat, plain)
            odd_s, odd_said = _best(args.repeat, odd)
            ratio = odd_s / plain_s if plain_s else float("inf")
            print(
                f"| {name} | {size:,} | {plain_s:.4f} | {odd_s:.4f} | {ratio:.1f}x "
                f"| {plain_said} / {odd_said} |"
            )


if __name__ == "__main__":
    main()
