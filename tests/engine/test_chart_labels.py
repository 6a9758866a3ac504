"""The digest chart's per-class panel and titles with the names people give labels and
projects: a "$" (matplotlib's mathtext), names alike in their first 28 characters, long titles.
Checked on the figure's data (its tick labels, its bars, its layout), not on pixels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pytest

from engine.charts import learning_curve_png
from engine.digest import BARS, CurvePoint, Digest, chart_figure, render_chart
from engine.forecast import Forecast, StopAdvice

DOLLARS = ["fee_$5_to_$10", "refund_over_$50_or_$100", "cashback_$_offer_$", "price $5-$10"]


def _digest(per_class: dict[str, float], project: str = "bank") -> Digest:
    point = CurvePoint(100, 0.8, None, None, "cv")
    return Digest(
        project=project, channel="C1", since=None, labels_since=1, by_annotator=[],
        total_labels=100, model_version=3, accuracy=point, accuracy_change=None, weakest=[],
        per_class_f1=per_class, curve=[point],
        forecast=Forecast(ok=False, message="too few points", current_labels=100), target=0.9,
        stop=StopAdvice(False, "keep going"), open_flags=0, open_discussions=0,
    )  # fmt: skip


@pytest.fixture
def figure():  # type: ignore[no-untyped-def]
    made: list[Any] = []

    def make(digest: Digest) -> Any:
        made.append(chart_figure(digest))
        return made[-1]

    yield make
    for fig in made:
        plt.close(fig)


def _ticks(fig: Any) -> list[str]:
    return [t.get_text() for t in fig.axes[1].get_yticklabels()]


def test_a_dollar_in_a_label_name_is_drawn_as_typed(figure, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """matplotlib reads "$…$" as mathtext: "fee_$5_to_$10" raised (and no digest went out),
    "price $5-$10" lost its "$" to italics."""
    per_class = {name: 0.2 + i / 10 for i, name in enumerate(DOLLARS)}
    fig = figure(_digest(per_class, project="costs $x$"))
    assert _ticks(fig) == DOLLARS  # weakest first, each name whole and as typed
    texts = [*fig.axes[1].get_yticklabels(), fig.axes[0].title, fig.axes[1].title]
    assert all(not t.get_parse_math() for t in texts)
    assert fig.axes[0].get_title() == "costs $x$: learning curve"
    fig.canvas.draw()  # the layout is computed: raised ValueError (ParseSyntaxException)
    png = render_chart(_digest(per_class), tmp_path / "d.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_classes_alike_in_their_first_28_characters_keep_their_own_rows(figure) -> None:  # type: ignore[no-untyped-def]
    per_class = {f"Customer complaint about delivery #{i:03d}": 0.1 + i / 1000 for i in range(30)}
    per_class |= {f"other_{i:03d}": 0.9 for i in range(120)}
    fig = figure(_digest(per_class))
    ax = fig.axes[1]
    ticks = _ticks(fig)
    assert len(ax.patches) == len(ticks) == len(set(ticks)) == BARS  # a row per class
    # each bar sits on its own row, beside its own name
    assert sorted(p.get_y() + p.get_height() / 2 for p in ax.patches) == list(ax.get_yticks())
    assert all(len(t) <= 28 for t in ticks)
    assert ticks[0] == "Customer compl…delivery #000" and ticks[-1].endswith(f"#{BARS - 1:03d}")


def test_tick_names_are_unique_even_when_only_their_middles_differ() -> None:
    from engine.digest import tick_names

    names = [f"Customer complaint {c} about the delivery" for c in "abc"] + ["short"]
    shown = tick_names(names)
    assert len(set(shown)) == 4 and all(len(s) <= 28 for s in shown)
    assert shown[0] == "Customer compl… the delivery"
    assert shown[1:3] == ["Customer com…he delivery (2)", "Customer com…he delivery (3)"]
    assert shown[3] == "short"


def test_the_titles_fit_the_figure(figure) -> None:  # type: ignore[no-untyped-def]
    """The title "per-class F1, cross-validated (reads low) (weakest 15)" ran off the right
    edge, and a long project name off the learning curve's."""
    per_class = {f"class {i}": i / 40 for i in range(40)}
    fig = figure(_digest(per_class, project="a project with a long name " * 4))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        box = ax.title.get_window_extent(renderer)
        assert box.x0 >= 0 and box.x1 <= fig.bbox.x1 and box.y1 <= fig.bbox.y1, ax.get_title()
    assert "(reads low; weakest 15 of 40)" in fig.axes[1].get_title()


