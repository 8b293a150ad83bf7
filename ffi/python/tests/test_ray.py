"""NeuNeuScheduler in real Ray Tune experiments on the local machine.

Trials that replay hand-made curves (accuracy maximized, a loss minimized), one that trains a
scikit-learn classifier epoch by epoch, a save/restore round trip of the scheduler state, and
``Tuner.restore`` of a failed experiment carrying the sweep through Tune's checkpoints.
Several trials run at once (0.5 CPU each), so results interleave as Tune delivers them; the
assertions hold for any interleaving.
"""

import math
import pickle
import sys
import textwrap
import time
from types import SimpleNamespace

import numpy as np
import pytest

ray = pytest.importorskip("ray")
tune = pytest.importorskip("ray.tune")

import conftest  # noqa: E402
import neuneu.ray  # noqa: E402
from conftest import crossing, jump_losses, jumping  # noqa: E402
from neuneu.ray import NeuNeuScheduler  # noqa: E402
from ray.tune.schedulers import TrialScheduler  # noqa: E402

MAX_T = 20
# Ray's workers do not see this directory: send the trainables defined here by value.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
ray.cloudpickle.register_pickle_by_value(conftest)


@pytest.fixture(scope="module", autouse=True)
def ray_cluster():
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=80 * 1024**2,
        log_to_driver=False,
        configure_logging=False,
    )
    yield
    ray.shutdown()


def run(trainable, param_space, scheduler, storage, mode="max", metric="acc", **run_kwargs):
    """Runs an experiment with the metric and mode given through TuneConfig (as users do)."""
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 0.5}),
        param_space=param_space,
        tune_config=tune.TuneConfig(
            metric=metric, mode=mode, scheduler=scheduler, reuse_actors=True
        ),
        run_config=tune.RunConfig(storage_path=str(storage), verbose=0, **run_kwargs),
    )
    return tuner.fit()


def accuracy(final, t):
    """A power-law accuracy curve that reaches `final` at MAX_T."""
    return final - 0.3 * (t**-0.5 - MAX_T**-0.5)


def replay_accuracy(config):
    for t in range(1, MAX_T + 1):
        time.sleep(0.02)
        tune.report({"acc": accuracy(config["final"], t), "epoch": t})


# Trials start in this order; the best (0.85) is second, clearly bad ones come later.
FINALS = [0.6, 0.85, 0.35, 0.7, 0.4, 0.5, 0.45, 0.65]


def by_config(results, key):
    return {r.config[key]: r for r in results}


@pytest.fixture(scope="module")
def accuracy_run(tmp_path_factory):
    scheduler = NeuNeuScheduler(
        time_attr="epoch", max_t=MAX_T, grace_period=3, n_startup_trials=0
    )
    results = run(
        replay_accuracy,
        {"final": tune.grid_search(FINALS)},
        scheduler,
        tmp_path_factory.mktemp("acc"),
    )
    return scheduler, results


def test_replayed_curves_stop_bad_trials_and_keep_the_best(accuracy_run):
    scheduler, results = accuracy_run
    assert not results.errors
    trials = by_config(results, "final")
    epochs = {final: r.metrics["epoch"] for final, r in trials.items()}
    assert epochs[0.85] == MAX_T, epochs  # the best ran to its end
    stopped_bad = [f for f in (0.35, 0.4, 0.45, 0.5) if epochs[f] < MAX_T]
    assert len(stopped_bad) >= 3, epochs
    assert len(scheduler.stopped) == sum(e < MAX_T for e in epochs.values())
    # Each stopped trial's reason names the step it was stopped at and the sweep's verdict.
    for final, r in trials.items():
        if epochs[final] < MAX_T:
            reason = scheduler.stopped[r.metrics["trial_id"]]
            assert reason.startswith(f"epoch {epochs[final]} of {MAX_T}: stop: "), reason
    # The sweep agrees with Tune: stopped trials stopped, the others finished.
    sweep = scheduler.sweep
    for final, r in trials.items():
        want = "finished" if epochs[final] == MAX_T else "stopped"
        assert sweep.status(r.metrics["trial_id"]) == want
    assert "stopped early" in scheduler.debug_string()
    assert results.get_best_result().config["final"] == 0.85


