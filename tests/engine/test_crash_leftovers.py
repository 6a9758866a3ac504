"""What a training process killed mid-run (SIGKILL, the OOM killer, a power loss) leaves, and
how it is told and tidied: its run, still marked "training", reads "stopped" once no live
process holds the project's training lease (nothing is written: the next training marks it
failed); an active model whose file is gone or cut short is said to be so before predict fails;
and the temporary files a killed writer left beside model files, pool graphs and embedding
shards are deleted when a training starts, once they are an hour old, and no other file is.
The trainer is a real second process, killed with SIGKILL (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine import jobs, projects, training
from engine.config import Settings
from engine.workspace import Workspace
from storage.db import session_scope
from storage.repositories import leases, models
from tests.helpers import label_next, load_slice, python_child, sigkill

# A training's first steps, in another process: it takes the lease as `labelbot train` does
# (jobs._training_lease, renewed), records its run, says which, then waits to be killed
TRAINER = """
import sys
from engine import jobs, projects
from engine.config import Settings
from engine.workspace import Workspace
from storage.db import make_engine, session_scope
from storage.repositories import models
ws = Workspace(settings=Settings(), db=make_engine(sys.argv[1], schema=sys.argv[2] or None))
with jobs._training_lease(ws, "bank", owner=jobs.thread_owner()) as got:
    assert got
    project_id = projects.get_project(ws, "bank").id
    with session_scope(ws.db) as session:
        run = models.start_model_run(session=session, project_id=project_id, n_labels=3,
                                     classes=["a", "b"])
        version = run.version
    print(version, flush=True)
    sys.stdin.readline()
"""

HOUR = 3600.0


@pytest.fixture
def loaded(ws, banking_slice, tmp_path: Path):  # type: ignore[no-untyped-def]
    truth = load_slice(ws, banking_slice[:40], tmp_path)
    projects.update_settings(ws, project="bank", audit_share=0.0, multi_label_share=0.0)
    label_next(ws, truth, 10)
    return ws


@pytest.fixture
def own_data_dir(  # type: ignore[no-untyped-def]
    db_url_and_schema, encoder, tmp_path: Path
) -> Iterator[Workspace]:
    """A workspace with a data dir of the test's own (its leftovers are what is checked)."""
    url, schema = db_url_and_schema
    settings = Settings(DATABASE_URL=url, LABELBOT_DATA_DIR=tmp_path / "data")
    workspace = Workspace.open(settings, schema=schema, encoder=encoder)
    yield workspace
    workspace.close()


def _statuses(ws: Workspace) -> dict[int, str]:
    pid = int(projects.get_project(ws, "bank").id or 0)
    with session_scope(ws.db, read_only=True) as s:
        return {r.version: r.status for r in models.list_model_runs(session=s, project_id=pid)}


def test_a_run_whose_trainer_was_killed_reads_stopped_without_a_write(  # type: ignore[no-untyped-def]
    loaded, db_url_and_schema
) -> None:
    ws = loaded
    url, schema = db_url_and_schema
    with python_child("-c", TRAINER, url, schema or "") as trainer:
        assert trainer.stdout is not None
        version = int(trainer.stdout.readline())
        assert jobs.training_states(ws, "bank") == {version: "training"}  # it is alive
        sigkill(trainer)
    with session_scope(ws.db, read_only=True) as s:  # it died holding its lease
        assert leases.held(session=s, name="train:bank") is not None
    # a process of this machine that has ended holds no training: at once, not 15 minutes on
    assert jobs.training_states(ws, "bank") == {version: "stopped"}
    assert _statuses(ws) == {version: "training"}  # a display: nothing was written

    # the next training marks it failed, and no run reads training or stopped any more
    run = jobs.train_now(ws, "bank")
    assert _statuses(ws) == {version: "failed", run.version: "ready"}
    assert jobs.training_states(ws, "bank") == {}


