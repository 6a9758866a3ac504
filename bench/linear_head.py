"""The linear head without torch: the numpy/scipy fit against the torch head it replaced.

The head (``engine.classifier.fit_linear``) minimises sklearn's LogisticRegression objective
with class_weight="balanced" and C=10, divided by C*n. It was fit with torch.optim.LBFGS
(strong Wolfe, 20 corrections): the only reason training, ``proposals --refresh`` and the
mislabel review imported torch. It is now numpy with the gradient written out and scipy's
L-BFGS-B (the same stopping rules, 10 corrections). The torch head is kept as the baseline
(tests/engine/torch_head.py, the reference the tests hold the numpy head to, with the float64
objective both are scored by); both run in the same process on real embeddings: the product
encoder through the shared embedding cache, a random slice of n Banking77 training rows (77
intents), held out on the test split. Cold start (zeros, 100 iterations) and warm start (from
the torch head's cold fit on the slice's first n - 50 rows, ``WARM_ITERS`` iterations, as the
labeling loop retrains). Both on one BLAS thread (and one torch thread), as the product ran
them; ``numpy-mt`` is the numpy fit with the BLAS threads left as they are, to see whether the
one-thread limit still pays.

Per size and start: the objective at the end (every method's by the same float64 code, over
the classes with examples), its relative difference to torch's and to the lowest of the cold
fits' (how far short of the optimum a warm start's ten steps stop), held-out accuracy, the
share of held-out argmaxes that agree with torch's and the largest probability difference,
best wall and CPU time of ``--repeat`` runs (5x as many warm), the methods taking turns (the
box is shared: a burst of load hits one round, not one method), and the ratios to torch.
Then a fresh process per head that loads the largest slice from an .npz file and trains one
model through ``train_model(kind="linear")`` (the head, the out-of-fold temperature's 3 more
fits): its peak RSS, wall time (imports included) and whether torch was imported.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/linear_head.py [--sizes 200,1000,5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine import classifier  # noqa: E402
from engine.classifier import WARM_ITERS, fit_linear  # noqa: E402
from tests.engine.torch_head import objective, proba, torch_fit_linear  # noqa: E402

Result = tuple[np.ndarray, np.ndarray]
Fit = Callable[..., Result]


@contextlib.contextmanager
def all_threads() -> Iterator[None]:
    """The product's fit without its one-BLAS-thread limit."""
    one_thread = classifier._one_thread
    classifier._one_thread = contextlib.nullcontext  # type: ignore[assignment]
    try:
        yield
    finally:
        classifier._one_thread = one_thread


def numpy_mt_fit(X: np.ndarray, y: np.ndarray, **kwargs: Any) -> Result:
    with all_threads():
        return fit_linear(X, y, **kwargs)


FITS: dict[str, Fit] = {"torch": torch_fit_linear, "numpy": fit_linear, "numpy-mt": numpy_mt_fit}


def timed(
    fits: dict[str, Callable[[], Result]], repeat: int
) -> dict[str, tuple[float, float, Result]]:
    """Per method: best wall and best CPU seconds of ``repeat`` runs, the methods taking turns,
    and the result, checked identical across runs."""
    out: dict[str, tuple[float, float, Result]] = {}
    for _ in range(repeat):
        for name, fn in fits.items():
            wall, cpu = time.perf_counter(), time.process_time()
            result = fn()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if name in out:
                best_wall, best_cpu, first = out[name]
                if not all(np.array_equal(a, b) for a, b in zip(result, first, strict=True)):
                    raise SystemExit(f"{name}: a fit gave different weights on the same input")
                wall, cpu = min(wall, best_wall), min(cpu, best_cpu)
            out[name] = (wall, cpu, result)
    return out


def load_banking77() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    from engine.config import get_settings
    from engine.datasets import dataset_path, load_split
    from engine.embeddings import cache_for, embed_texts
    from engine.encoders import get_encoder

    encoder = get_encoder()
    cache = cache_for(get_settings().data_dir, encoder)
    (texts, labels), (test_texts, test_labels) = (
        load_split(dataset_path("banking77", "train")),
        load_split(dataset_path("banking77", "test")),
    )
    ids = {name: i for i, name in enumerate(sorted(set(labels)))}
    X = np.asarray(embed_texts(texts, encoder=encoder, cache=cache), dtype=np.float32)
    Xt = np.asarray(embed_texts(test_texts, encoder=encoder, cache=cache), dtype=np.float32)
    y = np.array([ids[name] for name in labels])
    yt = np.array([ids[name] for name in test_labels])
    return X, y, Xt, yt, len(ids)


