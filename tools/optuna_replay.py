#!/usr/bin/env python3
"""Replay Optuna's pruners on finished sweeps (issue 5), under the protocol of `src/eval/replay/`.

Would a pruner have stopped the right runs, and how much compute would it have saved? The
protocol is the one the Rust replay (`neuneu::replay`) implements; keep the two in step, so that
one table compares neuneu, plain successive halving and Optuna.

Protocol
--------
* Each (suite, shots, task) of a curve file is one sweep; each run in it is one arm. Arms are
  listed in run-id order (string order, as the Rust reader sorts them).
* An arm's planned compute is the compute (`tokens` column) of its final checkpoint; its final
  accuracy is the `acc` there. Arms of one sweep may have different budgets.
* Rungs sit at fractions of each arm's *own* planned compute (default 0.2, 0.4, 0.6, 0.8). At
  rung r an alive arm has observed every checkpoint with `compute <= fraction * planned` (exact
  float comparison on both sides); an arm with nothing new reports its latest value again. An
  arm that has observed no checkpoint yet cannot be judged: it reports nothing and stays alive.
* At a rung the pruner decides which alive arms to stop. A stopped arm spends no more compute: it
  has spent the compute of its last observed checkpoint. Survivors of the last rung run to their
  end and spend their planned compute.
* Per sweep: compute fraction = compute spent / sum of planned compute; regret = best final
  accuracy of all arms - best final accuracy of the survivors (if nothing survives, regret is the
  best final accuracy); best survived = some arm with the best final accuracy survived; top-k
  recall = share of the true top k (by final accuracy, ties to the earlier run id, k capped at
  the arm count) that survived.
* Sweeps with fewer than --min-arms arms (default 4) are skipped and counted. Metrics are
  averaged over the counted sweeps, each sweep weighing the same.

How Optuna is driven
--------------------
One study per sweep (direction maximize, RandomSampler(seed=0), no parameters: the "config" is
the replayed run). An arm is one trial; at rung r (0-based) it calls `trial.report(acc, step=r+1)`
then `trial.should_prune()`; a pruned trial is told PRUNED, a survivor is told its final accuracy.
Optuna's pruners judge one trial at a time against other trials, so the order of arms matters.
Arms are taken in a fixed-seed shuffle of run-id order (`random.Random(seed)`, fresh per sweep;
--seeds N averages each Optuna row over seeds 0..N-1, every (sweep, seed) weighing the same, and
sums no_survivor over them), in one of three schedules (--order; default both of the first two,
separate rows):

* `sequential`: one arm after another, each through all its rungs and then told complete, as a
  sequential Optuna study would run. MedianPruner/PercentilePruner compare with completed trials
  only, so this is the schedule they were built for.
* `interleaved`: every trial is asked first, then the arms report rung by rung, every alive arm
  reaching rung r before any reaches r+1; survivors are told complete at the end. This is the
  Rust replay's schedule. Median/Percentile then never prune (no trial is complete while they
  decide). Successive halving / Hyperband compare an arm with the arms before it in the order
  that reached the same rung, so they only differ between the two schedules where some arms
  cannot report at early rungs (short runs whose first checkpoint lies past the rung).
* `parallel`: --workers trials run at once, as workers sharing a study's storage do. Compute is
  the clock, every worker as fast as the next: a trial started at time t reaches rung r at
  t + fraction_r * its planned compute, and ends (told complete) at t + its planned compute; the
  next trial in the order starts when a trial is pruned or ends. Events at one time go in the
  order they were scheduled. One worker is `sequential`.

Pruner settings (documented choices, not tuned):
* MedianPruner(n_startup_trials=2, n_warmup_steps=0, interval_steps=1): Optuna's default of 5
  startup trials would leave a 5-7 arm Pythia sweep almost unpruned.
* PercentilePruner(25.0, same settings): Optuna's percentile counts from the top, so this keeps
  only arms within the best 25 percent of completed trials at the step (harsher than the median).
* SuccessiveHalvingPruner(min_resource=1, reduction_factor=2, min_early_stopping_rate=0): eta=2
  as the Rust baseline; with steps 1..4 its rungs fall at steps 1, 2 and 4 (geometric).
* HyperbandPruner(min_resource=1, max_resource=number of rungs, reduction_factor=2).

`reference halving eta=2 last` is synchronous successive halving written out here (not Optuna):
the same pruner as the Rust `SuccessiveHalving::new(2)`, so equal numbers on both sides check
that the two replays implement the same protocol.

Usage:
    python tools/optuna_replay.py CURVES.csv [--task imagenet1k_acc1] [--rungs 0.2,0.4,0.6,0.8]
        [--k 3] [--min-arms 4] [--order both|sequential|interleaved|parallel] [--workers 4]
        [--seeds 1] [--json out.json]
        [--merge rust.json] [--engine BUNDLE] [--losses INDEX.json]

--merge takes the JSON that `neuneu replay CURVES.csv --json rust.json` writes
for the same file and options, and puts its rows (neuneu / successive halving) at the top of the
table, so that one table compares them.
"""

