"""`labelbot demo`: a full simulated labeling session on the bundled Banking77 data.

Simulated experts drive the real loop — storage, assignments, the query strategy, retraining after
every batch — with an oracle answering from the data set's labels. The active model is scored on the
held-out test split after each batch, beside random sampling (the baseline every tool must beat).

Every random draw of the session comes from its ``seed``: the queue's (k-means cold start, ties,
exploration), the audit picks, training's folds and the baseline's. The same seed on the same
machine prints the same curve; live labeling keeps its own draws (its audit picks unseeded).
"""

from __future__ import annotations

import csv
import errno
import os
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine import labeling, projects, training
from engine.config import Settings, get_settings, sqlite_file
from engine.datasets import dataset_path, load_split
from engine.evaluation import metrics_from_predictions
from engine.simulation import simulate
from engine.workspace import Workspace
from storage.errors import InvalidInputError

EXPERTS = ("alice", "bob", "carol")


@dataclass
class DemoRound:
    labels: int
    accuracy: float
    macro_f1: float
    random_accuracy: float | None
    random_macro_f1: float | None
    kind: str
    seconds: float
    # what the team would see live: the audit-set estimate and its 90% interval
    estimate: tuple[float, float, float] | None = None
    # how many audit labels the estimate rests on: "0.000 (0.000-0.730)" after 10 labels is one
    # audit label answered wrong, not a broken model (status and the digest say the n too)
    audit_labels: int | None = None


@dataclass
class DemoResult:
    rounds: list[DemoRound] = field(default_factory=list)
    ceiling: float | None = None
    examples: int = 0  # the queries stored: a text the data set repeats is stored once
    chart: Path | None = None
    database_url: str = ""
    seconds: float = 0.0


class ChartNotWritten(Exception):  # noqa: N818 (not an error of its own: its cause is)
    """The session ran to its end and only its chart failed (``__cause__`` says why: a full
    disk, a file put where the folder was): ``result`` holds the session, whose database is
    whole and worth keeping, where a failure anywhere else leaves a half-made one."""

    def __init__(self, result: DemoResult) -> None:
        super().__init__(
            f"the session ran to its end ({result.database_url}), but its chart was not written"
        )
        self.result = result


def check_out_dir(out_dir: Path) -> None:
    """InvalidInputError unless the chart can be written in ``out_dir`` (a folder, or one to make
    in a folder that exists): said before the minutes of labeling, not after them, when a file
    there was a traceback and a missing folder lost the whole session."""
    target = Path(os.path.realpath(out_dir))
    if target.exists() and not target.is_dir():
        raise InvalidInputError(f"{out_dir}: not a folder (the demo writes its chart in it)")
    folder = target if target.exists() else target.parent
    if not folder.is_dir():
        raise InvalidInputError(f"{out_dir}: cannot write here (no such folder)")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InvalidInputError(f"{out_dir}: cannot write here (permission denied)")
    # and a file made there for real: os.access answers for the mode bits, which root passes
    # everywhere, where the file system refuses (/proc, /sys, a read-only or root-squashed
    # share): the chart failed after the whole session, and the session's database went with it
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".labelbot-demo-"):
            pass
    except OSError as exc:
        # /proc answers "no such file" for a folder that is there: the refusal is what it means
        refused = exc.errno in (errno.EACCES, errno.EPERM, errno.ENOENT) or not exc.strerror
        # else as it says: "read-only file system", "no space left on device"
        why = "permission denied" if refused else str(exc.strerror).lower()
        raise InvalidInputError(f"{out_dir}: cannot write here ({why})") from None


