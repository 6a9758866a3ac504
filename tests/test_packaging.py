"""The wheel carries every file the code opens at run time, not only the checkout does.

A team installs labelbot with `pip install git+…` or from a built wheel: then the migrations
(storage/migrations, read by Alembic relative to storage/db.py) and the bundled data sets with
their licenses (engine/datasets) come only from [tool.setuptools.package-data]. The wheel is built
from a copy of the tree (pip builds in place and would leave build/ and labelbot.egg-info here),
offline, and what it must carry is read from that tree, so a new file no pattern covers fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from engine.datasets import load_split

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "engine", "storage")
# Tracked files under the packages that only the tests read (tests/bot/test_manifest.py).
NOT_SHIPPED = ("bot/manifest_schema/",)

pytestmark = pytest.mark.slow


def _project_files() -> list[str]:
    """Tracked files, and new ones git does not ignore (a migration not added yet counts)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted(name for name in listed.split("\0") if name and (ROOT / name).is_file())


@pytest.fixture(scope="module")
def tree() -> list[str]:
    return _project_files()


@pytest.fixture(scope="module")
def wheel(tree: list[str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("packaging")
    source = work / "src"
    for name in tree:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-q", "-w", str(work / "dist"), str(source)],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    (found,) = (work / "dist").glob("labelbot-*.whl")
    return found


def test_the_wheel_carries_every_file_of_the_packages(tree: list[str], wheel: Path) -> None:
    runtime = [
        name for name in tree if name.split("/")[0] in PACKAGES and not name.startswith(NOT_SHIPPED)
    ]
    # What this test exists for is in that list (else it would pass on an empty tree).
    versions = [n for n in runtime if n.startswith("storage/migrations/versions/")]
    assert len(versions) >= 16
    assert {"storage/migrations/env.py", "storage/migrations/script.py.mako"} <= set(runtime)
    for dataset in ("banking77", "clinc150"):
        assert {f"engine/datasets/{dataset}/{part}" for part in ("LICENSE", "README.md",
                "train.csv", "test.csv")} <= set(runtime)  # fmt: skip

    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (metadata_dir,) = {n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info")}
        entry_points = archive.read(f"{metadata_dir}/entry_points.txt").decode()
    assert [name for name in runtime if name not in names] == []
    assert "labelbot = bot.console:main" in entry_points


def test_the_installed_wheel_migrates_a_database_and_reads_the_bundled_data(
    wheel: Path, tmp_path: Path
) -> None:
    """Unpacked away from the checkout (the editable install's finder comes after PYTHONPATH),
    run from another directory: Alembic finds the migrations, engine the data sets."""
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    script = (
        "import json, engine, storage, bot\n"
        "from engine.datasets import dataset_path, load_split\n"
        "from storage.db import current_revision, make_engine, upgrade\n"
        "engine_ = make_engine('sqlite:///' + 'labelbot.db')\n"
        "upgrade(engine_)\n"
        "texts, labels = load_split(dataset_path('clinc150', 'test'))\n"
        "print(json.dumps({'files': [m.__file__ for m in (engine, storage, bot)],\n"
        "                  'revision': current_revision(engine_), 'rows': len(texts)}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("DATABASE_URL", None)
    ran = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, env=env,
        timeout=120,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout.strip().splitlines()[-1])

    assert all(Path(f).is_relative_to(site) for f in result["files"]), result["files"]
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(ROOT / "storage" / "migrations"))
    assert result["revision"] == ScriptDirectory.from_config(config).get_current_head()
    texts, _ = load_split(ROOT / "engine" / "datasets" / "clinc150" / "test.csv")
    assert result["rows"] == len(texts) > 0