import argparse
import bisect
import csv
import functools
import heapq
import itertools
import json
import math
import os
import random
import statistics
import sys
import time
from collections import defaultdict

import optuna
from optuna.trial import TrialState


def read_sweeps(path, task=None, bounded=True):
    """Reads a long-format curve CSV into {(suite, shots, task): [arm, ...]} in run-id order.

    An arm is a dict with run, compute (increasing) and accuracy lists (the metric's values,
    whatever it is). As the Rust reader: a repeated compute value keeps its last row, a bounded
    metric is clamped to [0, 1] (a loss is read as it is), a missing shots column means "0".
    """
    points = defaultdict(list)
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if task is not None and row["task"] != task:
                continue
            key = (row["suite"], row.get("shots") or "0", row["task"], row["run"])
            points[key].append((float(row["tokens"]), float(row["acc"])))
    sweeps = defaultdict(list)
    for (suite, shots, task_name, run), pts in sorted(points.items()):
        pts.sort(key=lambda p: p[0])  # stable, so the last of equal computes stays last
        dedup = {}
        for x, acc in pts:
            dedup[x] = min(max(acc, 0.0), 1.0) if bounded else acc
        compute = sorted(dedup)
        sweeps[(suite, shots, task_name)].append(
            {"run": run, "compute": compute, "accuracy": [dedup[x] for x in compute]}
        )
    for arms in sweeps.values():
        arms.sort(key=lambda a: a["run"])
    return dict(sorted(sweeps.items()))


def seen_at(arm, fraction):
    """How many checkpoints the arm has observed at this rung fraction."""
    return bisect.bisect_right(arm["compute"], fraction * arm["compute"][-1])


def outcome(arms, alive, seen, k, sign=1.0):
    """The per-sweep metrics of the protocol, given who survived and what each arm observed.

    `sign` is -1 for a minimized metric: the metrics are computed on sign * value, so regret is
    in the metric's units and never negative either way.
    """
    planned = [a["compute"][-1] for a in arms]
    finals = [sign * a["accuracy"][-1] for a in arms]
    spent = sum(
        planned[i] if alive[i] else arms[i]["compute"][seen[i] - 1] for i in range(len(arms))
    )
    best = max(finals)
    kept = [finals[i] for i in range(len(arms)) if alive[i]]
    ranking = sorted(range(len(arms)), key=lambda i: -finals[i])  # stable: ties to earlier run
    k = min(k, len(arms))
    return {
        "arms": len(arms),
        "survivors": len(kept),
        "compute_fraction": spent / sum(planned),
        "regret": best - max(kept) if kept else best,
        "best_survived": bool(kept) and max(kept) == best,
        "top_k_recall": sum(alive[i] for i in ranking[:k]) / k,
    }


OPTUNA_PRUNERS = {
    "optuna median": lambda n_rungs: optuna.pruners.MedianPruner(
        n_startup_trials=2, n_warmup_steps=0, interval_steps=1
    ),
    "optuna percentile25": lambda n_rungs: optuna.pruners.PercentilePruner(
        25.0, n_startup_trials=2, n_warmup_steps=0, interval_steps=1
    ),
    "optuna sha eta=2": lambda n_rungs: optuna.pruners.SuccessiveHalvingPruner(
        min_resource=1, reduction_factor=2, min_early_stopping_rate=0
    ),
    "optuna hyperband eta=2": lambda n_rungs: optuna.pruners.HyperbandPruner(
        min_resource=1, max_resource=n_rungs, reduction_factor=2
    ),
    # neuneu's pruner with the settings the README shows: it ends trials at step 10, so the
    # table is meant for --rungs 0.1,...,0.9 (step r = fraction r/10, the end at step 10).
    "neuneu NeuNeuPruner(max_resource=10)": lambda n_rungs: _neuneu_pruner(max_resource=10),
    "neuneu NeuNeuPruner(max_resource=10, calibrate=False)": lambda n_rungs: _neuneu_pruner(
        max_resource=10, calibrate=False
    ),
    "neuneu NeuNeuPruner(max_resource=10) adapted every 5 complete trials": (
        lambda n_rungs: _adapting_pruner(5, max_resource=10)
    ),
}

