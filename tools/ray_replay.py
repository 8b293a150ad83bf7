#!/usr/bin/env python3
"""Replay finished runs through Ray Tune: NeuNeuScheduler against ASHA (issue 24).

Each run of one sweep (a curve file's (suite, shots, task), e.g. ScAn's held-out runs on
imagenet1k_acc1) becomes one Tune trial that replays its curve: at each checkpoint it sleeps in
proportion to the checkpoint's compute, then reports the accuracy. Tune runs the trials
concurrently (--concurrency at a time, in a fixed-seed shuffle of run-id order) and asks the
scheduler after every result, as in a live sweep; a stopped trial reports nothing more.

What is measured follows tools/optuna_replay.py (and the Rust replay) where it applies:
* time_attr is `progress` = 100 * compute / the run's own planned compute (its final checkpoint),
  so that every trial ends at max_t = 100 whatever its budget; both schedulers get
  grace_period = 20 (the replay's first rung, 0.2 of the planned compute);
* compute spent: a trial stopped early spent the compute of its last reported checkpoint, one
  that reached progress 100 its planned compute; compute fraction = spent / sum of planned;
* regret = best final accuracy of all runs - best final accuracy of the runs that reached their
  end; best kept = a run with the best final accuracy reached its end; top-k recall as in
  optuna_replay.py;
* decision time: wall time inside the scheduler's on_trial_result (median and total, driver
  side), per experiment.
Unlike the synchronous replay, decisions are made as results arrive: an early trial is judged
against the few trials that have reported so far, and the outcome depends on the trial order
and on timing (--seeds averages over orders; timing is not controlled).

Usage:
    neuneu heldout ../shared/data/scan-vlm-dev.csv > scan-heldout.csv
    python tools/ray_replay.py scan-heldout.csv --task imagenet1k_acc1 [--seeds 3]
        [--concurrency 8] [--time-scale 0.5] [--json out.json]
"""

import argparse
import contextlib
import json
import os
import random
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from optuna_replay import outcome, read_sweeps  # noqa: E402  the replay protocol's metrics

import ray  # noqa: E402
from ray import tune  # noqa: E402
from ray.tune.schedulers import ASHAScheduler  # noqa: E402

from neuneu.ray import NeuNeuScheduler  # noqa: E402


def timed(scheduler_cls):
    """A subclass that records the wall time of every on_trial_result call."""

    class Timed(scheduler_cls):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.decision_times = []

        def on_trial_result(self, tune_controller, trial, result):
            start = time.perf_counter()
            try:
                return super().on_trial_result(tune_controller, trial, result)
            finally:
                self.decision_times.append(time.perf_counter() - start)

    Timed.__name__ = scheduler_cls.__name__
    return Timed


def neuneu(**kwargs):
    return lambda: timed(NeuNeuScheduler)(
        time_attr="progress", max_t=100, **{"grace_period": 20, **kwargs}
    )


def asha(eta):
    return lambda: timed(ASHAScheduler)(
        time_attr="progress", max_t=100, grace_period=20, reduction_factor=eta
    )


SCHEDULERS = {
    "neuneu defaults (budget 0.01, calibrate, 5 startup)": neuneu(),
    "neuneu calibrate, 5 startup, budget 0.1": neuneu(budget=0.1),
    "neuneu uncalibrated, budget 0.1": neuneu(calibrate=False, n_startup_trials=0),
    "neuneu uncalibrated, budget 0.03": neuneu(
        calibrate=False, n_startup_trials=0, budget=0.03
    ),
    "neuneu uncalibrated, budget 0.01": neuneu(
        calibrate=False, n_startup_trials=0, budget=0.01
    ),
    "neuneu uncalibrated, budget 0.1, grace 40": neuneu(
        calibrate=False, n_startup_trials=0, grace_period=40
    ),
    "neuneu calibrate, 0 startup": neuneu(n_startup_trials=0),
    "ASHA eta=2": asha(2),
    "ASHA eta=4 (Ray's default)": asha(4),
}


def make_trainable(arms, seconds_per_unit):
    def replay(config):
        arm = arms[config["arm"]]
        planned, previous = arm["compute"][-1], 0.0
        for i, (compute, acc) in enumerate(zip(arm["compute"], arm["accuracy"])):
            time.sleep((compute - previous) * seconds_per_unit)
            previous = compute
            tune.report(
                {"acc": acc, "progress": 100.0 * compute / planned, "checkpoint": i + 1}
            )

    return replay


def run_experiment(arms, make_scheduler, order, args, storage):
    """One Tune experiment; returns (alive, seen, decision_times) in the arms' order."""
    mean_planned = statistics.fmean(a["compute"][-1] for a in arms)
    trainable = make_trainable(arms, args.time_scale / mean_planned)
    scheduler = make_scheduler()
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 2.0 / args.concurrency}),
        param_space={"arm": tune.grid_search(order)},
        tune_config=tune.TuneConfig(
            metric="acc", mode="max", scheduler=scheduler, reuse_actors=True
        ),
        run_config=tune.RunConfig(storage_path=storage, verbose=0),
    )
    with contextlib.redirect_stdout(sys.stderr):  # Tune's banner
        results = tuner.fit()
    if results.errors:
        raise RuntimeError(f"{len(results.errors)} trials failed: {results.errors[0]}")
    alive, seen, reasons = [False] * len(arms), [0] * len(arms), {}
    stopped = getattr(scheduler, "stopped", {})
    for r in results:
        i = r.config["arm"]
        seen[i] = r.metrics["checkpoint"]
        alive[i] = seen[i] == len(arms[i]["compute"])
        if r.metrics["trial_id"] in stopped:
            reasons[arms[i]["run"]] = stopped[r.metrics["trial_id"]]
    return alive, seen, scheduler.decision_times, reasons


