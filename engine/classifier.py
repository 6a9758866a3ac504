"""The classifier: a calibrated linear softmax head, optionally blended with label spreading.

``train_model`` returns a :class:`Model` whose ``predict_proba`` works for any embeddings.

* ``"linear"``: a class-weighted multinomial logistic regression (a linear head fit
  full-batch with L-BFGS), then temperature scaling (Guo et al. 2017) fit on out-of-fold logits.
* ``"blend"``: 50/50 average of the linear head and label spreading (Zhou et al. 2004, "Learning
  with local and global consistency") over the k-nearest-neighbour graph of the project's pool.
  A text takes the spread label distribution of its k nearest pool items. Spreading uses the
  unlabeled pool, which helps most when few labels are known; whether it helps depends on the
  data, so ``kind="auto"`` chooses by cross-validation on the labeled set only.

Calibration, so that a confidence reads as the chance of being right on the project's traffic
(bench/calibration.py): the head's temperature is fit on out-of-fold rows and shrunk towards a
prior when they are few; the blend gets its own temperature (label spreading's distributions are
diffuse: the 50/50 average was 0.1-0.25 under-confident from 200 labels on); and a text may belong
to a class with no label yet, which the model can only get wrong: that chance, the "unseen share",
is taken off every labeled class's probability and spread evenly over the never-labeled ones.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import sparse
from scipy.optimize import minimize, minimize_scalar
from scipy.special import log_softmax
from threadpoolctl import threadpool_limits

from storage.errors import InvalidInputError

__all__ = [
    "KINDS",
    "Model",
    "PoolGraph",
    "build_pool_graph",
    "choose_kind",
    "load_model",
    "stratified_folds",
    "twin_groups",
    "train_model",
    "unseen_share",
]

KINDS = ("auto", "linear", "blend")
BLEND_WEIGHT = 0.5  # share of label spreading in the blend, as measured on Banking77 pools
MIN_LABELS_PER_CLASS_FOR_BLEND = 2.0  # below this, CV cannot compare kinds reliably
CV_FOLDS = 3  # folds for temperature fitting and kind selection: cheap and enough to rank two kinds
L2_C = 10.0  # inverse L2 strength as in sklearn's LogisticRegression(C=10), the measured anchor
ABSENT_LOGIT = -30.0  # bias of classes with no examples: probability ~1e-13, never argmax
# The out-of-fold temperature is shrunk towards a prior, weighted like this many rows: 2-6 rows fit
# T anywhere from 0.05 to 0.4 on Banking77, and T=1 (the former fallback below 10 rows) left a
# first model 0.3 under-confident, 0.3 over-confident one label later. The priors are what
# 100-1,000 Banking77 labels fit (T 0.3-0.5, blend 0.67-0.81); CLINC150 only checks them.
PRIOR_TEMPERATURE = 0.3
PRIOR_BLEND_TEMPERATURE = 0.75
PRIOR_ROWS = 10.0
# The lowest temperature a fit may give. When every out-of-fold row is right the held-out NLL
# only falls as T does, and the fit ran to its 0.05 bound: the next model then showed its
# occasional wrong answers at 100% (3 of 8 at 80 labels of 4 skewed Banking77 classes).
MIN_FIT_TEMPERATURE = 0.2
# The unseen share stays below this fraction of the never-labeled classes' share of all classes:
# then each never-labeled class gets less than any row's top labeled class (never the argmax).
MAX_UNSEEN_OF_ABSENT = 0.98
# Good's estimate counts at least this many singletons while a class has no label (1/n): on
# skewed Banking77 sets it was as close or closer than add-one smoothing, (n1 + 1) / (n + 1),
# which over-corrected at 10-20 labels (bench/README.md, calibration).
MIN_UNSEEN_SINGLETONS = 1.0
SPREAD_ALPHA = 0.9  # Zhou et al.'s alpha: how far labels travel (0.9**30 ~ 0.04 after 30 steps)
SPREAD_STEPS = 30
PROBA_CHUNK = 65_536  # rows scored at a time
WARM_ITERS = 10  # L-BFGS steps from the previous weights: measured within 0.1 pt of a cold fit


@dataclass
class Model:
    """A trained, saveable model; ``kind`` is "linear" or "blend"."""

    kind: str
    n_classes: int
    weight: np.ndarray  # (d, C)
    bias: np.ndarray  # (C,)
    temperature: float = 1.0
    # The blend's own temperature, on its log-probabilities (1: none); see calibrate_blend.
    blend_temperature: float = 1.0
    # Probability that a text's class has no label yet, spread over those classes (unseen_share).
    unseen: float = 0.0
    pool: np.ndarray | None = None  # (n_pool, d) for the blend
    spread: np.ndarray | None = None  # (n_pool, C) row-normalised label-spreading distributions
    k: int = 10
    extra: dict[str, float] = field(default_factory=dict)
    # The encoder whose embeddings it was trained on (its name): vectors of another encoder mean
    # nothing to its weights, even of the same size. None in files written before it was kept.
    encoder: str | None = None

    def linear_proba(self, X: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of the linear head alone.

        Scored in row chunks with an in-place float32 softmax: a 1M-example pool then needs no
        full-size float64 temporaries (the output itself is n x C float32).
        """
        X = np.asarray(X, dtype=np.float32)
        weight = (self.weight / self.temperature).astype(np.float32)
        bias = scale_bias(self.bias, self.weight, self.temperature)
        out = np.empty((len(X), self.n_classes), dtype=np.float32)
        for start in range(0, len(X), PROBA_CHUNK):
            block = X[start : start + PROBA_CHUNK] @ weight
            block += bias
            block -= block.max(axis=1, keepdims=True)
            np.exp(block, out=block)
            block /= block.sum(axis=1, keepdims=True)
            out[start : start + PROBA_CHUNK] = block
        return out

    def predict_proba(self, X: np.ndarray, *, onto: np.ndarray | None = None) -> np.ndarray:
        """(n, n_classes) probabilities for any texts' embeddings; rows sum to 1.

        ``onto`` (a 0/1 matrix, this model's classes × today's labels: each class goes to one
        label) gives them for today's labels instead, merged classes added up; see
        :meth:`with_unseen`."""
        X = np.asarray(X, dtype=np.float32)
        proba = self.linear_proba(X)
        if self.kind == "blend" and self.pool is not None and self.spread is not None:
            idx, sim = knn(X, self.pool, k=self.k)
            proba = _blend(proba, _neighbour_spread(self.spread, idx, sim))
            calibrate_blend(proba, self.absent(), self.blend_temperature)
        return self.with_unseen(proba, onto)

    def predict_proba_pool(self, *, onto: np.ndarray | None = None) -> np.ndarray:
        """Probabilities for the pool the model was trained with (no neighbour search needed)."""
        if self.pool is None:
            raise InvalidInputError("this model was trained without a pool")
        proba = self.linear_proba(self.pool)
        if self.kind == "blend" and self.spread is not None:
            proba = _blend(proba, self.spread)
            calibrate_blend(proba, self.absent(), self.blend_temperature)
        return self.with_unseen(proba, onto)

    def with_unseen(self, proba: np.ndarray, onto: np.ndarray | None = None) -> np.ndarray:
        """The head's (or blend's) ``proba``, carried ``onto`` today's labels when given, with
        the unseen share spread over the classes without a label.

        The mapping comes first: a label made of merged never-labeled classes is one class with
        no label, and gets one class's part of the share, never the sum of its sources' (that
        sum made it the guess for most texts). A label with any labeled source gets what its
        sources learned, and the share is capped again for the classes as they are now."""
        absent = self.absent()
        unseen = self.unseen
        if onto is not None and not _is_identity(onto):
            proba = (proba @ np.asarray(onto, dtype=np.float32)).astype(np.float32, copy=False)
            absent = ~np.asarray(onto, dtype=bool)[~absent].any(axis=0)
            unseen = min(unseen, MAX_UNSEEN_OF_ABSENT * float(absent.mean()))
        return add_unseen(proba, absent, unseen)

    def absent(self) -> np.ndarray:
        """Classes the model was trained without (no label yet)."""
        return absent_classes(self.bias, self.weight)

    def save(self, path: Path) -> None:
        """Write an .npz of plain arrays atomically (temporary file + os.replace); no pickle.

        The data and the rename are synced to disk before this returns: the caller then commits
        the file as the active model, and a power loss must not leave that row pointing at an
        empty or partial file (a rename can reach the disk before the data it names)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays: dict[str, np.ndarray] = {
            "kind": np.array(self.kind),
            "n_classes": np.array(self.n_classes),
            "weight": self.weight,
            "bias": self.bias,
            "temperature": np.array(self.temperature),
            "blend_temperature": np.array(self.blend_temperature),
            "unseen": np.array(self.unseen),
            "k": np.array(self.k),
        }
        if self.encoder is not None:
            arrays["encoder"] = np.array(self.encoder)
        if self.pool is not None and self.spread is not None:
            # float16 halves the file: the pool comes from the float16 embedding cache anyway,
            # and spread distributions need no more than 3 significant digits
            arrays["pool"] = self.pool.astype(np.float16)
            arrays["spread"] = self.spread.astype(np.float16)
        fd, tmp = shared_temp_file(path)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays)  # type: ignore[arg-type]
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _sync_dir(path.parent)


_umask_lock = threading.Lock()
_umask_read: int | None = None


def _umask() -> int:
    """The process's umask. Linux says it in /proc/self/status; elsewhere os.umask is the only
    way to read it, by setting it (for every thread at once): that is done once, under a lock,
    and briefly to 0o077, so a file another thread creates meanwhile is more private, never
    less."""
    global _umask_read
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _umask_lock:
        if _umask_read is None:
            _umask_read = os.umask(0o077)
            os.umask(_umask_read)
        return _umask_read


def shared_temp_file(path: Path) -> tuple[int, str]:
    """A temporary file beside ``path`` (tempfile.mkstemp's, ".<name>.<8 characters>.tmp"), to
    write and then os.replace onto ``path``, with the mode the umask gives a new file
    (0o666 & ~umask). mkstemp makes it 0600 whatever the umask, and the file keeps that mode
    once renamed: a model an admin trained, in a models folder every replica mounts, could not
    be read by the service's own user (embeddings and exports follow the umask)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    # not on Windows (mkstemp's file is readable there anyway); a file system without modes
    # leaves the file as it made it
    if hasattr(os, "fchmod"):
        with contextlib.suppress(OSError):
            os.fchmod(fd, 0o666 & ~_umask())
    return fd, tmp


