"""Review of the fixes landed for audit 34 (gzip refusal, spreadsheet_safe column and import
rule, the CLI's log lines...): cases they missed or broke. Each test shows a bug still open
(strict xfail)."""

from __future__ import annotations

import bz2
import codecs
import gzip
import json
import logging
import lzma
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.cli.logs import cli_lines
from tests.bot.test_cli import cli_env  # noqa: F401  (the fixture)
from tests.bot.test_cli_reviews import LABELS as BANK_LABELS
from tests.bot.test_cli_reviews import _import as _bank_import
from tests.fakes.refusing import RefusingSlackAPI
from tests.fakes.slack_api import FakeSlackAPI


def _run(runner: CliRunner, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def _exported(runner: CliRunner, project: str) -> list[tuple[str, str, str]]:
    got = [json.loads(x) for x in _run(runner, "export", project).splitlines()]
    return [(r["id"], r["text"], r["label"]) for r in got]


# Texts and ids that start with a ' of their own, and a formula character without one
SEED = "id,text,label\n'-7,'@support my refund,'-1\n8,=SUM(A1),-1\n"
STORED = [("'-7", "'@support my refund", "'-1"), ("8", "=SUM(A1)", "-1")]


def _seeded(runner: CliRunner, tmp_path: Path) -> None:
    _run(runner, "project", "create", "c", "--labels", "'-1,-1")
    seed = tmp_path / "seed.csv"
    seed.write_text(SEED, "utf-8")
    _run(runner, "import", "c", str(seed))
    assert _exported(runner, "c") == STORED


# --- a CSV export saved again ------------------------------------------------------------------


@pytest.mark.usefixtures("cli_env")
def test_a_plain_csv_export_saved_again_with_a_byte_order_mark_imports_as_written(
    tmp_path: Path,
) -> None:
    runner = CliRunner()
    _seeded(runner, tmp_path)
    exported = tmp_path / "export.csv"
    _run(runner, "export", "c", "--out", str(exported))
    assert not exported.read_bytes().startswith(codecs.BOM_UTF8)  # a plain export
    resaved = tmp_path / "resaved.csv"  # the same cells, the file now with a BOM
    resaved.write_bytes(codecs.BOM_UTF8 + exported.read_bytes())
    _run(runner, "project", "create", "d", "--labels", "'-1,-1")
    said = _run(runner, "import", "d", str(resaved))
    assert _exported(runner, "d") == STORED, said
    # into the project it came from: nothing new
    assert "imported 0 new examples" in _run(runner, "import", "c", str(resaved))


# --- a compressed file: the command the refusal gives ------------------------------------------


def _suggested(output: str) -> str:
    found = re.search(r"`([^`]+)`", " ".join(output.split()))
    assert found is not None, output
    return found.group(1)


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize(
    "pack",
    [gzip.compress, lzma.compress, "zstd"],
    ids=["gzip", "xz", "zstd"],
)
def test_a_compressed_file_named_csv_is_refused_with_a_command_that_decompresses_it(
    tmp_path: Path, pack: object
) -> None:
    tool = {"zstd": "unzstd"}.get(str(pack), "gunzip" if pack is gzip.compress else "unxz")
    if shutil.which(tool) is None or (pack == "zstd" and shutil.which("zstd") is None):
        pytest.skip(f"{tool} is not installed")
    runner = CliRunner()
    _run(runner, "project", "create", "c", "--labels", "NDA,Lease")
    text = b"text,label\nthe tenant pays,Lease\n"
    packed = tmp_path / "export.csv"  # a download kept compressed under its own name
    if pack == "zstd":
        plain = tmp_path / "plain"
        plain.write_bytes(text)
        subprocess.run(["zstd", "-q", str(plain), "-o", str(packed)], check=True)
        plain.unlink()
    else:
        assert callable(pack)
        packed.write_bytes(pack(text))
    result = runner.invoke(app, ["import", "c", str(packed)])
    assert result.exit_code == 2, result.output
    command = _suggested(result.output)
    done = subprocess.run(
        shlex.split(command), cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, (command, done.stderr)


@pytest.mark.usefixtures("cli_env")
def test_a_compressed_file_in_another_folder_is_refused_with_a_command_that_works_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if shutil.which("gunzip") is None:
        pytest.skip("gunzip is not installed")
    runner = CliRunner()
    _run(runner, "project", "create", "c", "--labels", "NDA,Lease")
    (tmp_path / "downloads").mkdir()
    packed = tmp_path / "downloads" / "x.csv.gz"
    packed.write_bytes(gzip.compress(b"text,label\nthe tenant pays,Lease\n"))
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["import", "c", "downloads/x.csv.gz"])
    assert result.exit_code == 2, result.output
    command = _suggested(result.output)
    done = subprocess.run(
        shlex.split(command), cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, (command, done.stderr)
    assert (tmp_path / "downloads" / "x.csv").read_bytes().startswith(b"text,label")


def _told_file(output: str) -> str:
    """The file the refusal says its command writes."""
    found = re.search(r"` writes (.+); give that file instead", " ".join(output.split()))
    assert found is not None, output
    return found.group(1)


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize(
    ("name", "pack", "tool"),
    [
        ("it's an export.csv", gzip.compress, "gzip"),
        ("-dash.jsonl", lzma.compress, "xz"),
        ("export.csv", bz2.compress, "bzip2"),
        ("x.csv.bz2", bz2.compress, "bunzip2"),
        ("data.gz", gzip.compress, "gzip"),
    ],
)
def test_the_command_a_compressed_file_is_refused_with_writes_the_file_it_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, pack: object, tool: str
) -> None:
    """Run where the user typed the import, the command writes the file the refusal names,
    beside the compressed one (kept), and that file imports."""
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")
    assert callable(pack)
    runner = CliRunner()
    _run(runner, "project", "create", "c", "--labels", "NDA,Lease")
    (tmp_path / "in").mkdir()
    text = (
        b'{"text": "the tenant pays", "label": "Lease"}\n'
        if name.endswith(".jsonl")
        else b"text,label\nthe tenant pays,Lease\n"
    )
    packed = tmp_path / "in" / name
    packed.write_bytes(pack(text))
    monkeypatch.chdir(tmp_path)
    said = _run(runner, "import", "c", f"in/{name}", code=2)
    command, told = _suggested(said), _told_file(said)
    assert told.startswith("in/") and Path(told).suffix in (".csv", ".jsonl"), said
    done = subprocess.run(
        shlex.split(command), cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, (command, done.stderr)
    assert (tmp_path / told).read_bytes() == text and packed.exists()
    assert "imported 1 new example" in _run(runner, "import", "c", told)


@pytest.mark.usefixtures("cli_env")
def test_the_command_for_a_compressed_file_writes_over_no_file_there(tmp_path: Path) -> None:
    """x.csv.gz beside an x.csv (and an x-decompressed.csv) of other rows: the command writes a
    file of its own, and leaves theirs as they were."""
    runner = CliRunner()
    _run(runner, "project", "create", "c", "--labels", "NDA,Lease")
    text = b"text,label\nthe tenant pays,Lease\n"
    packed = tmp_path / "x.csv.gz"
    packed.write_bytes(gzip.compress(text))
    theirs = {tmp_path / n: n.encode() for n in ("x.csv", "x-decompressed.csv")}
    for path, content in theirs.items():
        path.write_bytes(content)
    said = _run(runner, "import", "c", str(packed), code=2)
    told = Path(_told_file(said))
    assert told == tmp_path / "x-decompressed-2.csv", said
    done = subprocess.run(shlex.split(_suggested(said)), capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert told.read_bytes() == text
    assert all(path.read_bytes() == content for path, content in theirs.items())


# --- the CLI's log lines -----------------------------------------------------------------------


def test_a_malformed_log_call_does_not_stop_a_cli_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # no handler of its own and not propagated: Python's last-resort handler takes it, as
    # for any logger in a CLI command (pytest's handlers on the root are then not asked)
    logger = logging.getLogger("tests.review34.malformed")
    logger.propagate = False
    try:
        logger.warning("%s and %s", "one")  # without cli_lines: reported, not raised
        with cli_lines():
            logger.warning("%s and %s", "one")
    finally:
        logger.propagate = True
    assert "Logging error" in capsys.readouterr().err


@contextmanager
def _lone_logger() -> Iterator[logging.Logger]:
    """A logger with no handler of its own, not propagated: Python's last-resort handler
    takes its records, as in a CLI command (set in the test's body: pytest's log capture
    also takes a non-propagating logger's records while a fixture sets it up)."""
    logger = logging.getLogger("tests.review34.lone")
    logger.propagate = False
    try:
        yield logger
    finally:
        logger.propagate = True


def test_the_same_message_with_another_exception_is_said_again(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def failed(exc: Exception) -> None:
        try:
            raise exc
        except Exception:
            logging.getLogger("tests.review34.lone").warning("the upload failed", exc_info=True)

    with _lone_logger(), cli_lines():
        failed(ConnectionError("connection reset"))
        failed(TimeoutError("timed out"))
        failed(ConnectionError("connection reset"))  # a retry: said already
        logging.getLogger("tests.review34.lone").warning("the upload failed")
        logging.getLogger("tests.review34.lone").error("the upload failed")
    assert capsys.readouterr().err.splitlines() == [
        "warning: the upload failed: ConnectionError: connection reset",
        "warning: the upload failed: TimeoutError: timed out",
        "warning: the upload failed",
        "error: the upload failed",
    ]


def test_a_line_logged_by_many_threads_at_once_is_said_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import threading

    start = threading.Barrier(16)

    def retry(n: int) -> None:
        start.wait()
        for _ in range(50):
            logging.getLogger("tests.review34.lone").warning("Slack is slow to answer")
        logging.getLogger("tests.review34.lone").warning("worker %d gave up", n)

    with _lone_logger(), cli_lines():
        threads = [threading.Thread(target=retry, args=(n,)) for n in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    lines = capsys.readouterr().err.splitlines()
    assert lines.count("warning: Slack is slow to answer") == 1, lines
    assert sorted(lines) == sorted(
        ["warning: Slack is slow to answer", *(f"warning: worker {n} gave up" for n in range(16))]
    )


# --- db copy --to the database's own files -------------------------------------------------------


@pytest.mark.usefixtures("cli_env")
def test_db_copy_into_the_databases_wal_file_is_refused_or_leaves_a_copy(tmp_path: Path) -> None:
    """Run as a user runs it, no other process holding the database: the copy must not be
    said done where no copy is left."""

    def labelbot(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", "from bot.cli import main; main()", *args],
            env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True,
            timeout=180,
        )  # fmt: skip

    assert labelbot("project", "create", "c", "--labels", "NDA,Lease").returncode == 0
    database = Path(os.environ["DATABASE_URL"].removeprefix("sqlite:///"))
    wal = database.with_name(database.name + "-wal")
    assert not wal.exists()  # checkpointed and removed as the last connection closed
    done = labelbot("db", "copy", "--to", f"sqlite:///{wal}")
    # exit 0 today, "copied 19 tables, 3 rows from …cli.db to …cli.db-wal", and no file there
    assert done.returncode != 0 or wal.exists(), (done.stdout, done.stderr)


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize("suffix", ["-wal", "-shm", "-journal"])
def test_db_copy_into_a_file_beside_the_database_is_refused_by_any_name(
    tmp_path: Path, suffix: str
) -> None:
    """The source's own -wal/-shm/-journal, as written or through a symbolic link: refused
    before anything is written, naming the file (exit 2)."""
    runner = CliRunner()
    _run(runner, "project", "create", "c", "--labels", "NDA,Lease")
    database = Path(os.environ["DATABASE_URL"].removeprefix("sqlite:///"))
    beside = database.with_name(database.name + suffix)
    link = tmp_path / "elsewhere" / "copy.db"
    link.parent.mkdir()
    link.symlink_to(beside)  # dangling: SQLite makes the file as it goes
    before = database.read_bytes()
    for target in (beside, link):
        said = " ".join(_run(runner, "db", "copy", "--to", f"sqlite:///{target}", code=2).split())
        assert f"--to names the source database's {suffix} file" in said, said
        assert "copied" not in said.replace("nothing was copied", ""), said
        assert link.is_symlink()
    assert database.read_bytes() == before
    _run(runner, "status", "c")  # the database opens as before


@pytest.mark.usefixtures("cli_env")
def test_db_copy_into_the_database_by_a_link_or_relative_path_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    _run(runner, "project", "create", "c", "--labels", "NDA,Lease")
    database = Path(os.environ["DATABASE_URL"].removeprefix("sqlite:///"))
    link = tmp_path / "link.db"
    link.symlink_to(database)
    hard = tmp_path / "hard.db"
    os.link(database, hard)
    monkeypatch.chdir(tmp_path)
    for target in (str(link), str(hard), f"./{database.name}"):
        said = _run(runner, "db", "copy", "--to", f"sqlite:///{target}", code=2)
        assert "--to names the source database itself" in said, said


@pytest.mark.usefixtures("cli_env")
def test_db_copy_into_a_database_whose_wal_file_would_be_the_source_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A source database whose file is named like another's WAL: writing that other database
    would make and delete its WAL, the source."""
    runner = CliRunner()
    _run(runner, "project", "create", "c", "--labels", "NDA,Lease")
    database = Path(os.environ["DATABASE_URL"].removeprefix("sqlite:///"))
    source = tmp_path / "team.db-wal"
    shutil.copyfile(database, source)
    before = source.read_bytes()
    said = " ".join(
        _run(
            runner, "db", "copy", "--from", f"sqlite:///{source}", "--to",
            f"sqlite:///{tmp_path / 'team.db'}", code=2,
        ).split()
    )  # fmt: skip
    assert "whose -wal file would be the source database" in said, said
    assert source.read_bytes() == before and not (tmp_path / "team.db").exists()


@pytest.mark.usefixtures("cli_env")
def test_digest_post_to_a_channel_the_bot_is_not_in_says_so_once(
    slack_api: FakeSlackAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_API_URL", slack_api.api_url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test-token")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "test-signing-secret")
    runner = CliRunner()
    _run(runner, "project", "create", "p", "--labels", "a,b", "--channel", "C0DIGEST")
    _run(runner, "project", "set", "p", "--admins", "U1")
    slack_api.fail_next("chat.postMessage", error="not_in_channel")
    posted = subprocess.run(
        [sys.executable, "-c", "from bot.cli import main; main()", "digest", "p", "--post"],
        env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert posted.returncode == 1, posted.stderr
    lines = posted.stderr.strip().splitlines()
    assert any(line.startswith("not posted: Slack said not_in_channel") for line in lines), lines
    assert sum("not_in_channel" in line for line in lines) == 1, lines


@pytest.fixture
def refusing_slack() -> Iterator[RefusingSlackAPI]:
    """The local Slack Web API, with standing refusals of a channel or a user."""
    with RefusingSlackAPI(token="xoxb-test-token") as api:
        yield api


def _digest_post(
    slack_api: RefusingSlackAPI, monkeypatch: pytest.MonkeyPatch, *admins: str
) -> list[str]:
    """`labelbot digest p --post` run as a person runs it, into a channel the bot is not in:
    its stderr's lines."""
    monkeypatch.setenv("SLACK_API_URL", slack_api.api_url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test-token")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "test-signing-secret")
    runner = CliRunner()
    _run(runner, "project", "create", "p", "--labels", "a,b", "--channel", "C0DIGEST")
    if admins:
        _run(runner, "project", "set", "p", "--admins", ",".join(admins))
    slack_api.fail_target("chat.postMessage", "C0DIGEST", "not_in_channel")
    posted = subprocess.run(
        [sys.executable, "-c", "from bot.cli import main; main()", "digest", "p", "--post"],
        env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert posted.returncode != 0, posted.stderr
    return posted.stderr.strip().splitlines()


@pytest.mark.usefixtures("cli_env")
def test_digest_post_with_no_admin_to_tell_says_so_once(
    refusing_slack: RefusingSlackAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = _digest_post(refusing_slack, monkeypatch)
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: Slack said not_in_channel"), lines
    assert "no admin could be told (none set)" in lines[0], lines
    assert "labelbot project set p --admins U123" in lines[0], lines


@pytest.mark.usefixtures("cli_env")
def test_digest_post_says_in_its_one_line_which_admin_could_not_be_told(
    refusing_slack: RefusingSlackAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    slack_api = refusing_slack
    slack_api.fail_target("chat.postMessage", "U1", "user_not_found")  # a deactivated admin
    lines = _digest_post(slack_api, monkeypatch, "U1", "U2")
    assert len(lines) == 1, lines
    assert lines[0].startswith("not posted: Slack said not_in_channel"), lines
    assert lines[0].endswith("; told U2; could not tell U1 (user_not_found)"), lines
    # every admin refused: the error says whom, where it sent to the log before
    _run(CliRunner(), "project", "set", "p", "--admins", "U1")  # new admins: told at once
    posted = subprocess.run(
        [sys.executable, "-c", "from bot.cli import main; main()", "digest", "p", "--post"],
        env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    lines = posted.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Slack said not_in_channel"), lines
    assert "no admin could be told (could not tell U1 (user_not_found))" in lines[0], lines


# --- a scan before the first model (reviewed_version 0) -----------------------------------------


@pytest.mark.usefixtures("cli_env")
def test_a_scan_before_the_first_model_does_not_vouch_for_labels_added_since(  # type: ignore[no-untyped-def]
    banking_slice, tmp_path: Path
) -> None:
    runner = CliRunner()
    _run(runner, "project", "create", "bank", "--labels", ",".join(BANK_LABELS))
    rows = list(banking_slice)
    _bank_import(tmp_path / "first.csv", rows[:4], "ana")
    scanned = " ".join(_run(runner, "review", "bank", "--annotator", "ben", "--scan").split())
    assert "the scan needs 20 agreed labels" in scanned.lower(), scanned
    _bank_import(tmp_path / "more.csv", rows[4:], "ana")
    said = " ".join(_run(runner, "review", "bank", "--annotator", "ben").split())
    assert "nothing to review" in said, said
    assert "the scan doubted none of the labels" not in said, said
    assert "--scan` scans them now" in said, said


@pytest.mark.usefixtures("cli_env")
def test_a_scan_before_the_first_model_vouches_only_for_the_labels_it_read(  # type: ignore[no-untyped-def]
    banking_slice, tmp_path: Path
) -> None:
    """A scan that ran before the first model counts as one for the labels it read: the ones
    imported after it were never scanned, and nothing scans them before a model exists."""
    runner = CliRunner()
    _run(runner, "project", "create", "bank", "--labels", ",".join(BANK_LABELS))
    rows = list(banking_slice)
    assert len(rows) > 40
    _bank_import(tmp_path / "first.csv", rows[:40], "ana")
    _run(runner, "review", "bank", "--annotator", "ben", "--scan")
    said = " ".join(_run(runner, "review", "bank", "--annotator", "ben").split())
    assert "never scanned" not in said and "came since the last scan" not in said, said
    _bank_import(tmp_path / "more.csv", rows[40:], "ana")
    said = " ".join(_run(runner, "review", "bank", "--annotator", "ben").split())
    assert f"{len(rows) - 40} agreed labels came since the last scan" in said, said
    assert "--scan` scans them now" in said, said
    _run(runner, "review", "bank", "--annotator", "ben", "--scan")
    said = " ".join(_run(runner, "review", "bank", "--annotator", "ben").split())
    assert "came since the last scan" not in said, said


@pytest.mark.usefixtures("cli_env")
def test_a_pre_model_scan_noted_by_its_label_count_still_reads(  # type: ignore[no-untyped-def]
    banking_slice, tmp_path: Path
) -> None:
    """A scan before the first model noted, until it kept the newest vote it read
    (``reviewed_annotation``), how many agreed labels there were (``reviewed_labels``): a
    project whose settings say so is still told how many labels came since."""
    from engine.config import get_settings
    from engine.workspace import Workspace
    from storage.db import session_scope
    from storage.repositories import projects as projects_repo

    runner = CliRunner()
    _run(runner, "project", "create", "bank", "--labels", ",".join(BANK_LABELS))
    rows = list(banking_slice)
    _bank_import(tmp_path / "first.csv", rows[:40], "ana")
    _run(runner, "review", "bank", "--annotator", "ben", "--scan")
    ws = Workspace.open(get_settings())
    with session_scope(ws.db) as session:
        project = projects_repo.get_project(session=session, name="bank")
        assert "reviewed_annotation" in project.settings
        project.settings = {
            **{k: v for k, v in project.settings.items() if k != "reviewed_annotation"},
            "reviewed_labels": 40,
        }
        session.add(project)
    _bank_import(tmp_path / "more.csv", rows[40:], "ana")
    said = " ".join(_run(runner, "review", "bank", "--annotator", "ben").split())
    assert f"{len(rows) - 40} agreed labels came since the last scan" in said, said


# --- what the refusals say ----------------------------------------------------------------------


@pytest.mark.usefixtures("cli_env")
def test_export_out_onto_the_databases_shm_file_names_that_file(tmp_path: Path) -> None:
    runner = CliRunner()
    _run(runner, "project", "create", "c", "--labels", "NDA,Lease")
    database = Path(os.environ["DATABASE_URL"].removeprefix("sqlite:///"))
    shm = database.with_name(database.name + "-shm")
    said = " ".join(_run(runner, "export", "c", "--out", str(shm), code=2).split())
    assert "-shm" in said.split(": ", 2)[-1], said  # past the path the message starts with
    assert "is the database itself" not in said, said


@pytest.mark.usefixtures("cli_env")
@pytest.mark.parametrize("suffix", ["-wal", "-journal"])
def test_predict_out_onto_a_file_beside_the_database_names_that_file(
    tmp_path: Path, suffix: str
) -> None:
    """predict --out onto the database's -wal or -journal, through a link: the file is named;
    the database itself is still "the database itself"."""
    runner = CliRunner()
    _run(runner, "project", "create", "c", "--labels", "NDA,Lease")
    database = Path(os.environ["DATABASE_URL"].removeprefix("sqlite:///"))
    link = tmp_path / "out.jsonl"
    link.symlink_to(database.with_name(database.name + suffix))
    texts = tmp_path / "new.csv"
    texts.write_text("text\nthe tenant pays\n", "utf-8")
    said = " ".join(_run(runner, "predict", "c", str(texts), "--out", str(link), code=2).split())
    told = said.split(": ", 2)[-1]
    assert told.startswith(f"is the database's {suffix} file ({database}{suffix}"), said
    assert "would corrupt the database" in told, said
    said = " ".join(_run(runner, "export", "c", "--out", str(database), code=2).split())
    assert "is the database itself" in said, said


@pytest.mark.usefixtures("cli_env")
def test_predict_of_a_gzip_file_is_not_told_to_import_it(tmp_path: Path) -> None:
    runner = CliRunner()
    _run(runner, "project", "create", "c", "--labels", "NDA,Lease")
    packed = tmp_path / "new.csv.gz"
    packed.write_bytes(gzip.compress(b"text\nthe tenant pays\n"))
    said = " ".join(_run(runner, "predict", "c", str(packed), code=2).split())
    told = said.split(": ", 2)[-1]  # past the path the message starts with
    assert "gzip" in told, said
    assert "import" not in told, said