def one_training(head: str, path: Path) -> None:
    """Child process: load (X, y), train one linear model with ``head``'s fit, print the peak
    RSS in MB, the seconds since the process started and whether torch was imported."""
    data = np.load(path)
    X, y = data["X"], data["y"]
    if head == "torch":
        classifier.fit_linear = torch_fit_linear  # what train_model calls, for the whole process
    classifier.train_model(X, y, n_classes=int(y.max()) + 1, kind="linear")
    # VmHWM, not ru_maxrss: Linux keeps the parent's ru_maxrss across fork and exec.
    status = Path("/proc/self/status").read_text().split("\n")
    peak = int(next(line for line in status if line.startswith("VmHWM:")).split()[1]) / 1024
    print(f"{peak:.0f} {'torch' in sys.modules}")


def training_process(head: str, path: Path) -> tuple[float, float, bool]:
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, __file__, "--one-training", head, "--npz", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    return float(out[0]), time.perf_counter() - started, out[1] == "True"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="200,1000,5000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--methods", default="torch,numpy,numpy-mt")
    parser.add_argument("--one-training", choices=["torch", "numpy"], help=argparse.SUPPRESS)
    parser.add_argument("--npz", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_training:
        one_training(args.one_training, args.npz)
        return
    methods = args.methods.split(",")
    if methods[0] != "torch":
        raise SystemExit("--methods: torch first, the others are compared with it")
    X_all, y_all, Xt, yt, n_classes = load_banking77()
    order = np.random.default_rng(0).permutation(len(y_all))
    print(
        f"{'n':>6} {'start':<5} {'method':<8} {'objective':>10} {'vs torch':>9} {'vs cold':>8} "
        f"{'acc':>6} "
        f"{'argmax=':>7} {'max|dp|':>7} {'wall s':>7} {'ratio':>6} {'cpu s':>6} {'ratio':>6}"
    )
    last = None
    for n in [min(int(s), len(y_all)) for s in args.sizes.split(",")]:
        X, y = X_all[order[:n]], y_all[order[:n]]
        last = (X, y)
        # The warm start: torch's cold fit 50 labels earlier, the same for every method.
        init = torch_fit_linear(X[: n - 50], y[: n - 50], n_classes=n_classes)
        optimum = np.inf  # the lowest objective of the cold fits: how far the warm ones stop
        for start in ("cold", "warm"):
            kwargs: dict[str, Any] = (
                {} if start == "cold" else {"init": init, "max_iter": WARM_ITERS}
            )
            fits: dict[str, Callable[[], Result]] = {
                m: partial(FITS[m], X, y, n_classes=n_classes, **kwargs) for m in methods
            }
            # Warm fits take 0.01-0.3 s: more rounds, so that a burst of load averages out.
            times = timed(fits, args.repeat * (1 if start == "cold" else 5))
            ref_wall, ref_cpu, (w0, b0) = times["torch"]
            ref_obj, ref_p = objective(X, y, w0, b0), proba(Xt, w0, b0)
            for method, (wall, cpu, (w, b)) in times.items():
                obj, p = objective(X, y, w, b), proba(Xt, w, b)
                optimum = min(optimum, obj) if start == "cold" else optimum
                rel, gap = (obj - ref_obj) / ref_obj, (obj - optimum) / optimum
                print(
                    f"{n:>6} {start:<5} {method:<8} {obj:>10.6f} {rel:>+9.1e} {gap:>+8.1e} "
                    f"{(p.argmax(1) == yt).mean():>6.4f} "
                    f"{(p.argmax(1) == ref_p.argmax(1)).mean():>7.4f} "
                    f"{np.abs(p - ref_p).max():>7.1e} "
                    f"{wall:>7.3f} {wall / ref_wall:>5.2f}x {cpu:>6.3f} {cpu / ref_cpu:>5.2f}x",
                    flush=True,
                )
    if last is not None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "slice.npz"
            np.savez(path, X=last[0], y=last[1])
            print(f"\na fresh process training one linear model on n={len(last[1])}:")
            for head in ("torch", "numpy"):
                runs = [training_process(head, path) for _ in range(args.repeat)]
                mb, seconds, torch_loaded = (
                    max(r[0] for r in runs),
                    min(r[1] for r in runs),
                    runs[0][2],
                )
                print(
                    f"  {head:<6} head: peak RSS {mb:>5.0f} MB, {seconds:>5.1f} s (best of "
                    f"{len(runs)}, imports included), torch imported: {torch_loaded}"
                )


if __name__ == "__main__":
    main()
