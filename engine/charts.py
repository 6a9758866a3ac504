"""Charts people would rather look at than read: learning curves (PNG, matplotlib)."""

from __future__ import annotations

import contextlib
import functools
import os
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from engine.exporting import replacing


def save_png(fig: Any, path: Path) -> Path:
    """Save the matplotlib figure ``fig`` as a PNG at ``path`` as an export writes its file
    (:func:`engine.exporting.replacing`): whole or not at all, and never into a folder that
    does not exist. That is an InvalidInputError ("PATH: cannot write here (no such folder)"),
    not a folder made: a mistyped ``--out /nope/d.png`` used to create /nope."""
    with replacing(path) as handle:
        fig.savefig(handle.buffer, format="png")
    return path


# matplotlib's stand-in that draws every character as a box naming its script: no glyph at all
_LAST_RESORT = "Last Resort"


@functools.cache
def _charmaps() -> tuple[tuple[str, str, frozenset[int]], ...]:
    """(family, file, code points) of every font matplotlib can use: those it ships (DejaVu,
    STIX) and those installed on the machine (a CJK font installed with the system's packages
    is used; labelbot never downloads one)."""
    from matplotlib import font_manager, ft2font

    found = []
    for entry in font_manager.fontManager.ttflist:
        if entry.name.startswith(_LAST_RESORT):
            continue
        try:
            font = ft2font.FT2Font(entry.fname)
            if not font.face_flags & ft2font.FaceFlags.SCALABLE:
                continue  # a bitmap font (Noto Color Emoji): matplotlib cannot size it, raises
            codes = frozenset(font.get_charmap())
        except (OSError, RuntimeError, ValueError):  # an unreadable font file: not a candidate
            continue
        found.append((entry.name, entry.fname, codes))
    return tuple(found)


def _drawn(text: str) -> list[str]:
    """The characters of ``text`` that need a glyph: not spaces, nor joiners, bidi marks or
    variation selectors, which shape their neighbours and draw nothing themselves."""
    return [
        c
        for c in dict.fromkeys(text)
        if not c.isspace()
        and unicodedata.category(c) not in ("Cc", "Cf")
        and not 0xFE00 <= ord(c) <= 0xFE0F
    ]


def missing_glyphs(text: str) -> str:
    """The characters of ``text`` no font matplotlib can use draws (CJK or Devanagari on a
    machine with no such font installed: matplotlib draws boxes and warns "Glyph … missing")."""
    covered = _covered()
    return "".join(c for c in _drawn(text) if ord(c) not in covered)


@functools.cache
def _covered() -> frozenset[int]:
    """Every code point some usable font has (made once: a digest asks for each of its names)."""
    return frozenset().union(*(codes for _, _, codes in _charmaps()))


def fit_fonts(fig: Any) -> None:
    """Give each text of ``fig`` whose font lacks some of its characters the fonts that have
    them, after its own (matplotlib falls back glyph by glyph along a family list): a label
    "⭐ VIP" draws its star from STIX, which matplotlib ships, and Japanese names draw where a
    CJK font is installed. Characters no font has are left to the caller (:func:`chart_names`)."""
    from matplotlib import font_manager
    from matplotlib.text import Text

    for artist in fig.findobj(Text):
        text = artist.get_text()
        if not text or text.isascii():
            continue
        own = font_manager.findfont(artist.get_fontproperties())
        own_codes = next((codes for _, f, codes in _charmaps() if f == own), frozenset())
        lacking = [ord(c) for c in _drawn(text) if ord(c) not in own_codes]
        if not lacking:
            continue
        extra: list[str] = []
        for family, _, codes in _charmaps():
            if family not in extra and any(code in codes for code in lacking):
                extra.append(family)
                lacking = [code for code in lacking if code not in codes]
            if not lacking:
                break
        if extra:
            own_family = font_manager.get_font(own).family_name
            artist.set_fontfamily([own_family, *extra])


def chart_names(names: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """Names as a chart can draw them: a name with a character no font here has is shown as
    "#1", "#2", … (in order), and the key maps each such id to its name, for the message that
    carries the chart, which Slack draws in any script. A chart of boxes reads as nothing."""
    shown: list[str] = []
    key: dict[str, str] = {}
    for name in names:
        if missing_glyphs(name):
            ident = f"#{len(key) + 1}"
            key[ident] = name
            shown.append(ident)
        else:
            shown.append(name)
    return shown, key


# each curve its own marker and line as well as its colour: the random baseline stays told apart
# from labelbot's curve in grey print, to colour-blind eyes and where their points coincide
CURVE_STYLES = (("o", "-"), ("s", "--"), ("^", "-."), ("D", ":"))  # (marker, line style)


def learning_curve_figure(
    curves: Mapping[str, Sequence[tuple[float, float]]],
    *,
    title: str,
    ceiling: float | None = None,
    ceiling_label: str = "all labels (ceiling)",
    ylabel: str = "test accuracy",
) -> Any:
    """Accuracy against labels, one line per curve (plus the all-labels ceiling), as a
    matplotlib figure (the caller saves and closes it)."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator, StrMethodFormatter

    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    for i, (name, points) in enumerate(curves.items()):
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        marker, line = CURVE_STYLES[i % len(CURVE_STYLES)]
        ax.plot(xs, ys, marker=marker, linestyle=line, markersize=5, linewidth=2, label=name)
    if ceiling is not None:
        ax.axhline(ceiling, color="grey", linestyle="--", linewidth=1, label=ceiling_label)
        ax.axhline(0.95 * ceiling, color="grey", linestyle=":", linewidth=1, label="95% of ceiling")
    # label counts from 0, in whole numbers: a one-round demo (--budget 30) drew its point on an
    # axis of 28.5, 29.0, … 31.5 labels
    ax.set_xlim(left=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))  # 0, 200, … 1000
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))  # 10,000, as the table
    ax.set_xlabel("labels")
    ax.set_ylabel(ylabel)
    # titles and curve names as written: matplotlib reads "$…$" as mathtext (and raises on
    # invalid TeX), and a name is whatever its caller chose
    ax.set_title(title, parse_math=False)
    ax.grid(True, alpha=0.3)
    # "best": the corner with the fewest points; at the lower right it hid the curves of a short
    # run (labelbot demo --budget 150: random sampling below 0.55, the legend over it)
    for text in ax.legend(loc="best").get_texts():
        text.set_parse_math(False)
    fit_fonts(fig)  # before the layout measures the texts: each with the fonts that draw it
    fig.tight_layout()
    return fig


def learning_curve_png(
    curves: Mapping[str, Sequence[tuple[float, float]]],
    path: Path,
    *,
    title: str,
    ceiling: float | None = None,
    ceiling_label: str = "all labels (ceiling)",
    ylabel: str = "test accuracy",
) -> Path:
    """Plot accuracy against labels (:func:`learning_curve_figure`); save it as a PNG."""
    fig = learning_curve_figure(
        curves, title=title, ceiling=ceiling, ceiling_label=ceiling_label, ylabel=ylabel
    )
    import matplotlib.pyplot as plt

    # the demo's --out-dir itself is made; a missing folder above it, or a file where the folder
    # should be (FileExistsError: it was a traceback), is refused by save_png
    with contextlib.suppress(FileNotFoundError, FileExistsError):
        path.parent.mkdir(exist_ok=True)
    try:
        return save_png(fig, path)
    finally:
        plt.close(fig)
