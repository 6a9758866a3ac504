"""Safe text for Slack: escape user content and cut it to Block Kit limits.

Slack asks apps to escape exactly three characters in message text -- `&`, `<` and `>` -- so
that user text can never form a mention (`<@U123>`), a broadcast (`<!channel>`) or a link
(https://docs.slack.dev/messaging/formatting-message-text#escaping). Its formatting
characters (`*`, `_`, `~`, `` ` ``) have no escape; :func:`escape_mrkdwn` shows them as typed.
"""

from __future__ import annotations

import re

from engine.text import ELLIPSIS, cluster_start
from engine.text import shorten_apart as shorten_apart  # the views cut names with these
from engine.text import shorten_middle as shorten_middle

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_ESCAPE_RE = re.compile(r"[&<>]")
# The longest escape sequence we produce is "&amp;" (5 characters).
_ENTITY_TAIL_RE = re.compile(r"&[a-z]{0,3}$")


# Unicode's explicit direction controls: an embedding or override (LRE, RLE, LRO, RLO) lasts
# until a PDF, an isolate (LRI, RLI, FSI) until a PDI, or either until the paragraph ends
# (https://www.unicode.org/reports/tr9/#Explicit_Directional_Embeddings). One left open in user
# text -- an imported annotator's name, a flag's reason, an example -- reversed labelbot's own
# words after it on the line: "\u202eWalter chose *card*" reads "*drac* esohc retlaW".
_CLOSES = {"\u202a": "\u202c", "\u202b": "\u202c", "\u202d": "\u202c", "\u202e": "\u202c"}
_CLOSES |= dict.fromkeys("\u2066\u2067\u2068", "\u2069")
_BIDI_RE = re.compile("[\u202a-\u202e\u2066-\u2069]")


def _closed_line(line: str) -> str:
    """``line`` with the direction controls it leaves open closed at its end. Each control is
    looked at once: an isolate's close pops only what it closes (a count of the isolates open
    says whether there is one), so a line of thousands of them costs no more than their count."""
    open_: list[str] = []
    isolates = 0  # the isolates among open_
    for char in _BIDI_RE.findall(line):
        if char in _CLOSES:
            open_.append(char)
            isolates += _CLOSES[char] == "\u2069"
        elif char == "\u202c":  # closes the last embedding, unless an isolate is open after it
            if open_ and _CLOSES[open_[-1]] == "\u202c":
                open_.pop()
        elif isolates:  # closes the last isolate, and within it
            while _CLOSES[open_.pop()] != "\u2069":
                pass
            isolates -= 1
    return line + "".join(_CLOSES[c] for c in reversed(open_))


def close_bidi(text: str) -> str:
    """``text`` with every direction control it leaves open closed at the end of its line
    (:data:`_CLOSES`), so that it can never reorder what follows it: each line reads as typed,
    and so does the text after it. A line ends at "\\n"; only lines with a control are looked
    at, each once (a pattern for "a line with a control" is tried at every position of a long
    line without one: seconds for a long paragraph after a name in an isolate)."""
    if not _BIDI_RE.search(text):
        return text
    return "\n".join(
        _closed_line(line) if _BIDI_RE.search(line) else line for line in text.split("\n")
    )


def escape(text: str) -> str:
    """Escape `&`, `<`, `>` so user text renders literally in mrkdwn, and close the direction
    controls it leaves open (:func:`close_bidi`)."""
    return close_bidi(_ESCAPE_RE.sub(lambda m: _ESCAPES[m.group()], text))


# Slack has no escape for its formatting characters (*bold*, _italic_, ~strike~, `code`): a
# backslash shows as typed, `verbatim` only stops auto-linking, and a zero-width space beside
# one is read as a word break, which is how apps *force* formatting (jsx-slack's "exact mode").
# What Slack shows as typed, unformatted, is the fallback of a date it cannot format (the
# invalid token {_}): jsx-slack's <Escape> and Cord's Slack bridge print formatting characters
# that way. The reader sees, and copies, the characters themselves; nothing invisible is added
# to a name someone types back (https://docs.slack.dev/messaging/formatting-message-text#date-formatting).
_LITERAL = "<!date^00000000^{{_}}|{}>"
_FORMATTING_RE = re.compile(r"[*_~`]+")
# A `>` that starts a line (after any spaces) makes it a block quote, escaped (`&gt;`) or not:
# a guideline line "> 5 items: use bulk_order" would lose its `>` to a quote bar. Shown through
# the same fallback. Elsewhere `&gt;` is plain text.
_QUOTE_RE = re.compile(r"^([^\S\n]*)&gt;", re.MULTILINE)
_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def _literal_formatting(match: re.Match[str]) -> str:
    run, text = match.group(), match.string
    before, after = text[match.start() - 1 : match.start()], text[match.end() : match.end() + 1]
    # Slack formats only at word breaks: one "_" inside a word (card_arrival, :white_check_mark:)
    # opens and closes nothing, and stays as typed
    if run == "_" and before in _WORD_CHARS and after in _WORD_CHARS:
        return run
    return _LITERAL.format(run)