def test_save_restore_round_trip(accuracy_run, tmp_path):
    scheduler, _ = accuracy_run
    path = tmp_path / "scheduler.pkl"
    scheduler.save(str(path))
    restored = NeuNeuScheduler()
    restored.restore(str(path))
    assert restored.stopped == scheduler.stopped
    assert restored.sweep.arms == scheduler.sweep.arms
    assert restored.sweep.decisions_made == scheduler.sweep.decisions_made
    assert restored.debug_string() == scheduler.debug_string()
    # Both make the same decisions from here: a new trial, mediocre then hopeless.
    copy = pickle.loads(pickle.dumps(scheduler))  # Tune pickles the scheduler too
    for s in (scheduler, restored, copy):
        s.on_trial_add(None, SimpleNamespace(trial_id="new"))
    answers = []
    for s in (scheduler, restored, copy):
        out = []
        for t in range(1, 6):
            result = {"epoch": t, "acc": accuracy(0.3, t)}
            out.append(s.on_trial_result(None, SimpleNamespace(trial_id="new"), result))
        answers.append((out, s.stopped.get("new")))
    assert answers[0] == answers[1] == answers[2]
    out, reason = answers[0]
    assert out[-1] == "STOP"
    assert reason.startswith(f"epoch {out.index('STOP') + 1} of {MAX_T}: stop: "), reason


def loss(floor, t):
    return floor + 2.0 * t**-0.5


def replay_loss(config):
    for t in range(1, MAX_T + 1):
        time.sleep(0.02)
        tune.report({"loss": loss(config["floor"], t), "epoch": t})


def test_minimized_loss(tmp_path):
    scheduler = NeuNeuScheduler(
        time_attr="epoch", max_t=MAX_T, grace_period=3, n_startup_trials=0
    )
    floors = [2.5, 2.0, 3.5, 2.2, 4.0, 3.0]
    results = run(
        replay_loss,
        {"floor": tune.grid_search(floors)},
        scheduler,
        tmp_path,
        mode="min",
        metric="loss",
    )
    assert not results.errors
    assert scheduler.sweep.options["metric"] == {"kind": "loss", "direction": "minimize"}
    epochs = {f: r.metrics["epoch"] for f, r in by_config(results, "floor").items()}
    assert epochs[2.0] == MAX_T, epochs
    assert epochs[4.0] < MAX_T and epochs[3.5] < MAX_T, epochs
    assert results.get_best_result().config["floor"] == 2.0


def test_a_negated_loss_decides_as_the_loss():
    """A maximized negated loss (metric_kind="neg_loss", as scikit-learn's neg_* scorers
    report, or no kind: its negative first value chooses it) gets the decisions the minimized
    loss gets, result by result (driven directly, as Tune calls the scheduler)."""
    floors = [2.5, 2.0, 3.5, 2.2, 4.0, 3.0]
    common = dict(time_attr="epoch", max_t=MAX_T, grace_period=3, n_startup_trials=0)
    as_loss = NeuNeuScheduler(metric="loss", mode="min", **common)
    as_negated = NeuNeuScheduler(metric="neg", mode="max", metric_kind="neg_loss", **common)
    unnamed = NeuNeuScheduler(metric="neg", mode="max", **common)
    trials = [SimpleNamespace(trial_id=f"t{i}") for i in range(len(floors))]
    for trial in trials:
        for scheduler in (as_loss, as_negated, unnamed):
            scheduler.on_trial_add(None, trial)
    live = set(range(len(floors)))
    actions = []
    for t in range(1, MAX_T + 1):
        for i in sorted(live):
            v = loss(floors[i], t)
            a = as_loss.on_trial_result(None, trials[i], {"loss": v, "epoch": t})
            b = as_negated.on_trial_result(None, trials[i], {"neg": -v, "epoch": t})
            c = unnamed.on_trial_result(None, trials[i], {"neg": -v, "epoch": t})
            assert a == b == c, (i, t)
            actions.append((t, a))
            if a == TrialScheduler.STOP:
                live.discard(i)
    assert any(a == TrialScheduler.STOP and t < MAX_T for t, a in actions), actions
    for scheduler in (as_negated, unnamed):
        assert scheduler.sweep.options["metric"] == {"kind": "neg_loss", "direction": "maximize"}
    with pytest.raises(ValueError, match="neg_loss"):
        NeuNeuScheduler(metric_kind="log_loss")


