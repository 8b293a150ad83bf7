"""The native API: Engine (forecast, rank, plan), Sweep (the online handle), errors, pickling."""

import pickle
import threading

import numpy as np
import pytest

import neuneu
from neuneu import Engine, Sweep


def test_forecasts_have_one_row_of_ordered_quantiles_per_target():
    e = Engine()
    assert e.levels == [0.1, 0.25, 0.5, 0.75, 0.9]
    f = e.forecast([1000, 2000, 4000], np.array([0.31, 0.35, 0.38]), [16000, 64000])
    assert f.shape == (2, 5) and f.dtype == np.float64
    assert np.all(np.diff(f, axis=1) >= 0)
    assert np.all((0 <= f) & (f <= 1))


def test_a_loss_is_forecast_in_its_own_units():
    f = Engine().forecast([1, 2, 3, 4], [3.0, 2.5, 2.2, 2.0], [10], metric="loss")
    assert f.shape == (1, 5)
    assert np.all(f > 0) and np.all(np.diff(f[0]) >= 0)
    # Minimized by default: the median is below the last loss, and not bounded by 1.
    assert 1.0 < f[0, 2] < 2.0


def test_the_default_engine_is_shared_and_engines_from_files_load(tmp_path):
    assert Engine.default().name == Engine().name
    bundle = Engine().manifest()
    assert bundle["name"] == Engine().name
    with pytest.raises(neuneu.NeuNeuIOError, match="no-such.nnb"):
        Engine(tmp_path / "no-such.nnb")
    (tmp_path / "bad.nnb").write_bytes(b"not a bundle")
    with pytest.raises(neuneu.BundleError, match="magic"):
        Engine.from_file(tmp_path / "bad.nnb")
    with pytest.raises(neuneu.InvalidArgumentError, match="backend"):
        Engine(backend="tpu")


def test_bad_input_raises_value_errors_naming_the_field():
    e = Engine()
    with pytest.raises(neuneu.InvalidInputError, match="values"):
        e.forecast([1, 2], [0.1, 2.0], [5])  # 2.0 is no accuracy
    with pytest.raises(ValueError):
        e.forecast([2, 1], [0.1, 0.2], [5])  # steps must increase
    with pytest.raises(ValueError, match="metric"):
        e.forecast([1, 2], [0.1, 0.2], [5], metric="probability")
    # Arrays that are not 1-D arrays of numbers: the argument is named.
    with pytest.raises(neuneu.InvalidArgumentError, match="steps: expected a 1-D array"):
        e.forecast([[1, 2]], [0.1, 0.2], [5])
    with pytest.raises(neuneu.InvalidArgumentError, match="values: not an array of numbers"):
        e.forecast([1, 2], ["a", "b"], [5])
    with pytest.raises(neuneu.InvalidArgumentError, match="targets"):
        e.forecast([1, 2], [0.1, 0.2], 5)
    # Integer settings out of range name the setting (not a bare OverflowError).
    with pytest.raises(neuneu.InvalidArgumentError, match="seed: -1 is negative or too large"):
        neuneu.Sweep(seed=-1)
    with pytest.raises(neuneu.InvalidArgumentError, match="samples: -3"):
        e.plan({"a": ([1, 2], [0.1, 0.2])}, 10, samples=-3)
    with pytest.raises(neuneu.InvalidArgumentError, match=f"seed: {2**64}"):
        neuneu.adapt({"a": ([1, 2], [0.1, 0.2])}, seed=2**64)
    assert neuneu.Sweep(seed=2**64 - 1).options["seed"] == 2**64 - 1
    # Any numeric sequence or dtype is read as float64.
    ints = e.forecast(np.array([1, 2], dtype=np.int32), (0.1, 0.2), [5])
    assert np.array_equal(ints, e.forecast([1.0, 2.0], [0.1, 0.2], [5.0]))


