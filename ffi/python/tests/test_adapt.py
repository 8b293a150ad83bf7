"""neuneu.adapt (a model fitted to finished runs, from curve files or runs in memory) and
neuneu.optuna.adapt_to_study."""

import csv
import math
import pickle
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

import neuneu
from conftest import crossing, jump_losses, jumping
from neuneu import Engine

DATA = Path(__file__).parent / "data"
VAL_LOSS = DATA / "shakespeare-val-loss.csv"
# A run's first three checkpoints of the validation loss (tokens, nats), to forecast.
STEPS, VALUES = [61440.0, 122880.0, 184320.0], [4.8, 4.0, 3.5]


def runs_of(path):
    runs = defaultdict(lambda: ([], []))
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            runs[r["run"]][0].append(float(r["tokens"]))
            runs[r["run"]][1].append(float(r["acc"]))
    return dict(runs)


def test_adapting_to_a_curve_file_beats_the_base_on_its_held_out_runs(tmp_path):
    a = neuneu.adapt(VAL_LOSS, metric="loss")
    assert (a.runs_fitted, a.runs_held_out, a.left_out) == (36, 9, [])
    assert a.rows > 0 and a.loss_rows == 0
    assert len(a.band_factors) == len(a.engine.levels)
    adapted, base = a.scores["adapted"]["neuneu/all"], a.scores["base"]["neuneu/all"]
    # A sweep the default model never saw: its own runs teach the trees its schedule.
    assert adapted["mae"] < 0.5 * base["mae"], a.scores
    assert "held-out MAE" in repr(a)
    assert a.held_out_mae == {
        "adapted": adapted["mae"],
        "base": base["mae"],
        "persistence": a.scores["adapted"]["persistence/all"]["mae"],
    }
    manifest = a.engine.manifest()
    assert manifest["name"].endswith("-adapted")
    assert any("shakespeare-val-loss.csv" in line for line in manifest["training"]["data"])
    # The bundle saved, read back and pickled forecasts what the engine does.
    f = a.engine.forecast(STEPS, VALUES, [1e6], metric="loss")
    a.save(tmp_path / "adapted.nnb")
    for e in (Engine(tmp_path / "adapted.nnb"), Engine.from_bytes(a.to_bytes()),
              pickle.loads(pickle.dumps(a.engine))):
        np.testing.assert_array_equal(e.forecast(STEPS, VALUES, [1e6], metric="loss"), f)
    assert not np.array_equal(Engine().forecast(STEPS, VALUES, [1e6], metric="loss"), f)
    # The result pickles whole: its model and what the fit measured.
    b = pickle.loads(pickle.dumps(a))
    assert b.to_bytes() == a.to_bytes() and repr(b) == repr(a)
    for field in ("runs_fitted", "runs_held_out", "rows", "loss_rows", "left_out",
                  "band_factors", "scores", "held_out_mae"):
        assert getattr(b, field) == getattr(a, field), field
    np.testing.assert_array_equal(b.engine.forecast(STEPS, VALUES, [1e6], metric="loss"), f)
    no_holdout = neuneu.adapt(VAL_LOSS, metric="loss", holdout=0)
    c = pickle.loads(pickle.dumps(no_holdout))
    assert c.held_out_mae is None and c.band_factors is None and c.scores == no_holdout.scores


def test_runs_in_memory_fit_the_same_model_as_their_file():
    from_file = neuneu.adapt([str(VAL_LOSS)], metric="loss", holdout=0.3, seed=3)
    in_memory = neuneu.adapt(
        runs_of(VAL_LOSS), metric="loss", holdout=0.3, seed=3, suite="shakespeare-lm",
        task="val_loss",
    )
    assert (in_memory.runs_fitted, in_memory.runs_held_out) == (
        from_file.runs_fitted, from_file.runs_held_out)
    assert in_memory.band_factors == from_file.band_factors
    for e in (from_file, in_memory):
        assert e.scores == from_file.scores
    np.testing.assert_array_equal(
        in_memory.engine.forecast(STEPS, VALUES, [1e6], metric="loss"),
        from_file.engine.forecast(STEPS, VALUES, [1e6], metric="loss"),
    )
    data = in_memory.engine.manifest()["training"]["data"]
    assert any("45 runs of shakespeare-lm/val_loss given in memory" in line for line in data)


def test_no_holdout_fits_every_run_and_scores_nothing():
    a = neuneu.adapt(VAL_LOSS, metric="loss", holdout=0)
    assert (a.runs_fitted, a.runs_held_out, a.band_factors) == (45, 0, None)
    assert a.scores == {"adapted": {}, "base": {}}
    assert a.held_out_mae is None


