"""`labelbot simulate` and `labelbot demo`: how many labels a strategy needs, shown on real data."""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Column, Table

from bot.cli.common import app, err, handle_errors, interrupted, out, styled
from engine.config import get_settings
from engine.forecast import counted
from engine.importing import read_file
from engine.strategies import DEFAULT_STRATEGY, STRATEGIES
from engine.workspace import Workspace
from storage.errors import InvalidInputError

if TYPE_CHECKING:
    from engine.demo import DemoResult, DemoRound


def _labeled_file(path: Path, label_column: str) -> tuple[list[str], list[str]]:
    records = read_file(
        path, label_column=label_column, id_column=None, require_label_column=True
    ).records
    missing = [r.line for r in records if r.label is None]
    if missing:
        raise InvalidInputError(f"{path}:{missing[0]}: every row needs a label to simulate")
    return [r.text for r in records], [str(r.label) for r in records]


def _at_least(least: int, **options: int | None) -> None:
    """A one-line error (exit 2) for the first option below ``least``, named as typed
    (``seed_size`` is --seed-size). Not typer's ``min=``: click printed its usage block."""
    for key, value in options.items():
        if value is not None and value < least:
            option = "--" + key.replace("_", "-")
            raise InvalidInputError(f"{option} must be at least {least} (got {value})")


@app.command(name="simulate", short_help="Simulate active learning on labeled files.")
@handle_errors
def simulate_cmd(
    train: Annotated[Path, typer.Argument(help="Labeled pool (CSV/JSONL with text and label)")],
    test: Annotated[Path, typer.Option("--test", help="Labeled test file to score against")],
    budget: Annotated[int, typer.Option(help="Labels to collect (at least 1)")] = 1000,
    batch: Annotated[int, typer.Option(help="Labels per round between retrains (at least 1)")] = 50,
    seed_size: Annotated[
        int | None,
        typer.Option(help="Cold-start labels (at least 1; default: one per class, whole batches)"),
    ] = None,
    strategy: Annotated[
        str, typer.Option(help=f"Query strategy: {', '.join(STRATEGIES)}")
    ] = DEFAULT_STRATEGY,
    seeds: Annotated[int, typer.Option(help="Independent runs to average (at least 1)")] = 3,
    seed: Annotated[
        int,
        typer.Option(help="The first run's seed (at least 0); run i draws with seed + i"),
    ] = 0,
    classifier: Annotated[str, typer.Option(help="linear, blend or auto")] = "auto",
    label_column: Annotated[str, typer.Option(help="Column holding the label")] = "label",
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
) -> None:
    """Simulate active learning: an oracle labels what the strategy picks; print the curve.

    The test file must be held out: rows also in the training file (the same text) are
    warned about, and refused when they are half of it or more."""
    from engine.classifier import KINDS
    from engine.simulation import check_test_overlap, labels_to_reach, simulate
    from engine.strategies import get_strategy

    # the options first: a typo should not wait for both files to be read and embedded
    _at_least(1, budget=budget, batch=batch, seed_size=seed_size, seeds=seeds)
    _at_least(0, seed=seed)
    get_strategy(strategy)
    if classifier not in KINDS:
        raise InvalidInputError(f"unknown classifier {classifier!r}; valid: {', '.join(KINDS)}")
    pool_texts, pool_labels = _labeled_file(train, label_column)
    if len(pool_texts) < 2:  # the strategies rank a pool against itself
        raise InvalidInputError(
            f"{train}: the pool needs at least 2 examples to simulate (it has {len(pool_texts)})"
        )
    test_texts, test_labels = _labeled_file(test, label_column)
    unknown = sorted(set(test_labels) - set(pool_labels))
    if unknown:
        raise InvalidInputError(f"{test}: labels not in {train}: {', '.join(unknown[:5])}")
    try:
        shared = check_test_overlap(pool_texts, test_texts)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{test}: {exc} (training file: {train})") from None
    if shared:
        err.print(
            f"warning: {shared} of the {len(test_texts)} rows of {test} "
            f"({share(shared, len(test_texts))}) are in {train} too: the model is scored on "
            "labels it trained on, so the curve reads high; test on held-out rows",
            highlight=False,
        )
    classes = sorted(set(pool_labels))
    index = {c: i for i, c in enumerate(classes)}
    try:
        ws = Workspace.open(get_settings(), migrate=False)
        pool_X = ws.embed(pool_texts, progress=not as_json)
        test_X = ws.embed(test_texts, progress=not as_json)
        with _rounds_progress(strategy, seeds, min(budget, len(pool_texts)),
                              enabled=not as_json) as progress:  # fmt: skip
            result = simulate(
                pool_X,
                np.array([index[lb] for lb in pool_labels]),
                test_X,
                np.array([index[lb] for lb in test_labels]),
                strategy=strategy,
                budget=budget,
                batch=batch,
                seed_size=seed_size,
                seeds=seeds,
                first_seed=seed,
                kind=classifier,
                n_classes=len(classes),
                progress=progress,
            )
    except KeyboardInterrupt:
        interrupted("the simulation: nothing was stored (the texts embedded so far stay cached)")
    if as_json:
        typer.echo(json.dumps(result.to_json()))
        return
    out.print(
        f"accuracy and macro-F1: the model on {test} after that many labels, chosen by "
        f"{strategy} (the mean over {counted(seeds, 'seed')})",
        highlight=False,
    )
    table = Table(
        Column("labels", justify="right"),
        Column("accuracy", justify="right"),
        Column("macro-F1", justify="right"),
        title=f"{strategy} ({counted(seeds, 'seed')})",
    )
    for point in result.curve:
        table.add_row(
            str(int(point["labels"])), f"{point['accuracy']:.3f}", f"{point['macro_f1']:.3f}"
        )
    out.print(table)
    ceiling = result.ceiling
    out.print(
        f"ceiling (all {int(ceiling['labels']):,} labels): accuracy {ceiling['accuracy']:.3f}; "
        f"90% of it after {_reached(labels_to_reach(result, 0.9), budget)} labels, "
        f"95% after {_reached(labels_to_reach(result, 0.95), budget)}",
        highlight=False,  # the terminal's highlighter coloured "90" of "90% of it" and the rest
    )