def _sync_dir(folder: Path) -> None:
    """fsync ``folder`` so a rename into it is on disk (POSIX). Windows cannot open a folder,
    and some file systems refuse to sync one: the rename is then as durable as they make it."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# What Model.save always writes, small enough to read for a look at a file (not the pool)
_HEADER = ("kind", "n_classes", "weight", "bias", "temperature", "k")


def check_model_file(path: Path) -> None:
    """Look at a model file without loading it: its zip index is whole (a file cut short, by a
    full disk or a crash, loses it: the index is written last) and its small arrays read back.
    Raises what :func:`load_model` raises on such a file; the pool and spread arrays, the bulk
    of a blend's file, are not read."""
    with np.load(Path(path), allow_pickle=False) as data:
        missing = [key for key in _HEADER if key not in data.files]
        if missing:
            raise KeyError(f"no {', '.join(missing)} in the file")
        for key in _HEADER:
            np.asarray(data[key])  # read back (zipfile checks each member's CRC)


def load_model(path: Path) -> Model:
    """Read a model written by :meth:`Model.save`."""
    with np.load(Path(path), allow_pickle=False) as data:
        pool = data["pool"].astype(np.float32) if "pool" in data.files else None
        spread = data["spread"].astype(np.float32) if "spread" in data.files else None
        return Model(
            kind=str(data["kind"]),
            n_classes=int(data["n_classes"]),
            weight=data["weight"],
            bias=data["bias"],
            temperature=float(data["temperature"]),
            # files written before these were kept: the probabilities they gave then
            blend_temperature=_scalar(data, "blend_temperature", 1.0),
            unseen=_scalar(data, "unseen", 0.0),
            pool=pool,
            spread=spread,
            k=int(data["k"]),
            encoder=str(data["encoder"]) if "encoder" in data.files else None,
        )


