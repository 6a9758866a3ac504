"""Changing which model answers while another process computes: a re-score, a rollback or a
pin, a retrain and its prune of old files take turns, and each re-checks under the project's
lock what it decided on. Interleavings are forced: the second actor runs inside a hook placed
where the first one computes outside any transaction (or, on PostgreSQL, waits until the
database shows it waiting for the other's lock). On SQLite and PostgreSQL unless marked."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from engine import jobs, labeling, projects, training
from engine.config import Settings
from engine.workspace import Workspace
from storage.db import session_scope
from storage.errors import ConflictError, NotFoundError
from storage.models import utcnow
from storage.repositories import feedback, models
from storage.repositories import projects as project_repo
from tests.helpers import label_next, load_slice
from tests.storage.test_labeling_races import blocks_someone, wait_until


@pytest.fixture
def loaded(ws, banking_slice, tmp_path: Path):  # type: ignore[no-untyped-def]
    truth = load_slice(ws, banking_slice, tmp_path)
    projects.update_settings(
        ws, project="bank", multi_label_share=0.0, audit_share=0.0, retrain_every=5
    )
    label_next(ws, truth, 12, annotators=("U1",))
    return ws, truth


def _pid(ws: Workspace) -> int:
    return int(projects.get_project(ws, "bank").id or 0)


def _state(ws: Workspace) -> dict[str, Any]:
    """The active version, the pin, and which versions wrote the predictions of how many of
    the project's examples."""
    pid = _pid(ws)
    with session_scope(ws.db, read_only=True) as s:
        runs = models.list_model_runs(session=s, project_id=pid)
        by_id = {r.id: r.version for r in runs}
        rows = models.get_predictions(session=s, project_id=pid)
        n_examples, _ = models.example_extent(session=s, project_id=pid)
        pinned = project_repo.get_project_by_id(session=s, project_id=pid).settings.get(
            "pinned_version"
        )
    active = [r for r in runs if r.is_active]
    return {
        "active": active[0].version if active else None,
        "pinned": pinned,
        "predicted_by": sorted({by_id.get(p.model_run_id) for p in rows.values()}, key=str),
        "unscored": n_examples - len(rows),
    }


def _run(ws: Workspace, version: int) -> Any:
    return next(r for r in training.list_versions(ws, "bank") if r.version == version)


def _once(hook: Callable[[], None]) -> Callable[[], None]:
    """``hook`` on the first call only (the second actor may call the hooked function too)."""
    done: list[bool] = []

    def run() -> None:
        if not done:
            done.append(True)
            hook()

    return run


def _after(monkeypatch: pytest.MonkeyPatch, name: str, hook: Callable[[], None]) -> None:
    """Run ``hook`` once, right after the first call of ``training.<name>`` returns."""
    real = getattr(training, name)
    once = _once(hook)

    def hooked(*args: Any, **kwargs: Any) -> Any:
        out = real(*args, **kwargs)
        once()
        return out

    monkeypatch.setattr(training, name, hooked)


# --- re-scores (audit finding 2) -----------------------------------------------------------------


