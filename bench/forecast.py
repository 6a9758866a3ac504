"""Can the first 300 labels tell where a project is heading? Forecast vs actual at 1,000 labels.

Simulated Banking77 sessions (oracle, default strategy, 10% audit stream held out of training as in
engine/audit.py). From the points a live project has at 300 labels, fit engine/forecast.py's
learning curve and forecast accuracy at 1,000; then continue to 1,000 and compare with the true
test accuracy. Curve points, one per model (every 50 labels from the cold start on):

* audit: each model re-scored on all audit labels held at 300 (none of them trained on) — what the
  product has;
* CV: 5-fold cross-validation on the training labels — what the product had before the audit;
* test: the test set — NOT available live; shown only to separate fit error from point error.

The audit forecast's range (the curve refit to the lower and to the upper ends of every point's
90% Wilson interval, never narrower than the latest point's interval, as the digest shows it) is
reported with whether it held the actual accuracy at 1,000 labels.

Also shown at 1,000: the kappa between successive models' pool predictions and the stop advice.

    .venv/bin/python bench/forecast.py [--seeds 3] [--at 300] [--target 1000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT.parent))

from metric_honesty import audited_session, load_data  # noqa: E402

from engine.audit import estimate_accuracy  # noqa: E402
from engine.classifier import Model  # noqa: E402
from engine.evaluation import cross_validate  # noqa: E402
from engine.forecast import fit_learning_curve, prediction_agreement, stop_signal  # noqa: E402


def run_seed(data: dict[str, np.ndarray], seed: int, at: int, target: int) -> dict[str, float]:
    pool_X, pool_y, graph = data["train_X"], data["train_y"], data["graph"]
    n_classes = len(data["names"])
    counts: list[int] = []
    pool_pred: list[np.ndarray] = []  # argmax on the pool, per model: for re-scoring and kappa
    cv: list[float] = []
    test: list[float] = []
    audit_at: dict[int, np.ndarray] = {}
    unlabeled_at: list[np.ndarray] = []  # pool rows neither trained on nor audited, per model

    def record(n: int, model: Model, train: np.ndarray, audit: np.ndarray, kind: str) -> None:
        counts.append(n)
        proba = model.predict_proba_pool() if model.pool is not None else (
            model.predict_proba(pool_X))  # fmt: skip
        pool_pred.append(proba.argmax(1))
        test.append(float((model.predict_proba(data["test_X"]).argmax(1) == data["test_y"]).mean()))
        audit_at[n] = audit.copy()
        unlabeled_at.append(np.setdiff1d(np.arange(len(pool_y)), np.union1d(train, audit)))
        if n <= at:
            cv.append(cross_validate(pool_X[train], pool_y[train], n_classes=n_classes,
                                     pool=pool_X, kind=kind, graph=graph, labeled_idx=train,
                                     seed=seed).accuracy)  # fmt: skip

    audited_session(pool_X, pool_y, n_classes=n_classes, graph=graph, budget=target, seed=seed,
                    on_round=record)  # fmt: skip
    early = [i for i, n in enumerate(counts) if n <= at]
    held = audit_at[counts[early[-1]]]
    audit_pts = [float((pool_pred[i][held] == pool_y[held]).mean()) for i in early]
    x = [counts[i] for i in early]
    out = {"seed": seed, "audit_n": len(held), "actual": test[-1]}
    ends = [estimate_accuracy(pool_y[held], pool_pred[i][held]) for i in early]
    ranged = fit_learning_curve(x, audit_pts, low=[e.low for e in ends],
                                high=[e.high for e in ends])  # fmt: skip
    out["audit_low"], out["audit_high"] = ranged.predict_range(target) or (np.nan, np.nan)
    for name, pts in (("audit", audit_pts), ("cv", cv), ("test", [test[i] for i in early])):
        fc = fit_learning_curve(x, pts)
        out[name] = fc.predict(target)
        out[f"{name}_plateau"] = fc.plateau if fc.ok else float("nan")
        out[f"{name}_last"] = pts[-1]
    # end of session: the stop signal as the digest would compute it, from audit points only
    final = audit_at[counts[-1]]
    points = [float((p[final] == pool_y[final]).mean()) for p in pool_pred]
    # on the examples still unlabeled when the later model trained, as the engine does
    # (engine.training: the stop set of Bloodgood & Vijay-Shanker 2009)
    kappas = [
        prediction_agreement(a[rows], b[rows])
        for a, b, rows in zip(pool_pred, pool_pred[1:], unlabeled_at[1:], strict=False)
    ]
    end = fit_learning_curve(counts, points)
    est = estimate_accuracy(pool_y[final], pool_pred[-1][final])
    advice = stop_signal(end, kappas, est.value, interval=(est.low, est.high))
    out.update(kappa=float(np.mean(kappas[-3:])), end_plateau=end.plateau, stop=advice.stop)
    print(f"  seed {seed} at {counts[-1]}: {end.describe(0.9)} | {advice.reason}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--at", type=int, default=300, help="labels the forecast is made from")
    parser.add_argument("--target", type=int, default=1000, help="labels the forecast is for")
    args = parser.parse_args()
    data = load_data("banking77")
    rows = []
    for seed in range(args.seeds):
        t0 = time.perf_counter()
        rows.append(run_seed(data, seed, args.at, args.target))
        print(f"[banking77] seed {seed}: {time.perf_counter() - t0:.0f}s", flush=True)
    print(f"\nForecast of test accuracy at {args.target} labels from the first {args.at} "
          "(points: audit = live, CV = live, test = not available live)\n")  # fmt: skip
    print(f"| seed | audit n | acc@{args.at} audit / CV / test | forecast: audit [range] | CV | "
          f"test (oracle) | actual@{args.target} | in range | error audit / CV / test |"
          )  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        errs = " / ".join(f"{r[k] - r['actual']:+.3f}" for k in ("audit", "cv", "test"))
        inside = "yes" if r["audit_low"] <= r["actual"] <= r["audit_high"] else "NO"
        print(f"| {r['seed']} | {r['audit_n']} | {r['audit_last']:.3f} / {r['cv_last']:.3f} / "
              f"{r['test_last']:.3f} | {r['audit']:.3f} [{r['audit_low']:.3f}, "
              f"{r['audit_high']:.3f}] | {r['cv']:.3f} | {r['test']:.3f} | {r['actual']:.3f} | "
              f"{inside} | {errs} |")  # fmt: skip
    for k in ("audit", "cv", "test"):
        err = np.array([r[k] - r["actual"] for r in rows])
        print(f"\n{k:5s}: mean error {err.mean():+.3f}, mean |error| {np.abs(err).mean():.3f}, "
              f"within ±0.05: {int((np.abs(err) <= 0.05).sum())}/{len(rows)}", end="")  # fmt: skip
    held = sum(r["audit_low"] <= r["actual"] <= r["audit_high"] for r in rows)
    widths = [r["audit_high"] - r["audit_low"] for r in rows]
    print(f"\n\naudit forecast range: held the actual accuracy in {held}/{len(rows)} sessions; "
          f"mean width {np.mean(widths):.3f}", end="")  # fmt: skip
    print(f"\n\nAt {args.target}: mean kappa of the last 3 successive models "
          f"{np.mean([r['kappa'] for r in rows]):.3f}; stop advised in "
          f"{sum(r['stop'] for r in rows)}/{len(rows)} sessions")  # fmt: skip


if __name__ == "__main__":
    main()