def _scalar(data: np.lib.npyio.NpzFile, key: str, default: float) -> float:
    return float(data[key]) if key in data.files else default


def train_model(
    X: np.ndarray,
    y: np.ndarray,
    *,
    n_classes: int,
    pool: np.ndarray | None = None,
    kind: str = "auto",
    seed: int = 0,
    graph: PoolGraph | None = None,
    labeled_idx: np.ndarray | None = None,
    warm_start: Model | None = None,
    temperature: float | None = None,
    calibrate: bool = True,
    new_classes: np.ndarray | None = None,
) -> Model:
    """Train a model on labeled embeddings ``X`` with class ids ``y`` in ``[0, n_classes)``.

    ``pool`` holds all of the project's embeddings (labeled and unlabeled) for the blend;
    ``labeled_idx`` says which pool rows ``X`` are (found by exact match in the pool when omitted).
    ``kind="auto"`` picks linear vs blend by cross-validation on the labeled set.
    ``warm_start`` (the previous round's model) makes retraining ~10x faster (0.3 s at 10k labels x
    77 classes); ``temperature`` reuses a known temperature instead of refitting it on 3 folds
    (and, with a blend ``warm_start``, its blend temperature). The unseen share is always new.
    ``calibrate=False``: no temperature is fit (T=1, the blend's too) for a caller that reads
    only the argmax, which no temperature changes (cross-validation, the all-labels ceiling):
    a blend's own would cost 3 more linear fits and label spreadings over the pool.
    ``new_classes`` (boolean, per class): classes added after labels had been given, for
    :func:`unseen_share`.
    """
    X, y = _check_inputs(X, y, n_classes=n_classes, kind=kind)
    if kind != "linear" and pool is not None:
        graph = graph if graph is not None else build_pool_graph(pool)
        if labeled_idx is None:
            labeled_idx = graph.locate(X)
    if kind == "auto":
        kind = choose_kind(
            X, y, n_classes=n_classes, graph=graph, labeled_idx=labeled_idx, seed=seed
        )
    blend_temperature = None
    if not calibrate:
        temperature, blend_temperature = 1.0, 1.0
    elif temperature is not None and warm_start is not None and warm_start.kind == "blend":
        blend_temperature = warm_start.blend_temperature
    if temperature is None or (kind == "blend" and blend_temperature is None):
        blend_graph = None
        if kind == "blend" and graph is not None and labeled_idx is not None:
            blend_graph = (graph, labeled_idx)
        fit_t, blend_temperature = _oof_temperatures(
            X, y, n_classes=n_classes, seed=seed, temperature=temperature, blend=blend_graph
        )
        temperature = fit_t if temperature is None else temperature
    if warm_start is not None and warm_start.weight.shape == (X.shape[1], n_classes):
        init = (warm_start.weight, warm_start.bias)
        weight, bias = fit_linear(X, y, n_classes=n_classes, init=init, max_iter=WARM_ITERS)
    else:
        weight, bias = fit_linear(X, y, n_classes=n_classes)
    model = Model(
        kind="linear",
        n_classes=n_classes,
        weight=weight,
        bias=bias,
        temperature=temperature,
        unseen=unseen_share(y, n_classes=n_classes, new=new_classes),
    )
    if kind == "blend":
        if graph is None or labeled_idx is None:
            raise InvalidInputError("kind='blend' needs the project's pool embeddings")
        model.kind = "blend"
        model.pool = graph.pool
        model.k = graph.k
        model.spread = spread_labels(graph, labeled_idx, y, n_classes=n_classes)
        model.blend_temperature = blend_temperature if blend_temperature is not None else 1.0
    return model