def test_a_learning_curve_draws_its_title_and_curve_names_as_written(tmp_path: Path) -> None:
    curves = {DOLLARS[0]: [(10.0, 0.5), (20.0, 0.6)], "random $x_1$": [(10.0, 0.4), (20.0, 0.5)]}
    png = learning_curve_png(curves, tmp_path / "curve.png", title=f"bank: {DOLLARS[1]}")
    assert png.read_bytes()[:4] == b"\x89PNG"


# A code point no font has (plane 16's last private-use one): a name holding it can never be
# drawn, whatever fonts the machine running the tests has installed
UNDRAWABLE = "invoice \U0010fffd"


def test_a_name_no_font_draws_is_a_numbered_stand_in_named_in_the_message(figure) -> None:  # type: ignore[no-untyped-def]
    """A name of boxes tells nobody which bar is which (Japanese or Hindi names on a server with
    no such font): the bar is "#1", and the digest message, which Slack draws in any script,
    names it. A name that some font draws (an emoji from STIX, accents) keeps its bar's name."""
    from bot.views.digest import digest_message

    per_class = {UNDRAWABLE: 0.3, "café ⭐": 0.5, "plain": 0.7}
    digest = _digest(per_class)
    assert digest.chart_key() == {"#1": UNDRAWABLE}
    assert _ticks(figure(digest)) == ["#1", "café ⭐", "plain"]
    sent = json.dumps(digest_message(digest), ensure_ascii=False)
    assert f"Chart key: #1 {UNDRAWABLE}" in sent
    assert f"chart key: #1 {UNDRAWABLE}" in digest.summary()  # `labelbot digest`, its PNG too
    assert "Chart key" not in json.dumps(digest_message(_digest({"café ⭐": 0.5, "plain": 0.7})))


def test_a_name_cut_beside_its_bar_keeps_its_emoji_whole() -> None:
    """The bar's name is cut in its middle: never inside an emoji sequence (a family joined by
    zero-width joiners lost members, leaving a joiner at the start of the tail)."""
    from engine.digest import tick_names

    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"
    (shown,) = tick_names([family * 10])
    head, tail = shown.split("…")
    assert len(shown) <= 28
    assert not tail.startswith("\u200d") and not head.endswith("\u200d")
    assert head.count(family) * len(family) == len(head) and tail.count(family) * len(
        family
    ) == len(tail)


def _outside(fig: Any) -> list[str]:
    """What of ``fig`` runs past its edges: each panel with the texts it draws (title, axis
    labels, the ticks in view, the bar values), and the legend (at the figure's foot)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    edge = fig.bbox.padded(1)
    parts = [(ax.get_title() or "panel", ax.get_tightbbox(renderer)) for ax in fig.axes]
    parts += [("legend", ax.get_legend().get_window_extent(renderer))
              for ax in fig.axes if ax.get_legend()]  # fmt: skip
    return [
        name
        for name, box in parts
        if box.x0 < edge.x0 or box.x1 > edge.x1 or box.y0 < edge.y0 or box.y1 > edge.y1
    ]


def test_the_legend_covers_no_part_of_the_curve(figure) -> None:  # type: ignore[no-untyped-def]
    """The legend sat inside the curve's panel, at its lower right: there it hid a lone model's
    90% interval (the bar under the point), and the points of any curve far under the target."""
    import dataclasses

    lone = CurvePoint(27, 1.0, 0.526, 1.0, "audit", measured_on=3)
    fig = figure(dataclasses.replace(_digest({"a": 1.0, "b": 1.0}), curve=[lone], accuracy=lone))
    fig.canvas.draw()
    legend = fig.axes[0].get_legend().get_window_extent()
    assert not any(legend.overlaps(ax.get_window_extent()) for ax in fig.axes)
    assert fig.bbox.x0 <= legend.x0 and legend.x1 <= fig.bbox.x1 and legend.y0 >= fig.bbox.y0
    assert "90% interval (audit)" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert _outside(fig) == []


def test_seventy_seven_long_names_and_a_long_project_stay_inside_the_figure(figure) -> None:  # type: ignore[no-untyped-def]
    import dataclasses

    per_class = {
        f"balance_not_updated_after_cheque_or_cash_deposit_{i:02d}": i / 80 for i in range(77)
    }
    curve = [CurvePoint(n, 0.3 + n / 2000, None, None, "cv") for n in (100, 200, 300, 400, 500)]
    d = dataclasses.replace(
        _digest(per_class, project="customer support intents, second round " * 3),
        curve=curve, cv_curve=curve, taxonomy_change_at=250.0,
    )  # fmt: skip
    fig = figure(d)
    assert _outside(fig) == []
    assert all(len(t) <= 28 for t in _ticks(fig))


def test_the_per_class_title_breaks_between_what_it_is_and_its_caveats(figure) -> None:  # type: ignore[no-untyped-def]
    """Wrapped at 36 characters it read "per-class F1, cross-validated (reads" / "low) (weakest
    15)": a caveat cut in two, and two pairs of brackets."""
    import dataclasses

    per_class = {f"class {i}": i / 80 for i in range(77)}
    assert figure(_digest(per_class)).axes[1].get_title() == (
        "per-class F1, cross-validated\n(reads low; weakest 15 of 77)"
    )
    few = dataclasses.replace(_digest({"a": 0.5}), queue_chosen=False)
    assert figure(few).axes[1].get_title() == "per-class F1, cross-validated"
    audit = dataclasses.replace(_digest(per_class), per_class_source="audit")
    assert figure(audit).axes[1].get_title() == "per-class F1 on the audit set\n(weakest 15 of 77)"


