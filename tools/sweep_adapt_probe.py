"""How many finished arms before adapting to a running sweep pays (`Sweep.adapt`).

Each task of a curve file is one sweep. For each of `--seeds` orders of its runs, the first K
runs are the finished arms (K in `--finished`) and the last `--live` runs the live ones, seen up
to `--context` of their compute (at least the model's minimum context). A model is adapted to the
K finished runs with `neuneu.adapt` on runs in memory (the recipe `Sweep.adapt` runs on a sweep's
finished arms, hold-out 0.2), and each live run's final value is forecast from its context by the
default model, by the adapted one, and by the adapted one only where its held-out MAE beat the
base's (the rule the README suggests), beside persistence (the last value). Reported per K,
pooled over tasks and orders: MAE of the final's median (the file's units) and pairwise ranking
accuracy of the live runs' finals (ties in the truth skipped), each as a mean over sweeps.
With `--losses INDEX` (a JSON loss index, as shakespeare-lm-dev ships), a second model is
adapted with the finished runs' token losses at every checkpoint (what `observe_losses` gives a
sweep) and forecasts each live run given its context's last checkpoint's losses.

    PYTHONPATH=ffi/python/python python tools/sweep_adapt_probe.py \\
        ../shared/data/shakespeare-lm-dev/curves.csv --out tools/replay-results/sweep-adapt-acc.json
    ... ../shared/data/shakespeare-lm-dev/val-loss.csv --metric loss
    ... --losses ../shared/data/shakespeare-lm-dev/losses/index.json
"""

import argparse
import csv
import json
from collections import defaultdict

import numpy as np

import neuneu
from optuna_replay import _load_losses as load_losses
from optuna_replay import read_loss_index


def read(path):
    """{task: {run: (compute, values)}}, points sorted by compute."""
    points = defaultdict(lambda: defaultdict(list))
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            points[r["task"]][r["run"]].append((float(r["tokens"]), float(r["acc"])))
    out = {}
    for task, runs in points.items():
        out[task] = {}
        for run, pts in runs.items():
            pts.sort()
            out[task][run] = ([p[0] for p in pts], [p[1] for p in pts])
    return out


def ranking_accuracy(pred, truth):
    right = total = 0
    for i in range(len(truth)):
        for j in range(i + 1, len(truth)):
            if truth[i] == truth[j]:
                continue
            total += 1
            right += (pred[i] - pred[j]) * (truth[i] - truth[j]) > 0
    return right / total if total else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("curves")
    ap.add_argument("--metric", default="bounded", choices=["bounded", "loss"])
    ap.add_argument("--finished", default="5,10,20,30")
    ap.add_argument("--live", type=int, default=15)
    ap.add_argument("--context", type=float, default=0.2)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--losses", metavar="INDEX")
    ap.add_argument("--out")
    args = ap.parse_args()
    base = neuneu.Engine()
    sweeps = read(args.curves)
    ks = [int(k) for k in args.finished.split(",")]
    higher_better = args.metric == "bounded"
    losses = read_loss_index(args.losses) if args.losses else None
    rows = {k: defaultdict(list) for k in ks}
    for task, runs in sorted(sweeps.items()):
        names = sorted(runs)
        for seed in range(args.seeds):
            order = list(np.random.default_rng(seed).permutation(names))
            live = order[-args.live :]
            for k in ks:
                finished = order[:k]
                adapted = neuneu.adapt(
                    {r: runs[r] for r in finished}, metric=args.metric, seed=17
                )
                mae = adapted.held_out_mae
                switch = mae is not None and mae["adapted"] < mae["base"]
                with_losses = None
                if losses is not None:
                    given = {
                        r: {
                            s: load_losses(losses[r][s])
                            for s in runs[r][0]
                            if s in losses.get(r, {})
                        }
                        for r in finished
                    }
                    with_losses = neuneu.adapt(
                        {r: runs[r] for r in finished}, metric=args.metric, seed=17, losses=given
                    )
                preds = defaultdict(list)
                truth = []
                for r in live:
                    steps, values = runs[r]
                    cut = max(
                        sum(1 for s in steps if s <= args.context * steps[-1]), base.min_context
                    )
                    ctx_s, ctx_v = steps[:cut], values[:cut]
                    truth.append(values[-1])
                    preds["persistence"].append(ctx_v[-1])
                    median = len(base.levels) // 2
                    b = base.forecast(ctx_s, ctx_v, [steps[-1]], metric=args.metric)[0, median]
                    a = adapted.engine.forecast(ctx_s, ctx_v, [steps[-1]], metric=args.metric)[
                        0, median
                    ]
                    preds["default"].append(b)
                    preds["adapted"].append(a)
                    preds["adapted if better"].append(a if switch else b)
                    if with_losses is not None:
                        last = losses.get(r, {}).get(ctx_s[-1])
                        tokens = load_losses(last) if last is not None else None
                        preds["adapted + losses"].append(
                            with_losses.engine.forecast(
                                ctx_s, ctx_v, [steps[-1]], metric=args.metric, token_losses=tokens
                            )[0, median]
                        )
                sign = 1 if higher_better else -1
                for name, p in preds.items():
                    rows[k][name + " mae"].append(
                        float(np.mean(np.abs(np.array(p) - np.array(truth))))
                    )
                    rows[k][name + " ranking"].append(
                        ranking_accuracy([sign * x for x in p], [sign * t for t in truth])
                    )
                rows[k]["switched"].append(float(switch))
    summary = {
        k: {name: float(np.nanmean(v)) for name, v in cols.items()} for k, cols in rows.items()
    }
    names = ["persistence", "default", "adapted", "adapted if better"]
    if losses is not None:
        names.append("adapted + losses")
    print(f"{args.curves} ({args.metric}), {args.seeds} orders, {args.live} live runs per sweep")
    print("K finished | " + " | ".join(f"{n} MAE / ranking" for n in names) + " | switched")
    for k in ks:
        s = summary[k]
        cells = " | ".join(f"{s[n + ' mae']:.4f} / {s[n + ' ranking']:.3f}" for n in names)
        print(f"{k} | {cells} | {s['switched']:.2f}")
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"args": vars(args), "summary": summary}, f, indent=1)


if __name__ == "__main__":
    main()