def test_another_base_is_adapted(tmp_path):
    first = neuneu.adapt(VAL_LOSS, metric="loss")
    again = neuneu.adapt(VAL_LOSS, metric="loss", base=first.engine)
    assert again.engine.manifest()["training"]["facts"]["adapted_from"] == first.engine.name


def test_bad_input_is_refused_with_clear_errors(tmp_path):
    runs = runs_of(VAL_LOSS)
    few = dict(list(runs.items())[:4])
    with pytest.raises(neuneu.InvalidArgumentError, match="at least 5 finished runs"):
        neuneu.adapt(few, metric="loss")
    bad = dict(runs)
    bad["lm000"] = ([2.0, 1.0], [3.0, 2.5])
    with pytest.raises(neuneu.InvalidInputError, match="lm000.*not strictly increasing"):
        neuneu.adapt(bad, metric="loss")
    with pytest.raises(neuneu.InvalidInputError, match="lm000"):
        neuneu.adapt(runs, metric="bounded")  # losses above 1 are not a bounded metric
    with pytest.raises(neuneu.InvalidArgumentError, match="pair"):
        neuneu.adapt({"a": [1.0, 2.0, 3.0]}, metric="loss")
    with pytest.raises(neuneu.InvalidArgumentError, match="curve file"):
        neuneu.adapt(42)
    with pytest.raises(neuneu.InvalidArgumentError, match="not a path"):
        neuneu.adapt([VAL_LOSS, 3])
    with pytest.raises(neuneu.InvalidArgumentError, match="no curve file"):
        neuneu.adapt([])
    with pytest.raises(neuneu.NeuNeuIOError, match="missing.csv"):
        neuneu.adapt(tmp_path / "missing.csv")
    with pytest.raises(neuneu.InvalidArgumentError, match="loss summary"):
        neuneu.adapt(VAL_LOSS, metric="loss", loss_summary="median")
    with pytest.raises(neuneu.InvalidArgumentError, match="holdout"):
        neuneu.adapt(VAL_LOSS, metric="loss", holdout=1.5)
    (tmp_path / "typo.csv").write_text("suite,run,task,tokenz,acc\ns,r,t,1,0.5\n")
    with pytest.raises(neuneu.InvalidArgumentError, match="tokenz"):
        neuneu.adapt(tmp_path / "typo.csv")


