"""How much do long texts cost the encoder? The head cut (engine.encoders.HEAD_CHARS) against
tokenizing every text whole, in the same run.

The model reads a text's first 256 tokens; without the cut the tokenizer still splits all of it.
Texts are Banking77 training sentences (bundled with the demo) joined until each reaches the
given length. Both paths run on the same texts one after the other, each twice (the faster run
is kept), and the vectors must be identical.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/long_texts.py [--texts 100] [--chars 2000,10000,50000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine import encoders  # noqa: E402
from engine.datasets import dataset_path, load_split  # noqa: E402


def _texts(sentences: list[str], n: int, chars: int) -> list[str]:
    out, i = [], 0
    for _ in range(n):
        parts: list[str] = []
        while sum(len(p) + 1 for p in parts) < chars:
            parts.append(sentences[i % len(sentences)])
            i += 1
        out.append(" ".join(parts)[:chars])
    return out


def _best_of_two(encoder: encoders.Encoder, texts: list[str]) -> tuple[float, np.ndarray]:
    best, vectors = float("inf"), None
    for _ in range(2):
        start = time.perf_counter()
        vectors = encoder.encode(texts)
        best = min(best, time.perf_counter() - start)
    assert vectors is not None
    return best, vectors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=100)
    parser.add_argument("--chars", default="2000,10000,50000")
    args = parser.parse_args()
    sentences, _ = load_split(dataset_path("banking77", "train"))
    encoder = encoders.get_encoder()
    cut_at = encoders.HEAD_CHARS
    print(f"{encoder.name}, {args.texts} texts per row, head cut at {cut_at:,} characters\n")
    print("| characters per text | whole (s) | head cut (s) | speed-up | vectors identical |")
    print("|---|---|---|---|---|")
    for chars in (int(c) for c in args.chars.split(",")):
        texts = _texts(sentences, args.texts, chars)
        encoders.HEAD_CHARS = 10**9  # never cut: every text tokenized whole
        whole, v_whole = _best_of_two(encoder, texts)
        encoders.HEAD_CHARS = cut_at
        cut, v_cut = _best_of_two(encoder, texts)
        same = bool(np.array_equal(v_whole, v_cut))
        print(f"| {chars:,} | {whole:.2f} | {cut:.2f} | {whole / cut:.1f}x | {same} |")


if __name__ == "__main__":
    main()
