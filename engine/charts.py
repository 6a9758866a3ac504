"""Charts people would rather look at than read: learning curves (PNG, matplotlib)."""

from __future__ import annotations

import contextlib
import os
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


def learning_curve_png(
    curves: Mapping[str, Sequence[tuple[float, float]]],
    path: Path,
    *,
    title: str,
    ceiling: float | None = None,
    ylabel: str = "test accuracy",
) -> Path:
    """Plot accuracy against labels, one line per curve (plus the all-labels ceiling); save PNG."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=110)
    for name, points in curves.items():
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        ax.plot(xs, ys, marker="o", markersize=3, linewidth=2, label=name)
    if ceiling is not None:
        ax.axhline(ceiling, color="grey", linestyle="--", linewidth=1, label="all labels (ceiling)")
        ax.axhline(0.95 * ceiling, color="grey", linestyle=":", linewidth=1, label="95% of ceiling")
    ax.set_xlabel("labels")
    ax.set_ylabel(ylabel)
    # titles and curve names as written: matplotlib reads "$…$" as mathtext (and raises on
    # invalid TeX), and a name is whatever its caller chose
    ax.set_title(title, parse_math=False)
    ax.grid(True, alpha=0.3)
    for text in ax.legend(loc="lower right").get_texts():
        text.set_parse_math(False)
    fig.tight_layout()
    # the demo's --out-dir itself is made; a missing folder above it is refused by save_png
    with contextlib.suppress(FileNotFoundError):
        path.parent.mkdir(exist_ok=True)
    try:
        return save_png(fig, path)
    finally:
        plt.close(fig)
