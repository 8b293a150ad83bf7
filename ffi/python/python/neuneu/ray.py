"""A Ray Tune trial scheduler that stops the trials NeuNeu forecasts to lose.

:class:`NeuNeuScheduler` feeds every result Tune reports into a :class:`neuneu.Sweep` (one arm
per trial, the arm's id is ``trial.trial_id``) and answers ``CONTINUE`` or ``STOP`` for the
trial that reported, from the sweep's plan over all trials: live trials forecast at ``max_t``,
finished ones with their final value. It takes ASHA's parameters (``metric``, ``mode``,
``time_attr``, ``max_t``, ``grace_period``) and the sweep's (``budget`` or ``policy``,
``metric_kind``, ``engine``, ``seed``).

Example (ten learning rates, two trials at a time: the first five run to the end, as
``n_startup_trials=5`` asks, then most of the others are stopped after 3-5 epochs)::

    import math
    from ray import tune
    from neuneu.ray import NeuNeuScheduler

    def train(config):
        quality = 0.9 - 0.1 * math.log10(config["lr"] / 1e-3) ** 2
        for epoch in range(1, 31):  # a stand-in for an epoch of training
            tune.report({"acc": quality * (1 - 0.5 * epoch**-0.5), "epoch": epoch})

    lrs = [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 3e-5, 3e-4, 3e-3, 3e-2, 3e-1]
    tuner = tune.Tuner(
        train,
        param_space={"lr": tune.grid_search(lrs)},
        tune_config=tune.TuneConfig(
            metric="acc", mode="max",
            scheduler=NeuNeuScheduler(time_attr="epoch", max_t=30, grace_period=3),
        ),
    )
    results = tuner.fit()
    print(results.get_best_result().config)  # {'lr': 0.001}

``max_t`` is the step (in ``time_attr`` units) at which every trial ends; a trial that reaches it
is stopped there, as ASHA does. Steps must increase within a trial and be positive to count
(``training_iteration``, epochs, samples seen, tokens: any increasing compute unit). The first
result fixes how the metric is read (``metric_kind`` names it instead): a maximized metric in
[0, 1] as an accuracy-like value, any other non-negative metric as a loss, a negative one as a
negated loss (``neg_loss``, as scikit-learn's ``neg_*`` scorers report).

A trial that trains a language model can report each checkpoint's token losses under a result
key of its own (``losses_attr``): a model adapted to experiments that reported them
(:func:`adapt_to_results`) reads them, as ``neuneu adapt --losses`` models do.

Tune 2.x checkpoints an experiment without calling a scheduler's ``save``; to carry the sweep
through ``Tuner.restore``, pass ``scheduler.checkpoint_callback()`` in ``RunConfig(callbacks=...)``.
"""

from __future__ import annotations

import logging
import math
import numbers
import pickle
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, Optional

from ray.tune.callback import Callback
from ray.tune.experiment import Trial
from ray.tune.result import DEFAULT_METRIC
from ray.tune.schedulers.trial_scheduler import FIFOScheduler, TrialScheduler

from neuneu._metric_kinds import MetricKind, checked, kind_of
from neuneu._native import Adapted, Engine, Sweep, adapt
from neuneu.errors import InvalidInputError

# Each stop's reason, at INFO (shown once the application configures logging).
_log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from ray.tune import ResultGrid
    from ray.tune.execution.tune_controller import TuneController

__all__ = ["NeuNeuScheduler", "adapt_to_results"]

_DIRECTIONS: dict[str, Literal["maximize", "minimize"]] = {"max": "maximize", "min": "minimize"}


