"""A long text is tokenized from its head (engine.encoders.HEAD_CHARS): the model reads only its
first MAX_LENGTH tokens, and tokenizing all 50,000 characters of it cost far more than embedding.
The head must give exactly the ids the whole text gives, or the whole text is tokenized."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from engine import encoders
from engine.encoders import HEAD_CHARS, MAX_LENGTH

WORDS = [
    "card",
    "arrived",
    "late",
    "refund",
    "pending",
    "transfer",
    "declined",
    "why",
    "was",
    "my",
    "top-up",
    "reverted",
]


def _prose(n_chars: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < n_chars:
        words.append(rng.choice(WORDS) + rng.choice(["", "", ",", "."]))
    return " ".join(words)


class Spy:
    """Wraps the encoder's tokenizer, recording how long each text it was given is."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.lengths: list[int] = []

    def __call__(self, texts: list[str], **kw: Any) -> Any:
        self.lengths.extend(len(t) for t in texts)
        return self.tokenizer(texts, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.tokenizer, name)


@pytest.fixture
def spy(encoder: Any, monkeypatch: pytest.MonkeyPatch) -> Spy:
    watched = Spy(encoder._tokenizer)
    monkeypatch.setattr(encoder, "_tokenizer", watched)
    return watched


def _whole(encoder: Any, texts: list[str]) -> list[list[int]]:
    return encoder._tokenizer.tokenizer(
        texts, truncation=True, max_length=MAX_LENGTH, return_attention_mask=False
    )["input_ids"]


def test_a_long_text_is_tokenized_from_its_head_with_the_same_ids(encoder: Any, spy: Spy) -> None:
    texts = [_prose(50_000, seed) for seed in range(3)] + ["short text", _prose(HEAD_CHARS - 5)]
    ids = encoder._token_ids(texts)
    assert ids == _whole(encoder, texts)
    assert all(len(i) == MAX_LENGTH for i in ids[:3])
    assert max(spy.lengths) <= HEAD_CHARS + 20  # no 50,000-character text went in whole


def test_a_head_short_of_tokens_falls_back_to_the_whole_text(encoder: Any, spy: Spy) -> None:
    # characters the tokenizer drops (NUL, U+FFFD) fill the head: it holds no tokens at all
    dropped = ("\x00\ufffd" * 8 + " ") * (HEAD_CHARS // 16)
    text = dropped + _prose(20_000)
    ids = encoder._token_ids([text])
    assert ids == _whole(encoder, [text])
    assert len(ids[0]) == MAX_LENGTH and len(text) in spy.lengths  # read whole, as before


def test_a_long_text_without_spaces_is_not_cut(encoder: Any, spy: Spy) -> None:
    text = "退款" * 20_000  # each CJK character is a token: no space to cut at
    assert encoder._token_ids([text]) == _whole(encoder, [text])
    assert len(text) in spy.lengths


def test_the_vectors_of_long_texts_are_unchanged(
    encoder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [_prose(30_000, seed) for seed in range(4)] + ["when will my card arrive?"]
    cut = encoder.encode(texts)
    monkeypatch.setattr(encoders, "HEAD_CHARS", 10**9)  # never cut: the old path
    whole = encoder.encode(texts)
    np.testing.assert_array_equal(cut, whole)
