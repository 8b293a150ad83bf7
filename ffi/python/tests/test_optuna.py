"""NeuNeuPruner in real Optuna studies: in memory, a minimized loss, and an SQLite storage shared
by two worker processes; the README's example; bad settings refused.

Trials replay hand-made curves whose final value grows with the trial's parameter `x`, so the
best trial is known: the pruner must stop some of the clearly worse trials and never the best.
"""

import logging
import math
import multiprocessing
import re
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

from neuneu.errors import InvalidArgumentError  # noqa: E402
from neuneu.optuna import NeuNeuPruner  # noqa: E402

MAX_RESOURCE = 10
README = Path(__file__).resolve().parents[3] / "README.md"


def accuracy(x, step):
    """Rises towards a ceiling set by x in [0, 1]: 0.35 for x = 0, 0.85 for x = 1."""
    ceiling = 0.35 + 0.5 * x
    return ceiling * (1.0 - math.exp(-0.35 * step)) + 0.05


def loss(x, step):
    """Falls towards a floor set by x: 1.2 for x = 1, 2.7 for x = 0."""
    floor = 2.7 - 1.5 * x
    return floor + 2.0 * math.exp(-0.4 * step)


def objective_for(curve):
    def objective(trial):
        x = trial.suggest_float("x", 0.0, 1.0)
        value = None
        for step in range(1, MAX_RESOURCE + 1):
            value = curve(x, step)
            trial.report(value, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return value

    return objective


def by_state(study):
    states = {}
    for t in study.trials:
        states.setdefault(t.state, []).append(t)
    return states


def check_pruned_the_worse(study, n_trials):
    states = by_state(study)
    pruned = states.get(optuna.trial.TrialState.PRUNED, [])
    complete = states.get(optuna.trial.TrialState.COMPLETE, [])
    assert len(pruned) + len(complete) == n_trials, states.keys()
    assert len(pruned) >= n_trials // 4, f"only {len(pruned)} of {n_trials} pruned"
    # The trial with the largest x has the best curve at every step: never pruned.
    best = max(study.trials, key=lambda t: t.params["x"])
    assert best.state == optuna.trial.TrialState.COMPLETE, best
    # Pruned trials stopped before their end, and their curves were worse than the best one.
    for t in pruned:
        assert t.last_step < MAX_RESOURCE
        assert t.params["x"] < best.params["x"]
    return pruned, complete


def test_an_in_memory_study_prunes_the_worse_trials_and_keeps_the_best(caplog):
    pruner = NeuNeuPruner(max_resource=MAX_RESOURCE)
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.RandomSampler(seed=3), pruner=pruner
    )
    with caplog.at_level(logging.INFO, logger="neuneu.optuna"):
        study.optimize(objective_for(accuracy), n_trials=30)
    pruned, complete = check_pruned_the_worse(study, 30)
    # What was pruned is worse on average than what ran to the end.
    mean = lambda ts: sum(t.params["x"] for t in ts) / len(ts)  # noqa: E731
    assert mean(pruned) < mean(complete)
    # Every pruned trial, and only those, has the sweep's reason, at the step it was pruned,
    # in `pruned` and in the log.
    assert sorted(pruner.pruned) == sorted(t.number for t in pruned)
    logged = [r.getMessage() for r in caplog.records if r.name == "neuneu.optuna"]
    assert len(logged) == len(pruned)
    for t in pruned:
        reason = pruner.pruned[t.number]
        assert reason.startswith(f"step {t.last_step} of {MAX_RESOURCE}: stop: "), reason
        assert "chance of reaching the top 1" in reason, reason
        assert f"NeuNeuPruner prunes trial {t.number} at {reason}" in logged


def test_a_minimized_loss_is_pruned_in_its_own_direction():
    study = optuna.create_study(
        direction="minimize",
        sampler=optuna.samplers.RandomSampler(seed=5),
        pruner=NeuNeuPruner(max_resource=MAX_RESOURCE),
    )
    study.optimize(objective_for(loss), n_trials=30)
    check_pruned_the_worse(study, 30)
    # With the direction reversed the same curves would keep the worst: a check that the
    # direction reaches the sweep (the best trial minimizes the loss).
    assert study.best_trial.params["x"] == max(t.params["x"] for t in study.trials)


def test_warm_up_and_startup_trials_hold_pruning_back():
    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=3),
        pruner=NeuNeuPruner(max_resource=MAX_RESOURCE, n_warmup_steps=6, n_startup_trials=4),
    )
    study.optimize(objective_for(accuracy), n_trials=20)
    trials = study.trials
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials[:4])
    assert all(t.last_step >= 6 for t in trials)
    assert any(t.state == optuna.trial.TrialState.PRUNED for t in trials)