def _literal_quote(match: re.Match[str]) -> str:
    return match.group(1) + _LITERAL.format("&gt;")


def escape_mrkdwn(text: str) -> str:
    """User text for mrkdwn, shown as typed: :func:`escape`, and every `*`, `~`, `` ` ``,
    every `_` not inside a word and every `>` that starts a line shown through Slack's date
    fallback, so that a label called "a*b*c" or "_draft_" is neither bold nor italic, nor pairs
    with labelbot's own *bold* around it, and a guideline line "> 5 items" is no block quote.
    The text's start counts as a line's (placed mid-line, the `>` reads the same). Inside
    `code` formatting never applies: there :func:`escape` is enough, and a command to copy
    stays as written."""
    return _QUOTE_RE.sub(_literal_quote, _FORMATTING_RE.sub(_literal_formatting, escape(text)))


# How far past a cut truncate() may look (an escape sequence's tail, a mark after the cut), with
# room to spare: the escaped text of a head this much longer than the cut is that of the whole
# text up to past it (escape_mrkdwn_head).
_HEAD_MARGIN = 64


def escape_mrkdwn_head(text: str, limit: int) -> str:
    """:func:`escape_mrkdwn` of as much of ``text`` as ``limit`` escaped characters can show:
    cut to ``limit`` (:func:`truncate`), it reads as the whole text escaped would, and it is
    longer than ``limit`` exactly when that is. Each character escapes to one or more, and the
    head's escaped text differs from the whole's only where the head ends (a control closed
    there, a `_` last, a run of `*` cut), past what a cut to ``limit`` keeps or looks at. A
    40,000-character message quoted in 1,000 is not escaped whole."""
    return escape_mrkdwn(text[: limit + _HEAD_MARGIN])


