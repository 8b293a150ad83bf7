#!/usr/bin/env python3
"""Pools the fold reports of a k-fold run (`tools/kfold.sh`) into one table per curve file.

Each fold's model scored only its own held-out runs, so every run is scored once; pooling
weights each fold's group by its curves, which gives the same per-curve mean `neuneu eval`
would report over all folds together. Excess over the noise floor is pooled over the curves
whose floor is known.

    python3 tools/kfold_pool.py OUT_DIR/fold0-pythia-dev-0.2.json OUT_DIR/fold1-pythia-dev-0.2.json ...
"""
import json
import sys
from collections import defaultdict

FIELDS = ["mae", "excess", "coverage80"]


def pool(paths):
    # (forecaster, group) -> field -> [weighted sum, weight]
    sums = defaultdict(lambda: {f: [0.0, 0] for f in FIELDS + ["rank_accuracy"]})
    order = []
    for path in paths:
        with open(path) as fh:
            report = json.load(fh)
        for forecaster in report["forecasters"]:
            for g in forecaster["groups"]:
                key = (forecaster["name"], f"{g['by']}={g['value']}" if g["by"] != "all" else "all")
                if key not in sums:
                    order.append(key)
                s = sums[key]
                for f in FIELDS:
                    if g.get(f) is not None:
                        s[f][0] += g[f] * g["curves"]
                        s[f][1] += g["curves"]
                if g.get("rank_accuracy") is not None and g.get("rank_pairs"):
                    s["rank_accuracy"][0] += g["rank_accuracy"] * g["rank_pairs"]
                    s["rank_accuracy"][1] += g["rank_pairs"]
    return order, sums


def main():
    paths = sys.argv[1:]
    if not paths:
        sys.exit(__doc__)
    order, sums = pool(paths)
    print(f"pooled over {len(paths)} fold reports")
    print(f"{'forecaster':14} {'group':24} {'curves':>7} {'MAE':>7} {'excess':>7} {'cov80':>6} {'rank':>6} {'pairs':>8}")
    for name, group in order:
        s = sums[(name, group)]
        def mean(field, width, digits):
            total, weight = s[field]
            return f"{total / weight:{width}.{digits}f}" if weight else f"{'-':>{width}}"

        print(
            f"{name:14} {group:24} {s['mae'][1]:>7} {mean('mae', 7, 4)} {mean('excess', 7, 4)} "
            f"{mean('coverage80', 6, 3)} {mean('rank_accuracy', 6, 3)} {s['rank_accuracy'][1]:>8}"
        )


if __name__ == "__main__":
    main()