@pytest.mark.parametrize(
    "mode, first, kind",
    [
        ("max", 0.4, "bounded"),  # an accuracy
        ("max", 0.0, "bounded"),
        ("max", 37.5, "loss"),  # a non-negative score without a bound (a reward)
        ("max", -0.7, "neg_loss"),  # scikit-learn's neg_log_loss
        ("min", 0.4, "loss"),  # a loss that starts below 1 may rise past it
        ("min", -2.0, "neg_loss"),
    ],
)
def test_the_first_result_fixes_the_metric_kind(mode, first, kind):
    scheduler = NeuNeuScheduler(metric="m", mode=mode, time_attr="epoch", max_t=10)
    trial = SimpleNamespace(trial_id="t")
    scheduler.on_trial_add(None, trial)
    assert scheduler.sweep is None  # no value seen yet
    scheduler.on_trial_result(None, trial, {"epoch": 1, "m": first})
    direction = {"max": "maximize", "min": "minimize"}[mode]
    assert scheduler.sweep.options["metric"] == {"kind": kind, "direction": direction}
    # The kind holds for the whole experiment: a value outside it is an error naming it.
    outside = {"bounded": 1.5, "loss": -1.0, "neg_loss": 1.0}[kind]
    with pytest.raises(neuneu.InvalidInputError, match=f"as {kind} from the first result"):
        scheduler.on_trial_result(None, SimpleNamespace(trial_id="u"), {"epoch": 1, "m": outside})


def test_adapt_to_results_reads_the_kind_the_scheduler_would(monkeypatch):
    """Without a metric_kind, adapt_to_results reads an experiment's values as the scheduler
    reads its first result (a negated loss as neg_loss, a minimized value below 1 as a loss);
    a named kind, neg_loss included, is passed on (the fit itself is neuneu.adapt's, tested
    there: captured here)."""
    pd = pytest.importorskip("pandas")
    fitted = []
    monkeypatch.setattr(neuneu.ray, "adapt", lambda runs, **kw: fitted.append(kw["metric"]))

    def grid(values):
        frame = pd.DataFrame({"epoch": [1, 2, 3], "m": values})
        return [SimpleNamespace(metrics_dataframe=frame, metrics={"trial_id": "t"})]

    for values, mode, kind in [
        ([-0.9, -0.6, -0.5], "max", None),
        ([0.9, 0.6, 0.5], "min", None),
        ([0.5, 0.6, 0.7], "max", None),
        ([-0.9, -0.6, -0.5], "max", "neg_loss"),
    ]:
        neuneu.ray.adapt_to_results(
            grid(values), metric="m", mode=mode, time_attr="epoch", max_t=3, metric_kind=kind
        )
    assert fitted == ["neg_loss", "loss", "bounded", "neg_loss"]
    with pytest.raises(neuneu.InvalidArgumentError, match="adapt_to_results: .*both negative"):
        neuneu.ray.adapt_to_results(grid([-0.5, 0.1, 0.5]), metric="m", mode="max",
                                    time_attr="epoch", max_t=3)


def load_digits_split():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.3, random_state=0)


EPOCHS = 15


def sgd_curve(eta0, report=None):
    """Validation accuracy of a linear SVM (SGD) after each epoch; deterministic."""
    import numpy as np
    from sklearn.linear_model import SGDClassifier

    X_train, X_val, y_train, y_val = load_digits_split()
    clf = SGDClassifier(learning_rate="constant", eta0=eta0, random_state=0)
    curve = []
    for epoch in range(1, EPOCHS + 1):
        clf.partial_fit(X_train, y_train, classes=np.arange(10))
        curve.append(clf.score(X_val, y_val))
        if report:
            report({"val_acc": curve[-1], "epoch": epoch})
    return curve


