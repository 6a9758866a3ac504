"""Can the linear head be fit without torch? torch's LBFGS vs scipy's L-BFGS-B, same objective.

The head (``engine.classifier.fit_linear``) minimises sklearn's LogisticRegression objective with
class_weight="balanced" and C=10, divided by C*n, with torch.optim.LBFGS (strong Wolfe): the
only reason training, ``proposals --refresh`` and the mislabel review import torch. The
candidate below (``scipy_fit``: numpy, a hand-written gradient, scipy's L-BFGS-B) and the
product's fit run in the same process on real embeddings: the product encoder through the
shared embedding cache, a random slice of n Banking77 training rows (77 intents), held out on
the test split (stratified: 40 rows per intent). Cold start (zeros, 100 iterations) and warm
start (from the product's fit on the slice's first n - 50 rows, ``WARM_ITERS`` iterations, as
the labeling loop retrains). Every fit runs on one BLAS thread (and one torch thread), as in the
product.

Per size and start: the objective at the end (every method's evaluated by the same float64
code, over the classes with examples), held-out accuracy and log loss (softmax, no temperature),
best wall and CPU time of ``--repeat`` runs (5x as many warm), the methods taking turns, and the
ratios to torch. Go: scipy's objective within 1e-4 relative of torch's or lower, accuracy within
0.3 points, wall time no more than 1.3x torch's. ``scipy64`` is the same scipy fit with the
products in float64 (the candidate runs them in float32). Then the peak RSS of a fresh process
that loads the largest slice from a .npz file and fits it once, for each method.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/linear_head.py [--sizes 1000,4000,10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import minimize
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.classifier import ABSENT_LOGIT, L2_C, WARM_ITERS, fit_linear  # noqa: E402

# L-BFGS-B's corrections (torch's LBFGS keeps 20): each costs ~0.15 ms an iteration at 384 x 77
# weights, 20 of them as much as an evaluation at 1k rows; 10 reach the same objective within
# 1e-5 (this bench's first runs).
LBFGS_HISTORY = 10

Result = tuple[np.ndarray, np.ndarray]
Fit = Callable[..., Result]


def scipy_fit(
    X: np.ndarray,
    y: np.ndarray,
    *,
    n_classes: int,
    max_iter: int = 100,
    init: tuple[np.ndarray, np.ndarray] | None = None,
    dtype: type = np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """The candidate ``fit_linear``: same contract (classes without examples keep zero weights
    and ``ABSENT_LOGIT``, ``init`` warm-starts, deterministic), scipy instead of torch."""
    X = np.asarray(X, dtype=np.float32)
    d = X.shape[1]
    present = np.flatnonzero(np.bincount(y, minlength=n_classes))
    weight = np.zeros((d, n_classes), dtype=np.float32)
    bias = np.full(n_classes, ABSENT_LOGIT, dtype=np.float32)
    bias[present] = 0.0
    if len(present) < 2:
        return weight, bias
    remap = np.full(n_classes, -1, dtype=np.int64)
    remap[present] = np.arange(len(present))
    W0 = np.zeros((d, len(present)))
    b0 = np.zeros(len(present))
    if init is not None:
        W0[:] = init[0][:, present]
        b0[:] = np.clip(init[1][present], -10.0, None)
    with one_thread():
        W, b = fit_softmax(X.astype(dtype), remap[y], W0=W0, b0=b0, max_iter=max_iter)
    weight[:, present] = W
    bias[present] = b
    return weight, bias


@contextmanager
def one_thread() -> Iterator[None]:
    """One BLAS thread, as the product's head; torch's too where torch is already loaded."""
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        if torch is not None and before is not None:
            torch.set_num_threads(before)


def fit_softmax(
    X: np.ndarray, y: np.ndarray, *, W0: np.ndarray, b0: np.ndarray, max_iter: int
) -> tuple[np.ndarray, np.ndarray]:
    """scipy's L-BFGS-B on :func:`softmax_objective` for classes ``0..k-1``, all with examples,
    from ``(W0, b0)``; the products run in ``X``'s dtype (bench/linear_head.py: float32)."""
    n, d = X.shape
    k = len(b0)
    counts = np.bincount(y, minlength=k)
    sample_w = 1.0 / (k * counts[y])  # sklearn's "balanced" weights n / (k * count), over n
    lam = 1.0 / (L2_C * n)
    theta0 = np.concatenate([np.asarray(W0, dtype=np.float64).ravel(), b0])
    # Stopping as torch's LBFGS did: max|gradient| <= 1e-5, a loss change below 1e-9 (the loss
    # is ~0.05-4, so scipy's relative ftol is about absolute), 1.25 evaluations an iteration.
    res = minimize(
        softmax_objective,
        theta0,
        args=(X, y, sample_w, lam),
        method="L-BFGS-B",
        jac=True,
        options={
            "maxiter": max_iter,
            "maxfun": max_iter * 5 // 4,
            "maxcor": LBFGS_HISTORY,
            "gtol": 1e-5,
            "ftol": 1e-9,
        },
    )
    theta = res.x
    return theta[: d * k].reshape(d, k), theta[d * k :]