# `--engine BUNDLE`: the bundle the NeuNeuPruner rows forecast with (the default model if None).
ENGINE_PATH = None
# `--losses INDEX`: run -> compute -> .npy file of that checkpoint's token losses; each report
# of a checkpoint that has them also keeps them (`neuneu.optuna.report_losses`).
LOSSES = None


def read_loss_index(path):
    """A JSON loss index ({run: {compute: file}}, files relative to it, as
    shakespeare-lm-dev/losses/index.json) as {run: {compute: path}}."""
    base = os.path.dirname(os.path.abspath(path))
    with open(path) as f:
        index = json.load(f)
    return {
        run: {float(c): os.path.join(base, file) for c, file in by_compute.items()}
        for run, by_compute in index.items()
    }


@functools.lru_cache(maxsize=None)
def _load_losses(path):
    import numpy as np

    return np.load(path).astype(np.float32)


def _neuneu_pruner(**kwargs):
    import neuneu  # only when asked for: the rest runs without it
    from neuneu.optuna import NeuNeuPruner

    if ENGINE_PATH is not None:
        kwargs["engine"] = neuneu.Engine(ENGINE_PATH)
    return NeuNeuPruner(**kwargs)


# How often the adapting pruner fitted a model, and went on with it (printed at the end).
ADAPTS = {"fitted": 0, "switched": 0}


def _adapting_pruner(every, **kwargs):
    """A NeuNeuPruner whose model is adapted to the study's complete trials
    (`neuneu.optuna.adapt_to_study`, from `--engine` or the default model) each time `every`
    more of them have completed, kept only where its held-out MAE beats the base's: what a
    user adapting in the middle of a study would do."""
    import neuneu
    from neuneu.optuna import NeuNeuPruner, adapt_to_study

    class Adapting(optuna.pruners.BasePruner):
        def __init__(self):
            self.inner = _neuneu_pruner(**kwargs)
            self.fitted = 0

        def prune(self, study, trial):
            n = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
            if n >= max(every, 5) and n >= self.fitted + every:
                self.fitted = n
                base = neuneu.Engine(ENGINE_PATH) if ENGINE_PATH is not None else None
                try:
                    adapted = adapt_to_study(study, max_resource=kwargs["max_resource"], base=base)
                except neuneu.InvalidArgumentError:
                    adapted = None  # too few trials with enough reports yet
                mae = adapted.held_out_mae if adapted is not None else None
                ADAPTS["fitted"] += adapted is not None
                if mae is not None and mae["adapted"] < mae["base"]:
                    ADAPTS["switched"] += 1
                    self.inner = NeuNeuPruner(engine=adapted.engine, **kwargs)
            return self.inner.prune(study, trial)

    return Adapting()


def replay_optuna(arms, make_pruner, rungs, order, seed, direction="maximize", workers=4):
    """Replays one sweep through an Optuna pruner; returns (alive, seen, seconds per prune
    decision)."""
    study = optuna.create_study(
        direction=direction,
        pruner=make_pruner(len(rungs)),
        sampler=optuna.samplers.RandomSampler(seed=0),
        study_name="replay",
    )
    schedule = list(range(len(arms)))
    random.Random(seed).shuffle(schedule)
    alive = [True] * len(arms)
    seen = [0] * len(arms)
    timings = []

    def step(i, trial, r, fraction):
        """Reports arm i at rung r; returns True if Optuna prunes it."""
        seen[i] = seen_at(arms[i], fraction)
        if seen[i] == 0:
            return False
        trial.report(arms[i]["accuracy"][seen[i] - 1], step=r + 1)
        if LOSSES is not None:
            path = LOSSES.get(arms[i]["run"], {}).get(arms[i]["compute"][seen[i] - 1])
            if path is not None:
                from neuneu.optuna import report_losses

                report_losses(trial, r + 1, _load_losses(path))
        start = time.perf_counter()
        prune = trial.should_prune()
        timings.append(time.perf_counter() - start)
        if prune:
            study.tell(trial, state=TrialState.PRUNED)
            alive[i] = False
            return True
        return False

    if order == "sequential":
        for i in schedule:
            trial = study.ask()
            for r, fraction in enumerate(rungs):
                if step(i, trial, r, fraction):
                    break
            if alive[i]:
                study.tell(trial, arms[i]["accuracy"][-1])
    elif order == "parallel":
        # Events (time, sequence, arm, rung, the arm's start); rung len(rungs) is its end.
        events, waiting, trials, sequence = [], iter(schedule), {}, itertools.count()

        def schedule_at(i, r, started):
            planned = arms[i]["compute"][-1]
            at = started + (rungs[r] * planned if r < len(rungs) else planned)
            heapq.heappush(events, (at, next(sequence), i, r, started))

        def start_next(now):
            i = next(waiting, None)
            if i is not None:
                trials[i] = study.ask()
                schedule_at(i, 0, now)

        for _ in range(min(workers, len(arms))):
            start_next(0.0)
        while events:
            now, _, i, r, started = heapq.heappop(events)
            if r == len(rungs):
                study.tell(trials[i], arms[i]["accuracy"][-1])
                start_next(now)
            elif step(i, trials[i], r, rungs[r]):
                start_next(now)
            else:
                schedule_at(i, r + 1, started)
    else:
        trials = {i: study.ask() for i in schedule}
        for r, fraction in enumerate(rungs):
            for i in schedule:
                if alive[i]:
                    step(i, trials[i], r, fraction)
        for i in schedule:
            if alive[i]:
                study.tell(trials[i], arms[i]["accuracy"][-1])
    return alive, seen, timings