def _reached(labels: int | None, budget: int) -> str:
    """Labels to reach a share of the ceiling, or more than the budget when the run did not."""
    return f">{budget:,}" if labels is None else f"{labels:,}"


@contextlib.contextmanager
def _rounds_progress(
    strategy: str, seeds: int, budget: int, *, enabled: bool
) -> Iterator[Callable[[int, int, float, float], None] | None]:
    """A bar on stderr (a terminal only, gone at the end) over the simulation's rounds, as the
    embedding's bar before it: at the defaults a real data set takes minutes, and nothing was
    shown after the texts were embedded."""
    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield None
        return
    with Progress(console=console, transient=True, redirect_stdout=False) as bar:
        task = bar.add_task(f"Simulating {strategy}", total=seeds * budget)

        def advance(seed: int, labels: int, accuracy: float, _macro_f1: float) -> None:
            bar.update(
                task,
                completed=seed * budget + labels,
                description=f"Simulating {strategy}: seed {seed + 1} of {seeds}, {labels} labels, "
                f"accuracy {accuracy:.3f}",
            )

        yield advance


def share(part: int, whole: int) -> str:
    """``part`` of ``whole`` as a percentage that is not 0% when ``part`` is not 0: one decimal
    under 1% ("0.5%"), "under 0.1%" below that."""
    ratio = part / whole
    if part and ratio < 0.001:
        return "under 0.1%"
    return f"{ratio:.1%}" if ratio < 0.01 else f"{ratio:.0%}"


# The demo's table, 80 columns in all: "0.812 (0.700-0.900) n=1,000" is 27 (the audit set of
# all 9,999 queries labeled is under 10,000); the classifier's name is at most 6 (linear, blend)
DEMO_HEADER = (
    f"{'labels':>7} {'accuracy':>9} {'macro-F1':>9} {'random acc':>10}  "
    f"{'estimate (90% interval, n)':<27} {'model':>6} {'s':>5}"
)


def demo_row(r: DemoRound) -> str:
    """One round of the demo's table, under :data:`DEMO_HEADER`."""
    rnd = "-" if r.random_accuracy is None else f"{r.random_accuracy:.3f}"
    est = "-" if r.estimate is None else "{:.3f} ({:.3f}-{:.3f})".format(*r.estimate)
    if r.estimate is not None and r.audit_labels is not None:
        # "0.000 (0.000-0.730)" alone read as a broken model: it is one audit label, wrong
        est += f" n={r.audit_labels:,}"
    # left-aligned under the header: right-aligned, the interval moved a column each time n
    # gained a digit
    return (
        f"{r.labels:>7,} {r.accuracy:>9.3f} {r.macro_f1:>9.3f} {rnd:>10}  {est:<27} "
        f"{r.kind:>6} {r.seconds:>5.1f}"
    )


def demo_summary(result: DemoResult) -> str:
    """The demo's last round beside the ceiling and random sampling, in one line."""
    last = result.rounds[-1]
    ceiling = result.ceiling or 0.0
    random = "" if last.random_accuracy is None else f", random sampling {last.random_accuracy:.3f}"
    return (
        f"after {last.labels:,} labels: accuracy {last.accuracy:.3f} "
        f"({last.accuracy / ceiling:.0%} of the {ceiling:.3f} reached with the whole "
        f"training set labeled, {result.examples:,} queries){random}"
    )