def test_steps_past_max_resource_are_not_pruned_and_warn_once():
    """A study reporting in other units than max_resource (epochs 1-30 against 10): no trial is
    pruned past step 10, and the user is told why, once."""

    def objective(trial):
        x = trial.suggest_float("x", 0.0, 1.0)
        for step in range(1, 31):
            trial.report(accuracy(x, step / 3), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return accuracy(x, 10)

    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=3),
        pruner=NeuNeuPruner(max_resource=MAX_RESOURCE),
    )
    with pytest.warns(UserWarning, match="past max_resource=10") as caught:
        study.optimize(objective, n_trials=12)
    assert sum("past max_resource" in str(w.message) for w in caught) == 1
    assert all(t.last_step <= MAX_RESOURCE for t in by_state(study).get(optuna.trial.TrialState.PRUNED, []))


def test_threads_of_one_process_share_a_pruner():
    """`study.optimize(n_jobs=4)`: Optuna's threads call one pruner at once."""
    pruner = NeuNeuPruner(max_resource=MAX_RESOURCE)
    study = optuna.create_study(
        direction="maximize", sampler=optuna.samplers.RandomSampler(seed=7), pruner=pruner
    )
    study.optimize(objective_for(accuracy), n_trials=40, n_jobs=4)
    pruned, _ = check_pruned_the_worse(study, 40)
    assert sorted(pruner.pruned) == sorted(t.number for t in pruned)


def _worker(storage, name, n_trials, seed):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(
        study_name=name,
        storage=storage,
        sampler=optuna.samplers.RandomSampler(seed=seed),
        pruner=NeuNeuPruner(max_resource=MAX_RESOURCE),
    )
    study.optimize(objective_for(accuracy), n_trials=n_trials)


def test_two_worker_processes_share_an_sqlite_study(tmp_path):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    optuna.create_study(study_name="shared", storage=storage, direction="maximize")
    # "spawn": fresh interpreters, as separate worker machines would be.
    ctx = multiprocessing.get_context("spawn")
    workers = [
        ctx.Process(target=_worker, args=(storage, "shared", 15, seed)) for seed in (1, 2)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=300)
        assert w.exitcode == 0, f"worker exited with {w.exitcode}"
    study = optuna.load_study(study_name="shared", storage=storage)
    check_pruned_the_worse(study, 30)


def test_token_losses_round_trip_through_an_sqlite_storage(tmp_path):
    """The most losses a checkpoint keeps, written through one connection to an SQLite storage
    and read through another, reach the pruner's sweep as they were given (to float16)."""
    import numpy as np

    from neuneu.optuna import MAX_REPORTED_LOSSES, _losses, report_losses

    storage = f"sqlite:///{tmp_path / 'losses.db'}"
    writer = optuna.create_study(study_name="losses", storage=storage, direction="maximize")
    given = np.random.default_rng(0).gamma(2.0, 1.0, MAX_REPORTED_LOSSES).astype(np.float32)
    for number in range(6):
        trial = writer.ask()
        for step in range(1, MAX_RESOURCE + 1):
            trial.report(accuracy(number / 5, step), step)
            report_losses(trial, step, given)
        if number < 5:
            writer.tell(trial, accuracy(number / 5, MAX_RESOURCE))
    reader = optuna.load_study(study_name="losses", storage=storage)
    running = reader.trials[-1]
    read = _losses(running, [float(MAX_RESOURCE)])[float(MAX_RESOURCE)]
    np.testing.assert_array_equal(read, given.astype(np.float16).astype(np.float32))
    # A decision on the stored study hands the pruner's sweep these losses and keeps the best
    # trial (whether the losses change decisions: test_adapt's judged trials).
    assert not NeuNeuPruner(max_resource=MAX_RESOURCE + 1).prune(reader, running)


def test_the_readme_example_prunes_trials():
    """The README's Optuna example, as printed there (its `train_one_epoch` is a stand-in)."""
    text = README.read_text()
    block = re.search(r"```python\n(.*?)```", text, re.S)
    assert block, "the README has a python example"
    namespace = {}
    exec(compile(block.group(1), str(README), "exec"), namespace)
    study = namespace["study"]
    states = {t.state for t in study.trials}
    assert optuna.trial.TrialState.PRUNED in states, states


def test_bad_settings_are_refused_with_clear_errors():
    with pytest.raises(InvalidArgumentError, match="max_resource"):
        NeuNeuPruner(max_resource=0)
    with pytest.raises(ValueError, match="metric_kind"):
        NeuNeuPruner(max_resource=10, metric_kind="probability")
    with pytest.raises(ValueError, match="k: must be at least 1|policy"):
        NeuNeuPruner(max_resource=10, policy={"kind": "keep_top_k", "k": 0})
    with pytest.raises(InvalidArgumentError, match="seed: -1"):  # now, not at the first report
        NeuNeuPruner(max_resource=10, seed=-1)

    def both_signs(trial):
        for step in range(1, 4):
            trial.report(1.5 - step, step)  # 0.5, -0.5, -1.5
            trial.should_prune()
        return -1.5

    study = optuna.create_study(pruner=NeuNeuPruner(max_resource=3, n_startup_trials=1))
    study.optimize(both_signs, n_trials=1)  # the first trial: nothing complete, nothing judged
    with pytest.raises(InvalidArgumentError, match="both negative and positive"):
        study.optimize(both_signs, n_trials=1, catch=())

    # Optuna refuses reports in multi-objective studies; a direct call is refused here too.
    multi = optuna.create_study(directions=["maximize", "minimize"])
    multi.ask()
    frozen = multi.trials[0]
    frozen.intermediate_values = {1: 0.5}
    with pytest.raises(InvalidArgumentError, match="multi-objective"):
        NeuNeuPruner(max_resource=3).prune(multi, frozen)


