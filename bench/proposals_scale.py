"""A proposals refresh as the project grows: time and peak memory, before and after.

``proposing.refresh_proposals`` runs every taxonomy detector (merges, splits, additions, rare
labels) after each retrain. This bench builds SQLite projects of ``--sizes`` examples (Banking77
and CLINC150 texts with prefixed/suffixed variants past their ~30k, ``--labeled`` of them
labeled by import, every intent of both data sets in the taxonomy) with a fake encoder: each
text is its intent's random direction plus its own noise, so labels have real structure and no
model is loaded. Each refresh runs in its own process on a fresh copy of the database, with the
modules imported and the embedding cache read before the clock starts: wall time, peak RSS
(``ru_maxrss``) and its growth over the RSS at the start. ``--old-tree`` is a checkout of the
former code (``git worktree add /tmp/wt_props <commit>``), run the same way; "same proposals"
compares every stored proposal (kind, labels, score, evidence, message) of the two.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/proposals_scale.py [--sizes 2000,20000,50000]
        [--labeled 1000] [--old-tree /tmp/wt_props] [--repeats 1]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "scale"
PREFIXES = ["", "hi, ", "please help: ", "hello - ", "quick question: ", "urgent: ",
            "hey team, ", "good morning. ", "excuse me, ", "one more thing: "]  # fmt: skip
SUFFIXES = ["", " thanks", " please", " asap", " (again)", " - cheers", " ty", " !!", " ??"]


def make_rows(n: int, datasets: Path) -> list[tuple[str, str]]:
    """n distinct (text, intent) rows: the data sets' texts shuffled, then their variants."""
    base: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name in ("banking77", "clinc150"):
        for split in ("train", "test"):
            with (datasets / name / f"{split}.csv").open(encoding="utf-8", newline="") as fh:
                for row in csv.DictReader(fh):
                    text = row["text"].strip()
                    if text and text not in seen and row["label"] != "oos":
                        seen.add(text)
                        base.append((text, row["label"]))
    random.Random(0).shuffle(base)
    out: list[tuple[str, str]] = []
    taken: set[str] = set()
    k = 0
    while len(out) < n:
        text, label = base[k % len(base)]
        turn = k // len(base)
        variant = PREFIXES[turn % len(PREFIXES)] + text + SUFFIXES[turn // len(PREFIXES) % 9]
        if variant not in taken:
            taken.add(variant)
            out.append((variant, label))
        k += 1
    return out


class FakeEncoder:
    """384-d vectors: the text's intent's random direction plus noise drawn from its hash."""

    name = "bench-fake-intents-384"
    dim = 384

    def __init__(self, intent_of: dict[str, str]) -> None:
        import numpy as np

        self._np = np
        self._intent_of = intent_of
        intents = sorted(set(intent_of.values()))
        rng = np.random.default_rng(7)
        self._centre = {lb: rng.standard_normal(self.dim).astype(np.float32) for lb in intents}

    def encode(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = 64,
        progress: Callable[[int], None] | None = None,
    ) -> Any:
        np = self._np
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
            v = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32) * 1.3
            intent = self._intent_of.get(text)
            if intent is not None:
                v += self._centre[intent]
            out[i] = v / np.linalg.norm(v)
        if progress:
            progress(len(texts))
        return out


def _workspace(tree: Path, db: Path, data_dir: Path, n: int) -> Any:
    from engine.config import Settings
    from engine.workspace import Workspace

    encoder = FakeEncoder(dict(make_rows(n, tree / "engine" / "datasets")))
    settings = Settings(DATABASE_URL=f"sqlite:///{db}", LABELBOT_DATA_DIR=data_dir)
    return Workspace.open(settings, encoder=encoder)


def build(tree: Path, db: Path, data_dir: Path, n: int, labeled: int) -> None:
    """The project: every intent a label, ``labeled`` random rows labeled by import."""
    from engine import projects

    ws = _workspace(tree, db, data_dir, n)
    rows = make_rows(n, tree / "engine" / "datasets")
    chosen = set(random.Random(1).sample(range(n), labeled))
    projects.create_project(ws, name=PROJECT, labels=sorted({lb for _, lb in rows}))
    path = db.with_suffix(".csv")
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text", "label"])
        for i, (text, label) in enumerate(rows):
            writer.writerow([f"r{i}", text, label if i in chosen else ""])
    projects.import_file(ws, project=PROJECT, path=path)
    from engine import training

    training.load_pool(ws, PROJECT)  # every text embedded once, into the shared cache
    ws.close()


