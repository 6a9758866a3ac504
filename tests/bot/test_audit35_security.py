"""Audit 35, security and abuse: what a hostile or merely unlucky input does to labelbot, end to
end through Bolt over HTTP with signed requests against the fake Slack Web API. Each xfail
(strict) test is a bug found, kept until fixed."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import ids, slack_text
from bot.views.text import EXAMPLE_PREVIEW_MAX, SECTION_TEXT_MAX
from engine import importing, projects
from engine.importing import _RAW_LINE_END as RAW_LINE_END
from engine.workspace import Workspace
from storage.errors import InvalidInputError
from tests.bot.conftest import CHANNEL, Bot
from tests.bot.test_cli import cli_env  # noqa: F401  (the fixture)
from tests.bot.test_cli_audit_fixes import _invoke, _ok
from tests.bot.test_cli_audit_fixes import _project as _cli_project
from tests.bot.test_limits import _project
from tests.fakes import payloads
from tests.fakes.signing import signed_interactivity

U1 = "U0ALICE"

# One direction isolate (U+2068 … U+2069, as text copied from a web page or a chat puts around a
# name) on the first line, then one long paragraph: a 30,000-character line, well within the
# import's 50,000 characters per text.
ISOLATED_THEN_LONG = "From \u2068Ann\u2069:\n" + "my card was charged twice " * 1_200


class _Counted:
    """What bot.slack_text's escaping is given: the characters of each text close_bidi closes
    (every escape() goes through it), of each line its per-line closer looks at, and the
    lookups of what closes each direction control (one or two per control when each is looked
    at once; a close looking through every control open before it made 13,000 x 13,000)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.escaped: list[int] = []
        self.lines: list[int] = []
        self.lookups = 0
        close_bidi, closed_line = slack_text.close_bidi, slack_text._closed_line
        counted = self

        def recorded_close_bidi(text: str) -> str:
            self.escaped.append(len(text))
            return close_bidi(text)

        def recorded_closed_line(line: str) -> str:
            self.lines.append(len(line))
            return closed_line(line)

        class Closes(dict[str, str]):
            def __getitem__(self, char: str) -> str:
                counted.lookups += 1
                return super().__getitem__(char)

        monkeypatch.setattr(slack_text, "close_bidi", recorded_close_bidi)
        monkeypatch.setattr(slack_text, "_closed_line", recorded_closed_line)
        monkeypatch.setattr(slack_text, "_CLOSES", Closes(slack_text._CLOSES))