def unescape(text: str) -> str:
    """The reverse of :func:`escape`: `&lt;`, `&gt;`, `&amp;` back to `<`, `>`, `&`, as Slack
    sends them in any text a person typed. Slack's own markup (`<#C123|name>`) is made of real
    `<` and `>`, and is left as it is."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


class Mrkdwn(str):
    """mrkdwn that labelbot wrote itself -- a mention, a channel link, *bold* -- with any user
    data in it escaped already. An error raised with one is shown as written; every other
    error's message is escaped as a whole (bot.app.handle_error), as engine errors quote names
    as typed."""


# Slack's markup for links, mentions and broadcasts in text it sends: <url>, <url|label>,
# <@U123>, <@U123|name>, <#C123|name>, <!here>, <!subteam^S123|@team>, <!date^…|fallback>
# (https://docs.slack.dev/messaging/formatting-message-text#advanced).
_SLACK_MARKUP_RE = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")


def plain_from_slack(text: str) -> str:
    """What a person typed, from text Slack sends (a message, a reply, a command's text):
    links, mentions and channels as they read in Slack ("label (url)", "@name", "#general"),
    and `&amp;`, `&lt;`, `&gt;` back to `&`, `<`, `>`. The model and the stored comments see
    the text, not Slack's markup."""

    def readable(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target.startswith("@"):
            return f"@{label or target[1:]}"
        if target.startswith("#"):
            return f"#{label or target[1:]}"
        if target.startswith("!"):
            return label or f"@{target[1:].split('^')[0]}"
        if target.startswith("mailto:"):
            return label or target.removeprefix("mailto:")
        if label and label not in target:
            return f"{label} ({target})"
        return target

    return unescape(_SLACK_MARKUP_RE.sub(readable, text))


# A Slack user id (U…, or W… on Enterprise Grid): capitals and digits, with a digit among them
# (Slack's own examples: U012AB3CD, W0123ABC). Annotators are also plain names (`labelbot label
# --annotator Walter`, an importer's column), which must not become mentions, in capitals too:
# "WALTER" or "UMA" is a name, not an id.
_USER_ID_RE = re.compile(r"[UW](?=[A-Z0-9]*[0-9])[A-Z0-9]+")


def who(user: str) -> str:
    """A mention for a Slack user id, the escaped name for anyone else (an importer's name, a
    terminal labeler's): "Walter" and "WALTER" stay as typed, and a name can never form a
    mention or a broadcast."""
    return f"<@{user}>" if _USER_ID_RE.fullmatch(user) else escape_mrkdwn(user)


def names_list(items: list[str], *, conjunction: str = "and") -> str:
    """Items already formatted, joined as prose: a / a and b / a, b and c."""
    if len(items) < 3:
        return f" {conjunction} ".join(items)
    return f"{', '.join(items[:-1])} {conjunction} {items[-1]}"


# Slack markup labelbot writes in mrkdwn: a mention (<@U123>, <@U123|name>), a channel
# (<#C123|name>), a broadcast or date (<!here>, <!date^…|…>), a link (<https://…|label>,
# <mailto:…>). A cut inside one leaves "<@U00…", which Slack shows as broken text. User text is
# escaped (`&lt;`), so a raw "<" in mrkdwn is always markup; in plain text (a button's label) a
# "<" is the user's own, and only what looks like markup is kept whole.
_MARKUP_RE = re.compile(r"<(?:[@#!]|[A-Za-z][A-Za-z0-9+.-]*:)[^<>]*>")


def safe_cut(text: str, cut: int) -> int:
    """The largest position ``<= cut`` at which ``text`` may be cut: never inside Slack markup
    (``<@U123>``, ``<#C1|x>``, ``<https://…|label>``), an escape sequence (`&amp;`, `&lt;`,
    `&gt;`), a UTF-16 surrogate pair (text decoded with `surrogatepass` or copied from JSON
    escapes) or a character as a reader sees it (a flag, an emoji sequence, a letter and its
    accents: :func:`cluster_start`)."""
    if cut >= len(text):
        return len(text)
    # each step only moves the cut back, and one can land inside what another kept whole (a
    # cluster's start inside "&amp;" before a combining accent): again until none moves it
    while True:
        before = cut
        opening = text.rfind("<", 0, cut)
        if opening >= 0:
            markup = _MARKUP_RE.match(text, opening)
            if markup is not None and markup.end() > cut:
                cut = opening
        tail = _ENTITY_TAIL_RE.search(text, max(0, cut - 4), cut)
        if tail is not None and text.startswith(("amp;", "lt;", "gt;"), tail.start() + 1):
            cut = tail.start()
        cut = cluster_start(text, cut)
        if cut == before:
            return cut


def truncate(text: str, limit: int, *, ellipsis: str = ELLIPSIS) -> str:
    """Cut `text` to at most `limit` characters, ending in `ellipsis` when cut.

    Never ends inside Slack markup (a mention cut to "<@U00" is broken text), an escape
    sequence (a half entity such as "&am" shows up as garbage in Slack), a surrogate pair or a
    character as a reader sees it (a flag, an emoji sequence: :func:`safe_cut`).
    """
    if limit < len(ellipsis):
        raise ValueError(f"limit {limit} is shorter than the ellipsis {ellipsis!r}")
    if len(text) <= limit:
        return text
    return text[: safe_cut(text, limit - len(ellipsis))] + ellipsis


def split_chunks(text: str, limit: int) -> list[str]:
    """Split escaped `text` into pieces of at most `limit` characters, preferring line breaks.

    Like `truncate`, a cut never lands inside Slack markup, an escape sequence or a surrogate
    pair. Each piece after the first starts a section of its own, so a line: an escaped `>`
    (`&gt;`) the cut brings to its start is shown as typed (:func:`escape_mrkdwn`), not as a
    block quote.
    """
    chunks: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", limit // 2, limit)
        if cut <= 0:
            cut = rest.rfind(" ", limit // 2, limit)
        if cut <= 0:
            cut = limit
            tail = _ENTITY_TAIL_RE.search(rest[:cut])
            if tail is not None:
                cut = tail.start()
        # a line break or space inside a link's label (<https://…|two words>) is no place either
        cut = safe_cut(rest, cut) or limit
        chunks.append(rest[:cut])
        rest = rest[cut:].lstrip("\n") if rest[cut : cut + 1] == "\n" else rest[cut:]
        if (quote := _QUOTE_RE.match(rest)) is not None:
            rest = _literal_quote(quote) + rest[quote.end() :]
    if rest:
        chunks.append(rest)
    return chunks