def choose_kind(
    X: np.ndarray,
    y: np.ndarray,
    *,
    n_classes: int,
    graph: PoolGraph | None,
    labeled_idx: np.ndarray | None,
    seed: int = 0,
) -> str:
    """ "linear" or "blend", whichever has the higher cross-validated accuracy on the labeled set.

    The held-out fold's labels are hidden from the spreading. Falls back to "linear" without a pool
    or with fewer than ~2 labels per class, where a 3-fold comparison is mostly noise.
    """
    n_seen = max(1, len(np.unique(y)))
    if graph is None or labeled_idx is None or len(y) < MIN_LABELS_PER_CLASS_FOR_BLEND * n_seen:
        return "linear"
    correct = {"linear": 0, "blend": 0}
    for train, test in _folds(y, seed=seed):
        w, b = fit_linear(X[train], y[train], n_classes=n_classes)
        p_lin = softmax(linear_logits(X[test], w, b))
        spread = spread_labels(graph, labeled_idx[train], y[train], n_classes=n_classes)
        p_blend = _blend(p_lin, spread[labeled_idx[test]])
        correct["linear"] += int((p_lin.argmax(1) == y[test]).sum())
        correct["blend"] += int((p_blend.argmax(1) == y[test]).sum())
    return "blend" if correct["blend"] > correct["linear"] else "linear"