class NeuNeuScheduler(FIFOScheduler):
    """Stops Ray Tune trials that NeuNeu forecasts will not finish among the best.

    Args:
        time_attr: The result key that measures a trial's progress (increasing, positive).
        metric: The result key to optimize; else ``tune.TuneConfig(metric=...)``.
        mode: ``"max"`` or ``"min"``; else ``tune.TuneConfig(mode=...)``.
        max_t: The budget of every trial in ``time_attr`` units: the step it ends at, where the
            sweep forecasts it. A trial that reports ``time_attr >= max_t`` is stopped there.
        grace_period: No trial is stopped before ``time_attr`` reaches this.
        budget: The most expected loss of the best trial one decision may risk: a trial is
            stopped when it is among the least likely to end best and the chances of all the
            trials that decision would stop sum to at most this (the ``stop_within_budget``
            policy, ``k = 1``). Smaller is more cautious. The default is ten times smaller
            than :class:`neuneu.optuna.NeuNeuPruner`'s: Tune asks after every result of every
            trial, and the risks of so many decisions add up (with 0.1, the best of 137 ScAn
            runs was stopped in 4 of 5 replays; docs/results/ray-tune-2026-12-06.md).
        policy: Another policy of :class:`neuneu.Sweep` (as a dict); replaces ``budget``.
        n_startup_trials: No trial is stopped before this many trials have run to their end
            (as :class:`neuneu.optuna.NeuNeuPruner`): 5 is what a calibrated decision needs.
        calibrate: Correct the forecasts by the model's errors on the trials that ran to their
            end (from 5 of them; :class:`neuneu.Sweep`'s ``calibrate``).
        metric_kind: ``"bounded"`` (in [0, 1]), ``"loss"`` (non-negative) or ``"neg_loss"``
            (non-positive: a loss reported negated, like scikit-learn's ``neg_log_loss``).
            ``None``: chosen from the first result: ``"bounded"`` for a maximized value in
            [0, 1], else ``"loss"`` for a non-negative one and ``"neg_loss"`` for a negative
            one (a minimized metric is never read as bounded: a loss below 1 may rise past it).
            A later result outside the kind is an error that names it.
        engine: The forecasting model; the embedded default when None.
        seed: Seed of the sweep's decisions (they are deterministic given the results).
        losses_attr: The result key, if any, that carries the checkpoint's token losses (a
            sequence of per-token validation losses, natural log): given to the sweep with the
            result (``Sweep.observe_losses``). They pay with a model adapted with losses
            (:func:`adapt_to_results`); the default model reads them only through its loss
            encoder, trained on generated losses (they move its bands, not its median). The
            sweep keeps every result's losses (calibration forecasts finished trials from each
            of their points) and the scheduler's saved state holds them: report a sample of a
            few thousand tokens, not a whole validation set.
    """

    # One decision per result: Tune must not let a trial run ahead of the scheduler.
    _supports_buffered_results = False

    def __init__(
        self,
        time_attr: str = "training_iteration",
        metric: Optional[str] = None,
        mode: Optional[str] = None,
        max_t: float = 100,
        grace_period: float = 1,
        *,
        budget: float = 0.01,
        policy: Optional[Mapping[str, Any]] = None,
        n_startup_trials: int = 5,
        calibrate: bool = True,
        metric_kind: Optional[MetricKind] = None,
        engine: Optional[Engine] = None,
        seed: int = 0,
        losses_attr: Optional[str] = None,
    ):
        if not max_t > 0:
            raise ValueError(f"max_t must be positive, not {max_t}")
        if not 0 <= grace_period <= max_t:
            raise ValueError(f"grace_period must lie in [0, max_t], not {grace_period}")
        if mode is not None and mode not in _DIRECTIONS:
            raise ValueError(f"mode must be 'min' or 'max', not {mode!r}")
        super().__init__()
        self._time_attr = time_attr
        self._metric = metric
        self._mode = mode
        self._max_t = float(max_t)
        self._grace_period = float(grace_period)
        self._policy = (
            dict(policy)
            if policy is not None
            else {"kind": "stop_within_budget", "k": 1, "budget": float(budget)}
        )
        Sweep(engine, policy=self._policy, seed=seed)  # a bad policy or seed fails now
        self._n_startup_trials = n_startup_trials
        self._calibrate = calibrate
        self._finished = 0  # trials that ran to their end
        self._metric_kind = checked(metric_kind, "NeuNeuScheduler")
        self._engine = engine
        self._seed = seed
        self._losses_attr = losses_attr
        self._sweep: Optional[Sweep] = None  # made once metric and mode are known
        self._arms: dict[str, str] = {}  # trial id -> its arm (a new one if it restarts)
        self._last_step: dict[str, float] = {}  # per arm, the last step observed
        self._stopped: dict[str, str] = {}  # arms this scheduler stopped, with the reason

    # -- Tune's scheduler interface ----------------------------------------------------------

    def set_search_properties(self, metric: Optional[str], mode: Optional[str], **spec) -> bool:
        """Takes ``metric`` and ``mode`` from ``tune.TuneConfig`` unless they were given."""
        if (self._metric and metric) or (self._mode and mode):
            return False
        if mode is not None and mode not in _DIRECTIONS:
            raise ValueError(f"mode must be 'min' or 'max', not {mode!r}")
        self._metric = metric or self._metric
        self._mode = mode or self._mode
        if self._metric is None and self._mode:
            self._metric = DEFAULT_METRIC
        return True

    def on_trial_add(self, tune_controller: "TuneController", trial: Trial) -> None:
        self._direction()
        sweep = self._sweep
        tid = trial.trial_id
        arm = self._arms.setdefault(tid, tid)
        if (
            tid not in self._stopped
            and sweep is not None
            and arm in sweep
            and sweep.status(arm) == "stopped"
        ):
            # It failed before and Tune runs it again (Tuner.restore): its old points stay
            # out of the plan, the rerun is a new arm.
            self._arms[tid] = f"{tid}/{sum(a.startswith(tid + '/') for a in sweep.arms) + 1}"

    def on_trial_result(
        self, tune_controller: "TuneController", trial: Trial, result: dict
    ) -> str:
        """Observes the result, then CONTINUE or STOP for this trial."""
        self._direction()
        arm = self._arms.setdefault(trial.trial_id, trial.trial_id)
        if trial.trial_id in self._stopped:
            return TrialScheduler.STOP
        for key in (self._time_attr, self._metric):
            if key not in result:
                raise ValueError(
                    f"NeuNeuScheduler: cannot find {key!r} in the result of trial {arm} "
                    f"(keys: {sorted(result)}); make sure the trainable reports it"
                )
        step, value = float(result[self._time_attr]), float(result[self._metric])
        if not math.isfinite(value):
            return self._stop(trial.trial_id, f"the metric is {value}")
        self._observe(arm, step, value, result)
        if step >= self._max_t:
            return TrialScheduler.STOP  # at its budget; on_trial_complete finishes it
        sweep = self._sweep
        if (
            step < self._grace_period
            or self._finished < self._n_startup_trials
            or sweep is None
            or arm not in sweep
        ):
            return TrialScheduler.CONTINUE
        verdict = sweep.decide([arm])[arm]
        if verdict.stop:
            return self._stop(
                trial.trial_id, f"{self._time_attr} {step:g} of {self._max_t:g}: {verdict.reason}"
            )
        return TrialScheduler.CONTINUE

    def on_trial_complete(
        self, tune_controller: "TuneController", trial: Trial, result: Optional[dict]
    ) -> None:
        """The trial's last result is final (unless this scheduler stopped it)."""
        arm = self._arms.setdefault(trial.trial_id, trial.trial_id)
        if trial.trial_id in self._stopped or (
            self._sweep is not None and self._sweep.status(arm) == "stopped"
        ):
            return
        if result and self._time_attr in result and self._metric in result:
            value = float(result[self._metric])
            if math.isfinite(value):
                self._observe(arm, float(result[self._time_attr]), value, result)
        sweep = self._sweep
        if sweep is None:
            return  # no trial has reported a value yet: nothing to finish
        if arm in self._last_step:
            sweep.finish(arm)
            self._finished += 1
        elif arm in sweep:
            sweep.stop(arm)  # never observed: nothing final to hold

    def on_trial_error(self, tune_controller: "TuneController", trial: Trial) -> None:
        self._drop(trial)

    def on_trial_remove(self, tune_controller: "TuneController", trial: Trial) -> None:
        self._drop(trial)

    def debug_string(self) -> str:
        if self._sweep is None:
            return "Using NeuNeu scheduling: no trial yet."
        statuses = [self._sweep.status(a) for a in self._sweep.arms]
        return (
            f"Using NeuNeu scheduling ({self._sweep.options['policy']}): "
            f"{len(self._stopped)} stopped early, {statuses.count('live')} live, "
            f"{statuses.count('finished')} finished."
        )

    def save(self, checkpoint_path: str) -> None:
        """Pickles the settings and the sweep (its results and decision count) to a file."""
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.get_state(), f)

    def restore(self, checkpoint_path: str) -> None:
        """Takes back what :meth:`save` wrote: later decisions are those of an unbroken run."""
        with open(checkpoint_path, "rb") as f:
            self.set_state(pickle.load(f))

    # -- state, checkpoints ------------------------------------------------------------------

    def get_state(self) -> dict:
        """The scheduler's state as a picklable dict (the sweep in its saved form)."""
        state = {k: v for k, v in self.__dict__.items() if k != "_sweep"}
        state["_sweep"] = None if self._sweep is None else self._sweep.save()
        return state

    def set_state(self, state: dict) -> None:
        """Restores what :meth:`get_state` returned."""
        state = dict(state)
        saved = state.pop("_sweep")
        self.__dict__.update(state)
        self._sweep = None if saved is None else Sweep.load(saved, self._engine)

    def checkpoint_callback(self) -> Callback:
        """A Tune callback that keeps this scheduler's state in the experiment's checkpoints,
        so that ``Tuner.restore`` resumes the sweep: ``RunConfig(callbacks=[...])``."""
        return _SchedulerState(self)

    @property
    def stopped(self) -> dict[str, str]:
        """The trials this scheduler stopped early, each with the sweep's reason (the step, the
        trial's chance of ending in the top k, its forecast); each is also logged at INFO on the
        ``neuneu.ray`` logger."""
        return dict(self._stopped)

    @property
    def sweep(self) -> Optional[Sweep]:
        """The sweep behind the decisions (None until a trial reports its first value)."""
        return self._sweep

    # -- internals ---------------------------------------------------------------------------

    def _direction(self) -> Literal["maximize", "minimize"]:
        """The sweep's direction; a clear error while ``metric`` or ``mode`` is missing."""
        if not self._metric or self._mode not in _DIRECTIONS:
            raise ValueError(
                f"NeuNeuScheduler has no valid `metric` ({self._metric}) or `mode` "
                f"({self._mode}): pass them to NeuNeuScheduler or to tune.TuneConfig()"
            )
        return _DIRECTIONS[self._mode]

    def _ensure_sweep(self, first_value: float) -> Sweep:
        """The sweep, made at the first value observed: without a ``metric_kind``, that value
        fixes the kind (:func:`_kind`)."""
        if self._sweep is not None:
            return self._sweep
        direction = self._direction()
        self._sweep = Sweep(
            self._engine,
            policy=self._policy,
            metric=self._metric_kind or _kind(direction, [first_value], "NeuNeuScheduler"),
            direction=direction,
            end_step=self._max_t,
            seed=self._seed,
            calibrate=self._calibrate,
        )
        return self._sweep

    def _observe(self, arm: str, step: float, value: float, result: dict) -> None:
        # Non-positive steps carry no progress; a step the arm has passed (a trial restarted
        # from an earlier checkpoint) is not observed again.
        if step > 0 and step > self._last_step.get(arm, 0.0):
            sweep = self._ensure_sweep(value)
            try:
                sweep.observe(arm, step, value)
            except InvalidInputError as e:
                if self._metric_kind is not None:
                    raise
                kind = sweep.options["metric"]["kind"]
                raise InvalidInputError(
                    f"{e}. NeuNeuScheduler read {self._metric!r} as {kind} from the first "
                    "result; name its kind with NeuNeuScheduler(metric_kind=...)"
                ) from e
            self._last_step[arm] = step
            if self._losses_attr is not None and self._losses_attr in result:
                sweep.observe_losses(arm, step, result[self._losses_attr])

    def _stop(self, trial_id: str, reason: str) -> str:
        self._stopped[trial_id] = reason
        _log.info("NeuNeuScheduler stops trial %s at %s", trial_id, reason)
        self._drop_arm(self._arms.get(trial_id, trial_id))
        return TrialScheduler.STOP

    def _drop(self, trial: Trial) -> None:
        if self._sweep is not None:
            self._drop_arm(self._arms.get(trial.trial_id, trial.trial_id))

    def _drop_arm(self, arm: str) -> None:
        # A trial that failed or was removed takes no part in later plans.
        sweep = self._sweep
        if sweep is not None and arm in sweep and sweep.status(arm) == "live":
            sweep.stop(arm)