@app.command(short_help="A simulated labeling session on Banking77.")
@handle_errors
def demo(
    budget: Annotated[int, typer.Option(help="Labels to collect (at least 1)")] = 1000,
    batch: Annotated[int, typer.Option(help="Labels per round between retrains (at least 1)")] = 50,
    seed: Annotated[
        int,
        typer.Option(
            help="Seeds every random draw (cold start, queue, audit picks, training, the random "
            "baseline): the same seed prints the same curve (at least 0)"
        ),
    ] = 0,
    out_dir: Annotated[
        Path, typer.Option(help="Folder for the chart, learning_curve.png (made if missing)")
    ] = Path("demo-output"),
) -> None:
    """A full simulated labeling session on bundled Banking77 data (SQLite, no set-up).

    Three simulated experts label by oracle in batches through the real loop (storage,
    assignments, query strategy, retraining); the model is scored on the held-out test split after
    every batch, beside random sampling. Writes a learning-curve chart at the end. Every
    random draw comes from --seed: two runs with the same seed print the same numbers (the
    seconds aside).
    """
    # before the banner and the ~10 s of loading: --batch 0 was a traceback, and a refused run
    # left its temporary database behind
    _at_least(1, budget=budget, batch=batch)
    _at_least(0, seed=seed)

    from engine.demo import ChartNotWritten, check_out_dir, run_demo

    check_out_dir(out_dir)  # a --out-dir that is a file was a traceback after the whole run

    out.print(
        styled(
            "[bold]labelbot demo[/]: Banking77, 77 intents, its training queries unlabeled; "
            f"seed {seed} (`--seed`: the same seed prints the same numbers)"
        )
    )
    out.print(
        "accuracy = the active model on the held-out test split; random acc = the same after as "
        "many labels drawn at random; estimate = what the team sees live: accuracy on the n audit "
        "labels (10% of deliveries, drawn at random, never trained on), with its 90% interval; "
        "model = the classifier chosen; s = seconds the batch took",
        highlight=False,
    )

    def on_round(r: DemoRound) -> None:
        if r.labels <= batch:
            out.print(DEMO_HEADER, highlight=False)  # the highlighter coloured the "90" of 90%
        out.print(demo_row(r), highlight=False)

    # the session's database is kept to explore afterwards, but not when the demo fails or is
    # stopped: then it is half made, and nobody is told where it is. A session that ran to its
    # end and only failed to write its chart (a full disk) is whole: it is kept, and said where
    scratch = Path(tempfile.mkdtemp(prefix="labelbot-demo-"))
    chart_failure: BaseException | None = None
    try:
        result = run_demo(
            budget=budget,
            batch=batch,
            seed=seed,
            out_dir=out_dir,
            database_url=f"sqlite:///{scratch / 'demo.db'}",
            on_step=lambda msg: out.print(styled(f"[cyan]•[/] {escape(msg)}")),
            on_round=on_round,
        )
    except ChartNotWritten as failed:
        result, chart_failure = failed.result, failed.__cause__
    except KeyboardInterrupt:
        shutil.rmtree(scratch, ignore_errors=True)
        interrupted("the demo: its half-made database was removed; `labelbot demo` starts over")
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    # highlight off: the terminal's highlighter coloured the numbers and paths piecemeal
    out.print("\n" + demo_summary(result), highlight=False)
    # paths and a command to copy: plain lines, so the terminal wraps them, not rich (_Console)
    if chart_failure is None:
        chart = result.chart.resolve() if result.chart else "-"
        out.print(f"learning curve: {chart}", highlight=False)
    else:
        out.print(
            "learning curve: not written (the error below says why); the session ran to its "
            "end and is kept",
            highlight=False,
        )
    out.print(
        f"the session's database: {result.database_url}  ({result.seconds:.0f} s in all)",
        highlight=False,
    )
    err.print(
        f"explore it: DATABASE_URL={result.database_url} labelbot status banking77-demo",
        highlight=False,
    )
    # the session's model files (megabytes a run) and pool graphs are beside its database
    err.print(
        f"when done exploring: rm -r {scratch} (its database, model files and pool graphs)",
        highlight=False,
    )
    if chart_failure is not None:
        raise chart_failure  # its one line and exit code, as any failed write (handle_errors)
    err.print(
        'next, your own data: labelbot project create NAME --labels "A,B", then labelbot '
        "import NAME file.csv, then labelbot label NAME (README: Using it from the terminal; "
        "Set up in Slack)",
        highlight=False,
    )