def replay_reference_halving(arms, rungs, eta=2, sign=1.0):
    """Synchronous successive halving on the last value, as the Rust `SuccessiveHalving`."""
    alive = [True] * len(arms)
    seen = [0] * len(arms)
    for fraction in rungs:
        judged = []
        for i in range(len(arms)):
            if alive[i]:
                seen[i] = seen_at(arms[i], fraction)
                if seen[i] > 0:
                    judged.append(i)
        keep = max(1, math.ceil(len(judged) / eta)) if judged else 0
        # stable: ties keep run-id order
        ranked = sorted(judged, key=lambda i: -sign * arms[i]["accuracy"][seen[i] - 1])
        for i in ranked[keep:]:
            alive[i] = False
    return alive, seen, []


def summarize(name, outcomes, sweeps, skipped, k, rungs):
    """Averages per-sweep outcomes (several per sweep with --seeds) into the summary fields of
    the Rust `ReplaySummary`."""
    n = len(outcomes)

    def mean(field):
        return sum(float(o[field]) for o in outcomes) / n if n else float("nan")

    timings = [t for o in outcomes for t in o.get("timings", [])]
    return {
        "pruner": name,
        "decisions": len(timings),
        "median_decision_ms": 1e3 * statistics.median(timings) if timings else None,
        # The median counts the calls a pruner answers before judging (startup trials, warm-up
        # steps): with a few dozen trials most calls. The 90th percentile is a judged call.
        "p90_decision_ms": (
            1e3 * statistics.quantiles(timings, n=10)[-1] if len(timings) > 1 else None
        ),
        "sweeps": sweeps,
        "skipped": skipped,
        "no_survivor": sum(o["survivors"] == 0 for o in outcomes),
        "mean_compute_fraction": mean("compute_fraction"),
        "mean_regret": mean("regret"),
        "best_survived_rate": mean("best_survived"),
        "mean_top_k_recall": mean("top_k_recall"),
        "k": k,
        "rungs": rungs,
    }