def train_sgd(config):
    sgd_curve(config["eta0"], report=tune.report)


def test_trains_sklearn_and_stops_poor_learning_rates(tmp_path):
    etas = [1e-3, 3e-2, 1e-5, 3e-4, 1e-4, 3e-5, 1e-2]
    finals = {eta: sgd_curve(eta)[-1] for eta in etas}  # ground truth, here in the driver
    best = max(etas, key=finals.get)
    scheduler = NeuNeuScheduler(
        time_attr="epoch", max_t=EPOCHS, grace_period=2, n_startup_trials=0
    )
    results = run(
        train_sgd, {"eta0": tune.grid_search(etas)}, scheduler, tmp_path, metric="val_acc"
    )
    assert not results.errors
    trials = by_config(results, "eta0")
    epochs = {eta: r.metrics["epoch"] for eta, r in trials.items()}
    assert epochs[best] == EPOCHS, epochs  # the truly best learning rate was kept
    stopped = [eta for eta, e in epochs.items() if e < EPOCHS]
    assert stopped, epochs
    assert all(finals[eta] < finals[best] for eta in stopped)
    assert sum(epochs.values()) < len(etas) * EPOCHS
    assert results.get_best_result().config["eta0"] == best


def replay_failing_once(config):
    for t in range(1, MAX_T + 1):
        if config["final"] < 0.5 and t == 2 and not config["marker"].exists():
            config["marker"].touch()
            raise RuntimeError("fails once")
        tune.report({"acc": accuracy(config["final"], t), "epoch": t})


def test_tuner_restore_resumes_the_sweep(tmp_path):
    """A failed trial rerun by Tuner.restore is judged against the trials of the first run,
    which it only knows through the state the checkpoint callback kept."""
    scheduler = NeuNeuScheduler(
        time_attr="epoch", max_t=MAX_T, grace_period=3, n_startup_trials=0
    )
    space = {"final": tune.grid_search([0.8, 0.75, 0.3]), "marker": tmp_path / "failed"}
    first = run(
        replay_failing_once,
        space,
        scheduler,
        tmp_path,
        name="restore",
        callbacks=[scheduler.checkpoint_callback()],
    )
    assert len(first.errors) == 1
    tuner = tune.Tuner.restore(
        str(tmp_path / "restore"),
        trainable=tune.with_resources(replay_failing_once, {"cpu": 0.5}),
        resume_errored=True,
    )
    second = tuner.fit()
    assert not second.errors
    epochs = {f: r.metrics["epoch"] for f, r in by_config(second, "final").items()}
    assert epochs[0.8] == MAX_T
    # Alone, the rerun could not be stopped (no other arm); with the restored sweep it is.
    assert epochs[0.3] < MAX_T, epochs


def test_bad_settings_are_clear_errors():
    scheduler = NeuNeuScheduler(metric="acc", mode="max", time_attr="epoch", max_t=10)
    trial = SimpleNamespace(trial_id="t")
    scheduler.on_trial_add(None, trial)
    with pytest.raises(ValueError, match="cannot find 'acc'"):
        scheduler.on_trial_result(None, trial, {"epoch": 1, "accuracy": 0.5})
    with pytest.raises(ValueError, match="no valid `metric`"):
        NeuNeuScheduler(max_t=10).on_trial_add(None, trial)
    scheduler.on_trial_result(None, trial, {"epoch": 1, "acc": 0.5})
    assert math.isclose(scheduler.sweep.options["end_step"], 10.0)
    with pytest.raises(ValueError, match="metric_kind 'log_loss'"):
        neuneu.ray.adapt_to_results(None, metric="acc", mode="max", max_t=10,
                                    metric_kind="log_loss")
    with pytest.raises(ValueError, match="policy"):
        NeuNeuScheduler(policy={"kind": "nope"})
    with pytest.raises(ValueError, match="seed: -1"):  # now, not at the first trial
        NeuNeuScheduler(seed=-1)