def softmax_objective(
    theta: np.ndarray, X: np.ndarray, y: np.ndarray, sample_w: np.ndarray, lam: float
) -> tuple[float, np.ndarray]:
    """sum_i w_i * cross-entropy_i + lam/2 * |W|^2 (no penalty on the bias) and its gradient:
    d/dlogits = w_i * (softmax - onehot), the L2 term adds lam * W. ``theta`` is W (d, k) then
    b (k,), raveled; the products run in ``X``'s dtype, the sums in float64."""
    n, d = X.shape
    k = len(theta) // (d + 1)
    W = theta[: d * k].reshape(d, k)
    rows = np.arange(n)
    Z = X @ W.astype(X.dtype)
    Z += theta[d * k :].astype(X.dtype)
    Z -= Z.max(axis=1, keepdims=True)
    true = Z[rows, y].astype(np.float64)
    np.exp(Z, out=Z)
    s = Z.sum(axis=1, keepdims=True)
    nll = np.log(s[:, 0], dtype=np.float64) - true
    loss = float(sample_w @ nll) + 0.5 * lam * float(theta[: d * k] @ theta[: d * k])
    Z /= s  # the softmax, then the gradient w.r.t. the logits
    Z[rows, y] -= 1.0
    Z *= sample_w.astype(X.dtype)[:, None]
    grad = np.empty_like(theta)
    grad[: d * k] = (X.T @ Z).ravel()
    grad[: d * k] += lam * theta[: d * k]
    grad[d * k :] = Z.sum(axis=0, dtype=np.float64)
    return loss, grad


