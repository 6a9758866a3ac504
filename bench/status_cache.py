"""`labelbot status` of a small project beside a large shared embedding cache, in a fresh process.

status of a project with audit labels looks its labeled examples up in the embedding cache
(engine.projects.held_out, for the audit examples' twins). The cache is shared by every project
of an encoder; until 2026-12-05 its first lookup read every shard's keys and vectors, so a fresh
`labelbot status` paid for every project's vectors. Now it indexes every shard's keys and reads a
shard's vectors on the first lookup that needs them.

This bench builds (SQLite, a fake 384-d encoder: no model loaded) a project of 300 texts with
audit labels, and beside it ``--others`` random texts' vectors (random float16, 384-d) in shards
of 4,096 rows, as an import's checkpoints write them. Each run is a fresh process that opens the
workspace and times ``project_status``: "lazy" is today's cache; "eager" reads every shard's
vectors first, inside the timed run (the former first lookup, called explicitly). Peak RSS is
the child's (VmHWM, its peak reset just before the run, so start-up does not count); "+MB" is
that peak over the RSS just before the run. "rows read" are the vector rows the cache holds
after the run. Fastest (and smallest) of ``--repeat`` runs each, the modes taking turns.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/status_cache.py [--others 300000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from export_scale import _reset_peak, _status_mb  # noqa: E402  (bench/, the script's own folder)

LABELS = ["card", "refund", "transfer"]
PROJECT_TEXTS = 300
SHARD_ROWS = 4096  # engine.embeddings.CHECKPOINT_TEXTS: an import writes a shard this often


class RandomEncoder:
    """A 384-d unit vector per text, seeded by the text: deterministic, no model."""

    name = "bench-status-384"
    dim = 384

    def encode(self, texts: list[str], *, batch_size: int = 64, progress: Any = None) -> Any:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
            out[i] = np.random.default_rng(seed).standard_normal(self.dim)
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        if progress:
            progress(len(texts))
        return out


def open_ws(tmp: Path) -> Any:
    from engine.config import Settings
    from engine.workspace import Workspace

    settings = Settings(DATABASE_URL=f"sqlite:///{tmp / 'bench.db'}", LABELBOT_DATA_DIR=tmp)
    return Workspace.open(settings, encoder=RandomEncoder())


def build(tmp: Path, others: int) -> None:
    from engine import labeling, projects

    ws = open_ws(tmp)
    try:
        projects.create_project(ws, name="small", labels=LABELS)
        projects.update_settings(ws, project="small", audit_share=0.5)
        path = tmp / "small.csv"
        truth = {f"{LABELS[i % 3]} question {i}": LABELS[i % 3] for i in range(PROJECT_TEXTS)}
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["text"])
            writer.writerows([t] for t in truth)
        projects.import_file(ws, project="small", path=path)
        for _ in range(60):
            task = labeling.next_task(ws, project="small", annotator="U1")
            assert task is not None
            labeling.submit_label(ws, project="small", example_id=task.example_id,
                                  label=truth[task.text], annotator="U1", source="cli",
                                  key=f"U1:{task.example_id}")  # fmt: skip
        rng = np.random.default_rng(0)
        for start in range(0, others, SHARD_ROWS):
            n = min(SHARD_ROWS, others - start)
            keys = [f"{start + i:032x}" for i in range(n)]
            ws.cache.store(keys, rng.standard_normal((n, 384)).astype(np.float16))
    finally:
        ws.close()


def child(tmp: Path, mode: str) -> None:
    import engine.consensus  # noqa: F401  (imported before the RSS baseline, as status does)
    import engine.reviews  # noqa: F401
    from engine import projects

    ws = open_ws(tmp)
    before = _reset_peak()
    start = time.perf_counter()
    if mode == "eager":  # the former first lookup: every shard's keys and vectors
        cache = ws.cache
        len(cache)
        for number, rows in enumerate(cache._shards):
            if rows is None:
                cache._read_vectors(number)
    status = projects.project_status(ws, "small")
    seconds = time.perf_counter() - start
    peak = _status_mb("VmHWM")  # since the reset (getrusage's maximum counts start-up too)
    held = sum(len(rows) for rows in ws.cache._shards if rows is not None)
    ws.close()
    assert status["rare"] is not None
    print(json.dumps({"seconds": seconds, "peak": peak, "before": before, "held": held}))


def run(tmp: Path, mode: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, "--dir", str(tmp)],
        check=True, capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--others", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", choices=["lazy", "eager"])
    parser.add_argument("--dir", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args.dir, args.child)
        return
    with tempfile.TemporaryDirectory(prefix="labelbot-status-cache-") as name:
        tmp = Path(name)
        start = time.perf_counter()
        build(tmp, args.others)
        print(f"built in {time.perf_counter() - start:.1f} s: {PROJECT_TEXTS} project texts, "
              f"{args.others:,} other texts' vectors")  # fmt: skip
        run(tmp, "eager")  # the shards into the page cache, for both modes alike
        print("| cache | status (s) | peak RSS (MB) | +MB | rows read |")
        print("|---|---|---|---|---|")
        runs_of: dict[str, list[dict[str, float]]] = {"eager": [], "lazy": []}
        for _ in range(args.repeat):  # taking turns, so a busy moment hits both alike
            for mode, runs in runs_of.items():
                runs.append(run(tmp, mode))
        for mode, runs in runs_of.items():
            best = min(runs, key=lambda r: r["seconds"])
            peak = min(r["peak"] for r in runs)
            plus = min(r["peak"] - r["before"] for r in runs)
            print(f"| {mode} | {best['seconds']:.3f} | {peak:.0f} | {plus:.0f} "
                  f"| {int(best['held']):,} |")  # fmt: skip


if __name__ == "__main__":
    main()
