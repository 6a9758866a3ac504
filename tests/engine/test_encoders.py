"""The packaged encoder: shape, normalisation, pooling, ordering, precisions, errors."""

from __future__ import annotations

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
    # int8 quantizes activations per batch, so a text's vector moves slightly with its batch
    # neighbours (the cache pins the first one); a mix-up of rows would give cosines near 0.3.
    together = encoder.encode(MIXED, batch_size=2)
    one_by_one = np.vstack([encoder.encode([t]) for t in MIXED])
    assert (together * one_by_one).sum(axis=1).min() > 0.98


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
