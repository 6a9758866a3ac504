"""The CLI audit's findings (/tmp/audit/cli.md): options refused up front in one line, nothing
recorded or left behind by a refused command, predict before the first model a conflict (exit
4, as the API's 409), Ctrl-C in one line, `--out -` as stdout, help that fits 80 columns."""

from __future__ import annotations

import json
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.bot.test_cli import cli_env  # noqa: F401  (the fixture)
from tests.helpers import labeled_csv as _csv

TEXTS = [
    ("the receiving party keeps the information confidential", "NDA"),
    ("confidential information excludes what is public", "NDA"),
    ("the tenant pays the rent on the first of each month", "Lease"),
    ("the landlord repairs the roof and the heating", "Lease"),
]


def _invoke(*args: str, **kwargs: Any) -> Any:
    return CliRunner().invoke(app, list(args), **kwargs)


def _ok(*args: str) -> str:
    result = _invoke(*args)
    assert result.exit_code == 0, result.output
    return str(result.output)


def _one_line_error(result: Any, code: int, said: str) -> None:
    assert result.exit_code == code, result.output
    assert result.output.strip().splitlines() == [result.output.strip()], result.output
    assert said in result.output and "Traceback" not in result.output, result.output


def _project(tmp_path: Path, *, labeled: bool = True) -> Path:
    """Project "c" with TEXTS imported (labeled or not); returns the file."""
    _ok("project", "create", "c", "--labels", "NDA,Lease")
    data = _csv(tmp_path / "c.csv", TEXTS if labeled else [(t, "") for t, _ in TEXTS])
    _ok("import", "c", str(data))
    return data


@pytest.fixture
def stopped_after() -> Iterator[None]:
    """A command that would run for good or long (a worker, a server, the demo) is stopped by a
    KeyboardInterrupt after 20 s, so a test of an option it should have refused fails instead
    of hanging."""

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


# --- 1. worker --poll-seconds ------------------------------------------------------------------


@pytest.mark.usefixtures("cli_env", "stopped_after")
@pytest.mark.parametrize("seconds", ["-1", "0", "0.05", "nan", "inf"])
def test_worker_refuses_a_poll_interval_below_its_minimum(seconds: str) -> None:
    """-1 was accepted (a busy loop, its memory growing); 0 silently became 15."""
    result = _invoke("worker", "--poll-seconds", seconds)
    _one_line_error(result, 2, "--poll-seconds must be at least 0.1")
    assert "checking for work" not in result.output


# --- 2. train --classifier ---------------------------------------------------------------------


@pytest.mark.usefixtures("cli_env")
def test_a_mistyped_classifier_records_no_model_version(tmp_path: Path) -> None:
    _project(tmp_path)
    for _ in range(2):
        _one_line_error(
            _invoke("train", "c", "--classifier", "nope"),
            2,
            "unknown classifier kind 'nope'; valid: auto, linear, blend",
        )
    assert "no models yet" in _ok("models", "c")  # no failed v1, v2 burnt
    assert "v1 " in _ok("train", "c", "--classifier", "linear")


# --- 3. serve --port / --log-level -------------------------------------------------------------