def absent_classes(bias: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Classes a head was fit without (``fit_linear`` gave them zero weights, ``ABSENT_LOGIT``)."""
    out: np.ndarray = (bias == np.float32(ABSENT_LOGIT)) & ~np.asarray(weight).any(axis=0)
    return out


def scale_bias(bias: np.ndarray, weight: np.ndarray, temperature: float) -> np.ndarray:
    """The bias divided by the temperature, except for classes the head was fit without: they
    keep ``ABSENT_LOGIT`` (at T=15, -30/T = -2 would give 71 never-labeled classes most of the
    probability)."""
    out = (np.asarray(bias) / temperature).astype(np.float32)
    out[absent_classes(bias, weight)] = ABSENT_LOGIT
    return out


def unseen_share(y: np.ndarray, *, n_classes: int, new: np.ndarray | None = None) -> float:
    """Estimated chance that a new text's class has no label yet.

    Good's (1953) estimate of the unseen mass, the share of labels whose class has one label
    (also the share of out-of-fold rows whose class their fold never saw: folds deal a class's
    labels round-robin), holds for a random sample. It is at least 1/n while any class has no
    label: with no singleton it said 0, and the model 100% on the texts of a class not labeled
    yet. Picks made for diversity (the cold start's k-means) are mostly singletons and would
    read as nearly all unseen, so it is capped by the never-labeled classes' share of all
    classes, the estimate when nothing says which classes are common; on a random sample that
    one is the larger (common classes are labeled first).

    ``new`` (boolean, per class) marks classes added after labels had been given (a label
    added, or a split's halves): the labels given before could not name them, so Good's
    estimate says nothing about them; each never-labeled one adds its share of all classes.
    """
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=n_classes)
    never = counts == 0
    if not never.any():
        return 0.0
    good = max(float((counts == 1).sum()), MIN_UNSEEN_SINGLETONS) / max(len(y), 1)
    added = float((never & new).sum()) / n_classes if new is not None else 0.0
    return min(good + MAX_UNSEEN_OF_ABSENT * added, MAX_UNSEEN_OF_ABSENT * float(never.mean()))


def add_unseen(proba: np.ndarray, absent: np.ndarray, unseen: float) -> np.ndarray:
    """Scale every labeled class by ``1 - unseen`` and share ``unseen`` evenly among the
    ``absent`` classes, in place (row chunks: no pool-sized temporaries). One scalar per model:
    every row's ranking of classes, and the ranking of rows by margin, stay as they were."""
    if unseen <= 0 or not absent.any():
        return proba
    cols = np.flatnonzero(absent)
    for start in range(0, len(proba), PROBA_CHUNK):
        block = proba[start : start + PROBA_CHUNK]
        block *= np.float32(1 - unseen)
        block[:, cols] = np.float32(unseen / len(cols))
    return proba


def _is_identity(onto: np.ndarray) -> bool:
    return onto.shape[0] == onto.shape[1] and bool((onto == np.eye(len(onto))).all())


def calibrate_blend(proba: np.ndarray, absent: np.ndarray, temperature: float) -> np.ndarray:
    """Rows p of a blend become p ** (1/T), renormalised, in place: temperature scaling of its
    log-probabilities. Never-labeled classes are set to 0 (the unseen share is added later)."""
    proba[:, absent] = 0.0
    if temperature == 1.0:
        return proba
    for start in range(0, len(proba), PROBA_CHUNK):
        block = proba[start : start + PROBA_CHUNK]
        np.power(block, np.float32(1 / temperature), out=block)
        block /= np.maximum(block.sum(axis=1, keepdims=True), np.float32(1e-30))
    return proba


def shrunk_temperature(
    logits: np.ndarray, y: np.ndarray, *, fixed: np.ndarray | None, prior: float
) -> float:
    """:func:`fit_temperature` on ``logits`` (at least ``MIN_FIT_TEMPERATURE``), its log shrunk
    towards ``log(prior)`` as if the prior had been fit on ``PRIOR_ROWS`` rows: no rows give the
    prior, many give the fit, and no row count is a cliff between them."""
    if len(y) == 0:
        return prior
    fit = max(fit_temperature(logits, y, fixed=fixed), MIN_FIT_TEMPERATURE)
    weight = len(y) / (len(y) + PRIOR_ROWS)
    return float(np.exp(weight * np.log(fit) + (1 - weight) * np.log(prior)))


def _oof_temperatures(
    X: np.ndarray,
    y: np.ndarray,
    *,
    n_classes: int,
    seed: int,
    temperature: float | None = None,
    blend: tuple[PoolGraph, np.ndarray] | None = None,
) -> tuple[float, float | None]:
    """The head's temperature (``temperature`` when known) and, given the pool graph and the
    labeled rows' pool indices, the blend's, both fit on out-of-fold rows.

    Only rows whose class the fold's head was trained on count: a class's single example sits in
    one fold's test set, where its class is absent (``ABSENT_LOGIT``), and such rows' huge loss
    pushed T to its cap (every row near uniform). Those texts are what :func:`unseen_share`
    accounts for instead.
    """
    folds = []
    for train, test in _folds(y, seed=seed):
        seen = test[np.isin(y[test], y[train])]
        if len(seen):
            w, b = fit_linear(X[train], y[train], n_classes=n_classes)
            folds.append((train, seen, w, b))
    if temperature is None:
        logits = [linear_logits(X[seen], w, b) for _, seen, w, b in folds]
        fixed = [np.broadcast_to(absent_classes(b, w), z.shape) for (*_, w, b), z in
                 zip(folds, logits, strict=True)]  # fmt: skip
        temperature = shrunk_temperature(
            np.concatenate(logits) if logits else np.empty((0, n_classes)),
            np.concatenate([y[seen] for _, seen, _, _ in folds]) if folds else np.empty(0, int),
            fixed=np.concatenate(fixed) if fixed else None,
            prior=PRIOR_TEMPERATURE,
        )
    if blend is None:
        return temperature, None
    graph, labeled_idx = blend
    logp, targets, absent = [], [], []
    for train, seen, w, b in folds:
        p_lin = softmax(linear_logits(X[seen], w / temperature, scale_bias(b, w, temperature)))
        spread = spread_labels(graph, labeled_idx[train], y[train], n_classes=n_classes)
        gone = absent_classes(b, w)
        p = calibrate_blend(_blend(p_lin, spread[labeled_idx[seen]]), gone, 1.0)
        logp.append(np.log(np.maximum(p, 1e-30)))
        targets.append(y[seen])
        absent.append(np.broadcast_to(gone, p.shape))
    blend_t = shrunk_temperature(
        np.concatenate(logp) if logp else np.empty((0, n_classes)),
        np.concatenate(targets) if targets else np.empty(0, int),
        fixed=np.concatenate(absent) if absent else None,
        prior=PRIOR_BLEND_TEMPERATURE,
    )
    return temperature, blend_t


def _folds(y: np.ndarray, *, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    return stratified_folds(y, folds=CV_FOLDS, seed=seed)


def stratified_folds(
    y: np.ndarray, *, folds: int, seed: int = 0, X: np.ndarray | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index pairs; each class's examples are dealt round-robin over the folds.

    Unlike sklearn's StratifiedKFold this accepts classes with fewer than ``folds`` examples: a
    singleton lands in one fold's test set (so it is still evaluated) and the others' train sets.
    Given the rows' embeddings ``X``, rows with the very same vector (:func:`twin_groups`) share
    a fold: no out-of-fold score is a model's answer for a point it trained on. Returns [] when
    fewer than two folds would be non-empty.
    """
    rng = np.random.default_rng(seed)
    fold_of = np.empty(len(y), dtype=np.int64)
    offset = 0
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        fold_of[members] = (offset + np.arange(len(members))) % folds
        offset += len(members)  # rotate start so small classes don't all pile into fold 0
    if X is not None and len(X) == len(y):
        fold_of = fold_of[twin_groups(X)]  # each row in its twin group's (its first row's) fold
    out = []
    for f in range(folds):
        test = np.flatnonzero(fold_of == f)
        train = np.flatnonzero(fold_of != f)
        if len(test) and len(train):
            out.append((train, test))
    return out if len(out) >= 2 else []


def twin_groups(X: np.ndarray) -> np.ndarray:
    """Per row of ``X``, the first row with the very same vector: rows that are one point to the
    model (texts that differ only in what the encoder does not read -- letter case, accents,
    invisible characters -- or in nothing) share it. One pass over the rows' bytes."""
    X = np.ascontiguousarray(X)
    first: dict[bytes, int] = {}
    return np.fromiter(
        (first.setdefault(row.tobytes(), i) for i, row in enumerate(X)), np.int64, len(X)
    )


def _blend(p_linear: np.ndarray, p_spread: np.ndarray) -> np.ndarray:
    """Average the two; rows the spreading never reached keep the linear head's distribution."""
    mass = p_spread.sum(axis=1, keepdims=True)
    reached = mass > 1e-12
    p_spread = np.where(reached, p_spread / np.where(reached, mass, 1.0), p_linear)
    out: np.ndarray = (1 - BLEND_WEIGHT) * p_linear + BLEND_WEIGHT * p_spread
    return out.astype(np.float32)


def _neighbour_spread(spread: np.ndarray, idx: np.ndarray, sim: np.ndarray) -> np.ndarray:
    """Similarity-weighted average of the neighbours' spread distributions."""
    w = np.clip(sim, 1e-6, None)[:, :, None]
    out: np.ndarray = (spread[idx] * w).sum(axis=1) / w.sum(axis=1)
    return out


def _check_inputs(
    X: np.ndarray, y: np.ndarray, *, n_classes: int, kind: str
) -> tuple[np.ndarray, np.ndarray]:
    if kind not in KINDS:
        raise InvalidInputError(f"unknown classifier kind {kind!r}; valid: {', '.join(KINDS)}")
    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y, dtype=np.int64)
    if X.ndim != 2 or len(X) != len(y) or len(y) == 0:
        raise InvalidInputError(f"need a non-empty (n, d) X and (n,) y; got {X.shape}, {y.shape}")
    if n_classes < 1 or y.min() < 0 or y.max() >= n_classes:
        raise InvalidInputError(f"labels must lie in [0, {n_classes}); got {y.min()}..{y.max()}")
    return X, y


# --- the linear head -------------------------------------------------------------------------


@contextmanager
def _one_thread() -> Iterator[None]:
    """One BLAS thread for the head: on 2 cores a 10k x 384 x 77 step took 14 ms on one thread
    vs 36-55 ms on two (small sklearn fits were likewise 2-8x slower on two); bench/linear_head.py
    measures it again for the numpy head."""
    with threadpool_limits(limits=1):
        yield


# L-BFGS-B's stored corrections. torch's LBFGS kept 20; with 10 the fits reach the same
# objective (within 1e-6 on Banking77) and L-BFGS-B's own work, a third to a half of a fit at
# 1k labels x 77 classes, is 1.5 ms a step instead of 2.9.
LBFGS_HISTORY = 10


def fit_linear(
    X: np.ndarray,
    y: np.ndarray,
    *,
    n_classes: int,
    max_iter: int = 100,
    init: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Class-weighted softmax regression, full-batch L-BFGS; returns (weight (d, C), bias (C,)).

    Minimises sklearn's objective for LogisticRegression(C, class_weight="balanced") divided by C*n.
    Only classes with examples are fit; the others get zero weights and ``ABSENT_LOGIT`` bias.
    Deterministic: zero (or ``init``) start, full batch, no sampling. Warm-starting from the
    previous round's weights converges in a fraction of the steps.

    numpy and scipy's L-BFGS-B with the gradient written out: torch (~280 MB and seconds to
    import) was needed for nothing else in a retrain (bench/linear_head.py compares the two).
    """
    X = np.asarray(X, dtype=np.float32)
    n, d = X.shape
    present = np.flatnonzero(np.bincount(y, minlength=n_classes))
    weight = np.zeros((d, n_classes), dtype=np.float32)
    bias = np.full(n_classes, ABSENT_LOGIT, dtype=np.float32)
    bias[present] = 0.0
    if len(present) < 2:
        return weight, bias
    k = len(present)
    remap = np.full(n_classes, -1, dtype=np.int64)
    remap[present] = np.arange(k)
    yc = remap[y]
    sample_w = 1.0 / (k * np.bincount(yc)[yc])  # sklearn's "balanced" n / (k * count), over n
    # theta: the weights as (k, d), raveled, then the bias; the logits are then (k, n), whose
    # per-row max and sums run down contiguous rows (a tenth faster than (n, k) at 1k x 77)
    theta = np.zeros(k * d + k)
    if init is not None:
        theta[: k * d] = np.asarray(init[0], dtype=np.float64)[:, present].T.ravel()
        theta[k * d :] = np.clip(np.asarray(init[1], dtype=np.float64)[present], -10.0, None)
    with _one_thread():
        # Stopping as torch's LBFGS did: max|gradient| <= 1e-5, a loss change below 1e-9 (the
        # loss is ~0.05-4, so scipy's relative ftol is about absolute), 1.25 evaluations a step.
        res = minimize(
            _softmax_objective,
            theta,
            args=(X, np.ascontiguousarray(X.T), yc * n + np.arange(n), sample_w, 1.0 / (L2_C * n)),
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
    weight[:, present] = res.x[: k * d].reshape(k, d).T
    bias[present] = res.x[k * d :]
    return weight, bias


def _softmax_objective(
    theta: np.ndarray,
    X: np.ndarray,
    XT: np.ndarray,
    true_at: np.ndarray,
    sample_w: np.ndarray,
    lam: float,
) -> tuple[float, np.ndarray]:
    """sum_i w_i * cross-entropy_i + lam/2 * |W|^2 (the bias is not penalised) and its gradient
    with respect to ``theta`` (W as (k, d), then b (k,), raveled): w_i * (softmax - onehot) for
    the logits, plus lam * W. ``XT`` is ``X.T`` contiguous; ``true_at`` the index of each row's
    class in the raveled (k, n) logits. The products run in float32 as torch's did, the sums in
    float64."""
    n, d = X.shape
    k = len(theta) // (d + 1)
    flat_w = theta[: k * d]
    Z = flat_w.reshape(k, d).astype(np.float32) @ XT
    Z += theta[k * d :].astype(np.float32)[:, None]
    Z -= Z.max(axis=0)
    true = Z.ravel().take(true_at).astype(np.float64)
    np.exp(Z, out=Z)
    total = Z.sum(axis=0)
    loss = float(sample_w @ (np.log(total, dtype=np.float64) - true))
    loss += 0.5 * lam * float(flat_w @ flat_w)
    Z /= total  # the softmax, then the gradient with respect to the logits
    Z.ravel()[true_at] -= 1.0
    Z *= sample_w.astype(np.float32)
    grad = np.empty_like(theta)
    grad[: k * d] = (Z @ X).ravel()
    grad[: k * d] += lam * flat_w
    grad[k * d :] = Z.sum(axis=1, dtype=np.float64)
    return loss, grad


def linear_logits(X: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.asarray(X, dtype=np.float32) @ weight + bias
    return out


def softmax(logits: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.exp(log_softmax(logits, axis=1)).astype(np.float32)
    return out


def fit_temperature(logits: np.ndarray, y: np.ndarray, *, fixed: np.ndarray | None = None) -> float:
    """The T minimising held-out NLL of softmax(logits / T) (Guo et al. 2017), within [0.05, 20].

    ``fixed`` (boolean, like ``logits``) marks logits that T does not scale, as
    :meth:`Model.linear_proba` leaves classes without examples at ``ABSENT_LOGIT``."""
    rows = np.arange(len(y))

    def nll(log_t: float) -> float:
        scaled = logits / np.exp(log_t)
        if fixed is not None:
            scaled = np.where(fixed, logits, scaled)
        return float(-log_softmax(scaled, axis=1)[rows, y].mean())

    res = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(res.x))


# --- the pool graph and label spreading ------------------------------------------------------


# One block of a neighbour search holds its similarities (float32) and argpartition's indices
# (int64: numpy has no narrower argpartition) for every pool row: 12 bytes x rows x pool. Sizing
# the block by the pool keeps that near this budget (2048 rows at 50k held 1.6 GB, with -S);
# smaller blocks also partition faster (in cache), and 100+ rows keep the matmul efficient.
KNN_BLOCK_BYTES = 96 * 2**20
KNN_MAX_BLOCK = 2048


def knn_block(n_pool: int) -> int:
    """Rows per block so that a block's working set stays near ``KNN_BLOCK_BYTES``."""
    return max(16, min(KNN_MAX_BLOCK, KNN_BLOCK_BYTES // (12 * max(n_pool, 1))))


def knn(
    X: np.ndarray, pool: np.ndarray, *, k: int, block: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Indices and cosine similarities of each row's k nearest pool rows (unit vectors)."""
    k = min(k, len(pool))
    block = block or knn_block(len(pool))
    idx = np.empty((len(X), k), dtype=np.int64)
    sim = np.empty((len(X), k), dtype=np.float32)
    for s in range(0, len(X), block):
        top, neg = top_k_negated(np.matmul(X[s : s + block], pool.T), k)
        idx[s : s + block] = top
        np.negative(neg, out=sim[s : s + block])
    return idx, sim


def top_k_negated(S: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Columns of each row's k largest values, largest first, and those values negated.

    ``S`` is negated in place (it is overwritten): partitioning it is then the same selection,
    equal values included, as partitioning a negated copy, without that block-sized copy.
    """
    np.negative(S, out=S)
    top = np.argpartition(S, k - 1, axis=1)[:, :k].copy()  # let the (rows, n) int64 array go
    neg = np.take_along_axis(S, top, axis=1)
    order = np.argsort(neg, axis=1)
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(neg, order, axis=1)


@dataclass
class PoolGraph:
    """The symmetric kNN graph of a pool, built once and reused across rounds."""

    pool: np.ndarray  # (n, d) unit vectors
    k: int
    norm_adj: sparse.csr_matrix  # D^-1/2 W D^-1/2 (Zhou et al. 2004, eq. for S)

    def locate(self, X: np.ndarray) -> np.ndarray:
        """Pool row of each embedding in X (exact duplicates), -1 where it is not in the pool."""
        X = np.asarray(X, dtype=np.float32)
        idx, sim = knn(X, self.pool, k=1)
        # compare as cosines: cached float16 embeddings are only unit-norm to ~1e-3
        norms = np.linalg.norm(X, axis=1) * np.linalg.norm(self.pool[idx[:, 0]], axis=1)
        return np.where(sim[:, 0] > (1 - 1e-5) * norms, idx[:, 0], -1)


# Up to this many rows the graph is exact (blocked matmul, quadratic: ~7 s at 20k on 2 cores;
# the label-efficiency pools, 10k and 15k, stay exact to the bit). Above, its lists come from
# engine.inverted_file: approximate, recall@10 >= 0.99 on text embeddings, 6.9x faster at 50k,
# 13x at 100k, 87 s at 300k where the exact build takes an estimated ~28 min
# (bench/pool_graph.py on 2 shared cores, 2026-12-03).
EXACT_MAX_ROWS = 20_000


def build_pool_graph(
    pool: np.ndarray, k: int = 10, *, exact_max: int = EXACT_MAX_ROWS
) -> PoolGraph:
    """kNN graph of unit vectors: exact up to ``exact_max`` rows (~2-3 s for 10k x 384 on 2
    cores), approximate above (engine.pool_graph also keeps a project's graph on disk)."""
    pool = np.ascontiguousarray(pool, dtype=np.float32)
    k = graph_k(len(pool), k)
    idx, sim = pool_neighbours(pool, width=k + 1, exact_max=exact_max)
    return graph_from_neighbours(pool, idx, sim)


def pool_neighbours(
    pool: np.ndarray, *, width: int, exact_max: int = EXACT_MAX_ROWS
) -> tuple[np.ndarray, np.ndarray]:
    """Each pool row's ``width`` nearest pool rows (itself among them): exact up to ``exact_max``
    rows, from an inverted-file search above (engine.inverted_file)."""
    if not is_approximate(len(pool), exact_max=exact_max):
        return knn(pool, pool, k=width)
    from engine.inverted_file import ivf_neighbours  # it imports this module's knn

    return ivf_neighbours(pool, k=width)


def is_approximate(n: int, *, exact_max: int = EXACT_MAX_ROWS) -> bool:
    """Whether ``pool_neighbours`` searches a pool of ``n`` rows approximately."""
    return n > exact_max


def graph_k(n: int, k: int) -> int:
    """The neighbours per row of a pool of ``n``: ``k``, or all the others in a smaller pool."""
    if n < 2:
        raise InvalidInputError("a pool graph needs at least two embeddings")
    return min(k, n - 1)


def graph_from_neighbours(pool: np.ndarray, idx: np.ndarray, sim: np.ndarray) -> PoolGraph:
    """The graph from each pool row's k + 1 nearest pool rows (itself among them, as a rule)."""
    n, k = len(pool), idx.shape[1] - 1
    rows = np.repeat(np.arange(n), k)
    keep = idx != np.arange(n)[:, None]  # drop self; if a duplicate displaced it, drop the last
    keep[keep.sum(axis=1) > k, -1] = False
    cols, vals = idx[keep], np.clip(sim[keep], 0.0, None)
    adj = sparse.csr_matrix((vals, (rows, cols)), shape=(n, n))
    adj = adj.maximum(adj.T).tocsr()
    deg = np.asarray(adj.sum(axis=1)).ravel()
    inv = sparse.diags(1.0 / np.sqrt(np.where(deg > 0, deg, 1.0)))
    return PoolGraph(pool=pool, k=k, norm_adj=(inv @ adj @ inv).astype(np.float32).tocsr())


def spread_labels(
    graph: PoolGraph, labeled_idx: np.ndarray, y: np.ndarray, *, n_classes: int
) -> np.ndarray:
    """Label spreading F <- alpha S F + (1 - alpha) Y; row-normalised, zero rows where unreached."""
    ok = labeled_idx >= 0
    Y = np.zeros((len(graph.pool), n_classes), dtype=np.float32)
    Y[labeled_idx[ok], y[ok]] = 1.0
    F = Y.copy()
    for _ in range(SPREAD_STEPS):
        F = SPREAD_ALPHA * (graph.norm_adj @ F) + (1 - SPREAD_ALPHA) * Y
    mass = F.sum(axis=1, keepdims=True)
    out: np.ndarray = np.where(mass > 1e-12, F / np.where(mass > 1e-12, mass, 1.0), 0.0)
    return out.astype(np.float32)
