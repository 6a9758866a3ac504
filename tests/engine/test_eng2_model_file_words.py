"""A model file overwritten by something that is no model file (a text, a pickle) is refused in
our words: the file is named, said not to be a readable model file, with the way out (retrain
or roll back). numpy's advice for such a file -- load it with ``allow_pickle`` -- is never
repeated: a model file never holds pickled data, and unpickling a stranger runs its code."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import pytest

from engine import projects, training
from storage.errors import NotFoundError
from tests.helpers import label_next, load_slice


def _archive_of_objects() -> bytes:
    """An .npz whose arrays are pickled objects (np.load refuses them, advising allow_pickle)."""
    out = io.BytesIO()
    names = ("kind", "n_classes", "weight", "bias", "temperature", "k")
    np.savez(out, **{name: np.array([{"x": 1}], dtype=object) for name in names})
    return out.getvalue()


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"garbage\n", "(no .npz archive"),
        (pickle.dumps({"weight": [1.0]}), "(no .npz archive"),
        (_archive_of_objects(), "(it holds pickled data"),
    ],
    ids=["text", "pickle", "objects"],
)
def test_a_file_that_is_no_model_file_is_refused_without_numpys_advice(  # type: ignore[no-untyped-def]
    ws, banking_slice, tmp_path: Path, content: bytes, why: str
) -> None:
    truth = load_slice(ws, banking_slice, tmp_path)
    projects.update_settings(ws, project="bank", multi_label_share=0.0, audit_share=0.2)
    label_next(ws, truth, 20, annotators=("U1", "U2"))
    v1 = training.train_project(ws, "bank")
    assert v1.artifact_path
    path = Path(v1.artifact_path)
    path.write_bytes(content)  # `echo garbage > models/bank/v1-*.npz`
    ws.memo.clear()  # as in a process that never loaded it
    with pytest.raises(NotFoundError) as refused:
        training.predict_texts(ws, "bank", ["my card has not arrived"])
    message = str(refused.value)
    assert f"model v1 of 'bank' cannot be read: its file {path}" in message
    assert f"is not a readable model file {why}" in message
    assert "`labelbot train bank`" in message and "`labelbot models rollback bank" in message
    problem = training.active_model_problem(ws, "bank")  # `labelbot status` / `models`
    assert problem is not None and "is not a readable model file" in problem.message
    with pytest.raises(NotFoundError) as rollback:
        training.activate_version(ws, "bank", 1)
    assert "is not a readable model file" in str(rollback.value)
    for said in (message, problem.message, str(rollback.value)):
        assert "allow_pickle" not in said and "unsafely" not in said and "pickle.load" not in said