def test_a_lease_held_elsewhere_reads_training_until_it_lapses_or_is_released(  # type: ignore[no-untyped-def]
    loaded,
) -> None:
    ws = loaded
    pid = int(projects.get_project(ws, "bank").id or 0)
    with session_scope(ws.db) as s:
        run = models.start_model_run(session=s, project_id=pid, n_labels=3, classes=["a", "b"])
        version = run.version
    assert jobs.training_states(ws, "bank") == {version: "stopped"}  # no lease at all
    owner = "worker-9.example:42:abcd"  # another machine: alive as far as anyone here knows
    with session_scope(ws.db) as s:
        now = leases.database_now(s)
        assert leases.try_acquire(session=s, name="train:bank", owner=owner, ttl=jobs.TRAIN_LEASE)
    assert jobs.training_states(ws, "bank") == {version: "training"}
    with session_scope(ws.db) as s:  # lapsed: its owner stopped renewing it
        assert leases.try_acquire(
            session=s,
            name="train:bank",
            owner=owner,
            ttl=jobs.TRAIN_LEASE,
            now=now - 2 * jobs.TRAIN_LEASE,
        )
    assert jobs.training_states(ws, "bank") == {version: "stopped"}
    with session_scope(ws.db) as s:
        assert leases.try_acquire(session=s, name="train:bank", owner=owner, ttl=jobs.TRAIN_LEASE)
        leases.release(session=s, name="train:bank", owner=owner)
    assert jobs.training_states(ws, "bank") == {version: "stopped"}
    assert _statuses(ws) == {version: "training"}


def test_an_active_model_file_missing_or_cut_short_is_said(loaded) -> None:  # type: ignore[no-untyped-def]
    ws = loaded
    run = jobs.train_now(ws, "bank")
    assert training.active_model_problem(ws, "bank") is None
    assert run.artifact_path is not None
    path = ws.settings.artifact_file(run.artifact_path)
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])  # a full disk cut it short
    problem = training.active_model_problem(ws, "bank")
    assert problem is not None and problem.version == run.version
    assert problem.short == "its file is empty or damaged"
    assert problem.message.startswith(
        f"model v{run.version} of 'bank' cannot be read: its file {path} "
    )
    assert problem.message.endswith(
        ": retrain with `labelbot train bank`, or roll back to a version whose file is usable "
        "with `labelbot models rollback bank VERSION`"
    )
    assert "\n" not in problem.message
    path.write_bytes(b"")
    assert training.active_model_problem(ws, "bank") is not None
    path.unlink()
    problem = training.active_model_problem(ws, "bank")
    assert problem is not None and problem.short == "its file is missing"
    assert f"is missing its file {path} " in problem.message
    path.write_bytes(whole)
    assert training.active_model_problem(ws, "bank") is None


