#!/usr/bin/env python3
"""Median wall time of one NeuNeuPruner.prune() call in a study of N complete trials (synthetic
saturating curves, 10 reports each) and one running trial at step 3 (docs/results/
optuna-pruner-2026-12-06.md, "Decision time in large studies").

    PYTHONPATH=ffi/python/python python tools/pruner_decision_time.py 800 [prof]

CAL=0 turns the pruner's calibration off; a second argument prints a cProfile of one call.
"""
import time, random, optuna, cProfile, pstats
from neuneu.optuna import NeuNeuPruner
optuna.logging.set_verbosity(optuna.logging.WARNING)
N = int(__import__('sys').argv[1])
rng = random.Random(0)
study = optuna.create_study(direction="maximize")
for i in range(N):
    t = study.ask()
    ceil = rng.uniform(0.3, 0.9); rate = rng.uniform(0.1, 0.5)
    for s in range(1, 11):
        t.report(ceil * (1 - (1 - rate) ** s), s)
    study.tell(t, ceil * (1 - (1 - rate) ** 10))
p = NeuNeuPruner(max_resource=10, calibrate=__import__("os").environ.get("CAL","1")=="1")
t = study.ask()
for s in range(1, 4):
    t.report(0.2 + 0.02 * s, s)
frozen = study.trials[-1]
p.prune(study, frozen)
ts = []
last = study.trials[-1]
for _ in range(5):
    a = time.perf_counter(); p.prune(study, last); ts.append(time.perf_counter() - a)
print(N, "median ms", sorted(ts)[2] * 1e3)
if len(__import__('sys').argv) > 2:
    cProfile.run("p.prune(study, last)", "/tmp/prof")
    pstats.Stats("/tmp/prof").sort_stats("cumtime").print_stats(15)
