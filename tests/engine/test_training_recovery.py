"""An active model that cannot answer -- its file lost, empty or damaged, or trained on another
encoder's embeddings -- never blocks training: the retrain goes on without it and replaces it,
and until then predictions refuse, saying how to get out. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from engine import jobs, projects, training
from engine.classifier import Model
from engine.workspace import Workspace
from storage.errors import ConfigurationError, InvalidInputError, NotFoundError
from tests.helpers import label_next, load_slice


@pytest.fixture
def loaded(ws, banking_slice, tmp_path: Path):  # type: ignore[no-untyped-def]
    truth = load_slice(ws, banking_slice, tmp_path)
    projects.update_settings(
        ws, project="bank", multi_label_share=0.0, audit_share=0.2, retrain_every=5
    )
    label_next(ws, truth, 20, annotators=("U1", "U2"))
    return ws, truth


def test_a_lost_model_file_skips_the_warm_start_and_the_retrain_replaces_it(  # type: ignore[no-untyped-def]
    loaded, caplog: pytest.LogCaptureFixture
) -> None:
    ws, truth = loaded
    v1 = training.train_project(ws, "bank")
    assert v1.is_active and v1.artifact_path
    Path(v1.artifact_path).unlink()  # the data folder was cleaned, or is another disk
    ws.memo.clear()  # as in a process that never loaded it
    with pytest.raises(NotFoundError) as refused:
        training.predict_texts(ws, "bank", ["my card has not arrived"])
    message = str(refused.value)
    assert "missing its file" in message
    assert "`labelbot train bank`" in message and "`labelbot models rollback bank" in message
    label_next(ws, truth, 5, annotators=("U1",))
    with caplog.at_level("WARNING", logger="engine.training"):
        [outcome] = jobs.retrain_cycle(ws, owner="w1")  # the scheduler: due (a new label)
    assert outcome.version == 2, outcome
    assert "training bank without the active model" in caplog.text
    v2 = training.list_versions(ws, "bank")[-1]
    assert v2.status == "ready" and v2.is_active
    assert (
        v2.metrics["promotion"]["reason"]
        == "the active model v1 cannot answer: its file is missing"
    )
    assert v2.metrics["audit"]["n"] > 0  # scored on the audit set; the lost model could not be
    assert "agreement_previous" not in v2.metrics and "audit_active" not in v2.metrics
    [answer] = training.predict_texts(ws, "bank", ["my card has not arrived"])
    assert answer.label == "card_arrival"


@pytest.mark.parametrize("keep", ["nothing", "half"])
def test_an_empty_or_cut_short_model_file_is_unusable_and_the_retrain_replaces_it(  # type: ignore[no-untyped-def]
    loaded, keep: str, caplog: pytest.LogCaptureFixture
) -> None:
    """What a power loss can leave behind a committed "active" row: the file's name, but none
    or part of its bytes. Predictions refuse, naming the file; training and re-scoring go on."""
    ws, truth = loaded
    v1 = training.train_project(ws, "bank")
    assert v1.artifact_path
    path = Path(v1.artifact_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2] if keep == "half" else b"")
    ws.memo.clear()  # as in a process that never loaded it
    with (
        caplog.at_level("WARNING", logger="engine.training"),
        pytest.raises(NotFoundError) as refused,
    ):
        training.predict_texts(ws, "bank", ["my card has not arrived"])
    message = str(refused.value)
    assert f"model v1 of 'bank' cannot be read: its file {path}" in message
    assert "is empty or damaged (" in message
    assert "`labelbot train bank`" in message and "`labelbot models rollback bank" in message
    # the error is the one word on it (a log line too made the CLI print it twice)
    assert [r.getMessage() for r in caplog.records if str(path) in r.getMessage()] == []
    assert training.rescore_project(ws, "bank") > 0  # a cold start, not an error
    label_next(ws, truth, 5, annotators=("U1",))
    caplog.clear()
    with caplog.at_level("WARNING", logger="engine.training"):
        v2 = training.train_project(ws, "bank")
    assert "training bank without the active model" in caplog.text
    assert v2.status == "ready" and v2.is_active
    reason = v2.metrics["promotion"]["reason"]
    assert reason == "the active model v1 cannot answer: its file is empty or damaged"
    assert "agreement_previous" not in v2.metrics  # trained cold: nothing read from v1
    [answer] = training.predict_texts(ws, "bank", ["my card has not arrived"])
    assert answer.label == "card_arrival"
    assert [(r.version, r.status) for r in training.list_versions(ws, "bank")] == [
        (1, "ready"),
        (2, "ready"),
    ]
    with pytest.raises(NotFoundError, match=r"the file of model v1, .* is empty or damaged"):
        training.activate_version(ws, "bank", 1)  # a rollback to it is refused, saying why
    assert training.active_model(ws, "bank")[0].version == 2  # type: ignore[index]


def test_a_lost_file_of_a_pinned_model_says_to_unpin(loaded) -> None:  # type: ignore[no-untyped-def]
    ws, _ = loaded
    v1 = training.train_project(ws, "bank")
    training.pin_version(ws, "bank", v1.version)
    assert v1.artifact_path
    Path(v1.artifact_path).unlink()
    ws.memo.clear()
    with pytest.raises(NotFoundError, match="it is pinned: `labelbot models unpin bank` first"):
        training.predict_texts(ws, "bank", ["hi"])
    v2 = training.train_project(ws, "bank")  # trains; a pin is a person's choice: kept
    assert not v2.is_active and "pinned" in v2.metrics["promotion"]["reason"]


class RotatedEncoder:
    """Another sentence encoder of the same size: MiniLM's vectors turned by a fixed random
    rotation. Texts cluster as well as before, in a space the old weights know nothing of."""

    def __init__(self, base, name: str = "other-encoder") -> None:  # type: ignore[no-untyped-def]
        self.name = name
        self.dim = int(base.dim)
        self._base = base
        q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(self.dim, self.dim)))
        self._rotation = q.astype(np.float32)

    def encode(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = 64,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        vectors = self._base.encode(texts, batch_size=batch_size, progress=progress)
        out: np.ndarray = (vectors @ self._rotation).astype(np.float32)
        return out


def test_a_model_of_another_encoder_is_refused_for_predict_and_warm_starts(  # type: ignore[no-untyped-def]
    loaded, caplog: pytest.LogCaptureFixture
) -> None:
    ws, _ = loaded
    v1 = training.train_project(ws, "bank")
    assert training.predict_texts(ws, "bank", ["hi"])  # the same encoder: answers
    # LABELBOT_ENCODER now names another model of the same size (384-d)
    other = Workspace(settings=ws.settings, db=ws.db, _encoder=RotatedEncoder(ws.encoder))
    with pytest.raises(ConfigurationError) as refused:
        training.predict_texts(other, "bank", ["my card has not arrived"])
    message = str(refused.value)
    assert f"trained on embeddings of {ws.encoder.name} (384-d)" in message
    assert "the encoder now is other-encoder (384-d" in message
    assert "retrain with `labelbot train bank`" in message
    with pytest.raises(InvalidInputError, match="trained on embeddings of"):
        training.activate_version(other, "bank", v1.version)
    with caplog.at_level("WARNING", logger="engine.training"):
        v2 = training.train_project(other, "bank")  # trains cold, not from v1's weights
    assert "training bank without the active model" in caplog.text
    assert v2.is_active and "another encoder" in v2.metrics["promotion"]["reason"]
    assert "agreement_previous" not in v2.metrics  # no warm start, nothing to compare
    [answer] = training.predict_texts(other, "bank", ["my card has not arrived"])
    assert answer.label == "card_arrival"
    with pytest.raises(ConfigurationError, match="the encoder now is"):
        training.predict_texts(ws, "bank", ["hi"])  # and back: v2 is the other's


def test_the_same_encoder_at_another_precision_is_the_same_space(loaded) -> None:  # type: ignore[no-untyped-def]
    """int8 ONNX on CPU (``x@int8``) and fp32 on a GPU (``x``) put a text at nearly the same
    point: a model trained on one answers for the other."""
    ws, _ = loaded
    training.train_project(ws, "bank")
    base = ws.encoder.name.split("@")[0]
    twin = Workspace(settings=ws.settings, db=ws.db, _encoder=RotatedEncoder(ws.encoder, base))
    twin.encoder._rotation = np.eye(twin.encoder.dim, dtype=np.float32)  # type: ignore[attr-defined]
    [answer] = training.predict_texts(twin, "bank", ["my card has not arrived"])
    assert answer.label == "card_arrival"


def test_a_file_from_before_encoders_were_recorded_is_checked_by_its_size(ws) -> None:  # type: ignore[no-untyped-def]
    old = Model(kind="linear", n_classes=2, weight=np.zeros((8, 2)), bias=np.zeros(2))
    assert old.encoder is None
    assert "a 8-d encoder" in str(training.encoder_mismatch(ws, old))
    fits = Model(kind="linear", n_classes=2, weight=np.zeros((ws.encoder.dim, 2)), bias=np.zeros(2))
    assert training.encoder_mismatch(ws, fits) is None


def test_the_model_file_keeps_its_encoder(tmp_path: Path) -> None:
    from engine.classifier import load_model

    model = Model(kind="linear", n_classes=2, weight=np.ones((4, 2)), bias=np.zeros(2))
    model.encoder = "all-MiniLM-L6-v2@int8"
    model.save(tmp_path / "m.npz")
    assert load_model(tmp_path / "m.npz").encoder == "all-MiniLM-L6-v2@int8"


def test_the_model_file_is_on_disk_before_it_is_renamed_into_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The caller commits the file as the active model right after save(): its bytes must be
    synced before the rename, and the rename itself (the folder) after it."""
    import os
    import stat

    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append("fsync folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        real_fsync(fd)

    def replace(src: str, dst: str) -> None:
        calls.append("replace")
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    model = Model(kind="linear", n_classes=2, weight=np.ones((4, 2)), bias=np.zeros(2))
    model.save(tmp_path / "m.npz")
    assert calls == ["fsync file", "replace", "fsync folder"]
    monkeypatch.undo()
    from engine.classifier import load_model

    assert load_model(tmp_path / "m.npz").n_classes == 2
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]  # no temporary file left