def test_docstring_example(tmp_path, monkeypatch):
    """The example of neuneu.ray's docstring, as written (the scheduler's defaults)."""
    doc = neuneu.ray.__doc__
    code = textwrap.dedent(doc[doc.index("::\n") + 3 : doc.index("``max_t`` is the step")])
    for module in ("ray.train.constants", "ray.tune.experiment.experiment"):  # not ~/ray_results
        monkeypatch.setattr(f"{module}.DEFAULT_STORAGE_PATH", str(tmp_path))
    namespace = {"__name__": "example"}
    exec(compile(code, "neuneu.ray example", "exec"), namespace)
    results = namespace["results"]
    assert not results.errors
    epochs = {r.config["lr"]: r.metrics["epoch"] for r in results}
    assert results.get_best_result().config["lr"] == 1e-3 and epochs[1e-3] == 30
    assert sum(e < 30 for e in epochs.values()) >= 2, epochs


def test_a_finished_experiment_teaches_the_scheduler_of_the_next(tmp_path):
    """Six trials run to their end (no scheduler); the model adapted to them stops the bad
    trials of a second experiment and keeps the best."""
    first = run(
        replay_accuracy,
        {"final": tune.grid_search([0.3, 0.45, 0.55, 0.65, 0.75, 0.8])},
        tune.schedulers.FIFOScheduler(),
        tmp_path / "first",
    )
    assert not first.errors
    adapted = neuneu.ray.adapt_to_results(
        first, metric="acc", mode="max", time_attr="epoch", max_t=MAX_T
    )
    assert adapted.runs_fitted + adapted.runs_held_out == 6
    facts = adapted.engine.manifest()["training"]
    assert any("6 runs of ray-tune/acc" in line for line in facts["data"])

    scheduler = NeuNeuScheduler(
        time_attr="epoch", max_t=MAX_T, grace_period=3, n_startup_trials=0,
        engine=adapted.engine,
    )
    second = run(
        replay_accuracy, {"final": tune.grid_search(FINALS)}, scheduler, tmp_path / "second"
    )
    epochs = {r.config["final"]: r.metrics["epoch"] for r in second}
    assert epochs[0.85] == MAX_T, epochs
    assert sum(epochs[f] < MAX_T for f in (0.35, 0.4, 0.45, 0.5)) >= 3, epochs
    # Trials short of max_t are not finished runs: with max_t beyond every trial, none is.
    with pytest.raises(neuneu.InvalidArgumentError, match="at least 5 finished runs"):
        neuneu.ray.adapt_to_results(first, metric="acc", mode="max", time_attr="epoch",
                                    max_t=MAX_T + 1)
    with pytest.raises(ValueError, match="mode"):
        neuneu.ray.adapt_to_results(first, metric="acc", mode="up", max_t=MAX_T)


def test_the_scheduler_decides_with_the_engine_it_is_given(crossing_engine):
    """As the pruner's test: six finished trials, then one that starts low and will end best;
    the default model's scheduler stops it, the scheduler given a model adapted to such runs
    lets it run. The scheduler is driven as Tune drives it, result by result."""

    def decisions(engine):
        scheduler = NeuNeuScheduler(
            metric="acc", mode="max", time_attr="epoch", max_t=10, grace_period=3,
            budget=0.1, engine=engine,
        )
        for i, x in enumerate((0.05, 0.15, 0.25, 0.35, 0.45, 0.5)):
            trial = SimpleNamespace(trial_id=f"done{i}")
            scheduler.on_trial_add(None, trial)
            for step in range(1, 11):
                result = {"epoch": step, "acc": crossing(x, step)}
                scheduler.on_trial_result(None, trial, result)
            scheduler.on_trial_complete(None, trial, result)
        trial = SimpleNamespace(trial_id="late")
        scheduler.on_trial_add(None, trial)
        return [
            scheduler.on_trial_result(None, trial, {"epoch": s, "acc": crossing(0.9, s)})
            for s in range(1, 5)
        ]

    assert NeuNeuScheduler.STOP in decisions(None)
    assert decisions(crossing_engine) == [NeuNeuScheduler.CONTINUE] * 4


