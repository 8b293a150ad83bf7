#!/usr/bin/env python3
"""Boosted trees against the model on the model's own held-out runs, and their average.

For one curve file: the runs the model's trainer held out (`neuneu heldout`) are cut as `neuneu
eval` cuts them (context = checkpoints with compute <= 0.2 x final, at least 3 points) and
forecast by the model (`neuneu forecast`); boosted trees (`boosted_trees_probe.py`'s features and
settings) are trained on every cut of the file's other runs. Prints the MAE of the median (per
curve, then mean) of persistence, the power-law fit, the model, the trees and their averages,
over all curves and per family (MMLU subjects vs the rest).

This is a probe, not a product: it asks how much a learner of another kind would add, and found
(2026-12-01, docs/results/experiments-2026-11-30.md) that the trees alone beat the model on both
files. Needs numpy and scikit-learn, and a release build of neuneu:

    /tmp/gbm/bin/python tools/trees_vs_model.py ../shared/data/scan-vlm-dev.csv [--model M.nnb]
"""
import argparse
import collections
import csv
import io
import json
import subprocess

import numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor

import boosted_trees_probe as probe


def neuneu(binary, args, stdin=None):
    done = subprocess.run([binary, *args], input=stdin, capture_output=True, text=True, check=True)
    return done.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("curves")
    ap.add_argument("--model", help="bundle (default: the embedded model)")
    ap.add_argument("--neuneu", default="target/release/neuneu")
    args = ap.parse_args()
    model = ["--model", args.model] if args.model else []

    held_csv = neuneu(args.neuneu, ["heldout", args.curves, *model])
    held_keys = {(r["suite"], r["run"]) for r in csv.DictReader(io.StringIO(held_csv))}
    curves = probe.load(args.curves)
    held = {k: v for k, v in curves.items() if k[:2] in held_keys}
    train = {k: v for k, v in curves.items() if k[:2] not in held_keys}

    def eval_cut(x):
        n = max(int((x <= 0.2 * x[-1]).sum()), 3)
        return [n] if n < len(x) else []

    keys = list(held)
    test = probe.rows(held, eval_cut)
    # The probe's settings; a fixed seed for the early-stopping split, so reruns agree.
    trees = HistGradientBoostingRegressor(loss="absolute_error", max_iter=300, learning_rate=0.05,
                                          random_state=0)
    fit_rows = probe.rows(train, lambda x: range(3, len(x)))
    trees.fit(fit_rows["X"], fit_rows["offset"])
    tree_pred = test["last"] + trees.predict(test["X"])
    truth = test["last"] + test["offset"]

    # The model's forecasts of the same cuts, one request per curve, targets in order.
    cuts = {}
    for ci, n in zip(test["curve"], test["X"][:, 5].astype(int)):
        cuts[ci] = n
    lines = []
    for ci, n in cuts.items():
        x, y = held[keys[ci]]
        lines.append(json.dumps({"id": str(ci), "steps": x[:n].tolist(), "accuracy": y[:n].tolist(),
                                 "target_steps": x[n:].tolist()}))
    answers = {}
    for line in neuneu(args.neuneu, ["forecast", "-", *model], "\n".join(lines) + "\n").splitlines():
        a = json.loads(line)
        answers[int(a["id"])] = [f["quantiles"][2] for f in a["forecasts"]]
    taken = collections.Counter()
    model_pred = np.empty_like(truth)
    for i, ci in enumerate(test["curve"]):
        model_pred[i] = answers[ci][taken[ci]]
        taken[ci] += 1

    family = np.array(["mmlu" if "mmlu" in keys[ci][3] else "other" for ci in test["curve"]])
    forecasts = {"persistence": test["last"], "power law": test["fit"], "model": model_pred,
                 "trees": tree_pred, "average": 0.5 * (model_pred + tree_pred)}
    print(f"{len(cuts)} held-out curves scored ({len(held_keys)} runs); trees trained on the"
          f" {len(train)} curves of the other runs")
    print(f"{'':12}{'curves':>7}" + "".join(f"{name:>13}" for name in forecasts))
    for group in ["all", "mmlu", "other"]:
        mask = np.ones_like(truth, bool) if group == "all" else family == group
        if mask.any():
            c = test["curve"][mask]
            maes = [probe.per_curve_mae(p[mask], truth[mask], c) for p in forecasts.values()]
            print(f"{group:12}{len(set(c)):7}" + "".join(f"{m:13.4f}" for m in maes))


if __name__ == "__main__":
    main()
