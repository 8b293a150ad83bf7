#!/usr/bin/env python3
"""Leave-runs-out k-fold of `neuneu adapt` on one curve file (issue 23's protocol).

For each fold, the other folds' runs are adapted to (`neuneu adapt --holdout H`: trees refitted
on all of them with H = 0, the default; with H > 0 on 1 - H of them, the bands recalibrated on the
rest), and `neuneu eval` scores the adapted bundle, the bundle it started from and
persistence on the fold's runs. Scores are pooled over folds: MAE over curves, ranking accuracy
over pairs, the [q0.1, q0.9] band's coverage over targets.

  python3 tools/adapt_kfold.py ../shared/data/shakespeare-lm-dev/curves.csv --folds 5
"""
import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("curves")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--neuneu", default="target/release/neuneu")
    ap.add_argument("--metric", default="accuracy")
    ap.add_argument("--context", default="0.2")
    ap.add_argument("--holdout", default="0",
                    help="neuneu adapt's own hold-out (the runs its bands are recalibrated on); "
                         "0: the trees see every run of the other folds, the bands stay the base's")
    ap.add_argument("--losses", help="a loss index: neuneu adapt fits loss trees on it, and the adapted "
                                     "bundle's forecasts are given each context's last losses")
    ap.add_argument("--loss-summary", default="mean-p")
    ap.add_argument("--train", metavar="ARGS",
                    help="instead of neuneu adapt, train a network of its own on each fold's runs: "
                         "neuneu-train FIT.csv --holdout H ARGS (for example \"--steps 3000 --losses none\"); "
                         "with --losses, the trainer reads them and the bundle is scored with them")
    ap.add_argument("--neuneu-train", default="target/release/neuneu-train")
    ap.add_argument("--replay", action="store_true",
                    help="score kill decisions instead of forecasts: neuneu replay (k = 3, its default "
                         "pruners) of each fold's runs with the fold's bundle and with the base, pooled "
                         "over the folds' sweeps")
    ap.add_argument("--replay-args", metavar="ARGS", default="",
                    help="more arguments for neuneu replay, for example \"--in-sweep\"")
    a = ap.parse_args()
    with_losses = ["--losses", a.losses] if a.losses else []

    with open(a.curves, newline="") as f:
        reader = csv.DictReader(f)
        header, rows = reader.fieldnames, list(reader)
    runs = sorted({(r["suite"], r["run"]) for r in rows})
    random.Random(a.seed).shuffle(runs)
    fold_of = {run: i % a.folds for i, run in enumerate(runs)}
    pooled = {}
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(a.folds):
            paths = {}
            for part, keep in (("fit", lambda f: f != k), ("test", lambda f: f == k)):
                paths[part] = os.path.join(tmp, f"{part}{k}.csv")
                with open(paths[part], "w", newline="") as f:
                    w = csv.DictWriter(f, fieldnames=header)
                    w.writeheader()
                    w.writerows(r for r in rows if keep(fold_of[(r["suite"], r["run"])]))
            adapted = os.path.join(tmp, f"adapted{k}.nnb")
            if a.train is not None:
                subprocess.run([a.neuneu_train, paths["fit"], "-o", adapted, "--holdout", a.holdout,
                                "--metric", a.metric, "--quiet"] + with_losses + a.train.split(),
                               check=True, capture_output=True)
            else:
                loss_args = with_losses + (["--loss-summary", a.loss_summary] if a.losses else [])
                subprocess.run([a.neuneu, "adapt", paths["fit"], "-o", adapted, "--holdout", a.holdout,
                                "--metric", a.metric] + loss_args, check=True, capture_output=True)
            # The base network was not trained on real losses: it is scored without them.
            for label, model in (("adapted", ["--model", adapted] + with_losses), ("base", [])):
                report = os.path.join(tmp, f"{label}{k}.json")
                if a.replay:
                    subprocess.run([a.neuneu, "replay", paths["test"], "--json", report, "--metric",
                                    a.metric] + model + a.replay_args.split(), check=True, capture_output=True)
                    for r in json.load(open(report))["summaries"]:
                        name = r["pruner"] if r["pruner"].startswith("halving") else f"{label}: {r['pruner']}"
                        if label == "adapted" and name.startswith("halving"):
                            continue  # successive halving once, from the base run
                        p = pooled.setdefault(name, [0.0, 0.0, 0.0, 0])
                        n = r["sweeps"]
                        p[0] += r["mean_compute_fraction"] * n
                        p[1] += r["mean_regret"] * n
                        p[2] += r["best_survived_rate"] * n
                        p[3] += n
                    continue
                subprocess.run([a.neuneu, "eval", paths["test"], "--json", report, "--metric", a.metric,
                                "--context", a.context] + model, check=True, capture_output=True)
                for fc in json.load(open(report))["forecasters"]:
                    name = fc["name"] if fc["name"] != "neuneu" else label
                    if label == "adapted" and name != "adapted":
                        continue  # the baselines once, from the base run
                    g = next(g for g in fc["groups"] if g["by"] == "all")
                    p = pooled.setdefault(name, [0.0, 0, 0.0, 0, 0.0, 0])
                    p[0] += g["mae"] * g["curves"]
                    p[1] += g["curves"]
                    p[2] += (g["rank_accuracy"] or 0) * g["rank_pairs"]
                    p[3] += g["rank_pairs"]
                    p[4] += g["coverage80"] * g["targets"]
                    p[5] += g["targets"]
    if a.replay:
        print(f"{a.curves}: {len(runs)} runs, {a.folds} folds by run, neuneu replay of each fold's sweeps, pooled")
        print("| pruner | sweeps | compute | regret | best kept |")
        print("| --- | --- | --- | --- | --- |")
        for name, (compute, regret, best, n) in pooled.items():
            print(f"| {name} | {n} | {compute / n:.3f} | {regret / n:.4f} | {best / n:.3f} |")
        return
    persistence = pooled["persistence"][0] / pooled["persistence"][1]
    print(f"{a.curves}: {len(runs)} runs, {a.folds} folds by run, context {a.context}, pooled")
    print("| forecaster | MAE | MAE / persistence | ranking accuracy | [q0.1, q0.9] coverage |")
    print("| --- | --- | --- | --- | --- |")
    for name, (mae, n, acc, pairs, cov, targets) in pooled.items():
        print(f"| {name} | {mae / n:.4f} | {mae / n / persistence:.2f}x | {acc / pairs:.3f} | {cov / targets:.3f} |")


if __name__ == "__main__":
    sys.exit(main())