def adapt_to_results(
    results: ResultGrid,
    *,
    metric: str,
    mode: str,
    max_t: float,
    time_attr: str = "training_iteration",
    metric_kind: Optional[MetricKind] = None,
    base: Optional[Engine] = None,
    holdout: float = 0.2,
    seed: int = 17,
    losses_attr: Optional[str] = None,
) -> Adapted:
    """Fits a model to a finished experiment's trials (:func:`neuneu.adapt`), for the scheduler
    of a later experiment of the same kind: ``NeuNeuScheduler(..., engine=adapted.engine)``.

    The trials that reached ``max_t`` (in ``time_attr`` units) are the finished runs: each
    one's ``metric`` at every result with a positive ``time_attr`` (from
    ``Result.metrics_dataframe``); with ``losses_attr``, the token losses its results carried
    under that key give the model loss trees (``neuneu.adapt``'s ``losses``, the mean of
    p = exp(-loss)). ``mode`` and ``metric_kind`` as :class:`NeuNeuScheduler`'s.
    Needs at least 5 such trials with 4 results or more (``neuneu.adapt`` says so otherwise).
    """
    if mode not in _DIRECTIONS:
        raise ValueError(f"mode must be 'min' or 'max', not {mode!r}")
    kind = checked(metric_kind, "adapt_to_results")
    runs: dict[str, tuple[list[float], list[float]]] = {}
    losses: dict[str, dict[float, Any]] = {}
    for i in range(len(results)):
        result = results[i]
        frame = result.metrics_dataframe
        if frame is None or time_attr not in frame or metric not in frame:
            continue
        points: dict[float, float] = {}
        kept: dict[float, Any] = {}
        carried = (
            frame[losses_attr]
            if losses_attr is not None and losses_attr in frame
            else [None] * len(frame)
        )
        for t, v, l in zip(frame[time_attr], frame[metric], carried):
            if _is_number(t) and _is_number(v) and t > 0:
                points[float(t)] = float(v)  # a repeated step keeps its last value
                kept.pop(float(t), None)
                # pandas fills a result without the key with NaN.
                if not (l is None or (isinstance(l, numbers.Real) and math.isnan(l))):
                    kept[float(t)] = l
        if not points or max(points) < max_t:
            continue
        steps = sorted(points)
        trial_id = str((result.metrics or {}).get("trial_id", str(i)))
        runs[trial_id] = (steps, [points[t] for t in steps])
        if kept:
            losses[trial_id] = kept
    return adapt(
        runs,
        base=base,
        losses=losses or None,
        metric=kind
        or _kind(_DIRECTIONS[mode], [v for _, vs in runs.values() for v in vs], "adapt_to_results"),
        direction=_DIRECTIONS[mode],
        holdout=holdout,
        seed=seed,
        suite="ray-tune",
        task=metric,
    )


def _kind(
    direction: Literal["maximize", "minimize"], values: list[float], owner: str
) -> MetricKind:
    """The kind a metric is read as when none is named: the scheduler's first value fixes it,
    :func:`adapt_to_results` reads an experiment's values the same way. A minimized metric is
    never read as bounded, as the kind must hold for values not seen yet."""
    return kind_of(values, owner, prefer_bounded=direction == "maximize")


def _is_number(value: Any) -> bool:
    # numbers.Real: pandas gives NumPy scalars (an int64 step is not an `int`).
    return isinstance(value, numbers.Real) and math.isfinite(value)


class _SchedulerState(Callback):
    """Saves a :class:`NeuNeuScheduler`'s state with each experiment checkpoint and restores
    it on ``Tuner.restore`` (Tune pickles the scheduler and its callbacks together)."""

    def __init__(self, scheduler: NeuNeuScheduler):
        self.scheduler = scheduler

    def get_state(self) -> Optional[dict]:
        return {"neuneu_scheduler": self.scheduler.get_state()}

    def set_state(self, state: dict) -> None:
        self.scheduler.set_state(state["neuneu_scheduler"])
