"""How much memory does `labelbot predict` take on a big file? This tree's code and a baseline's.

Until 2026-12-02 predict read every row of the file into a list, embedded all its texts at once
(one vector per row held until the end), predicted them all, and only then wrote; now it checks
the file in a first pass, then reads, predicts and writes it a chunk at a time
(``engine.predicting.CHUNK`` texts), every chunk answered by the model read at the start.

The bench builds a project (20 labels, ``--pool`` examples, one in ten labeled by import, a
linear model trained) in a SQLite database, and a CSV of ``--rows`` texts to predict (one in a
hundred a text of the project, answered with its stored prediction; the others new), with ids.
The command then runs (``predict bench FILE --out F``, through the CLI's own code: typer, the
file reader, the writer) once with this tree's code and once with ``--baseline``'s (a commit,
extracted with `git archive` into a temporary folder), each in its own process. Before the run,
each process imports everything and predicts a 100-row file (the model's file read, scikit-learn
loaded), then its peak resident memory is reset, so start-up does not count: "+MB" is the
peak (VmHWM) over the RSS just before the run. "same" says both wrote the same bytes.

Embeddings come from a fake encoder (a vector per text from its hash, near its label's centroid,
about 20 µs a text; no model loaded): the encoder's own memory and time are not what is
measured, and a real one (MiniLM) would take minutes per run on CPU. Both runs use the same one.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/predict_memory.py [--rows 100000] [--pool 2000]
        [--format jsonl|csv] [--baseline 3bcddec]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
# the code measured: this tree's, or a baseline's (--code-root, in a child process)
CODE = Path(sys.argv[sys.argv.index("--code-root") + 1]) if "--code-root" in sys.argv else ROOT
sys.path.insert(0, str(CODE))
from baseline import extract  # noqa: E402  (bench/, the script's own folder)

# the last commit before predict streamed (whole file in memory, all texts embedded at once)
BASELINE = "3bcddec"
LABELS = [f"intent_{i}" for i in range(20)]
_LABEL_NAMED = re.compile(r"intent[_ ](\d+)")


class HashEncoder:
    """384-d unit vectors: the centroid of the label a text names ("intent_7"; any other text:
    one picked by its hash) plus noise seeded by the text's hash. Deterministic, and about 20 µs
    a text."""

    name = "bench-hash-384"
    dim = 384

    def __init__(self) -> None:
        rng = np.random.default_rng(7)
        self._centroids = rng.standard_normal((len(LABELS), self.dim)).astype(np.float32)

    def encode(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = 64,
        progress: Callable[[int], None] | None = None,
    ) -> npt.NDArray[np.float32]:
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
            vector = np.random.default_rng(seed).standard_normal(self.dim).astype(np.float32)
            named = _LABEL_NAMED.search(text)  # a label's own text too ("intent 7: ...")
            label = int(named.group(1)) % len(LABELS) if named else seed % len(LABELS)
            vector = vector * 1.5 + self._centroids[label]
            out[i] = vector / np.linalg.norm(vector)
        if progress:
            progress(len(texts))
        return out


def open_ws(data: Path) -> Any:
    from engine.config import Settings
    from engine.workspace import Workspace

    settings = Settings(DATABASE_URL=f"sqlite:///{data / 'bench.db'}", LABELBOT_DATA_DIR=data)
    return Workspace.open(settings, encoder=HashEncoder())


def _text(rng: random.Random, i: int, kind: str) -> str:
    k = rng.randrange(len(LABELS))
    return f"{kind} {i}: a question about intent_{k} {rng.random():.6f} " + "words " * rng.randint(
        3, 30
    )


def build(data: Path, pool: int, rows: int) -> Path:
    """The project "bench" (see the module's docstring); returns the file to predict."""
    from engine import projects, training

    ws = open_ws(data)
    rng = random.Random(0)
    projects.create_project(ws, name="bench", labels=LABELS)
    projects.update_settings(ws, project="bench", audit_share=0.0, multi_label_share=0.0)
    texts = [_text(rng, i, "ticket") for i in range(pool)]
    path = data / "pool.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "label"])
        for i, text in enumerate(texts):
            label = text.split("about ")[1].split()[0] if i % 10 == 0 else ""
            writer.writerow([f"P{i}", text, label])
    projects.import_file(ws, project="bench", path=path)
    training.train_project(ws, "bench", kind="linear")
    ws.close()
    big = data / "predict.csv"
    with big.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["id", "text", "channel"])
        for i in range(rows):
            text = texts[i % pool] if i % 100 == 0 else _text(rng, i, "new")
            writer.writerow([f"Q{i}", text, ["email", "chat"][i % 2]])
    small = data / "warm.csv"
    small.write_text("".join(big.open(encoding="utf-8").readlines()[:101]), encoding="utf-8")
    return big