def replay_jumping(config):
    """A curve that jumps at epoch 6 by as much as its token losses announce from epoch 1."""
    rng = np.random.default_rng(config["seed"])
    for t in range(1, 9):
        tune.report(
            {"acc": jumping(config["jump"], t), "epoch": t,
             "token_losses": jump_losses(config["jump"], rng)}
        )


def test_token_losses_in_results_reach_the_scheduler_and_the_adapted_model(tmp_path):
    """An experiment whose trials report token losses teaches a model loss trees
    (adapt_to_results with losses_attr); a scheduler reading that key judges two trials with
    the same accuracies by what their losses announce, one that ignores it cannot."""
    first = run(
        replay_jumping,
        {"jump": tune.grid_search([0.0, 0.1, 0.2, 0.3]), "seed": tune.grid_search([0, 1, 2])},
        tune.schedulers.FIFOScheduler(),
        tmp_path / "first",
    )
    assert not first.errors
    adapted = neuneu.ray.adapt_to_results(
        first, metric="acc", mode="max", time_attr="epoch", max_t=8,
        losses_attr="token_losses",
    )
    assert adapted.loss_rows > 0
    assert "trees_losses" in adapted.engine.manifest()["training"]["facts"]
    plain = neuneu.ray.adapt_to_results(first, metric="acc", mode="max", time_attr="epoch",
                                        max_t=8)
    assert plain.loss_rows == 0

    # A second experiment, its results read as Tune delivers them: the trials whose losses
    # announce no jump are stopped before it would show, the one that will jump most is kept.
    scheduler = NeuNeuScheduler(
        time_attr="epoch", max_t=8, grace_period=2, n_startup_trials=0, budget=0.1,
        engine=adapted.engine, losses_attr="token_losses",
    )
    jumps = [0.3, 0.0, 0.0, 0.1, 0.0, 0.0, 0.2, 0.0]
    second = run(
        replay_jumping,
        {"jump": tune.grid_search(jumps), "seed": 5},
        scheduler,
        tmp_path / "second",
    )
    assert not second.errors
    epochs = sorted((r.config["jump"], r.metrics["epoch"]) for r in second)
    assert epochs[-1] == (0.3, 8), epochs
    assert sum(e < 6 for j, e in epochs if j == 0.0) >= 3, epochs  # of 5: results interleave

    def decisions(losses_attr, jump, epochs):
        rng = np.random.default_rng(7)
        scheduler = NeuNeuScheduler(
            metric="acc", mode="max", time_attr="epoch", max_t=8, grace_period=1,
            budget=0.1, engine=adapted.engine, losses_attr=losses_attr,
        )
        for i, j in enumerate((0.0, 0.05, 0.1, 0.15, 0.2, 0.2)):
            trial = SimpleNamespace(trial_id=f"done{i}")
            scheduler.on_trial_add(None, trial)
            for step in range(1, 9):
                result = {"epoch": step, "acc": jumping(j, step),
                          "token_losses": jump_losses(j, rng)}
                scheduler.on_trial_result(None, trial, result)
            scheduler.on_trial_complete(None, trial, result)
        trial = SimpleNamespace(trial_id="new")
        scheduler.on_trial_add(None, trial)
        return [
            scheduler.on_trial_result(
                None, trial,
                {"epoch": s, "acc": jumping(jump, s), "token_losses": jump_losses(jump, rng)},
            )
            for s in range(1, epochs + 1)
        ]

    # Losses announcing no jump stop a trial that its accuracies alone would keep.
    assert NeuNeuScheduler.STOP not in decisions(None, 0.0, 4)
    assert NeuNeuScheduler.STOP in decisions("token_losses", 0.0, 4)
