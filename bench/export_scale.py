"""Exports and the queue's re-score at 5k, 20k and 50k examples: the former code and today's.

Until 2026-12-02 an export read the whole project first (every example and prediction as an
ORM object, every vote and comment, then one record per example) and only then wrote; now it
reads 2,000 examples at a time, with their votes, comments and predictions as plain columns,
in one read transaction, and writes each record as it is made (``labelbot export`` and the REST
API alike). The re-score's rows (each example's top classes, rounded confidences) were built
one example at a time; now a block of rows at a time in numpy.

This bench builds, in one database, a project per ``--sizes`` (20 labels; one example in ten
labeled by import, one in a hundred voted differently by a second expert, one in two hundred
commented; a linear model trained, so every example has a prediction). Embeddings come from a
fake encoder (a vector per text from its hash, near its label's centroid): no model is loaded.
Each export (JSONL, CSV) and each re-score then runs in its own process, former and today's,
so peak RSS is the run's own (the process's peak is reset just before it, so start-up does not
count); "+MB" is that peak over the process's RSS just before the run.
The former export and the former row loop are kept here as the reference, and the outputs are
compared: "same" says the former and today's wrote the same bytes (the same rows).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/export_scale.py [--sizes 5000,20000,50000]
                                                           [--db sqlite|postgres] [--merge]

``--merge`` times today's export instead as a merge goes through: as built, two labels merged
(not re-scored: the rows whose stored top five cannot say the merged label's answer are scored
live, engine.predicting.Merges), after the queue's re-score, and after a rename then.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
LABELS = [f"intent_{i}" for i in range(20)]


class HashEncoder:
    """384-d unit vectors: the centroid of the label a text names ("intent_7", or "intent 7" as
    a label with no example is searched from its name) plus noise seeded by the text's hash.
    Deterministic, and about 20 µs a text."""

    name = "bench-hash-384"
    dim = 384

    def __init__(self) -> None:
        rng = np.random.default_rng(7)
        self._centroids = rng.standard_normal((len(LABELS), self.dim)).astype(np.float32)

    def encode(self, texts: list[str], *, batch_size: int = 64, progress: Any = None) -> Any:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
            vector = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            label = int(re.search(r"intent[_ ](\d+)", text).group(1))  # type: ignore[union-attr]
            vector = vector * 1.5 + self._centroids[label]
            out[i] = vector / np.linalg.norm(vector)
        if progress:
            progress(len(texts))
        return out


def open_ws(url: str, schema: str | None, data: Path) -> Any:
    from engine.config import Settings
    from engine.workspace import Workspace

    settings = Settings(DATABASE_URL=url, LABELBOT_DATA_DIR=data)
    return Workspace.open(settings, schema=schema, encoder=HashEncoder())


def build(ws: Any, tmp: Path, size: int) -> None:
    """Project ``p<size>``: see the module's docstring."""
    from engine import labeling, projects, training
    from storage.db import session_scope
    from storage.repositories import examples
    from storage.repositories import projects as projects_repo

    name, rng = f"p{size}", random.Random(size)
    projects.create_project(ws, name=name, labels=LABELS)
    projects.update_settings(ws, project=name, audit_share=0.0, multi_label_share=0.0)
    truth = [rng.randrange(len(LABELS)) for _ in range(size)]
    texts = [
        f"ticket {i}: a question about intent_{k} {rng.random():.6f}" for i, k in enumerate(truth)
    ]
    for who, every, shift in (("importer", 10, 0), ("U2", 100, 1)):
        path = tmp / f"{name}-{who}.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "text", "label", "channel"])
            for i, (text, k) in enumerate(zip(texts, truth, strict=True)):
                label = LABELS[(k + shift) % len(LABELS)] if i % every == 0 else ""
                writer.writerow([f"T{i}", text, label, ["email", "chat"][i % 2]])
        projects.import_file(ws, project=name, path=path, annotator=who, embed=who == "importer")
    with session_scope(ws.db, read_only=True) as session:
        found = projects_repo.get_project(session=session, name=name)
        assert found.id is not None
        ids = [int(e.id or 0) for e in examples.list_examples(session=session, project_id=found.id)]
    for example_id in ids[::200]:
        labeling.comment(ws, example_id=example_id, author="U3", text=f'see "{example_id}", =odd')
    training.train_project(ws, name, kind="linear")