def _status_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (the peak since the last :func:`_reset_peak`) in MB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    return 0.0


def _reset_peak() -> float:
    """Start the peak RSS afresh (Linux: "5" to clear_refs); returns the RSS now."""
    with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
        refs.write("5")
    return _status_mb("VmRSS")


def child(data: Path, fmt: str) -> None:
    """One `labelbot predict` of the big file, in this process, with the code on sys.path."""
    import bot.cli.data
    import engine.predicting
    import engine.training  # noqa: F401  (imported before the RSS baseline)
    from bot.cli import app

    ws = open_ws(data)
    bot.cli.data.workspace = lambda *_, **__: ws  # type: ignore[attr-defined]
    out = data / f"out-{hashlib.sha1(str(CODE).encode()).hexdigest()[:8]}.{fmt}"
    warm = ["predict", "bench", str(data / "warm.csv"), "--out", str(out), "--format", fmt]
    app(warm, standalone_mode=False)
    before = _reset_peak()
    start = time.perf_counter()
    app(["predict", "bench", str(data / "predict.csv"), "--out", str(out), "--format", fmt],
        standalone_mode=False)  # fmt: skip
    seconds = time.perf_counter() - start
    peak = _status_mb("VmHWM")
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    lines = out.read_bytes().count(b"\n")
    out.unlink()
    ws.close()
    result = {"before": before, "peak": peak, "seconds": seconds, "digest": digest, "lines": lines}
    print(json.dumps(result))


def _measure(code: Path, data: Path, fmt: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(data), "--code-root", str(code), "--format",
         fmt],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the file predicted")
    parser.add_argument("--pool", type=int, default=2_000, help="examples in the project")
    parser.add_argument("--format", default="jsonl", help="jsonl or csv")
    parser.add_argument("--baseline", default=BASELINE, help="the commit to compare with")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)  # a child's data folder
    parser.add_argument("--code-root", type=Path, help=argparse.SUPPRESS)  # read above
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)  # a builder's data folder
    args = parser.parse_args()
    if args.child is not None:
        child(args.child, args.format)
        return
    if args.build is not None:
        build(args.build, args.pool, args.rows)
        return
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        codes = {"this tree": ROOT}
        old = extract(ROOT, args.baseline, Path(tmp) / "baseline", ("bot", "engine", "storage"))
        if old is not None:
            codes = {f"{args.baseline} (before)": old, **codes}
        # built by the oldest code measured (its own process): its schema is the older one,
        # which the newer code upgrades; the other way round the older code refuses it
        subprocess.run(
            [sys.executable, __file__, "--build", str(data), "--code-root",
             str(next(iter(codes.values()))), "--pool", str(args.pool), "--rows", str(args.rows)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        big = data / "predict.csv"
        size = big.stat().st_size / 2**20
        print(
            f"\n## Memory: `labelbot predict` of {args.rows:,} CSV rows ({size:.0f} MiB) to "
            f"{args.format}, project of {args.pool:,} examples, fake encoder\n"
        )
        print(f"| {'code':<18} | {'RSS before':>10} | {'peak RSS':>9} | {'predict':>8} "
              f"| {'seconds':>8} | {'lines':>8} | same |")  # fmt: skip
        print(f"|{'-' * 20}|{'-' * 12}|{'-' * 11}|{'-' * 10}|{'-' * 10}|{'-' * 10}|------|")
        digests = set()
        for name, code in codes.items():
            m = _measure(code, data, args.format)
            digests.add(m["digest"])
            grew = m["peak"] - m["before"]
            same = "yes" if len(digests) == 1 else "NO"
            print(f"| {name:<18} | {m['before']:>7.0f} MB | {m['peak']:>6.0f} MB "
                  f"| +{grew:>4.0f} MB | {m['seconds']:>8.1f} | {m['lines']:>8,} | {same:<4} |",
                  flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