def test_a_model_file_this_process_may_not_read_is_not_called_damaged(  # type: ignore[no-untyped-def]
    loaded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file made by another user (a `labelbot train` run as root, the bot as itself) is
    whole: "empty or damaged" sent people to retrain, when read access was the fix. The read
    is refused as the OS would (the tests run as root, whom no file mode stops)."""
    ws = loaded
    run = jobs.train_now(ws, "bank")
    assert run.artifact_path is not None
    path = ws.settings.artifact_file(run.artifact_path)

    def refused(file: Path) -> None:
        raise PermissionError(13, "Permission denied", str(file))

    monkeypatch.setattr(training, "check_model_file", refused)
    problem = training.active_model_problem(ws, "bank")
    assert problem is not None and problem.short == "its file is not readable by this process"
    assert f"its file {path} (LABELBOT_DATA_DIR" in problem.message
    assert "is not readable by this process (give it read access)" in problem.message
    assert "empty or damaged" not in problem.message


def _plant(path: Path, *, age: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PK\x03\x04 half a file")
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))
    return path


def test_training_deletes_old_temporary_leftovers_and_nothing_else(  # type: ignore[no-untyped-def]
    own_data_dir, banking_slice, tmp_path: Path
) -> None:
    ws = own_data_dir
    truth = load_slice(ws, banking_slice[:40], tmp_path)
    projects.update_settings(ws, project="bank", audit_share=0.0, multi_label_share=0.0)
    label_next(ws, truth, 10)
    data = ws.settings.data_dir
    shard = "0123456789abcdef0123456789abcdef"
    leftovers = [  # what killed writers left, as each writer names it, over an hour ago
        _plant(data / "models/bank/.v2-1a2b3c4d.npz.k3x_9qz0.tmp", age=2 * HOUR),
        _plant(data / "models/other/.v7.npz.abcdefgh.tmp", age=2 * HOUR),
        _plant(data / "graphs/some-encoder/.project-1.npz.a1b2c3d4.tmp", age=2 * HOUR),
        _plant(data / f"embeddings/some-encoder/.shard-{shard}.npz.tmp", age=2 * HOUR),
    ]
    kept = [
        # being written now, maybe by another process: recent
        _plant(data / "models/bank/.v3-1a2b3c4d.npz.abcdefgh.tmp", age=60),
        _plant(data / f"embeddings/some-encoder/.shard-{shard[::-1]}.npz.tmp", age=60),
        # old, but not a name those writers use, or not where they write
        _plant(data / "models/bank/v1-1a2b3c4d.npz", age=2 * HOUR),
        _plant(data / "models/bank/notes.tmp", age=2 * HOUR),
        _plant(data / "models/bank/.v2-1a2b3c4d.npz.tmp", age=2 * HOUR),
        _plant(data / "graphs/some-encoder/.project-1.npz.tmp", age=2 * HOUR),
        _plant(data / "embeddings/some-encoder/.shard-123.npz.tmp", age=2 * HOUR),
        _plant(data / ".v2-1a2b3c4d.npz.abcdefgh.tmp", age=2 * HOUR),
        _plant(data / "models/.v2-1a2b3c4d.npz.abcdefgh.tmp", age=2 * HOUR),
        _plant(data / "models/bank/deeper/.v2-1a2b3c4d.npz.abcdefgh.tmp", age=2 * HOUR),
    ]
    run = jobs.train_now(ws, "bank")
    assert run.status == "ready"
    assert [p for p in leftovers if p.exists()] == []
    assert [p for p in kept if not p.exists()] == []
    # and the files training itself wrote are there: its model, its embedding shards
    assert run.artifact_path is not None and ws.settings.artifact_file(run.artifact_path).exists()
    assert list((data / "embeddings").glob("*/shard-*.npz"))


def test_the_patterns_are_the_names_the_writers_use(tmp_path: Path) -> None:
    """Each pattern matches the temporary file its writer makes (read from the writer, not
    copied): a real Model.save, pool-graph save and shard write, stopped before the rename."""
    import numpy as np

    from engine import classifier, embeddings, pool_graph

    seen: list[str] = []
    real = os.replace

    def stop(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        seen.append(Path(src).name)
        raise KeyboardInterrupt  # as a kill would, before the rename

    os.replace = stop  # type: ignore[assignment]
    try:
        model = classifier.Model(
            kind="linear", n_classes=2, weight=np.zeros((3, 2)), bias=np.zeros(2)
        )
        with pytest.raises(KeyboardInterrupt):
            model.save(tmp_path / "models/bank/v3-1a2b3c4d.npz")
        with pytest.raises(KeyboardInterrupt):
            pool_graph._save(
                tmp_path / "graphs/enc/project-4.npz",
                np.zeros(2, dtype="<u8"),
                np.zeros((2, 2), dtype=np.int64),
                np.zeros((2, 2), dtype=np.float32),
                approximate=False,
            )
        cache = embeddings.EmbeddingCache(tmp_path / "embeddings", "enc")
        with pytest.raises(KeyboardInterrupt):
            cache.store(["k1"], np.zeros((1, 3), dtype=np.float32))
    finally:
        os.replace = real
    assert len(seen) == 3
    assert training.MODEL_TEMP_NAME.fullmatch(seen[0]), seen[0]
    assert pool_graph.TEMP_NAME.fullmatch(seen[1]), seen[1]
    assert embeddings.TEMP_NAME.fullmatch(seen[2]), seen[2]
    # an interrupted write cleans up after itself; only a killed one leaves the file
    assert not [p for p in tmp_path.rglob("*.tmp")]
