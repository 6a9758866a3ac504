"""The linear head as labelbot fit it with torch until the numpy fit (engine.classifier.fit_linear
before 556f572), kept as the reference the numpy head is held to: by
tests/engine/test_linear_head_numpy.py, and by bench/linear_head.py, which times the two.
With the fit's objective and the model's probabilities, written out here, independent of the
product's code."""

from __future__ import annotations

from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from engine.classifier import ABSENT_LOGIT, L2_C


def torch_fit_linear(
    X: np.ndarray,
    y: np.ndarray,
    *,
    n_classes: int,
    max_iter: int = 100,
    init: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """torch.optim.LBFGS with strong Wolfe line search (20 corrections) on the same objective,
    one torch and one BLAS thread, as the product ran it."""
    import torch

    n, d = X.shape
    present = np.flatnonzero(np.bincount(y, minlength=n_classes))
    weight = np.zeros((d, n_classes), dtype=np.float32)
    bias = np.full(n_classes, ABSENT_LOGIT, dtype=np.float32)
    bias[present] = 0.0
    if len(present) < 2:
        return weight, bias
    remap = np.full(n_classes, -1, dtype=np.int64)
    remap[present] = np.arange(len(present))
    yc = remap[y]
    counts = np.bincount(yc)
    sample_w = (n / (len(present) * counts))[yc].astype(np.float32)
    lam = 1.0 / (L2_C * n)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            Xt, yt, wt = torch.from_numpy(X), torch.from_numpy(yc), torch.from_numpy(sample_w)
            W = torch.zeros(d, len(present))
            b = torch.zeros(len(present))
            if init is not None:
                W[:] = torch.from_numpy(init[0][:, present])
                b[:] = torch.from_numpy(np.clip(init[1][present], -10.0, None))
            W.requires_grad_(True)
            b.requires_grad_(True)
            opt = torch.optim.LBFGS(
                [W, b],
                lr=1,
                max_iter=max_iter,
                tolerance_grad=1e-5,
                tolerance_change=1e-9,
                history_size=20,
                line_search_fn="strong_wolfe",
            )

            def closure() -> Any:
                opt.zero_grad()
                ce = torch.nn.functional.cross_entropy(Xt @ W + b, yt, reduction="none")
                loss = (wt * ce).sum() / n + 0.5 * lam * (W * W).sum()
                loss.backward()
                return loss

            opt.step(closure)
            weight[:, present] = W.detach().numpy()
            bias[present] = b.detach().numpy()
    finally:
        torch.set_num_threads(before)
    return weight, bias


def objective(X: np.ndarray, y: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> float:
    """sklearn's LogisticRegression(C=L2_C, class_weight="balanced") objective over C*n, over
    the classes with examples, in float64 whichever head fit the weights."""
    present = np.flatnonzero(np.bincount(y, minlength=weight.shape[1]))
    remap = np.full(weight.shape[1], -1)
    remap[present] = np.arange(len(present))
    yc = remap[y]
    sample_w = len(y) / (len(present) * np.bincount(yc)[yc])
    W = weight[:, present].astype(np.float64)
    z = X.astype(np.float64) @ W + bias[present]
    z -= z.max(axis=1, keepdims=True)
    nll = np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), yc]
    return float(L2_C * (sample_w * nll).sum() + 0.5 * (W * W).sum()) / (L2_C * len(y))


def proba(X: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """Softmax of the logits, in float64."""
    z = X.astype(np.float64) @ weight + bias
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    out: np.ndarray = p / p.sum(axis=1, keepdims=True)
    return out