def test_the_weakest_class_is_on_top_with_each_score_written_beside_its_bar(figure) -> None:  # type: ignore[no-untyped-def]
    """The weakest was the bottom row (the digest lists it first), a class at F1 0 had no bar
    at all (it read as a missing row), and 0.96 and 1.0 drew the same full bar."""
    per_class = {"never_right": 0.0, "good": 0.96, "perfect": 1.0, "middling": 0.5, "near": 0.8989}
    fig = figure(_digest(per_class))
    ax = fig.axes[1]
    fig.canvas.draw()
    rows = {t.get_text(): t.get_window_extent().y0 for t in ax.get_yticklabels()}
    assert max(rows, key=lambda name: rows[name]) == "never_right"
    assert min(rows, key=lambda name: rows[name]) == "perfect"
    values = sorted(t.get_text() for t in ax.texts)
    assert values == ["0.00", "0.50", "0.898", "0.96", "1.00"]  # 0.898 as the weakest list
    inside = ax.get_window_extent()
    assert all(inside.contains(*t.get_window_extent().get_points().mean(axis=0)) for t in ax.texts)


def test_the_curve_reads_accuracy_in_percent_as_the_digest_writes_it(figure) -> None:  # type: ignore[no-untyped-def]
    fig = figure(_digest({"a": 0.5}))
    fig.canvas.draw()
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels() if t.get_text()]
    assert ticks and all(t.endswith("%") for t in ticks), ticks


def test_the_small_print_reads_at_slacks_preview_size(figure) -> None:  # type: ignore[no-untyped-def]
    """Slack previews the 1200 x 600 chart about 720 px wide: 25 bars' names and scores at 7
    points (the legend at 8) were 5-6 px tall there. The per-class panel shows the weakest 15,
    and no text on the chart is under 9 points."""
    per_class = {f"class {i}": i / 80 for i in range(77)}
    curve = [CurvePoint(n, 0.5 + n / 4000, 0.4, 0.9, "audit") for n in (100, 200, 300)]
    import dataclasses

    fig = figure(dataclasses.replace(_digest(per_class), curve=curve))
    fig.canvas.draw()
    assert len(_ticks(fig)) == 15 and _ticks(fig)[0] == "class 0"
    assert tuple(fig.get_size_inches() * fig.dpi) == (1200, 600)
    texts = [t for t in fig.findobj(lambda a: hasattr(a, "get_fontsize") and a.get_visible())]
    shown = [t for t in texts if getattr(t, "get_text", lambda: "")()]
    assert shown and min(t.get_fontsize() for t in shown) >= 9, sorted(
        (t.get_fontsize(), t.get_text()) for t in shown if t.get_fontsize() < 9
    )