def render_table(summaries):
    """An aligned text table with the columns of the Rust `render_table`."""
    header = [
        "pruner",
        "sweeps",
        "skipped",
        "compute",
        "regret",
        "best kept",
        "top-k recall",
        "decision ms",
        "p90 ms",
    ]
    rows = [
        [
            s["pruner"],
            str(s["sweeps"]),
            str(s["skipped"]),
            f"{s['mean_compute_fraction']:.3f}",
            f"{s['mean_regret']:.4f}",
            f"{s['best_survived_rate']:.3f}",
            f"{s['mean_top_k_recall']:.3f} (k={s['k']})",
            "-" if s.get("median_decision_ms") is None else f"{s['median_decision_ms']:.2f}",
            "-" if s.get("p90_decision_ms") is None else f"{s['p90_decision_ms']:.2f}",
        ]
        for s in summaries
    ]
    widths = [max(len(r[j]) for r in [header] + rows) for j in range(len(header))]
    lines = []
    for r in [header] + rows:
        cells = [c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("curves", help="long-format curve CSV (suite,run,shots,task,tokens,acc,...)")
    ap.add_argument("--task", help="replay only this task (e.g. imagenet1k_acc1)")
    ap.add_argument("--rungs", default="0.2,0.4,0.6,0.8", help="fractions of planned compute")
    ap.add_argument("--k", type=int, default=3, help="k of top-k recall")
    ap.add_argument("--min-arms", type=int, default=4, help="skip sweeps with fewer arms")
    ap.add_argument(
        "--order", choices=["both", "sequential", "interleaved", "parallel"], default="both"
    )
    ap.add_argument("--workers", type=int, default=4, help="trials at once with --order parallel")
    ap.add_argument(
        "--seeds", type=int, default=1, help="average Optuna rows over this many arm orders"
    )
    ap.add_argument(
        "--direction",
        choices=["maximize", "minimize"],
        default="maximize",
        help="the metric's direction; minimize reads it unclamped (a loss)",
    )
    ap.add_argument(
        "--pruners",
        help="comma-separated substrings: replay only the Optuna pruners whose name has one",
    )
    ap.add_argument(
        "--engine", metavar="BUNDLE",
        help="the NeuNeuPruner rows forecast with this bundle (neuneu adapt's, say)",
    )
    ap.add_argument(
        "--losses", metavar="INDEX",
        help="JSON loss index ({run: {compute: .npy}}): trials keep each reported "
        "checkpoint's token losses for the NeuNeuPruner rows",
    )
    ap.add_argument("--json", help="write the summaries here")
    ap.add_argument(
        "--merge", action="append", default=[], help="summaries JSON of the Rust replay"
    )
    args = ap.parse_args()
    global ENGINE_PATH, LOSSES
    ENGINE_PATH = args.engine
    LOSSES = read_loss_index(args.losses) if args.losses else None

    rungs = [float(x) for x in args.rungs.split(",")]
    if not rungs or any(not 0 < f <= 1 for f in rungs) or rungs != sorted(set(rungs)):
        sys.exit("--rungs must be strictly increasing fractions in (0, 1]")
    if args.k < 1 or args.seeds < 1 or args.workers < 1:
        sys.exit("--k, --seeds and --workers must be at least 1")
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    sign = -1.0 if args.direction == "minimize" else 1.0
    sweeps = read_sweeps(args.curves, args.task, bounded=args.direction == "maximize")
    counted = {key: arms for key, arms in sweeps.items() if len(arms) >= args.min_arms}
    skipped = len(sweeps) - len(counted)
    if not counted:
        sys.exit(f"no sweep with at least {args.min_arms} arms ({skipped} skipped)")

    orders = ["sequential", "interleaved"] if args.order == "both" else [args.order]
    # (name, seeds, replay of one sweep under one seed); the reference ignores the arm order.
    def reference(arms, seed):
        return replay_reference_halving(arms, rungs, sign=sign)

    wanted = args.pruners.split(",") if args.pruners else None
    replays = [("reference halving eta=2 last", [0], reference)]
    for name, make in OPTUNA_PRUNERS.items():
        if wanted and not any(w in name for w in wanted):
            continue
        for order in orders:
            replays.append(
                (
                    f"{name} {order}" + (f" x{args.workers}" if order == "parallel" else ""),
                    range(args.seeds),
                    lambda arms, seed, m=make, o=order: replay_optuna(
                        arms, m, rungs, o, seed, args.direction, args.workers
                    ),
                )
            )

    summaries = []
    for path in args.merge:
        with open(path) as f:
            merged = json.load(f)["summaries"]
        for m in merged:
            replayed_on = (m["sweeps"], m["skipped"], m["k"], m["rungs"])
            if replayed_on != (len(counted), skipped, args.k, rungs):
                sys.exit(f"{path}: {m['pruner']} was replayed on other sweeps or options")
        summaries.extend(merged)
    for name, seeds, run in replays:
        outcomes = []
        for arms in counted.values():
            for seed in seeds:
                alive, seen, timings = run(arms, seed)
                outcomes.append({**outcome(arms, alive, seen, args.k, sign), "timings": timings})
        summaries.append(summarize(name, outcomes, len(counted), skipped, args.k, rungs))
        print(f"done: {name}", file=sys.stderr, flush=True)

    task = f" task={args.task}" if args.task else ""
    print(f"{args.curves}{task}: {len(counted)} sweeps")
    print(render_table(summaries))
    if ADAPTS["fitted"]:
        print(
            f"adapting pruner: {ADAPTS['fitted']} models fitted, {ADAPTS['switched']} gone on with "
            "(held-out MAE below the base's), over all seeds"
        )
    if args.json:
        meta = {
            "curves": args.curves,
            "task": args.task,
            "seeds": args.seeds,
            "workers": args.workers,
            "direction": args.direction,
            "optuna": optuna.__version__,
            "adapts": ADAPTS,
        }
        with open(args.json, "w") as f:
            json.dump({**meta, "summaries": summaries}, f, indent=2)


if __name__ == "__main__":
    main()
