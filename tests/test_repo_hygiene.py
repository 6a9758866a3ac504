"""A checkout stays clean and honest: what labelbot writes stays out of `git status`, every
bundled data set is credited as README's "Data and credits" says, and the `postgres` marker marks
every test that needs the server (`-m "not postgres"` runs where there is none)."""

from __future__ import annotations

import csv
import inspect
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA_SETS = sorted(p for p in (ROOT / "engine" / "datasets").iterdir() if p.is_dir())
VENDORED = [*DATA_SETS, ROOT / "bot" / "manifest_schema"]


def _ignored(paths: list[str], tmp_path: Path) -> dict[str, bool]:
    """Which of ``paths`` the checkout's .gitignore alone ignores (no global excludes file)."""
    repo = tmp_path / "clone"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / ".gitignore").write_bytes((ROOT / ".gitignore").read_bytes())
    checked = subprocess.run(
        ["git", "-c", "core.excludesFile=/dev/null", "check-ignore", "--no-index", "--stdin"],
        cwd=repo, input="\n".join(paths) + "\n", capture_output=True, text=True,
    )  # fmt: skip
    assert checked.returncode in (0, 1), checked.stderr
    said = set(checked.stdout.splitlines())
    return {path: path in said for path in paths}


def test_what_labelbot_and_its_tools_write_is_ignored(tmp_path: Path) -> None:
    from engine.config import Settings
    from engine.demo import run_demo

    defaults = Settings.model_fields  # the code's defaults, whatever this environment sets
    database = str(defaults["database_url"].default).removeprefix("sqlite:///")
    data_dir = Path(defaults["data_dir"].default).as_posix()
    demo_out = Path(inspect.signature(run_demo).parameters["out_dir"].default).as_posix()
    written = [
        # the default database and its SQLite side files; other names a team may give one
        database, f"{database}-wal", f"{database}-shm", f"{database}-journal",
        "team.sqlite", "team.sqlite3", "team.sqlite3-wal", "team.sqlite-shm",
        # models, pool graphs, the int8 encoder and the embedding cache
        f"{data_dir}/models/contracts/v3-0a1b2c3d.npz", f"{data_dir}/encoders/m-int8.onnx",
        f"{data_dir}/graphs/m/project-1.npz", f"{data_dir}/embeddings/m/cache.sqlite",
        f"{demo_out}/learning_curve.png",  # make demo
        "banking77-demo-digest.png",  # labelbot digest NAME: NAME-digest.png, here
        ".env",  # settings and Slack's tokens (README, Configuration)
        # make install; README's "Installing it without the checkout" (venv/); builds
        ".venv/bin/python", "venv/bin/python", "env/bin/python",
        "build/lib/bot/__init__.py", "dist/labelbot-0.1.0-py3-none-any.whl",
        "labelbot.egg-info/PKG-INFO", "bot/__pycache__/app.cpython-311.pyc",
        ".pytest_cache/README.md", ".mypy_cache/3.11/x.json", ".ruff_cache/CACHEDIR.TAG",
        "bench/results/out.json",
    ]  # fmt: skip
    ignored = _ignored(written, tmp_path)
    assert [path for path, yes in ignored.items() if not yes] == []


def test_no_tracked_file_is_ignored(tmp_path: Path) -> None:
    """A pattern that covers a tracked file hides its next sibling from `git status`."""
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    names = [name for name in tracked.split("\0") if name]
    assert len(names) > 100
    ignored = _ignored(names, tmp_path)
    assert [name for name, yes in ignored.items() if yes] == []


def _credits() -> str:
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme.split("\n## Data and credits\n", 1)[1]
    return section.split("\n## ", 1)[0]


@pytest.mark.parametrize("folder", VENDORED, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_each_bundled_data_set_names_its_source_and_license(folder: Path) -> None:
    readme = (folder / "README.md").read_text("utf-8")
    assert re.search(r"\b[0-9a-f]{40}\b", readme), f"{folder}/README.md names no source commit"
    assert "LICENSE" in readme and (folder / "LICENSE").stat().st_size > 500
    assert f"`{folder.relative_to(ROOT).as_posix()}/`" in _credits()


@pytest.mark.parametrize("folder", DATA_SETS, ids=lambda p: p.name)
def test_each_bundled_data_set_has_the_rows_its_readme_says(folder: Path) -> None:
    """Its README's table (`| `train.csv` (`text,label`) | 10,003 (…) |`) against the file."""
    readme = (folder / "README.md").read_text("utf-8")
    stated = dict(re.findall(r"^\| `(\w+\.csv)` \(`text,label`\) \| ([\d,]+)", readme, re.M))
    files = sorted(p.name for p in folder.glob("*.csv"))
    assert sorted(stated) == files
    for name, rows in stated.items():
        with (folder / name).open(encoding="utf-8", newline="") as f:
            header, *body = list(csv.reader(f))
        assert header == ["text", "label"]
        assert len(body) == int(rows.replace(",", "")), name


def _needs_postgres(item: pytest.Item) -> str | None:
    """Why ``item`` connects to PostgreSQL: a parameter "postgres" (db_url_and_schema, kind, …),
    or a fixture with no parameters that always does (pg_schema, pg_url, outage, …)."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        for name, value in callspec.params.items():
            if value == "postgres":
                return f"{name}='postgres'"
    info = getattr(item, "_fixtureinfo", None)
    for name, defs in info.name2fixturedefs.items() if info else []:
        fixture = defs[-1]
        if fixture.params is not None or not callable(fixture.func):
            continue
        try:
            source = inspect.getsource(fixture.func)
        except (OSError, TypeError):
            continue
        if "POSTGRES_URL" in source or "_postgres_schema_engine(" in source:
            return f"fixture {name}"
    return None


def test_every_test_needing_postgresql_is_marked(request: pytest.FixtureRequest) -> None:
    """Checked over the tests this run collected: under `-m "not postgres"`, those that run.

    A parametrize that overrides a fixture's parameters (["postgres"], indirect) drops the marks
    of the fixture's own; a fixture that always creates a schema needs the server whatever the
    test's parameter."""
    unmarked = [
        f"{item.nodeid} ({why})"
        for item in request.session.items
        if (why := _needs_postgres(item)) and item.get_closest_marker("postgres") is None
    ]
    assert unmarked == []
