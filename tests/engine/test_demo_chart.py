"""The demo's learning-curve chart and its step lines, as a newcomer reads them: label counts
from 0 in whole numbers, the random baseline told apart by more than its colour, the ceiling
line saying its value, and a one-batch run not announced as "batches of 50 up to 30 labels".
Checked on the figure's data (its axes, lines and legend), not on pixels."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pytest

from engine import charts
from tests.bot.test_cli_ux2 import tiny_demo_data
from tests.bot.test_demo_simulate_audit import TEST, TRAIN

ONE_ROUND = {"labelbot (active learning)": [(30, 0.237)], "random sampling": [(30, 0.231)]}


@pytest.fixture
def figure() -> Iterator[Any]:
    made: list[Any] = []

    def make(curves: Any, **kwargs: Any) -> Any:
        made.append(charts.learning_curve_figure(curves, title="t", **kwargs))
        return made[-1]

    yield make
    for fig in made:
        plt.close(fig)


def test_a_one_round_curve_counts_labels_from_zero_in_whole_numbers(figure: Any) -> None:
    """`labelbot demo --budget 30` drew its one point on an axis of 28.5, 29.0, … 31.5 labels."""
    fig = figure(ONE_ROUND, ceiling=0.931)
    fig.canvas.draw()
    ax = fig.axes[0]
    low, high = ax.get_xlim()
    assert low == 0 and high >= 30
    shown = [t.get_text() for t in ax.get_xticklabels() if low <= t.get_position()[0] <= high]
    assert len(shown) >= 2 and all(t.isdigit() for t in shown), shown
    # and a long run's counts as the table writes them, its last one labeled
    fig = figure({"labelbot": [(n, 0.5) for n in range(50, 1001, 50)]})
    fig.canvas.draw()
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks[:2] == ["0", "200"] and "1,000" in ticks, ticks


def test_the_random_baseline_differs_by_more_than_its_colour(figure: Any) -> None:
    """Both curves were solid lines with round markers: told apart by colour alone, and where
    their points coincide (a short run) one hid the other."""
    ax = figure(ONE_ROUND).axes[0]
    ours, baseline = ax.get_lines()[:2]
    assert ours.get_label() == "labelbot (active learning)"
    assert baseline.get_label() == "random sampling"
    assert ours.get_marker() != baseline.get_marker()
    assert ours.get_linestyle() != baseline.get_linestyle()
    # and the legend draws them so: its handles carry the same styles
    handles = {h.get_label(): h for h in ax.get_legend().legend_handles}
    assert handles["random sampling"].get_marker() == baseline.get_marker()


def test_the_ceiling_line_is_named_as_its_caller_says(figure: Any) -> None:
    ax = figure(ONE_ROUND, ceiling=0.931, ceiling_label="all 9 labels: 0.931 (ceiling)").axes[0]
    said = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "all 9 labels: 0.931 (ceiling)" in said and "95% of ceiling" in said, said


def test_the_demo_chart_and_steps_say_what_a_short_run_did(
    tmp_path: Path, embedding_cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A budget under one batch (`--budget 30`, batches of 50) said "labeling by oracle in
    batches of 50 up to 30 labels"; the chart's ceiling line said "all labels (ceiling)"
    without its value, which the summary line compares the run with."""
    from engine import demo
    from engine.config import Settings

    tiny_demo_data(monkeypatch, TRAIN, TEST)
    legends: list[list[str]] = []
    save = charts.save_png

    def record(fig: Any, path: Path) -> Path:
        legends.append([t.get_text() for t in fig.axes[0].get_legend().get_texts()])
        return save(fig, path)

    monkeypatch.setattr(charts, "save_png", record)
    steps: list[str] = []
    result = demo.run_demo(
        budget=4, batch=50, out_dir=tmp_path / "out", database_url=f"sqlite:///{tmp_path / 'd.db'}",
        settings=Settings(data_dir=embedding_cache_dir), on_step=steps.append,
    )  # fmt: skip
    assert [r.labels for r in result.rounds] == [4]
    assert "labeling 4 queries by oracle in one batch (3 simulated experts)" in steps, steps
    assert not any("batches of 50" in s for s in steps), steps
    assert result.ceiling is not None
    assert legends == [
        [
            "labelbot (active learning)",
            "random sampling",
            f"all 9 labels: {result.ceiling:.3f} (ceiling)",
            "95% of ceiling",
        ]
    ]
    assert result.chart is not None and result.chart.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("where", ["/proc", "/proc/labelbot-demo-out"])
def test_an_out_dir_whose_file_system_refuses_files_is_refused_before_the_work(where: str) -> None:
    """os.access answers by the mode bits, which root passes everywhere: as root, an --out-dir
    in /proc or /sys (or a read-only or root-squashed share) passed the check, and writing the
    chart failed after the whole session, whose database the CLI then removed."""
    from engine.demo import check_out_dir
    from storage.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match=r"cannot write here \(permission denied\)$"):
        check_out_dir(Path(where))


def test_the_out_dir_check_leaves_nothing_behind(tmp_path: Path) -> None:
    from engine.demo import check_out_dir

    check_out_dir(tmp_path)  # an existing folder: the probe file goes again
    check_out_dir(tmp_path / "new")  # one to make: probed in its parent, not made yet
    assert list(tmp_path.iterdir()) == []


def test_each_round_says_how_many_audit_labels_its_estimate_rests_on(
    tmp_path: Path,
    embedding_cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    banking_slice: list[tuple[str, str]],
) -> None:
    """The table's estimate read "0.000 (0.000-0.730)" after 10 labels with nothing to tell
    one audit label answered wrong from a broken model: each round now carries its n."""
    import sqlite3

    from engine import demo
    from engine.config import Settings

    tiny_demo_data(monkeypatch, banking_slice[:120], banking_slice[120:])
    database = tmp_path / "d.db"
    result = demo.run_demo(
        budget=30, batch=10, out_dir=tmp_path / "out", database_url=f"sqlite:///{database}",
        settings=Settings(data_dir=embedding_cache_dir),
    )  # fmt: skip
    with sqlite3.connect(database) as conn:
        (audited,) = conn.execute(
            "SELECT COUNT(DISTINCT e.id) FROM examples e JOIN annotations a"
            " ON a.example_id = e.id WHERE e.audit"
        ).fetchone()
    assert audited >= 1
    last = result.rounds[-1]
    assert last.estimate is not None and last.audit_labels == audited, result.rounds
    assert all((r.estimate is None) == (r.audit_labels is None) for r in result.rounds)
