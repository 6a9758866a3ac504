"""The packaged encoder: shape, normalisation, pooling, ordering, precisions, errors."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from engine.encoders import Encoder, get_encoder
from storage.errors import ConfigurationError, InvalidInputError

MIXED = [
    "card?",
    "What can I do if my card still hasn't arrived after two weeks, and who do I call about it?",
    "Top up failed",
    "I was charged twice for the same purchase at a shop yesterday evening",
    "hello",
]


def test_vectors_are_float32_unit_rows(encoder: Encoder) -> None:
    vectors = encoder.encode(MIXED[:3])
    assert vectors.shape == (3, encoder.dim) == (3, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_empty_input_gives_empty_array(encoder: Encoder) -> None:
    assert encoder.encode([]).shape == (0, encoder.dim)


def test_similar_sentences_are_closer_than_unrelated(encoder: Encoder) -> None:
    card, lost, weather = encoder.encode(
        ["My card has not arrived yet", "Where is my new card?", "It is raining in Paris today"]
    )
    assert card @ lost > card @ weather + 0.3


def test_order_is_kept_with_mixed_lengths_and_batches(encoder: Encoder) -> None:
    fp32 = get_encoder(device="cpu", precision="fp32")
    np.testing.assert_allclose(
        fp32.encode(MIXED, batch_size=2),
        np.vstack([fp32.encode([t]) for t in MIXED]),
        atol=1e-5,
    )
    # int8 runs each text alone, so its vector does not depend on the texts beside it
    together = encoder.encode(MIXED, batch_size=2)
    one_by_one = np.vstack([encoder.encode([t]) for t in MIXED])
    assert np.array_equal(together, one_by_one)


def test_an_int8_vector_does_not_depend_on_its_batch_mates() -> None:
    """Dynamic quantization scales activations by the whole input: run in one batch, a short
    text's vector moved with its neighbours and their padding. Run alone (the default), it is
    the same bit for bit in any batch, order or batch size."""
    from engine.config import get_settings
    from engine.encoders import OnnxEncoder, _resolve

    model_id, source = _resolve("all-MiniLM-L6-v2")
    texts = MIXED + [f"{t} {t}" for t in MIXED]
    alone = OnnxEncoder(model_id, source, data_dir=get_settings().data_dir)
    reference = np.vstack([alone.encode([t]) for t in texts])
    for batch_size in (3, 64):
        shuffled = alone.encode(texts[::-1], batch_size=batch_size)[::-1]
        assert np.array_equal(shuffled, reference)
    batched = OnnxEncoder(model_id, source, data_dir=get_settings().data_dir, alone=False)
    moved = 1 - (batched.encode(texts) * reference).sum(axis=1)
    assert moved.max() > 1e-4  # the batched run is what the default avoids ...
    assert moved.max() < 0.05  # ... and still the same model


def test_progress_reports_every_text_once(encoder: Encoder) -> None:
    done: list[int] = []
    encoder.encode(MIXED, batch_size=2, progress=done.append)
    assert done and sum(done) == len(MIXED) and max(done) <= 2


def test_long_text_is_truncated_not_rejected(encoder: Encoder) -> None:
    assert encoder.encode(["word " * 2000]).shape == (1, encoder.dim)


def test_fp32_equals_mean_pooling_of_raw_transformers_output() -> None:
    import torch
    from transformers import AutoModel, AutoTokenizer

    from engine.encoders import MODELS

    fp32 = get_encoder(device="cpu", precision="fp32")
    assert fp32.name == "all-MiniLM-L6-v2"
    texts = ["a short one", "a considerably longer sentence with padding for the other one"]
    path = MODELS["all-MiniLM-L6-v2"]()
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)  # type: ignore[no-untyped-call]
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state.numpy()
    mask = batch["attention_mask"].numpy()[..., None]
    expected = (hidden * mask).sum(axis=1) / mask.sum(axis=1)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(fp32.encode(texts), expected, atol=1e-5)


def test_int8_stays_close_to_fp32() -> None:
    pytest.importorskip("onnxruntime")
    int8 = get_encoder(device="cpu", precision="int8")
    fp32 = get_encoder(device="cpu", precision="fp32")
    assert int8.name == "all-MiniLM-L6-v2@int8" and int8.dim == fp32.dim
    cosine = (int8.encode(MIXED) * fp32.encode(MIXED)).sum(axis=1)
    assert cosine.min() > 0.95


def test_encoders_are_cached_per_process() -> None:
    assert get_encoder(device="cpu", precision="fp32") is get_encoder(
        "all-MiniLM-L6-v2", device="cpu", precision="fp32"
    )


def test_unknown_encoder_name_is_a_clear_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="no-such-org--no-such-model|LABELBOT_ENCODER"):
        get_encoder("no-such-org/no-such-model", device="cpu", precision="fp32")


def test_encoder_load_error_is_one_line_without_network_advice() -> None:
    # transformers' own message runs over lines and advises checking the internet connection;
    # labelbot loads offline only, and its errors are one line
    with pytest.raises(ConfigurationError) as caught:
        get_encoder("bert-base-uncased", device="cpu", precision="fp32")
    message = str(caught.value)
    assert "\n" not in message
    assert "internet" not in message.lower() and "huggingface.co" not in message
    assert "LABELBOT_ENCODER" in message


def test_unknown_precision_is_invalid_input() -> None:
    with pytest.raises(InvalidInputError, match="precision"):
        get_encoder(device="cpu", precision="int3")


def test_local_model_directory_plugs_in_by_path() -> None:
    from engine.encoders import MODELS

    path = MODELS["all-MiniLM-L6-v2"]()
    by_path = get_encoder(str(path), device="cpu", precision="fp32")
    assert by_path.name.startswith("model-") and "/" not in by_path.name
    np.testing.assert_allclose(
        by_path.encode(MIXED[:2]),
        get_encoder(device="cpu", precision="fp32").encode(MIXED[:2]),
        atol=1e-6,
    )


def test_threads_loading_the_encoder_at_once_share_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The first requests after a start arrive together: each thread gets the one encoder (a
    fresh interpreter, so nothing is imported or cached yet)."""
    script = """
import sys, threading
from engine.encoders import get_encoder
got, errors, start = [], [], threading.Barrier(4)
def load():
    start.wait()
    try:
        got.append(get_encoder())
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=load) for _ in range(4)]
for t in threads: t.start()
for t in threads: t.join()
print(len(got), len({id(e) for e in got}), errors)
got[0].encode(["ready"])
"""
    env = {**os.environ, "LABELBOT_DATA_DIR": os.environ.get("LABELBOT_DATA_DIR", str(tmp_path))}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[0] == "4 1 []"