def test_a_rescore_that_scored_with_a_model_replaced_meanwhile_scores_again(  # type: ignore[no-untyped-def]
    loaded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A re-score (after an import, a taxonomy change) loaded v1; a retrain activated v2 before
    it wrote. It used to write v1's predictions over v2's: the queue, the guesses and the
    exports followed v1 until the next retrain."""
    ws, truth = loaded
    training.train_project(ws, "bank")

    def retrain() -> None:
        label_next(ws, truth, 6, annotators=("U2",))
        assert training.train_project(ws, "bank").is_active

    _after(monkeypatch, "_prediction_rows", retrain)  # the re-score computed v1's rows
    assert training.rescore_project(ws, "bank") == 150
    assert _state(ws) == {"active": 2, "pinned": None, "predicted_by": [2], "unscored": 0}


def test_a_retrain_keeps_and_scores_texts_imported_while_it_trained(  # type: ignore[no-untyped-def]
    loaded, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Texts imported (and re-scored) while a retrain ran lost their queue row when it swapped
    in the predictions of the pool it had read: they sorted last, never asked."""
    ws, _ = loaded
    training.train_project(ws, "bank")
    path = tmp_path / "more.csv"
    path.write_text(
        "text\n" + "".join(f"is a transfer number {i} to my sister free?\n" for i in range(10))
    )

    def import_more() -> None:  # `labelbot import`: the file, then a re-score
        projects.import_file(ws, project="bank", path=path)
        training.rescore_project(ws, "bank")

    _after(monkeypatch, "cv_metrics", import_more)
    v2 = training.train_project(ws, "bank")
    assert v2.is_active
    assert _state(ws) == {"active": 2, "pinned": None, "predicted_by": [2], "unscored": 0}


@pytest.mark.postgres
@pytest.mark.parametrize("db_url_and_schema", ["postgres"], indirect=True)
def test_two_rescores_at_once_take_turns(loaded, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """Two re-scores at once (two imports, an import and a Slack taxonomy change): the second
    failed with a duplicate key on PostgreSQL, not a LabelbotError, so `labelbot import` and
    the Slack flow did not even say the queue was not re-scored. The first is held in its
    write transaction until the second waits for it."""
    ws, _ = loaded
    training.train_project(ws, "bank")
    real = models.replace_predictions
    wrote, release = threading.Event(), threading.Event()
    first_pid: list[int] = []

    def held(*, session: Any, **kwargs: Any) -> None:
        real(session=session, **kwargs)
        if threading.current_thread().name == "first":
            first_pid.append(
                int(session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar())
            )
            wrote.set()
            assert release.wait(30)

    monkeypatch.setattr(models, "replace_predictions", held)
    errors: list[BaseException] = []

    def rescore() -> None:
        try:
            training.rescore_project(ws, "bank")
        except BaseException as exc:
            errors.append(exc)
            wrote.set()

    first = threading.Thread(target=rescore, name="first", daemon=True)
    second = threading.Thread(target=rescore, name="second", daemon=True)
    first.start()
    assert wrote.wait(60) and not errors, errors
    second.start()
    wait_until(lambda: blocks_someone(ws.db, first_pid[0]), "the second re-score to wait", 30)
    release.set()
    for t in (first, second):
        t.join(60)
    assert not first.is_alive() and not second.is_alive()
    assert errors == []
    assert _state(ws) == {"active": 1, "pinned": None, "predicted_by": [1], "unscored": 0}


# --- pins and rollbacks during a retrain (audit finding 3) ---------------------------------------


@pytest.fixture
def two_models(loaded):  # type: ignore[no-untyped-def]
    ws, truth = loaded
    training.train_project(ws, "bank")
    label_next(ws, truth, 6, annotators=("U2",))
    assert training.train_project(ws, "bank").is_active
    return ws, truth


def test_a_pin_made_while_a_retrain_trains_stays(
    two_models, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """The retrain decided with the settings it read before the pin; it activated v3 over the
    pinned v1 ("a pinned version stays active until unpinned")."""
    ws, _ = two_models
    _after(monkeypatch, "cv_metrics", lambda: training.pin_version(ws, "bank", 1))
    v3 = training.train_project(ws, "bank")
    assert not v3.is_active
    assert v3.metrics["promotion"] == {
        "promoted": False,
        "reason": "v1 is pinned; promote this one with `labelbot models promote`",
    }
    assert _state(ws) == {"active": 1, "pinned": 1, "predicted_by": [1], "unscored": 0}


def test_a_rollback_made_while_a_retrain_trains_stays(
    two_models, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """A person's rollback is the later decision: the retrain, compared with the model active
    when it started, is kept but not promoted over it."""
    ws, _ = two_models
    _after(monkeypatch, "cv_metrics", lambda: training.activate_version(ws, "bank", 1))
    v3 = training.train_project(ws, "bank")
    assert not v3.is_active
    assert v3.metrics["promotion"]["reason"] == (
        "v1 was made active while v3 trained (a rollback or a promotion); promote this one "
        "with `labelbot models promote`"
    )
    assert _state(ws) == {"active": 1, "pinned": None, "predicted_by": [1], "unscored": 0}
    # the next retrain compares with v1, as any other
    assert training.train_project(ws, "bank").is_active


def test_a_pin_is_activated_and_recorded_in_one_transaction(  # type: ignore[no-untyped-def]
    two_models, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It activated v1 and committed, then wrote the pin in a second transaction: a retrain
    finishing in between saw no pin, and a failure there left v1 active but not pinned."""
    ws, _ = two_models

    def fails(**_: Any) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(project_repo, "update_project_settings", fails)
    with pytest.raises(RuntimeError):
        training.pin_version(ws, "bank", 1)
    assert _state(ws) == {"active": 2, "pinned": None, "predicted_by": [2], "unscored": 0}


# --- a rollback racing the prune of old files (audit finding 8) ----------------------------------


def test_a_rollback_to_a_version_pruned_meanwhile_is_refused(  # type: ignore[no-untyped-def]
    two_models, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rollback checked v1's file, computed its predictions, and meanwhile a retrain
    finished and pruned v1: v1 became active with no file, and predict said "no trained model
    yet" until the next retrain."""
    ws, _ = two_models
    keep_none = Workspace(
        settings=Settings(
            DATABASE_URL=ws.settings.database_url,
            LABELBOT_DATA_DIR=ws.settings.data_dir,
            LABELBOT_KEEP_MODELS=0,
        ),
        db=ws.db,
        _encoder=ws.encoder,
    )
    # the newest run is the best one: v1 is not protected, as it would not be on a real project
    monkeypatch.setattr(training, "_quality", lambda run: (float(run.version), 0.0, 0))
    _after(monkeypatch, "_prediction_rows", lambda: training.train_project(keep_none, "bank"))
    with pytest.raises(ConflictError, match="v1 of 'bank' lost its file while it was being"):
        training.activate_version(ws, "bank", 1)
    assert _state(ws) == {"active": 3, "pinned": None, "predicted_by": [3], "unscored": 0}
    assert _run(ws, 1).artifact_path is None
    v3 = _run(ws, 3)
    assert v3.artifact_path and Path(v3.artifact_path).exists()
    ws.memo.clear()
    [answer] = training.predict_texts(ws, "bank", ["my card has not arrived"])
    assert answer.label == "card_arrival"


def test_an_active_model_whose_file_was_pruned_says_so(two_models) -> None:  # type: ignore[no-untyped-def]
    """A database left in that state by an older labelbot: not "no trained model yet"."""
    ws, _ = two_models
    with session_scope(ws.db) as s:
        models.forget_artifact(session=s, run_id=int(_run(ws, 2).id))
    ws.memo.clear()
    pruned = "model v2 of 'bank' is missing its file .it was pruned."
    with pytest.raises(NotFoundError, match=pruned):
        training.predict_texts(ws, "bank", ["hi"])
    v3 = training.train_project(ws, "bank")
    assert v3.is_active
    assert v3.metrics["promotion"]["reason"] == (
        "the active model v2 cannot answer: its file is missing"
    )


# --- a label that commits late (audit finding 11) ------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("db_url_and_schema", ["postgres"], indirect=True)
def test_a_label_committed_late_with_a_lower_id_counts_as_new(  # type: ignore[no-untyped-def]
    loaded, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL hands out ids at INSERT; transactions commit in any order. A slow click got
    id 13, a fast one 14 and committed first, then a retrain read its pool (through id 14,
    without 13); 13 committed after. It was in no model and never counted as new."""
    ws, truth = loaded
    training.train_project(ws, "bank")
    slow = labeling.next_task(ws, project="bank", annotator="USLOW")
    fast = labeling.next_task(ws, project="bank", annotator="UFAST")
    assert slow is not None and fast is not None
    real_add = feedback.add_annotation
    inserted, release = threading.Event(), threading.Event()

    def held(**kwargs: Any) -> Any:
        out = real_add(**kwargs)
        if threading.current_thread().name == "slow":
            inserted.set()
            assert release.wait(30)  # inserted, not committed
        return out

    monkeypatch.setattr(feedback, "add_annotation", held)
    ids: dict[str, int] = {}
    errors: list[BaseException] = []

    def click(who: str, task: Any) -> None:
        try:
            ids[who] = labeling.submit_label(
                ws, project="bank", example_id=task.example_id, label=truth[task.text],
                annotator=who, source="slack", key=who,
            ).annotation_id  # fmt: skip
        except BaseException as exc:
            errors.append(exc)
            inserted.set()

    slow_click = threading.Thread(target=click, args=("USLOW", slow), name="slow", daemon=True)
    slow_click.start()
    assert inserted.wait(30) and not errors, errors
    fast_click = threading.Thread(target=click, args=("UFAST", fast), daemon=True)
    fast_click.start()
    fast_click.join(30)
    assert not fast_click.is_alive() and not errors, errors

    def then_the_slow_click_commits() -> None:
        release.set()
        slow_click.join(30)

    _after(monkeypatch, "load_pool", then_the_slow_click_commits)
    v2 = training.train_project(ws, "bank")
    assert not slow_click.is_alive() and not errors, errors
    assert ids["USLOW"] < ids["UFAST"] == v2.metrics["annotations_read_through"]
    assert v2.n_labels == 13  # the 12 and the fast one: the slow one is in no model
    soon = jobs.retrain_decision(ws, "bank")
    assert soon.new_labels == 1 and not soon.due, soon
    later = jobs.retrain_decision(ws, "bank", now=utcnow() + timedelta(minutes=11))
    assert later.due and later.new_labels == 1, later
    assert training.train_project(ws, "bank").n_labels == 14
    assert jobs.retrain_decision(ws, "bank", now=utcnow() + timedelta(hours=5)).new_labels == 0


# --- a held-back notice's Promote racing a newer promotion (review 35) ---------------------------


def test_promote_unless_newer_leaves_a_version_promoted_meanwhile(  # type: ignore[no-untyped-def]
    two_models, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Promote v1 from an old notice (unless a newer version answers) while a retrain promotes
    v3: the check was made before the activation computed v1's predictions, so it is made
    again in turn with the retrain, and v3 stays."""
    ws, truth = two_models
    training.activate_version(ws, "bank", 1)  # v1 answers, as when the notice was drawn
    label_next(ws, truth, 6, annotators=("U3",))
    _after(monkeypatch, "_prediction_rows", lambda: training.train_project(ws, "bank"))
    made = training.activate_version(ws, "bank", 1, unless_newer=True)
    assert made.newer_active == 3
    assert _state(ws) == {"active": 3, "pinned": None, "predicted_by": [3], "unscored": 0}
    # with nothing newer it activates as before
    assert training.activate_version(ws, "bank", 3, unless_newer=True).newer_active is None
