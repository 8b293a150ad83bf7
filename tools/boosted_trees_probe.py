#!/usr/bin/env python3
"""How well can a forecaster do from a curve's own context? Boosted trees as a yardstick.

Builds a handful of summary features from each context (last value, last step, rise since the
first point, the run's own power-law fit extrapolated to the target and to twice the last
compute, the log horizon, the number of points, the log span) and fits scikit-learn's
HistGradientBoostingRegressor (absolute error, so it predicts a median) to the offset of the
target from the last value. Scored with `neuneu eval`'s protocol (context = checkpoints with
compute <= FRACTION x final, at least 3 points; MAE per curve, then mean over curves), 5-fold
over runs (every run scored once by trees that never saw it), training on every cut of the
training runs. `--inputs model` gives the trees instead what the model's summary path reads from
its first context slot (first value, rise over the context, log span, first gap, horizon, the
power-law offset at the target), to ask whether the model's inputs or its learner limit it.

This is a probe, not a product: it found that the forecaster, before its summary path, fitted
ScAn's offsets less well than trees on the same information (2026-11-30, see
docs/results/experiments-2026-11-30.md). Needs numpy and scikit-learn:

    python -m venv /tmp/gbm && /tmp/gbm/bin/pip install numpy scikit-learn
    /tmp/gbm/bin/python tools/boosted_trees_probe.py ../shared/data/scan-vlm-dev.csv
"""
import argparse
import collections
import csv

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor

EXPONENTS = np.exp(np.linspace(np.log(0.02), np.log(4.0), 60))


def power_law(x, y):
    """y = a - b (x / x_last)^-c by least squares on a grid of c (as `curvefit` does, coarser)."""
    scale, best = x[-1], None
    for c in EXPONENTS:
        design = np.stack([np.ones_like(x), -(x / scale) ** (-c)], 1)
        coef, *_ = np.linalg.lstsq(design, y, rcond=None)
        r = y - design @ coef
        if best is None or r @ r < best[0]:
            best = (r @ r, c, coef)
    _, c, (a, b) = best
    return lambda t: np.clip(a - b * (np.asarray(t) / scale) ** (-c), 0.0, 1.0)


def load(path):
    curves = collections.defaultdict(list)
    for r in csv.DictReader(open(path)):
        if r["acc"]:
            key = (r["suite"], r["run"], r["shots"], r["task"])
            curves[key].append((float(r["tokens"]), float(r["acc"])))
    return {k: np.array(sorted(v)).T for k, v in curves.items()}


def rows(curves, cuts):
    """Feature rows of every (cut, target) pair; `cuts(x)` gives the context lengths."""
    out = collections.defaultdict(list)
    for ci, (key, (x, y)) in enumerate(curves.items()):
        for n in cuts(x):
            if x[0] <= 0 and n < 4:
                continue
            pos = x[:n] > 0
            fit = power_law(x[:n][pos], y[:n][pos])
            # Log-ratio positions as `src/inference/features/` computes them (floored at e^-12).
            first_pos = np.log(max(x[0], x[n - 1] * np.exp(-12.0)) / x[n - 1])
            first_gap = np.log(x[1] / x[n - 1]) - first_pos
            for j in range(n, len(x)):
                out["X"].append([
                    y[n - 1], y[n - 1] - y[n - 2], y[n - 1] - y[0],
                    fit(x[j]) - y[n - 1], np.log(x[j] / x[n - 1]), n,
                    fit(2 * x[n - 1]) - y[n - 1], np.log(x[n - 1] / max(x[0], x[n - 1] * 1e-6)),
                    y[0], first_pos, first_gap,
                ])
                out["offset"].append(y[j] - y[n - 1])
                out["last"].append(y[n - 1])
                out["fit"].append(fit(x[j]))
                out["run"].append(key[:2])
                out["curve"].append(ci)
    return {k: np.array(v) if k != "run" else v for k, v in out.items()}


def per_curve_mae(pred, truth, curve):
    err = np.bincount(curve, np.abs(pred - truth))
    n = np.bincount(curve)
    return float(np.mean(err[n > 0] / n[n > 0]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("curves")
    ap.add_argument("--context", type=float, default=0.2)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--inputs", choices=["probe", "model"], default="probe",
                    help="the probe's eight features, or the model's first-slot summary")
    args = ap.parse_args()
    curves = load(args.curves)
    # Columns of `rows`' feature vector: the probe's eight, or the model's first slot.
    cols = list(range(8)) if args.inputs == "probe" else [8, 2, 9, 10, 4, 3]

    def eval_cut(x):
        n = max(int((x <= args.context * x[-1]).sum()), 3)
        return [n] if n < len(x) else []

    test = rows(curves, eval_cut)
    train = rows(curves, lambda x: range(3, len(x)))
    runs = sorted(set(train["run"]) | set(test["run"]))
    order = np.random.default_rng(0).permutation(len(runs))
    fold = {runs[j]: i % args.folds for i, j in enumerate(order)}
    f_test = np.array([fold[r] for r in test["run"]])
    f_train = np.array([fold[r] for r in train["run"]])
    truth = test["last"] + test["offset"]
    pred = np.zeros_like(truth)
    for k in range(args.folds):
        trees = HistGradientBoostingRegressor(loss="absolute_error", max_iter=300, learning_rate=0.05)
        trees.fit(train["X"][f_train != k][:, cols], train["offset"][f_train != k])
        pred[f_test == k] = test["last"][f_test == k] + trees.predict(test["X"][f_test == k][:, cols])
    c = test["curve"]
    print(f"{len(set(c))} curves, context {args.context}, {args.folds}-fold over runs; MAE of the median")
    print(f"persistence      {per_curve_mae(test['last'], truth, c):.4f}")
    print(f"power law        {per_curve_mae(test['fit'], truth, c):.4f}")
    print(f"boosted trees    {per_curve_mae(pred, truth, c):.4f}")


if __name__ == "__main__":
    main()
