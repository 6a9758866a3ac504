"""Suggested names: the words that most set a group of texts apart from another group."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import cache

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

# words that name no topic in support messages, on top of sklearn's English list
_EXTRA_STOP = frozenset({"i'm", "i've", "don't", "can't", "didn't", "it's", "just", "want", "need",
                         "like", "know", "does", "did", "got", "get", "way", "ok", "please",
                         "help", "thanks", "hi", "hello", "able"})  # fmt: skip
STOP_WORDS: frozenset[str] = frozenset(ENGLISH_STOP_WORDS) | _EXTRA_STOP


@cache
def _token() -> re.Pattern[str]:
    """A word: letters of any script, with the combining marks that follow them (the vowel
    signs of Indic scripts, Arabic vowels: marks, not letters, which "\\w" leaves out), inner
    apostrophes and inner zero-width (non-)joiners (Persian writes ZWNJ inside most plurals and
    verb forms, "کتاب‌ها"; label names keep it), 2 characters or more. "[a-z]" cut "bloquée" to
    "bloqu" and found no word at all in a Cyrillic text. Digits and "_" end a word: a suggested
    name joins words with "_". Compiled on first use (the marks are read from the Unicode
    database)."""
    marks = "".join(
        re.escape(chr(c)) for c in range(0x300, 0x10000) if unicodedata.category(chr(c))[0] == "M"
    )
    letter = r"[^\W\d_]"
    inner = rf"'(?={letter})|[\u200c\u200d](?={letter}|[{marks}])"
    return re.compile(rf"{letter}(?:{letter}|[{marks}]|{inner})+")


# Scripts written without spaces between words: a run of them is a phrase or a whole message,
# no word. Han and kana are read as character pairs (bigrams, the usual unit of Chinese and
# Japanese text search: "账户" 'account' is two characters); Thai, Lao, Khmer and Myanmar, whose
# letters take vowel signs on either side, are left out (a name falls back to "new_label_N").
# Letters only: the combining voiced marks U+3099-U+309C and the double hyphen U+30A0 are left
# out, so that no pair starts with a mark or holds punctuation.
_HAN_KANA = re.compile(
    "[\u3005\u3007\u3041-\u3096\u309d-\u309f\u30a1-\u30fa\u30fc-\u30ff\u31f0-\u31ff"
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f]+"
)
_UNSPACED = re.compile("[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u19e0-\u19ff]+")


def tokens(text: str) -> set[str]:
    """Distinct lower-case words of a text (NFC, as label names are stored), minus stop
    words. Turkish "İ" gives a plain "i" (lowered alone it is "i" and a combining dot, which
    looks like "i" yet is another name to storage and to a typed command); a run of Han or
    kana gives its character pairs (:data:`_HAN_KANA`)."""
    text = unicodedata.normalize("NFC", text).replace("\u0130", "i")
    text = unicodedata.normalize("NFC", text.lower()).replace("\u2019", "'")
    words: set[str] = set()
    for run in _HAN_KANA.findall(text):
        words.update(run[i : i + 2] for i in range(len(run) - 1))
    text = _UNSPACED.sub(" ", _HAN_KANA.sub(" ", text))
    return (words | set(_token().findall(text))) - STOP_WORDS


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