def scipy64_fit(X: np.ndarray, y: np.ndarray, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
    """The candidate with the products in float64."""
    return scipy_fit(X, y, dtype=np.float64, **kwargs)


FITS: dict[str, Fit] = {"torch": fit_linear, "scipy": scipy_fit, "scipy64": scipy64_fit}


def objective(X: np.ndarray, y: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> float:
    """The fit's objective over the classes with examples, in float64 for every method."""
    present = np.flatnonzero(np.bincount(y, minlength=weight.shape[1]))
    remap = np.full(weight.shape[1], -1)
    remap[present] = np.arange(len(present))
    yc, k = remap[y], len(present)
    sample_w = 1.0 / (k * np.bincount(yc)[yc])
    theta = np.concatenate([weight[:, present].astype(np.float64).ravel(), bias[present]])
    return softmax_objective(theta, X.astype(np.float64), yc, sample_w, 1.0 / (L2_C * len(y)))[0]


def held_out(
    Xt: np.ndarray, yt: np.ndarray, weight: np.ndarray, bias: np.ndarray
) -> tuple[float, float]:
    z = Xt.astype(np.float64) @ weight + bias
    z -= z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float((z.argmax(1) == yt).mean()), float(-logp[np.arange(len(yt)), yt].mean())


def timed(
    fits: dict[str, Callable[[], Result]], repeat: int
) -> dict[str, tuple[float, float, Result]]:
    """Per method: best wall and best CPU seconds of ``repeat`` runs, the methods taking turns
    (the box is shared: a burst of load hits one round, not one method), and the result, checked
    identical across runs."""
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


def one_fit(method: str, path: Path) -> None:
    """Child process: load (X, y), fit once, print the peak RSS in MB."""
    data = np.load(path)
    X, y = data["X"], data["y"]
    FITS[method](X, y, n_classes=int(y.max()) + 1)
    # VmHWM, not ru_maxrss: Linux keeps the parent's ru_maxrss across fork and exec.
    status = Path("/proc/self/status").read_text().split("\n")
    peak = int(next(line for line in status if line.startswith("VmHWM:")).split()[1]) / 1024
    print(f"{peak:.0f} {'torch' in sys.modules}")


def peak_rss(method: str, path: Path) -> tuple[float, bool]:
    out = subprocess.run(
        [sys.executable, __file__, "--one-fit", method, "--npz", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    return float(out[0]), out[1] == "True"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,4000,10000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--methods", default="torch,scipy,scipy64")
    parser.add_argument("--one-fit", choices=list(FITS), help=argparse.SUPPRESS)
    parser.add_argument("--npz", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one_fit:
        one_fit(args.one_fit, args.npz)
        return
    methods = args.methods.split(",")
    X_all, y_all, Xt, yt, n_classes = load_banking77()
    order = np.random.default_rng(0).permutation(len(y_all))
    header = (
        f"{'n':>6} {'start':<5} {'method':<8} {'objective':>10} {'vs torch':>9} {'acc':>6} "
        f"{'log loss':>8} {'wall s':>7} {'ratio':>6} {'cpu s':>6} {'ratio':>6}"
    )
    print(header)
    last = None
    for n in [min(int(s), len(y_all)) for s in args.sizes.split(",")]:
        X, y = X_all[order[:n]], y_all[order[:n]]
        last = (X, y)
        # The warm start: torch's cold fit 50 labels earlier, the same for every method.
        init = fit_linear(X[: n - 50], y[: n - 50], n_classes=n_classes)
        for start in ("cold", "warm"):
            kwargs: dict[str, Any] = (
                {} if start == "cold" else {"init": init, "max_iter": WARM_ITERS}
            )
            fits: dict[str, Callable[[], Result]] = {
                m: partial(FITS[m], X, y, n_classes=n_classes, **kwargs) for m in methods
            }
            # Warm fits take 0.05-0.3 s: more rounds, so that a burst of load averages out.
            times = timed(fits, args.repeat * (1 if start == "cold" else 5))
            ref_obj = ref_wall = ref_cpu = 0.0
            for method, (wall, cpu, (w, b)) in times.items():
                obj = objective(X, y, w, b)
                acc, loss = held_out(Xt, yt, w, b)
                if not ref_obj:
                    ref_obj, ref_wall, ref_cpu = obj, wall, cpu
                rel = (obj - ref_obj) / ref_obj
                print(
                    f"{n:>6} {start:<5} {method:<8} {obj:>10.6f} {rel:>+9.1e} "
                    f"{acc:>6.4f} {loss:>8.4f} {wall:>7.3f} {wall / ref_wall:>5.2f}x "
                    f"{cpu:>6.3f} {cpu / ref_cpu:>5.2f}x",
                    flush=True,
                )
    if last is not None:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "slice.npz"
            np.savez(path, X=last[0], y=last[1])
            print(f"\npeak RSS of a fresh process fitting n={len(last[1])} once (cold):")
            for method in methods:
                mb, torch_loaded = peak_rss(method, path)
                print(f"  {method:<8} {mb:>6.0f} MB  torch imported: {torch_loaded}")


if __name__ == "__main__":
    main()