def summarize(name, rows, k):
    n = len(rows)
    times = [t for r in rows for t in r["decision_times"]]
    return {
        "scheduler": name,
        "experiments": n,
        "mean_compute_fraction": sum(r["compute_fraction"] for r in rows) / n,
        "mean_regret": sum(r["regret"] for r in rows) / n,
        "best_survived_rate": sum(r["best_survived"] for r in rows) / n,
        "mean_top_k_recall": sum(r["top_k_recall"] for r in rows) / n,
        "k": k,
        "mean_survivors": sum(r["survivors"] for r in rows) / n,
        "decisions": len(times),
        "median_decision_ms": 1e3 * statistics.median(times),
        "mean_total_decision_s": sum(times) / n,
        "mean_wall_s": sum(r["wall_s"] for r in rows) / n,
    }


def render(summaries):
    header = ["scheduler", "seeds", "compute", "regret", "best kept", "top-k recall",
              "survivors", "decision median", "decisions total", "wall"]
    lines = [header]
    for s in summaries:
        lines.append([
            s["scheduler"],
            str(s["experiments"]),
            f"{s['mean_compute_fraction']:.3f}",
            f"{s['mean_regret']:.4f}",
            f"{s['best_survived_rate']:.2f}",
            f"{s['mean_top_k_recall']:.3f} (k={s['k']})",
            f"{s['mean_survivors']:.1f}",
            f"{s['median_decision_ms']:.3f} ms",
            f"{s['mean_total_decision_s']:.2f} s",
            f"{s['mean_wall_s']:.0f} s",
        ])
    out = ["| " + " | ".join(lines[0]) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in lines[1:]]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("curves", help="long-format curve CSV (e.g. from `neuneu heldout`)")
    ap.add_argument("--task", default="imagenet1k_acc1")
    ap.add_argument("--seeds", type=int, default=1, help="trial orders 0..N-1")
    ap.add_argument("--concurrency", type=int, default=8, help="trials running at once")
    ap.add_argument("--time-scale", type=float, default=0.5,
                    help="seconds of sleep for a run of the mean planned compute")
    ap.add_argument("--k", type=int, default=3, help="k of top-k recall")
    ap.add_argument("--only", action="append", help="run only these schedulers (names)")
    ap.add_argument("--json", help="write the summaries here")
    args = ap.parse_args()

    sweeps = read_sweeps(args.curves, args.task)
    if len(sweeps) != 1:
        sys.exit(f"expected one sweep for task {args.task}, found {len(sweeps)}")
    (key, arms), = sweeps.items()
    print(f"{args.curves} {key}: {len(arms)} runs, "
          f"{sum(len(a['compute']) for a in arms)} checkpoints", file=sys.stderr)

    # Tune's per-trial loggers (json, csv, TensorBoard) cost more than the replay itself.
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 1024**2,
             log_to_driver=False, configure_logging=False)
    names = args.only or list(SCHEDULERS)
    rows = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as storage:
        for seed in range(args.seeds):
            order = list(range(len(arms)))
            random.Random(seed).shuffle(order)
            for name in names:
                start = time.perf_counter()
                alive, seen, times, reasons = run_experiment(
                    arms, SCHEDULERS[name], order, args, storage
                )
                row = outcome(arms, alive, seen, args.k)
                row.update(decision_times=times, wall_s=time.perf_counter() - start, seed=seed)
                # Why the best runs were stopped, where they were (neuneu's reasons).
                best = sorted(range(len(arms)), key=lambda i: -arms[i]["accuracy"][-1])[:args.k]
                row["top_k_stopped"] = {
                    arms[i]["run"]: reasons.get(arms[i]["run"], "stopped")
                    for i in best if not alive[i]
                }
                rows[name].append(row)
                print(f"seed {seed} {name}: compute {row['compute_fraction']:.3f} regret "
                      f"{row['regret']:.4f} best kept {row['best_survived']} survivors "
                      f"{row['survivors']} ({row['wall_s']:.0f} s)", file=sys.stderr, flush=True)
    ray.shutdown()

    summaries = [summarize(name, rows[name], args.k) for name in names]
    print(render(summaries))
    if args.json:
        per_run = {n: [{k: v for k, v in r.items() if k != "decision_times"} for r in rs]
                   for n, rs in rows.items()}
        with open(args.json, "w") as f:
            json.dump({"curves": args.curves, "task": args.task, "seeds": args.seeds,
                       "concurrency": args.concurrency, "time_scale": args.time_scale,
                       "ray": ray.__version__, "summaries": summaries, "runs": per_run},
                      f, indent=2)


if __name__ == "__main__":
    main()