optuna = pytest.importorskip("optuna")
optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_a_finished_study_teaches_the_pruner_of_the_next():
    from neuneu.optuna import NeuNeuPruner, adapt_to_study

    def curve(x, step):
        floor = 2.7 - 1.5 * x
        return floor + 2.0 * math.exp(-0.4 * step)

    def objective(trial):
        x = trial.suggest_float("x", 0.0, 1.0)
        for step in range(1, 11):
            trial.report(curve(x, step), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return curve(x, 10)

    sampler = optuna.samplers.RandomSampler(seed=0)
    first = optuna.create_study(
        study_name="first", direction="minimize", sampler=sampler,
        pruner=optuna.pruners.NopPruner(),
    )
    first.optimize(objective, n_trials=12)
    adapted = adapt_to_study(first)
    assert adapted.runs_fitted + adapted.runs_held_out == 12
    assert adapted.scores["adapted"]["neuneu/all"]["mae"] < adapted.scores["base"]["neuneu/all"]["mae"]
    facts = adapted.engine.manifest()["training"]
    assert any("12 runs of first/objective" in line for line in facts["data"])
    assert "loss:minimize" in facts["facts"]["adapt_command"]

    second = optuna.create_study(
        direction="minimize", sampler=optuna.samplers.RandomSampler(seed=1),
        pruner=NeuNeuPruner(max_resource=10, engine=adapted.engine),
    )
    second.optimize(objective, n_trials=20)
    states = [t.state for t in second.trials]
    assert states.count(optuna.trial.TrialState.PRUNED) >= 5, states
    best = max(second.trials, key=lambda t: t.params["x"])
    assert best.state == optuna.trial.TrialState.COMPLETE


def test_the_pruner_decides_with_the_engine_it_is_given(crossing_engine):
    """A trial that starts low and will end best: the default model's pruner (calibrated on
    the study's complete trials, as by default) prunes it, the pruner given a model adapted to
    such runs keeps it. Both judge the same study and the same reports."""
    from neuneu.optuna import NeuNeuPruner

    def objective(trial):
        x = trial.suggest_float("x", 0.0, 1.0)
        for step in range(1, 11):
            trial.report(crossing(x, step), step)
        return crossing(x, 10)

    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    for x in (0.05, 0.15, 0.25, 0.35, 0.45, 0.5):
        study.enqueue_trial({"x": x})
    study.optimize(objective, n_trials=6)
    study.enqueue_trial({"x": 0.9})
    trial = study.ask()
    trial.suggest_float("x", 0.0, 1.0)
    for step in range(1, 5):
        trial.report(crossing(0.9, step), step)
    frozen = study.trials[-1]
    assert NeuNeuPruner(max_resource=10).prune(study, frozen)
    assert not NeuNeuPruner(max_resource=10, engine=crossing_engine).prune(study, frozen)


def test_adapt_to_study_needs_finished_trials():
    from neuneu.optuna import adapt_to_study

    study = optuna.create_study()
    with pytest.raises(neuneu.InvalidArgumentError, match="at least 5 finished runs"):
        adapt_to_study(study)


def jumping_runs(n=12, points=8, seed=0):
    """Runs that jump at their 6th point by as much as their losses' mean p announces, with
    each point's token losses: what only loss trees can learn."""
    rng = np.random.default_rng(seed)
    runs, losses = {}, {}
    for i in range(n):
        jump = 0.3 * (i % 4) / 3
        steps = [float(s) for s in range(1, points + 1)]
        runs[f"r{i}"] = (steps, [jumping(jump, s) for s in steps])
        tokens = jump_losses(jump, rng)
        losses[f"r{i}"] = {s: tokens for s in steps}
    return runs, losses


def test_token_losses_held_in_memory_fit_the_same_loss_trees_as_an_index(tmp_path):
    runs, losses = jumping_runs()
    in_memory = neuneu.adapt(runs, losses=losses, holdout=0)
    assert in_memory.loss_rows > 0
    facts = in_memory.engine.manifest()["training"]["facts"]
    assert "trees_losses" in facts
    # The same losses as .npy files named by a JSON index.
    index = {}
    for run, by_step in losses.items():
        index[run] = {}
        for step, values in by_step.items():
            name = f"{run}-{step:g}.npy"
            np.save(tmp_path / name, values)
            index[run][f"{step:g}"] = name
    (tmp_path / "index.json").write_text(__import__("json").dumps(index))
    from_index = neuneu.adapt(runs, losses=tmp_path / "index.json", holdout=0)
    assert from_index.loss_rows == in_memory.loss_rows
    steps, values = runs["r3"][0][:3], runs["r3"][1][:3]
    tokens = losses["r3"][3.0]
    want = in_memory.engine.forecast(steps, values, [8.0], token_losses=tokens)
    np.testing.assert_array_equal(
        from_index.engine.forecast(steps, values, [8.0], token_losses=tokens), want)
    # The loss trees, not the plain ones, gave that median.
    assert want[0, 2] != in_memory.engine.forecast(steps, values, [8.0])[0, 2]


def test_token_losses_in_memory_are_checked():
    runs, losses = jumping_runs()
    with pytest.raises(neuneu.InvalidInputError, match="r0.*no checkpoint at step 99"):
        neuneu.adapt(runs, losses={"r0": {99.0: [1.0, 2.0]}})
    with pytest.raises(neuneu.InvalidInputError, match="no run \"nope\""):
        neuneu.adapt(runs, losses={"nope": {1.0: [1.0]}})
    with pytest.raises(neuneu.InvalidInputError, match="r0.*NaN or negative"):
        neuneu.adapt(runs, losses={"r0": {1.0: [-1.0]}})
    with pytest.raises(neuneu.InvalidArgumentError, match="mapping of step to losses"):
        neuneu.adapt(runs, losses={"r0": [1.0]})
    with pytest.raises(neuneu.InvalidArgumentError, match="need runs given in memory"):
        neuneu.adapt(VAL_LOSS, metric="loss", losses={"lm000": {0.0: [1.0]}})


def test_token_losses_kept_with_trials_reach_the_pruner_and_the_adapted_model():
    """Trials keep each checkpoint's losses (report_losses); adapt_to_study fits loss trees on
    them, and the pruner gives them to its sweep: two trials with the same reports are judged
    by what their losses announce."""
    from neuneu.optuna import NeuNeuPruner, adapt_to_study, report_losses

    rng = np.random.default_rng(0)

    def objective(trial):
        jump = trial.suggest_float("jump", 0.0, 0.3)
        for step in range(1, 9):
            trial.report(jumping(jump, step), step)
            report_losses(trial, step, jump_losses(jump, rng))
        return jumping(jump, 8)

    first = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    for i in range(12):
        first.enqueue_trial({"jump": (0.0, 0.1, 0.2, 0.3)[i % 4]})
    first.optimize(objective, n_trials=12)
    adapted = adapt_to_study(first)
    assert adapted.loss_rows > 0
    assert "trees_losses" in adapted.engine.manifest()["training"]["facts"]

    second = optuna.create_study(direction="maximize", pruner=optuna.pruners.NopPruner())
    for jump in (0.0, 0.05, 0.1, 0.15, 0.2, 0.2):
        second.enqueue_trial({"jump": jump})
    second.optimize(objective, n_trials=6)
    pruner = NeuNeuPruner(max_resource=8, engine=adapted.engine)

    def judged(jump, steps):
        """The pruner's decision on a new trial's reports, without then with its losses."""
        second.enqueue_trial({"jump": jump})
        trial = second.ask()
        trial.suggest_float("jump", 0.0, 0.3)
        for step in range(1, steps + 1):
            trial.report(jumping(jump, step), step)
        without = pruner.prune(second, second.trials[-1])
        for step in range(1, steps + 1):
            report_losses(trial, step, jump_losses(jump, rng))
        with_losses = pruner.prune(second, second.trials[-1])
        # Losses reported again replace the ones the pruner read before (not a stale copy).
        report_losses(trial, steps, jump_losses(0.3 - jump, rng))
        replaced = pruner.prune(second, second.trials[-1])
        second.tell(trial, state=optuna.trial.TrialState.FAIL)
        return without, with_losses, replaced

    # Losses that announce the largest jump save a trial its reports alone would lose...
    assert judged(0.3, 2) == (True, False, True)
    # ...and losses that announce none doom one its reports alone would keep.
    assert judged(0.0, 4) == (False, True, False)


def test_report_losses_refuses_what_the_engine_would():
    from neuneu.optuna import MAX_REPORTED_LOSSES, report_losses

    study = optuna.create_study()
    trial = study.ask()
    trial.report(0.5, 1)
    with pytest.raises(neuneu.InvalidInputError, match=r"run 0: token_losses.*NaN or negative"):
        report_losses(trial, 1, [0.5, float("nan")])
    with pytest.raises(neuneu.InvalidInputError, match="empty"):
        report_losses(trial, 1, [])
    with pytest.raises(neuneu.InvalidInputError, match="16385 values.*random sample"):
        report_losses(trial, 1, np.ones(MAX_REPORTED_LOSSES + 1))
    assert trial.user_attrs == {}
    report_losses(trial, 1, np.array([0.5, np.inf]))  # inf: a token given probability 0
    # The most a checkpoint keeps fits in the 64 KiB of a MySQL TEXT attribute.
    report_losses(trial, 2, np.full(MAX_REPORTED_LOSSES, 2.5))
    assert sorted(trial.user_attrs) == ["neuneu.losses.1", "neuneu.losses.2"]
    assert len(trial.user_attrs["neuneu.losses.2"]) < 65_535


def test_a_sweep_adapts_to_its_finished_arms_and_goes_on_with_the_result():
    # Twelve finished runs that jump at their 6th point by what their token losses announce;
    # one finished after its first point; a live run five points in, its losses given.
    rng = np.random.default_rng(3)
    sweep = neuneu.Sweep(end_step=10)
    steps = list(range(1, 11))
    for i, jump in enumerate(rng.uniform(0.0, 0.4, 12)):
        for s in steps:
            sweep.observe(f"r{i}", s, jumping(jump, s))
            sweep.observe_losses(f"r{i}", s, jump_losses(jump, rng))
        sweep.finish(f"r{i}")
    sweep.observe("early", 1, 0.5)
    sweep.finish("early")
    for s in range(1, 6):
        sweep.observe("live", s, jumping(0.35, s))
    sweep.observe_losses("live", 5, jump_losses(0.35, rng))
    before = sweep.forecast("live", [10])[0, 2]

    a = sweep.adapt()
    assert a.runs_fitted + a.runs_held_out == 12 and a.left_out == ["sweep/early"]
    assert a.loss_rows > 0
    assert a.held_out_mae["adapted"] < a.held_out_mae["base"], a.held_out_mae
    sweep.set_engine(a.engine)
    after = sweep.forecast("live", [10])[0, 2]
    truth = jumping(0.35, 10)
    # Measured: 0.32 before, 0.72 after, for 0.75.
    assert abs(after - truth) < 0.3 * abs(before - truth), (before, after, truth)
    # A pickled sweep comes back with the adapted model, and forecasts the same.
    again = pickle.loads(pickle.dumps(sweep))
    assert again.engine.manifest() == a.engine.manifest()
    assert np.array_equal(again.forecast("live", [10]), sweep.forecast("live", [10]))

    # Too few finished arms, or a bad setting: a clear error.
    few = neuneu.Sweep(end_step=10)
    for i in range(3):
        for s in steps:
            few.observe(f"r{i}", s, jumping(0.1, s))
        few.finish(f"r{i}")
    with pytest.raises(neuneu.InvalidArgumentError, match="3 finished arm"):
        few.adapt()
    with pytest.raises(neuneu.InvalidArgumentError, match="loss_summary"):
        sweep.adapt(loss_summary="median")
    with pytest.raises(neuneu.InvalidArgumentError, match="seed"):
        sweep.adapt(seed=-1)