DATA = Path(__file__).resolve().parent / "data"


def read_curves(path):
    """run -> losses at its checkpoints in step order (a long-format curve file)."""
    import csv

    curves = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            curves.setdefault(row["run"], []).append((int(row["step"]), float(row["acc"])))
    return {run: [v for _, v in sorted(points)] for run, points in curves.items()}


def test_a_real_sweep_replayed_from_its_curve_file():
    """The 45 runs of the Shakespeare sweep's validation loss (from ../shared/data, copied
    here), one trial each in a shuffled order, checkpoints 1-11 as steps (checkpoint 0 is the
    untrained model): the pruner stops many runs early and what it stops is worse."""
    curves = read_curves(DATA / "shakespeare-val-loss.csv")
    runs = sorted(curves)

    def objective(trial):
        losses = curves[runs[trial.number]]
        for step in range(1, len(losses)):
            trial.report(losses[step], step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return losses[-1]

    import random

    random.Random(0).shuffle(runs)
    study = optuna.create_study(
        direction="minimize", pruner=NeuNeuPruner(max_resource=len(curves[runs[0]]) - 1)
    )
    study.optimize(objective, n_trials=len(runs))
    states = by_state(study)
    pruned = states.get(optuna.trial.TrialState.PRUNED, [])
    complete = states.get(optuna.trial.TrialState.COMPLETE, [])
    assert len(pruned) >= len(runs) // 2, f"{len(pruned)} of {len(runs)} pruned"
    final = lambda t: curves[runs[t.number]][-1]  # noqa: E731
    mean = lambda ts: sum(map(final, ts)) / len(ts)  # noqa: E731
    assert mean(pruned) > mean(complete)
    # The best loss of the trials that ran to the end is near the sweep's best (nats).
    assert min(map(final, complete)) - min(map(final, study.trials)) < 0.05


def replay_study(curves, runs, sign, direction, metric_kind=None):
    """Replays `runs` (one trial each, in order) with every value multiplied by `sign`; returns
    each trial's state and last step."""

    def objective(trial):
        losses = curves[runs[trial.number]]
        for step in range(1, len(losses)):
            trial.report(sign * losses[step], step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return sign * losses[-1]

    pruner = NeuNeuPruner(max_resource=len(curves[runs[0]]) - 1, metric_kind=metric_kind)
    study = optuna.create_study(direction=direction, pruner=pruner)
    study.optimize(objective, n_trials=len(runs))
    return [(t.state, t.last_step) for t in study.trials]


def test_a_negated_loss_is_pruned_as_the_loss_is():
    """scikit-learn's neg_* scorers report a loss negated and maximized: the pruner reads such a
    study as a `neg_loss` and decides exactly what it decides on the loss, minimized."""
    curves = read_curves(DATA / "shakespeare-val-loss.csv")
    runs = sorted(curves)[:24]
    import random

    random.Random(1).shuffle(runs)
    as_loss = replay_study(curves, runs, 1.0, "minimize")
    as_negated = replay_study(curves, runs, -1.0, "maximize")
    assert as_negated == as_loss
    assert sum(state == optuna.trial.TrialState.PRUNED for state, _ in as_loss) >= 6
    # Named, not detected: the same decisions.
    assert replay_study(curves, runs, -1.0, "maximize", metric_kind="neg_loss") == as_loss


def sgd_epochs(alpha, eta0, epochs=10):
    """Validation accuracy of a linear classifier (SGD on scikit-learn's digits) per epoch."""
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.linear_model import SGDClassifier
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(X / 16.0, y, test_size=0.3, random_state=0)
    clf = SGDClassifier(alpha=alpha, learning_rate="constant", eta0=eta0, random_state=0)
    for epoch in range(1, epochs + 1):
        clf.partial_fit(X_train, y_train, classes=np.arange(10))
        yield epoch, clf.score(X_val, y_val)


def test_a_study_that_really_trains_a_classifier():
    pytest.importorskip("sklearn")

    def objective(trial):
        eta0 = trial.suggest_float("eta0", 1e-6, 1e-1, log=True)
        accuracy = 0.0
        for epoch, accuracy in sgd_epochs(1e-4, eta0):
            trial.report(accuracy, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return accuracy

    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.RandomSampler(seed=0),
        pruner=NeuNeuPruner(max_resource=10),
    )
    study.optimize(objective, n_trials=25)
    states = by_state(study)
    pruned = states.get(optuna.trial.TrialState.PRUNED, [])
    assert pruned, "nothing pruned"
    # Every pruned trial would have ended below the best complete one (trained out here).
    finals = {t.number: list(sgd_epochs(1e-4, t.params["eta0"]))[-1][1] for t in pruned}
    assert all(v < study.best_value for v in finals.values()), (finals, study.best_value)