# --- the former code, kept as the reference ------------------------------------------------------


def former_export(ws: Any, project: str, out: Any, fmt: str) -> int:
    """engine/exporting.py's export_records + write_export before they streamed."""
    from engine.consensus import open_disagreements
    from engine.exporting import CSV_COLUMNS, _flat
    from storage.db import session_scope
    from storage.repositories import examples, feedback, models, projects

    with session_scope(ws.db, read_only=True) as session:
        found = projects.get_project(session=session, name=project)
        assert found.id is not None
        rows = examples.list_examples(session=session, project_id=found.id)
        active = {lb.name for lb in projects.list_labels(session=session, project_id=found.id)}
        agreed = feedback.current_labels(session=session, project_id=found.id, active_labels=active)
        by_example: dict[int, list[dict[str, Any]]] = defaultdict(list)
        votes = feedback.list_annotations(session=session, project_id=found.id)
        for a in votes:
            by_example[a.example_id].append(
                {"label": a.label, "annotator": a.annotator, "source": a.source,
                 "created_at": a.created_at.isoformat()}
            )  # fmt: skip
        notes: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for c in feedback.list_comments(session=session, project_id=found.id):
            notes[c.example_id].append(
                {"author": c.author, "text": c.text, "created_at": c.created_at.isoformat()}
            )
        run = models.get_active_model_run(session=session, project_id=found.id)
        predictions = models.get_predictions(session=session, project_id=found.id) if run else {}
    disputed = open_disagreements(votes)
    records = []
    for ex in rows:
        assert ex.id is not None
        pred = predictions.get(ex.id)
        records.append(
            {
                "id": ex.external_id if ex.external_id is not None else str(ex.id),
                "text": ex.text,
                "label": agreed.get(ex.id),
                "annotations": by_example.get(ex.id, []),
                "comments": notes.get(ex.id, []),
                "prediction": (
                    {"label": pred.label, "confidence": pred.confidence}
                    if pred is not None and pred.label is not None
                    else None
                ),
                "meta": dict(ex.meta or {}),
                "disputed": ex.id in disputed,
                "flags": [],  # a field exports gained since; this bench sets no flag
            }
        )
    if fmt == "jsonl":
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        return len(records)
    writer = csv.DictWriter(out, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in _flat(records):
        writer.writerow(row)
    return len(records)


def former_prediction_rows(ws: Any, pool: Any, model: Any, settings: dict[str, Any],
                           mapping: Any = None) -> list[Any]:  # fmt: skip
    """engine/training.py's _prediction_rows before it was vectorised."""
    from engine import training
    from storage.repositories.models import PredictionRow

    n = len(pool.example_ids)
    rng = np.random.default_rng(int(settings.get("seed", 0)) + len(pool.labeled))
    probs = None
    uncertainty = np.zeros(n)
    if model is not None:
        probs = training._pool_proba(model, pool)
        if mapping is not None:
            probs = probs @ mapping
        uncertainty = training.uncertainty_scores(probs, "margin")
    picked = np.array([], dtype=np.int64)
    reasons: list[dict[str, Any]] = []
    if len(pool.unlabeled):
        picked, reasons = training._next_batch(ws, pool, probs, settings, rng)
    why = dict(zip(picked.tolist(), reasons, strict=True))
    if model is None:
        uncertainty = rng.random(n) * 1e-3
    priority = uncertainty.astype(np.float64).copy()
    priority[np.asarray(picked, dtype=np.int64)] = training._BATCH_PRIORITY - np.arange(len(picked))
    rows = []
    for i in range(n):
        label = confidence = ids = None
        top: list[Any] = []
        if probs is not None:
            order = np.argsort(-probs[i])[: training.TOP_K]
            top = [[pool.classes[j], round(float(probs[i, j]), 4)] for j in order]
            label, confidence = top[0][0], top[0][1]
            # each class's label id beside its name (today's rows, since migration 0022)
            ids = [[pool.label_ids[j] for j in order], *top[0]]
        rows.append(
            PredictionRow(example_id=int(pool.example_ids[i]), label=label,
                          confidence=confidence, probs=top, uncertainty=float(uncertainty[i]),
                          priority=float(priority[i]), reason=why.get(i), class_ids=ids)
        )  # fmt: skip
    return rows


# --- one measured run, in its own process ---------------------------------------------------------


def _status_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (the peak since the last :func:`_reset_peak`) in MB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    return 0.0


def _reset_peak() -> float:
    """Start the peak RSS afresh (Linux: "5" to clear_refs), so start-up does not count;
    returns the RSS now."""
    with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
        refs.write("5")
    return _status_mb("VmRSS")


def child(args: argparse.Namespace) -> None:
    import engine.exporting
    import engine.training  # noqa: F401  (imported before the RSS baseline)
    from engine import predicting

    ws = open_ws(args.url, args.schema, Path(args.data))
    result: dict[str, Any] = {}
    live = [0]  # rows scored live after a merge (--merge)
    if hasattr(predicting, "Merges"):
        rescored = predicting.Merges.rescored

        def counted(self: Any, ws_: Any, example_ids: list[int], texts: list[str]) -> Any:
            live[0] += len(texts)
            return rescored(self, ws_, example_ids, texts)

        predicting.Merges.rescored = counted  # type: ignore[method-assign]
    if args.child == "export":
        out_path = Path(args.data) / f"{args.project}-{args.impl}.{args.fmt}"
        before = _reset_peak()
        start = time.perf_counter()
        with out_path.open("w", encoding="utf-8", newline="") as out:
            if args.impl == "former":
                former_export(ws, args.project, out, args.fmt)
            else:
                records = engine.exporting.iter_export_records(ws, args.project)
                engine.exporting.write_export(records, out, args.fmt)
        result["seconds"] = time.perf_counter() - start
        result["live"] = live[0]
        result["digest"] = hashlib.sha256(out_path.read_bytes()).hexdigest()
        out_path.unlink()
    else:
        from engine import training

        # every cached vector read outside the measured run, as a warm worker holds them (the
        # cache reads a shard's vectors on the first lookup that needs them)
        len(ws.cache)  # indexes every shard (keys only)
        ws.cache.lookup(list(ws.cache._index))
        chosen = former_prediction_rows if args.impl == "former" else training._prediction_rows
        spent: list[float] = []
        digest = hashlib.sha256()
        calls: list[tuple[Any, ...]] = []

        def timed(*a: Any, **kw: Any) -> Any:
            calls.append(a)
            start = time.perf_counter()
            rows = chosen(*a, **kw)
            spent.append(time.perf_counter() - start)
            digest.update(repr(rows).encode())
            return rows

        training._prediction_rows = timed  # type: ignore[assignment]
        before = _reset_peak()
        start = time.perf_counter()
        training.rescore_project(ws, args.project)
        result["seconds"] = time.perf_counter() - start
        result["rows_seconds"] = sum(spent)
        result["digest"] = digest.hexdigest()
        result["peak_mb"] = _status_mb("VmHWM")
        # the part that changed alone: each example's top classes, from the probabilities
        _, pool, model, _, *mapping = calls[-1]
        probs = training._pool_proba(model, pool)
        probs = probs @ mapping[0] if mapping and mapping[0] is not None else probs
        start = time.perf_counter()
        if args.impl == "former":
            for i in range(len(probs)):
                order = np.argsort(-probs[i])[: training.TOP_K]
                [[pool.classes[j], round(float(probs[i, j]), 4)] for j in order]
        else:
            with training._collector_paused():
                training._top_classes(probs, pool)
        result["top_seconds"] = time.perf_counter() - start
    result.setdefault("peak_mb", _status_mb("VmHWM"))
    result["grew_mb"] = result["peak_mb"] - before
    ws.close()
    print(json.dumps(result))


def merge_report(base: list[str], sizes: list[int], opened: Any, db: str) -> None:
    """--merge: today's JSONL export of each project as it was built, after two labels were
    merged (not re-scored: rows whose stored top five cannot say the merged label's answer
    are scored live, engine.predicting.Merges), after the queue's re-score, and after a label
    was then renamed; with the rows scored live."""
    from engine import taxonomy, training

    print(f"\n## Export after a merge ({db}, JSONL): time, rows scored live\n")
    print("| examples | unmerged | merged | re-scored | re-scored, then a rename |")
    print("|---|---|---|---|---|")

    def merge(ws: Any, name: str) -> None:
        taxonomy.merge_labels(ws, project=name, labels=LABELS[:2], actor="bench", rescore=False)

    def rename(ws: Any, name: str) -> None:
        taxonomy.rename_label(ws, project=name, label=LABELS[5], new_name=f"{LABELS[5]}x",
                              actor="bench", rescore=False)  # fmt: skip

    steps = [None, merge, training.rescore_project, rename]
    for size in sizes:
        cells = []
        for step in steps:
            if step is not None:
                ws = opened()
                step(ws, f"p{size}")
                ws.close()
            r = measure(base, project=f"p{size}", fmt="jsonl", impl="today")
            cells.append(f"{r['seconds']:.2f} s ({r['live']:,} live)")
        print(f"| {size:,} | {' | '.join(cells)} |", flush=True)


def measure(base: list[str], **options: str) -> dict[str, Any]:
    command = [sys.executable, __file__, *base]
    for key, value in options.items():
        command += [f"--{key}", value]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5000,20000,50000", help="examples per project")
    parser.add_argument("--db", default="sqlite", help="sqlite or postgres")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="time today's export after a merge instead: before it, merged (not re-scored), "
        "re-scored, then a label renamed",
    )
    for hidden in ("child", "url", "schema", "data", "project", "fmt", "impl"):
        parser.add_argument(f"--{hidden}", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    import sqlalchemy as sa

    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        schema = None
        if args.db == "sqlite":
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        else:
            url, schema = POSTGRES_URL, f"bench_{uuid.uuid4().hex[:12]}"
            admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        try:
            ws = open_ws(url, schema, Path(tmp))
            for size in sizes:
                start = time.perf_counter()
                build(ws, Path(tmp), size)
                print(f"built {size:,} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
            ws.close()
            base = ["--child", "export", "--url", url, "--data", tmp]
            if schema:
                base += ["--schema", schema]
            if args.merge:
                merge_report(base, sizes, lambda: open_ws(url, schema, Path(tmp)), args.db)
                return
            print(f"\n## Export ({args.db}): time, peak RSS (+MB over the process before it)\n")
            print("| examples | format | former | today | same bytes |")
            print("|---|---|---|---|---|")
            for size in sizes:
                for fmt in ("jsonl", "csv"):
                    runs = {
                        impl: measure(base, project=f"p{size}", fmt=fmt, impl=impl)
                        for impl in ("former", "today")
                    }
                    cells = [f"{r['seconds']:.2f} s, {r['peak_mb']:.0f} MB (+{r['grew_mb']:.0f})"
                             for r in runs.values()]  # fmt: skip
                    same = runs["former"]["digest"] == runs["today"]["digest"]
                    print(f"| {size:,} | {fmt} | {cells[0]} | {cells[1]} | {same} |", flush=True)
            base[1] = "rescore"
            print(f"\n## Re-score ({args.db}): whole re-score (of which _prediction_rows; of which "
                  "the top classes), peak RSS\n")  # fmt: skip
            print("| examples | former | today | same rows |")
            print("|---|---|---|---|")
            for size in sizes:
                runs = {impl: measure(base, project=f"p{size}", impl=impl)
                        for impl in ("former", "today")}  # fmt: skip
                cells = [f"{r['seconds']:.2f} s ({r['rows_seconds']:.2f} s; "
                         f"{r['top_seconds']:.2f} s), "
                         f"{r['peak_mb']:.0f} MB (+{r['grew_mb']:.0f})"
                         for r in runs.values()]  # fmt: skip
                same = runs["former"]["digest"] == runs["today"]["digest"]
                print(f"| {size:,} | {cells[0]} | {cells[1]} | {same} |", flush=True)
        finally:
            if schema is not None:
                with admin.connect() as conn:
                    conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()


if __name__ == "__main__":
    main()
