"""Where text may be cut without breaking a character as a reader sees it (a grapheme cluster,
simplified from Unicode's UAX #29): Slack's limits (bot.slack_text) and the digest chart's
class names (engine.digest) cut names to fit, and a cut inside "🇯🇵" or "👨‍👩‍👧" shows a stray letter
or half a family."""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterable

__all__ = ["ELLIPSIS", "cluster_end", "cluster_start", "shorten_middle"]

ELLIPSIS = "…"


def _is_high_surrogate(char: str) -> bool:
    return "\ud800" <= char <= "\udbff"


# How far a cut may move to keep a cluster whole: the longest emoji sequences (a family with
# skin tones, a subdivision flag) are 7 to 11 code points; past that the "cluster" is a pile of
# combining marks (Zalgo text), which may be cut anywhere without breaking a character.
_CLUSTER_MAX = 16


def _extends(char: str) -> bool:
    """A code point drawn as part of the one before it: a combining mark (an accent, a Hindi
    vowel sign, Arabic harakat), ZWJ/ZWNJ, a variation selector (U+FE0F, the emoji form), a
    skin-tone modifier, an emoji tag (the letters of 🏴 England's flag) or a low surrogate."""
    code = ord(char)
    return (
        unicodedata.category(char) in ("Mn", "Mc", "Me")
        or code in (0x200C, 0x200D)
        or 0xFE00 <= code <= 0xFE0F
        or 0x1F3FB <= code <= 0x1F3FF
        or 0xE0020 <= code <= 0xE007F
        or 0xE0100 <= code <= 0xE01EF
        or 0xDC00 <= code <= 0xDFFF
    )


def _is_regional(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF  # a flag is two of these: 🇯 + 🇵 = 🇯🇵


def _is_boundary(text: str, i: int) -> bool:
    """Whether ``text`` may be cut before ``text[i]`` without breaking what a reader sees as one
    character (a grapheme cluster, simplified from Unicode's UAX #29): not before a mark or
    joiner, not after ZWJ (👨‍👩‍👧 is one emoji), not inside a flag's pair of regional
    indicators, not after a virama that joins two letters (Hindi क्ष), not inside a surrogate
    pair."""
    if i <= 0 or i >= len(text):
        return True
    before, after = text[i - 1], text[i]
    if _extends(after) or before == "\u200d" or _is_high_surrogate(before):
        return False
    if _is_regional(before) and _is_regional(after):
        run = 0
        while i - 1 - run >= 0 and _is_regional(text[i - 1 - run]):
            run += 1
        return run % 2 == 0
    return not (unicodedata.combining(before) == 9 and after.isalpha())


def cluster_start(text: str, cut: int) -> int:
    """The largest position ``<= cut`` that starts a character as a reader sees it
    (:func:`_is_boundary`), looking back at most _CLUSTER_MAX code points. Slack counts limits
    in characters, and a cut inside "🇯🇵" or "👨‍👩‍👧" shows a stray letter or half a family."""
    for i in range(cut, max(cut - _CLUSTER_MAX, 0) - 1, -1):
        if _is_boundary(text, i):
            return i
    return cut - 1 if cut > 0 and _is_high_surrogate(text[cut - 1]) else cut


def cluster_end(text: str, start: int) -> int:
    """The smallest position ``>= start`` that starts a character as a reader sees it: where
    the tail of a name cut in its middle may begin (never with a lone accent or a half flag)."""
    for i in range(start, min(start + _CLUSTER_MAX, len(text)) + 1):
        if _is_boundary(text, i):
            return i
    return start + 1 if start < len(text) and 0xDC00 <= ord(text[start]) <= 0xDFFF else start


def shorten_middle(text: str, limit: int) -> str:
    """Cut `text` (plain text, a label's name) to `limit` characters in its middle: long names
    often start alike ("Customer complaint about delayed delivery of … by express courier",
    "… by standard post"), so their ends keep them apart on a button or in a menu."""
    if len(text) <= limit:
        return text
    keep = limit - len(ELLIPSIS)
    # neither end breaks a character: a flag, an emoji sequence, a letter and its accents
    head = text[: cluster_start(text, keep - keep // 2)]
    tail = text[cluster_end(text, len(text) - keep // 2) :]
    return head + ELLIPSIS + tail


def shorten_apart(names: Iterable[str], limit: int) -> dict[str, str]:
    """Each name cut to ``limit`` characters as :func:`shorten_middle` cuts it, except where
    two would then read the same ("Billing — variant 007 — …" and "… 008 …" both cut to their
    common start and end): those show where they differ instead, after a few characters of
    their start ("Billing —…variant 007 — escalated…"). Best effort: names that differ only
    in several far-apart places may still read alike."""
    names = list(dict.fromkeys(names))
    shown = {name: shorten_middle(name, limit) for name in names}
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(shown[name], []).append(name)
    for same in groups.values():
        if len(same) < 2:
            continue
        for name in same:
            others = [o for o in same if o != name]
            differs = min(len(os.path.commonprefix([name, o])) for o in others)
            shown[name] = _around(name, differs, limit)
    return shown


def _around(text: str, at: int, limit: int) -> str:
    """``text`` cut to ``limit`` characters so that position ``at`` shows: its start, then the
    part from a little before ``at`` on (an ellipsis for each cut)."""
    if len(text) <= limit:
        return text
    if at + _CONTEXT < limit - len(ELLIPSIS):  # the difference shows in a cut of the start
        return text[: cluster_start(text, limit - len(ELLIPSIS))] + ELLIPSIS
    head = text[: cluster_start(text, limit // 3)]
    begin = cluster_end(text, max(len(head), at - _CONTEXT))
    room = limit - len(head) - len(ELLIPSIS)
    if len(text) - begin <= room:
        return head + ELLIPSIS + text[begin:]
    stop = cluster_start(text, begin + room - len(ELLIPSIS))
    return head + ELLIPSIS + text[begin:stop] + ELLIPSIS


_CONTEXT = 8  # characters shown before where two names differ