def refresh(tree: Path, db: Path, data_dir: Path, n: int) -> dict[str, Any]:
    """One timed refresh in this process (the tree's code); its proposals' digest."""
    import engine.proposals  # noqa: F401  (imported before the clock, as a warm worker has)
    from engine import proposing, training  # noqa: F401

    ws = _workspace(tree, db, data_dir, n)
    # every cached vector read outside the measured run, as a warm worker holds them (the
    # cache reads a shard's vectors on the first lookup that needs them)
    len(ws.cache)  # indexes every shard (keys only)
    ws.cache.lookup(list(ws.cache._index))
    rss_before = _rss_mb()
    start = time.perf_counter()
    rows = proposing.refresh_proposals(ws, PROJECT)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    found = [[r.kind, r.labels, r.key, r.score, r.evidence, r.evidence_strength, r.message]
             for r in rows]  # fmt: skip
    digest = hashlib.sha256(json.dumps(found, sort_keys=True).encode()).hexdigest()
    return {"wall_s": wall, "peak_mb": peak, "grew_mb": peak - rss_before,
            "proposals": len(found), "digest": digest}  # fmt: skip


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return 0.0


def _child(args: argparse.Namespace) -> None:
    tree = Path(args.tree).resolve()
    sys.path.insert(0, str(tree))  # the tree's engine, not this checkout's
    if args.child == "build":
        build(tree, Path(args.db), Path(args.data), args.n, args.labeled)
    else:
        print(json.dumps(refresh(tree, Path(args.db), Path(args.data), args.n)))


def _run(tree: Path, *extra: str) -> dict[str, Any]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--tree", str(tree), *extra]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, cwd=tree)
    lines = out.stdout.strip().splitlines()
    return json.loads(lines[-1]) if lines and lines[-1].startswith("{") else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="2000,20000,50000")
    parser.add_argument("--labeled", type=int, default=1000)
    parser.add_argument("--old-tree", default=None, help="checkout of the former code")
    parser.add_argument("--repeats", type=int, default=1, help="refreshes per cell (median)")
    parser.add_argument("--child", choices=["build", "refresh"], help=argparse.SUPPRESS)
    parser.add_argument("--tree", default=str(ROOT), help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    trees = {"new": ROOT}
    if args.old_tree:
        trees = {"old": Path(args.old_tree).resolve(), **trees}
    rows = []
    with tempfile.TemporaryDirectory(prefix="proposals-scale-") as tmp:
        for n in [int(s) for s in args.sizes.split(",")]:
            db, data = Path(tmp) / f"n{n}.db", Path(tmp) / f"data{n}"
            _run(ROOT, "--child", "build", "--db", str(db), "--data", str(data),
                 "--n", str(n), "--labeled", str(args.labeled))  # fmt: skip
            cells: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
            for _ in range(args.repeats):
                for name, tree in trees.items():  # alternated, so drift hits both alike
                    copy = Path(tmp) / f"n{n}-{name}.db"
                    shutil.copy(db, copy)
                    cells[name].append(_run(tree, "--child", "refresh", "--db", str(copy),
                                            "--data", str(data), "--n", str(n)))  # fmt: skip
                    copy.unlink()
            rows.append((n, cells))
            print(f"{n}: " + ", ".join(f"{k} {_cell(v)}" for k, v in cells.items()), flush=True)
    print()
    _table(rows, old="old" in trees)


def _cell(runs: list[dict[str, Any]]) -> str:
    wall = statistics.median(r["wall_s"] for r in runs)
    peak = statistics.median(r["peak_mb"] for r in runs)
    grew = statistics.median(r["grew_mb"] for r in runs)
    return f"{wall:.1f} s, {peak:.0f} MB (+{grew:.0f})"


def _table(rows: list[tuple[int, dict[str, list[dict[str, Any]]]]], *, old: bool) -> None:
    if old:
        print("| examples | old: refresh, peak RSS | new: refresh, peak RSS | speed-up "
              "| proposals | same proposals |")  # fmt: skip
        print("|---|---|---|---|---|---|")
    else:
        print("| examples | refresh, peak RSS | proposals |")
        print("|---|---|---|")
    for n, cells in rows:
        new = cells["new"]
        if not old:
            print(f"| {n:,} | {_cell(new)} | {new[0]['proposals']} |")
            continue
        before = cells["old"]
        speed = statistics.median(r["wall_s"] for r in before) / statistics.median(
            r["wall_s"] for r in new
        )
        same = {r["digest"] for r in before} == {r["digest"] for r in new}
        print(f"| {n:,} | {_cell(before)} | {_cell(new)} | {speed:.1f}x "
              f"| {new[0]['proposals']} | {'yes' if same else 'NO'} |")  # fmt: skip


if __name__ == "__main__":
    main()