def run_demo(
    *,
    budget: int = 1000,
    batch: int = 50,
    seed: int = 0,
    out_dir: Path = Path("demo-output"),
    database_url: str | None = None,
    settings: Settings | None = None,
    on_step: Callable[[str], None] = lambda _msg: None,
    on_round: Callable[[DemoRound], None] = lambda _r: None,
) -> DemoResult:
    if budget < 1 or batch < 1:  # before anything is made: a refused demo leaves nothing
        raise InvalidInputError(f"budget and batch must be at least 1 (got {budget}, {batch})")
    if seed < 0:  # numpy refuses a negative seed, with a traceback after the loading
        raise InvalidInputError(f"the seed must be at least 0 (got {seed})")
    check_out_dir(out_dir)
    started = time.perf_counter()
    base = settings or get_settings()
    if database_url is None:
        database_url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='labelbot-demo-')) / 'demo.db'}"
    update: dict[str, object] = {"database_url": database_url}
    demo_file = sqlite_file(database_url)
    if demo_file is not None:
        # the session's model files live beside its database, not in the data directory's
        # models/banking77-demo where every demo run would leave its own (~60 MB each); the
        # embedding cache stays shared, so the next demo does not embed Banking77 again
        update["models_dir"] = demo_file.parent / "models"
    settings = base.model_copy(update=update)
    if demo_file is not None:
        # and its pool graphs: the demo's project is id 1 in its own database, and graphs are
        # named by project id: in the data directory's graphs/ it took the graph file of the
        # user's own project 1, and each rebuilt the other's
        settings = settings.with_graphs_dir(demo_file.parent / "graphs")
    ws = Workspace.open(settings)
    train_texts, train_labels = load_split(dataset_path("banking77", "train"))
    test_texts, test_labels = load_split(dataset_path("banking77", "test"))
    classes = sorted(set(train_labels))
    name = "banking77-demo"
    projects.create_project(ws, name=name, labels=classes)
    # An oracle never disagrees with itself: second opinions would only spend the budget.
    # The project's seed setting seeds the queue's draws (training._prediction_rows): the k-means
    # cold start, tie-breaks and exploration of each re-scoring.
    projects.update_settings(ws, project=name, batch_size=batch, multi_label_share=0.0, seed=seed)

    on_step(f"importing Banking77's {len(train_texts):,} training rows (embedded once, cached "
            "on disk)")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        unlabeled = Path(tmp) / "banking77.csv"
        with unlabeled.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text"])
            writer.writerows([t] for t in train_texts)
        report = projects.import_file(ws, project=name, path=unlabeled, progress=True)
    texts = "text" if report.duplicates == 1 else "texts"
    repeated = f" ({report.duplicates:,} repeated {texts} stored once)" if report.duplicates else ""
    on_step(f"{report.inserted:,} distinct queries to label{repeated}")
    if budget > report.inserted:
        # the loop asked an empty queue for more without end: `--budget 20000` never finished
        on_step(f"the budget ({budget:,} labels) is more than there are queries: all "
                f"{report.inserted:,} are labeled")  # fmt: skip
        budget = report.inserted
    test_X = ws.embed(test_texts, progress=True)
    index = {c: i for i, c in enumerate(classes)}
    test_y = np.array([index[lb] for lb in test_labels])
    # import stores texts stripped of surrounding whitespace: the oracle looks them up that way
    truth = {t.strip(): lb for t, lb in zip(train_texts, train_labels, strict=True)}

    on_step("computing the random-sampling baseline and the all-labels ceiling")
    pool_X = ws.embed(train_texts)
    pool_y = np.array([index[lb] for lb in train_labels])
    checkpoints = list(range(batch, budget + 1, batch))
    baseline = simulate(
        pool_X, pool_y, test_X, test_y, strategy="random", budget=budget, batch=batch,
        seeds=1, first_seed=seed, n_classes=len(classes), checkpoints=checkpoints,
        # its first batch as the active model's: by default simulate starts at one label per
        # class in whole batches (100 for Banking77 in 50s), and the first rows had no baseline
        seed_size=batch,
    )  # fmt: skip
    random_at = {int(p["labels"]): p for p in baseline.curve}
    result = DemoResult(
        ceiling=baseline.ceiling["accuracy"], examples=report.inserted, database_url=database_url
    )

    if batch >= budget:  # "in batches of 50 up to 30 labels" (--budget 30) read as a slip
        queries = "query" if budget == 1 else "queries"
        on_step(f"labeling {budget:,} {queries} by oracle in one batch (3 simulated experts)")
    else:
        on_step(f"labeling by oracle in batches of {batch:,} up to {budget:,} labels (3 simulated "
                "experts)")  # fmt: skip
    training.rescore_project(ws, name)  # cold start: diverse, representative examples first
    audit_rng = random.Random(seed)  # which examples the audit slots draw
    labeled = 0
    while labeled < budget:
        t0 = time.perf_counter()
        before = labeled
        for i in range(min(batch, budget - labeled)):
            who = EXPERTS[i % len(EXPERTS)]
            task = labeling.next_task(ws, project=name, annotator=who, rng=audit_rng)
            if task is None:
                break
            labeling.submit_label(
                ws, project=name, example_id=task.example_id, label=truth[task.text],
                annotator=who, source="simulation", key=f"demo:{task.example_id}",
            )  # fmt: skip
            labeled += 1
        if labeled == before and result.rounds:  # nothing left to label: the last round stands
            break
        run = training.train_project(ws, name, seed=seed)
        loaded = training.active_model(ws, name)
        assert loaded is not None
        probs = loaded[1].predict_proba(test_X)
        scores = metrics_from_predictions(
            test_y, probs.argmax(axis=1), n_classes=len(classes), class_names=classes
        )
        rnd = random_at.get(labeled)
        audit = run.metrics.get("audit")
        estimate = (audit["accuracy"], audit["low"], audit["high"]) if audit else None
        step = DemoRound(
            labels=labeled, accuracy=scores.accuracy, macro_f1=scores.macro_f1,
            random_accuracy=rnd["accuracy"] if rnd else None,
            random_macro_f1=rnd["macro_f1"] if rnd else None,
            kind=run.kind, seconds=time.perf_counter() - t0, estimate=estimate,
            audit_labels=int(audit["n"]) if audit and audit.get("n") is not None else None,
        )  # fmt: skip
        result.rounds.append(step)
        on_round(step)

    from engine.charts import learning_curve_png

    try:
        result.chart = learning_curve_png(
            {
                "labelbot (active learning)": [(r.labels, r.accuracy) for r in result.rounds],
                "random sampling": [(p["labels"], p["accuracy"]) for p in baseline.curve],
            },
            out_dir / "learning_curve.png",
            title=f"Banking77 ({len(classes)} intents): test accuracy vs labels",
            ceiling=result.ceiling,
            # what the dashed line is, in numbers: the table's last line compares with it
            ceiling_label=f"all {result.examples:,} labels: {result.ceiling or 0:.3f} (ceiling)",
        )
    except Exception as exc:
        # the labeling is done: the caller keeps the session (it went with any failure before)
        raise ChartNotWritten(result) from exc
    finally:
        result.seconds = time.perf_counter() - started
        ws.close()
    return result