def test_an_example_with_a_direction_isolate_and_a_long_paragraph_is_sent_at_once(
    bot: Bot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An imported example whose first line holds a direction isolate and whose second is a long
    paragraph took seconds of CPU to draw, in the Slack worker that answers `/label`: a few such
    examples hold every worker and the GIL (escape() ran a quadratic regex on the whole text on
    each draw). Counted, not timed (bench/pathological_inputs.py times it): the draw escapes
    only the head the card shows, a few times the preview, not the 30,000 characters."""
    _project(bot, tmp_path, "longbidi", ["complaint", "question"], [ISOLATED_THEN_LONG])
    counted = _Counted(monkeypatch)
    bot.slack.command(U1, "longbidi")
    bot.settle()
    (message,) = bot.slack.open_examples(U1)
    shown = message["blocks"][0]["text"]["text"]
    assert shown.startswith("From \u2068Ann\u2069:\nmy card was charged twice my"), shown[:80]
    assert counted.escaped, "the card's text is escaped"
    assert sum(counted.escaped) <= 4 * EXAMPLE_PREVIEW_MAX, counted.escaped
    assert max(counted.escaped) < len(ISOLATED_THEN_LONG) // 4, counted.escaped
    # each line with a control looked at once, and only those
    assert sum(counted.lines) <= sum(counted.escaped), (counted.lines, counted.escaped)


def test_any_member_classifying_a_long_message_is_answered_at_once(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No import needed: any member posts a message (Slack takes 40,000 characters) whose first
    line holds a direction isolate and whose second is long, and runs *Classify with labelbot*
    on it, again and again; each answer took seconds of CPU, before any model is asked.
    Counted, not timed: the answer escapes only the head its quote can show."""
    projects.create_project(bot.ws, name="msgs", labels=["a", "b"], channel_id=CHANNEL)
    text = "From \u2068Ann\u2069:\n" + "my card was charged twice " * 1_500
    shortcut = payloads.message_shortcut(U1, ids.CLASSIFY_SHORTCUT, CHANNEL, "1.2", text)
    shortcut["response_url"] = bot.api.response_url(U1)
    counted = _Counted(monkeypatch)
    assert bot.slack.post(signed_interactivity(bot.slack.secret, shortcut)).status_code == 200
    bot.settle()
    answer = str(bot.api.calls("response_url")[-1].params)
    assert "No model yet for *msgs*" in answer
    assert counted.escaped and sum(counted.escaped) <= 4 * SECTION_TEXT_MAX, counted.escaped
    assert max(counted.escaped) < len(text) // 4, counted.escaped


def test_classifying_a_message_of_many_direction_controls_is_answered_at_once(
    bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One line of 13,000 embeddings (U+202A) left open, then 13,000 isolates opened and closed:
    each close looked through every open embedding before it, 13,000 x 13,000 steps. Counted,
    not timed: the answer escapes only the head its quote shows, and close_bidi on the whole
    line looks up what closes each control once or twice, not once per control open."""
    projects.create_project(bot.ws, name="msgs", labels=["a", "b"], channel_id=CHANNEL)
    text = "hello " + "\u202a" * 13_000 + ("\u2068" + "\u2069") * 13_000
    shortcut = payloads.message_shortcut(U1, ids.CLASSIFY_SHORTCUT, CHANNEL, "1.2", text)
    shortcut["response_url"] = bot.api.response_url(U1)
    counted = _Counted(monkeypatch)
    assert bot.slack.post(signed_interactivity(bot.slack.secret, shortcut)).status_code == 200
    bot.settle()
    assert "No model yet for *msgs*" in str(bot.api.calls("response_url")[-1].params)
    assert counted.escaped and sum(counted.escaped) <= 4 * SECTION_TEXT_MAX, counted.escaped
    # the whole line, as a shorter limit or another caller would give it
    counted.lookups = 0
    closed = slack_text.escape(text)
    assert closed == text + "\u202c" * 13_000  # the isolates closed, each embedding closed
    controls = 13_000 * 3
    assert counted.lookups <= 3 * controls, (counted.lookups, controls)


class _CountedLineEnds:
    """engine.importing's search for line ends, counting the bytes each search is given."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.scanned = 0
        monkeypatch.setattr(importing, "_RAW_LINE_END", self)

    def finditer(self, data: bytes, pos: int = 0) -> Iterator[re.Match[bytes]]:
        self.scanned += len(data) - pos
        return RAW_LINE_END.finditer(data, pos)


def test_a_zero_filled_file_is_refused_at_once(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file a crash or a full disk left zero-filled (a common sight after a power loss) made
    `labelbot import` spin: 60 KB took a minute of CPU, and a 1 MiB one would take hours, before
    any error came (a search for line ends starting with NUL runs, tried at each NUL byte).
    Refused before any line end is looked for; the search's own speed on NUL runs is timed in
    bench/pathological_inputs.py."""
    projects.create_project(ws, name="zeros", labels=["a", "b"])
    counted = _CountedLineEnds(monkeypatch)
    path = tmp_path / "zeros.csv"
    path.write_bytes(b"\x00" * 24_000)
    with pytest.raises(InvalidInputError) as refused:
        projects.import_file(ws, project="zeros", path=path, embed=False)
    assert counted.scanned == 0
    # and said as it is, not as a header of one "column" of NUL bytes
    said = str(refused.value)
    assert said == (
        f"{path}: only NUL bytes (\\x00), 24,000 of them: a file a crash or a "
        "full disk left? nothing was imported"
    ), said


def test_a_file_zero_filled_past_its_first_block_is_refused_at_once(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A zero-filled file larger than the block read first (1 MiB), with text after its NUL
    bytes or none, is refused from its first block, whose bytes the error counts: before any
    line end is looked for."""
    projects.create_project(ws, name="zeros", labels=["a", "b"])
    counted = _CountedLineEnds(monkeypatch)
    for name, tail in (("zeros.csv", b""), ("tail.csv", b"text\nhello\n")):
        path = tmp_path / name
        path.write_bytes(b"\x00" * (importing.READ_BYTES + 10) + tail)
        with pytest.raises(InvalidInputError) as refused:
            projects.import_file(ws, project="zeros", path=path, embed=False)
        assert str(refused.value) == (
            f"{path}: only NUL bytes (\\x00) in its first 1,048,576 bytes: a file a crash or a "
            "full disk left? nothing was imported"
        )
    assert counted.scanned == 0
    assert projects.project_status(ws, "zeros")["examples"] == 0


@pytest.mark.usefixtures("cli_env")
def test_digest_out_naming_the_database_is_refused_and_the_database_kept(tmp_path: Path) -> None:
    """`labelbot digest NAME --out labelbot.db` (a name the shell completed, as
    tests/bot/test_term_out_database.py has it for export and predict) replaced the database,
    every project in it, with the digest's chart and said "chart: .../labelbot.db"; the next
    command found "file is not a database"."""
    _cli_project(tmp_path)
    database = Path(os.environ["DATABASE_URL"].removeprefix("sqlite:///"))
    before = database.read_bytes()
    result = _invoke("digest", "c", "--out", str(database))
    assert database.read_bytes() == before
    assert result.exit_code == 2 and "is the database itself" in result.output, result.output
    assert "c: 4 examples" in _ok("status", "c")
    # its WAL beside it, as export's --out: no chart written there either
    wal = Path(f"{database}-wal")
    result = _invoke("digest", "c", "--out", str(wal))
    assert result.exit_code == 2 and "is the database's -wal file" in result.output, result.output
    assert not wal.exists() or not wal.read_bytes().startswith(b"\x89PNG")
    assert "c: 4 examples" in _ok("status", "c")


def test_a_missing_column_error_does_not_echo_a_huge_header(ws: Workspace, tmp_path: Path) -> None:
    """`labelbot import bank notes.txt`, the file one 100,000-character paragraph: the error
    printed all of it as the one 'column' found, then "use --text-column" 100,000 characters
    later (1 MB file, 1 MB error line; a 1 MiB zero-filled file, 4 MB). The column list should
    be cut, as Slack's error answers are ("… and N more")."""
    projects.create_project(ws, name="doc", labels=["a", "b"])
    path = tmp_path / "notes.txt"
    path.write_text("The quick brown fox jumps over the lazy dog. " * 2_200 + "\n", "utf-8")
    with pytest.raises(InvalidInputError) as refused:
        projects.import_file(ws, project="doc", path=path, embed=False)
    said = str(refused.value)
    assert "no 'text' column" in said and "--text-column" in said
    assert len(said) < 2_000, f"the error is {len(said):,} characters long"
    # the one "column", its first 59 characters and an ellipsis, then the hint
    assert said == (
        f"{path}:1: no 'text' column (columns: The quick brown fox jumps over the lazy dog. The "
        "quick brow…); use --text-column"
    ), said


def test_a_missing_column_error_lists_a_wide_header_cut(ws: Workspace, tmp_path: Path) -> None:
    """A header of 500 columns, and one of a single 'column' of NUL bytes (shown as 4
    characters each), give an error of a few lines: 20 columns named, the rest counted."""
    projects.create_project(ws, name="doc", labels=["a", "b"])
    wide = tmp_path / "wide.csv"
    wide.write_text(",".join(f"column{i:03}" for i in range(500)) + "\n" + "x," * 499 + "x\n")
    nul = tmp_path / "nul.csv"
    nul.write_bytes(b"\x00" * 30_000 + b"\nx\n")
    for path in (wide, nul):
        with pytest.raises(InvalidInputError) as refused:
            projects.import_file(ws, project="doc", path=path, embed=False)
        said = str(refused.value)
        assert said.endswith("); use --text-column") and len(said) < 1_000, said
        if path == wide:
            assert "(columns: column000, column001, " in said, said
            assert ", column019, … and 480 more); use --text-column" in said, said
        else:
            assert "(columns: '\\x00\\x00" in said and "\\x00…'); use" in said, said