def test_rank_and_plan_order_runs_by_their_forecasts():
    e = Engine()
    good = ([1, 2, 3, 4], [0.3, 0.4, 0.45, 0.5])
    bad = ([1, 2, 3, 4], [0.1, 0.12, 0.13, 0.14])
    r = e.rank([bad, good], 20)
    assert r.order == [1, 0]
    assert r.prob_above[1, 0] > 0.9 and np.isnan(r.prob_above[0, 0])
    plan = e.plan([("good", good), ("bad", bad), ("young", ([1], [0.2]))], 20,
                  policy={"kind": "keep_top_k", "k": 1})
    by_id = {d.id: d for d in plan.decisions}
    assert by_id["good"].keep and not by_id["bad"].keep
    assert by_id["young"].keep and np.isnan(by_id["young"].p_top_k)
    assert "needs 2 points" in by_id["young"].reason
    # A mapping of id -> curve plans the same.
    again = e.plan({"good": good, "bad": bad, "young": ([1], [0.2])}, 20,
                   policy={"kind": "keep_top_k", "k": 1})
    assert [d.keep for d in again.decisions] == [d.keep for d in plan.decisions]


def make_sweep(**kwargs):
    s = Sweep(end_step=10, **kwargs)
    for step in range(1, 5):
        s.observe("a", step, 0.1 * step)
        s.observe("b", step, 0.02 * step)
    return s


def test_a_sweep_decides_and_pickles_to_the_same_decisions():
    s = make_sweep()
    copy = pickle.loads(pickle.dumps(s))
    d, c = s.decide(), copy.decide()
    assert d.to_stop == c.to_stop == ["b"]
    assert [v.p_top_k for v in d.verdicts] == [v.p_top_k for v in c.verdicts]
    assert d["b"].stop and "stop:" in d["b"].reason
    assert Sweep.load(s.save()).decisions_made == 1
    s.stop("b")
    assert s.status("b") == "stopped" and s.status("zz") is None
    assert s.decide().to_stop == []


def test_sweep_errors_leave_it_as_it_was():
    s = make_sweep()
    with pytest.raises(neuneu.InvalidInputError, match="before the last step"):
        s.observe("a", 2, 0.5)
    with pytest.raises(neuneu.InvalidInputError, match="no such arm"):
        s.finish("zz")
    with pytest.raises(neuneu.InvalidArgumentError, match="policy"):
        Sweep(policy={"kind": "keep_top_k"})
    assert s.arms == ["a", "b"] and len(s) == 2


def test_token_losses_of_the_last_point_reach_the_forecast_and_pickle():
    s = make_sweep()
    before = s.forecast("a", [10])
    losses = np.array([0.5 + 0.1 * (i % 9) for i in range(64)], dtype=np.float32)
    s.observe_losses("a", 4, losses)
    after = s.forecast("a", [10])
    # The band moves (the default model's median is its trees', which read no losses).
    assert not np.array_equal(before, after)
    assert np.array_equal(pickle.loads(pickle.dumps(s)).forecast("a", [10]), after)
    with pytest.raises(neuneu.InvalidInputError, match="no value observed at step 2.5"):
        s.observe_losses("a", 2.5, losses)
    with pytest.raises(neuneu.InvalidInputError, match="negative"):
        s.observe_losses("a", 4, [-1.0])
    assert np.array_equal(s.forecast("a", [10]), after)


def test_calibrated_sweeps_judge_young_arms_from_finished_ones():
    s = Sweep(end_step=10, calibrate=True)
    for a in range(6):
        arm = f"done-{a}"
        s.observe_curve(arm, range(1, 11), [0.2 + 0.05 * a + 0.02 * t for t in range(10)])
        s.finish(arm)
    s.observe("young", 1, 0.05)
    v = s.decide(["young"])["young"]
    assert v.p_top_k is not None and v.stop, v.reason
    assert "gains of 6 finished arms" in v.reason


def test_threads_share_an_engine_and_a_sweep():
    e, s = Engine(), make_sweep()
    errors = []

    def work():
        try:
            for _ in range(20):
                e.forecast([1, 2, 3], [0.2, 0.3, 0.35], [10])
                s.decide()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert s.decisions_made == 80
