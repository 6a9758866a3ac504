"""Suggested names: the words that most set a group of texts apart from another group."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

_TOKEN = re.compile(r"[a-z][a-z']+")
# words that name no topic in support messages, on top of sklearn's English list
_EXTRA_STOP = frozenset({"i'm", "i've", "don't", "can't", "didn't", "it's", "just", "want", "need",
                         "like", "know", "does", "did", "got", "get", "way", "ok", "please",
                         "help", "thanks", "hi", "hello", "able"})  # fmt: skip
STOP_WORDS: frozenset[str] = frozenset(ENGLISH_STOP_WORDS) | _EXTRA_STOP


def tokens(text: str) -> set[str]:
    """Distinct lower-case words of a text, minus stop words."""
    return {t.strip("'") for t in _TOKEN.findall(text.lower())} - STOP_WORDS


def distinctive_words(
    group: Sequence[str], rest: Sequence[str], *, top: int = 3
) -> list[tuple[str, float, float]]:
    """(word, share of ``group`` texts containing it, share of ``rest``), most distinctive first.

    The score is the difference of the two document frequencies: like TF-IDF's idf, a word that is
    as common in the rest as in the group scores 0 (cf. BERTopic's class-based TF-IDF, Grootendorst
    2022). Ties go to the more frequent word, then alphabetically, so names are deterministic.
    """
    if not group:
        return []
    g_df: dict[str, int] = {}
    for text in group:
        for w in tokens(text):
            g_df[w] = g_df.get(w, 0) + 1
    r_df: dict[str, int] = {}
    for text in rest:
        for w in tokens(text):
            r_df[w] = r_df.get(w, 0) + 1
    n_g, n_r = len(group), max(len(rest), 1)
    scored = [(w, c / n_g, r_df.get(w, 0) / n_r) for w, c in g_df.items() if c >= 2 or n_g < 4]
    scored.sort(key=lambda s: (-(s[1] - s[2]), -s[1], s[0]))
    return [(w, round(g, 3), round(r, 3)) for w, g, r in scored[:top] if g > r]


def suggest_name(group: Sequence[str], rest: Sequence[str], *, words: int = 2) -> str:
    """A snake_case name from the group's most distinctive words ("" when nothing stands out)."""
    return "_".join(w for w, _, _ in distinctive_words(group, rest, top=words))


def confidently_look(n: int) -> str:
    """ "1 example confidently looks", "3 examples confidently look" (merge evidence)."""
    return f"{n} example confidently looks" if n == 1 else f"{n} examples confidently look"