@pytest.mark.usefixtures("cli_env", "stopped_after")
@pytest.mark.parametrize(
    ("option", "said"),
    [
        (["--port", "99999"], "--port must be 0 to 65535 (0: any free port), not 99999"),
        (["--port", "-1"], "--port must be 0 to 65535 (0: any free port), not -1"),
        (["--log-level", "loud"], "unknown --log-level 'loud': use debug, info, warning"),
    ],
)
def test_serve_refuses_a_bad_port_or_log_level_before_starting(
    option: list[str], said: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """They were tracebacks from uvicorn, after the database and scheduler were set up."""
    monkeypatch.setenv("LABELBOT_API_TOKEN", "t" * 32)  # REST-only: serve would start
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    result = _invoke("serve", *option)
    _one_line_error(result, 2, said)
    assert "database" not in result.output


# --- 4. demo's numbers -------------------------------------------------------------------------


@pytest.fixture
def temp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where tempfile makes its directories during the test."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    return scratch


@pytest.mark.usefixtures("cli_env", "stopped_after")
@pytest.mark.parametrize(
    ("option", "said"),
    [
        (["--batch", "0"], "--batch must be at least 1 (got 0)"),
        (["--budget", "-5"], "--budget must be at least 1 (got -5)"),
        (["--batch", "-3"], "--batch must be at least 1 (got -3)"),
    ],
)
def test_demo_refuses_its_numbers_at_once_and_leaves_nothing(
    option: list[str], said: str, temp_dir: Path
) -> None:
    """--batch 0 was a traceback; the others were refused after the banner and ~10 s of
    loading, each leaving a /tmp/labelbot-demo-* database behind."""
    result = _invoke("demo", *option)
    _one_line_error(result, 2, said)
    assert "labelbot demo" not in result.output  # no banner
    assert list(temp_dir.iterdir()) == []


@pytest.mark.usefixtures("cli_env")
def test_a_demo_that_fails_removes_its_temporary_database(
    temp_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine import demo

    def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt  # as Ctrl-C while it loads Banking77

    monkeypatch.setattr(demo, "load_split", interrupted)
    result = _invoke("demo", "--budget", "10", "--batch", "5")
    assert result.exit_code == 130, result.output
    assert list(temp_dir.iterdir()) == []


# --- 5. predict before the first model ---------------------------------------------------------


@pytest.mark.usefixtures("cli_env")
def test_predict_before_the_first_model_is_a_conflict_not_a_missing_project(
    tmp_path: Path,
) -> None:
    data = _project(tmp_path, labeled=False)
    out = tmp_path / "keep.jsonl"
    out.write_text("KEEP\n", encoding="utf-8")
    _one_line_error(
        _invoke("predict", "c", str(data), "--out", str(out)),
        4,
        "project 'c' has no trained model yet: once it has labels in at least 2 classes, run "
        "`labelbot train c`",
    )
    assert out.read_text(encoding="utf-8") == "KEEP\n"
    _one_line_error(_invoke("predict", "nosuch", str(data)), 3, "no project named 'nosuch'")


# --- Ctrl-C in train, predict and export -------------------------------------------------------


def _interrupt(*_: object, **__: object) -> None:
    raise KeyboardInterrupt


def _interrupted(monkeypatch: pytest.MonkeyPatch, module: object, name: str, args: list[str]):  # type: ignore[no-untyped-def]
    """The command run with ``module.name`` interrupted by Ctrl-C: it exits 130."""
    with monkeypatch.context() as m:
        m.setattr(module, name, _interrupt)
        result = _invoke(*args)
    assert result.exit_code == 130, result.output
    return result


@pytest.mark.usefixtures("cli_env")
def test_ctrl_c_in_train_predict_and_export_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine import exporting, jobs, training

    data = _project(tmp_path)
    _ok("train", "c")
    out = tmp_path / "keep.jsonl"
    out.write_text("KEEP\n", encoding="utf-8")
    cases = [
        (jobs, "train_now", ["train", "c"], "interrupted while training: a run stopped part-way "
         "is not made active; `labelbot models c` shows the model that answers"),
        (training, "predict_with", ["predict", "c", str(data), "--out", str(out)],
         f"interrupted while predicting: nothing was written to {out} (a file there is left "
         "as it was)"),
        (exporting, "write_export", ["export", "c", "--out", str(out)],
         f"interrupted while exporting: nothing was written to {out}"),
        (exporting, "write_export", ["export", "c"],
         "interrupted while exporting: the output on stdout is incomplete"),
    ]  # fmt: skip
    for module, name, args, said in cases:
        result = _interrupted(monkeypatch, module, name, args)
        assert len(result.output.strip().splitlines()) == 1, result.output
        assert said in " ".join(result.output.split()), result.output
    assert out.read_text(encoding="utf-8") == "KEEP\n"


@pytest.mark.usefixtures("cli_env")
def test_ctrl_c_in_demo_and_simulate_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """They exited 130 with nothing said (the README: "Ctrl-C exits 130 with one line")."""
    import tempfile

    from engine import demo, simulation

    data = tmp_path / "pool.csv"
    data.write_text("text,label\n" + "".join(f"text {i},{'ab'[i % 2]}\n" for i in range(8)),
                    "utf-8")  # fmt: skip
    test = tmp_path / "test.csv"
    test.write_text("text,label\nheld out a,a\nheld out b,b\n", "utf-8")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    cases = [
        (demo, "run_demo", ["demo", "--budget", "100"],
         "interrupted the demo: its half-made database was removed"),
        (simulation, "simulate", ["simulate", str(data), "--test", str(test)],
         "interrupted the simulation: nothing was stored"),
    ]  # fmt: skip
    for module, name, args, said in cases:
        result = _interrupted(monkeypatch, module, name, args)
        last = result.output.strip().splitlines()[-1]  # after the demo's header, one line
        assert last.startswith("interrupted") and said in last, result.output
    # the demo's database went with it; other things may live there (torch's compile cache,
    # torchinductor_<user>, when the test runs alone), so only the demo's own folders count
    assert not [p.name for p in scratch.iterdir() if p.name.startswith("labelbot-demo-")]


# --- `--out -` ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("cli_env")
def test_out_dash_writes_to_stdout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _project(tmp_path)
    _ok("train", "c")
    monkeypatch.chdir(tmp_path)
    exported = _invoke("export", "c", "--out", "-", "--format", "csv")
    assert exported.exit_code == 0, exported.output
    assert exported.stdout.splitlines()[0].startswith("id,text,label"), exported.stdout
    predicted = _invoke("predict", "c", str(data), "--out", "-")
    assert predicted.exit_code == 0, predicted.output
    assert [json.loads(line)["text"] for line in predicted.stdout.splitlines()] == [
        t for t, _ in TEXTS
    ]
    assert not (tmp_path / "-").exists()


# --- train's spinner on a terminal -------------------------------------------------------------


@pytest.mark.usefixtures("cli_env")
def test_train_shows_a_spinner_on_a_terminal_and_nothing_on_a_pipe(tmp_path: Path) -> None:
    import os
    import pty
    import subprocess
    import sys

    _project(tmp_path)
    command = [sys.executable, "-c", "from bot.cli import main; main()", "train", "c"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COLUMNS": "100"}
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(command, stdin=follower, stdout=follower, stderr=follower, env=env)
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed: the command ended
                break
            if not chunk:
                break
            seen += chunk
        assert proc.wait(timeout=120) == 0, seen
    finally:
        os.close(leader)
    shown = seen.decode("utf-8", "replace")
    assert "training c: fitting and cross-validating" in shown, shown
    piped = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0, piped.stderr
    assert piped.stderr == "" and "v2 " in piped.stdout


# --- plurals -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("cli_env")
def test_simulate_counts_one_seed_in_the_singular(tmp_path: Path) -> None:
    pool = _csv(tmp_path / "pool.csv", TEXTS)
    test = _csv(tmp_path / "test.csv", [("the tenant must pay the rent", "Lease"),
                                        ("keep this secret and confidential", "NDA")])  # fmt: skip
    said = _ok("simulate", str(pool), "--test", str(test), "--budget", "2", "--batch", "2",
               "--seeds", "1", "--classifier", "linear")  # fmt: skip
    assert "(1 seed)" in said and "1 seeds" not in said


# --- help --------------------------------------------------------------------------------------

# the command lists (descriptions were cut at click's limit) and the preformatted usage blocks
COMMANDS = [
    [],
    ["project"],
    ["labels"],
    ["label"],
    ["review"],
    ["flags"],
    ["models"],
    ["proposals"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "labelbot")
def test_help_fits_80_columns_and_cuts_no_description(command: list[str]) -> None:
    result = _invoke(*command, "--help", env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line for line in lines if len(line) > 80] == []
    cut = [line for line in lines if line.endswith("...") and "[ARGS]..." not in line]
    assert cut == [], result.output


def test_project_set_help_lists_strategies_and_ranges() -> None:
    helped = " ".join(_ok("project", "set", "--help").split())
    for said in (
        "Query strategy: random, least_confidence, margin, entropy, diverse_margin, rare_boost",
        "(1 to 1,000,000)",
        "(0 to 0.5)",
        "(1 to 10,000)",
        "(1 to 1,000)",
    ):
        assert said in helped, helped
