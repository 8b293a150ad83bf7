"""An Optuna pruner that stops a trial when NeuNeu forecasts it will not win.

At each ``trial.should_prune()`` the pruner reads the study as a sweep (:class:`neuneu.Sweep`):
every trial's intermediate values are an arm's curve, complete trials are finished arms, pruned
trials stopped ones, running trials (of any worker) live ones. It forecasts the trials still
running at their end (``max_resource``) and prunes this one when its chance of finishing best is
among the smallest and the chances of all the trials it would stop sum to at most ``budget``
(the sweep's ``stop_within_budget`` policy, ``k = 1``); with ``calibrate`` (the default), a
trial better than every complete trial was at the same point of its run is not pruned: how
worse trials went on cannot tell how it will. Everything is read from the study's
storage at each call, so several worker processes sharing an RDB storage work as one sweep.
Why a trial was pruned (its chance, its forecast against the best) is kept in
:attr:`NeuNeuPruner.pruned` and logged at INFO on the ``neuneu.optuna`` logger.

Example::

    import optuna
    from neuneu.optuna import NeuNeuPruner

    def objective(trial):
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        for epoch in range(1, 11):
            accuracy = train_one_epoch(lr)       # your training
            trial.report(accuracy, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return accuracy

    study = optuna.create_study(direction="maximize", pruner=NeuNeuPruner(max_resource=10))
    study.optimize(objective, n_trials=40)

Steps are Optuna's (``trial.report(value, step)``) and are the compute axis of the forecast: a
trial ends at step ``max_resource``. Step 0 carries no compute and is not read (as in Optuna's
Hyperband pruner, whose first rung is at step 1).

A language model's trial can also keep each checkpoint's token losses with
:func:`report_losses` (after ``trial.report``): a model adapted to studies that kept them
(:func:`adapt_to_study`) reads them, as ``neuneu adapt --losses`` models do.
"""

from __future__ import annotations

import base64
import logging
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Optional, Union

import numpy as np
import numpy.typing as npt
import optuna
from optuna.pruners import BasePruner
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from neuneu._metric_kinds import MetricKind, checked, kind_of
from neuneu._native import Adapted, Engine, Sweep, adapt, token_losses
from neuneu.errors import InvalidArgumentError, InvalidInputError

__all__ = ["NeuNeuPruner", "adapt_to_study", "report_losses", "MAX_REPORTED_LOSSES"]

_READ = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)

# The user attribute that keeps a checkpoint's token losses: this prefix and the step.
_LOSSES = "neuneu.losses."
# Losses are kept as float16: 16,384 of them encode to 43,692 characters, under the 64 KiB an
# attribute may hold in Optuna's RDB storage on MySQL (a TEXT column). float16 keeps a loss
# to 3 significant digits, the precision of the losses shakespeare-lm-dev ships.
MAX_REPORTED_LOSSES = 16_384

# Each pruning decision's reason, at INFO (a library's logger: shown once the application
# configures logging, e.g. ``logging.basicConfig(level=logging.INFO)``).
_log = logging.getLogger(__name__)


def report_losses(trial: optuna.trial.BaseTrial, step: int, losses: npt.ArrayLike) -> None:
    """Keeps the token losses of the checkpoint that ``trial.report(value, step)`` reported.

    ``losses`` are that checkpoint's per-token validation losses (natural log), at most
    :data:`MAX_REPORTED_LOSSES` of them (a random sample of a larger set does: the model reads
    their distribution), checked as the engine checks them (:func:`neuneu.token_losses`). They
    are stored with the trial as the user attribute ``neuneu.losses.<step>`` (base64 of
    little-endian float16), so that every worker sharing the study's storage reads them.
    :class:`NeuNeuPruner` gives them to its sweep (``Sweep.observe_losses``) and
    :func:`adapt_to_study` fits loss trees on them. They pay with such a model; the default
    model reads them only through its loss encoder, trained on generated losses (they move its
    bands a little, not its median). Losses of a step the trial did not report are not read.
    """
    checked = token_losses(losses, run=str(trial.number))
    if checked.size > MAX_REPORTED_LOSSES:
        raise InvalidInputError(
            f"run {trial.number}: token_losses: {checked.size} values, more than the "
            f"{MAX_REPORTED_LOSSES} report_losses keeps per checkpoint (an Optuna attribute "
            "must fit in 64 KiB on MySQL); report a random sample of them"
        )
    half = checked.astype("<f2")  # beyond float16's range is an infinite loss: probability 0
    trial.set_user_attr(f"{_LOSSES}{int(step)}", base64.b64encode(half.tobytes()).decode())


class NeuNeuPruner(BasePruner):
    """Prunes a trial when NeuNeu gives it too small a chance of ending best.

    Args:
        max_resource: The step at which a trial ends (its last ``trial.report``), as in
            :class:`optuna.pruners.HyperbandPruner`; ``"auto"``: the largest last step of the
            complete trials (nothing is pruned before one trial completes). A trial past
            ``max_resource`` is never pruned (the first such step warns, once).
        n_warmup_steps: No pruning before this step, as in :class:`optuna.pruners.MedianPruner`.
        n_startup_trials: No pruning until this many trials are complete (as Optuna's Median
            pruner). With ``calibrate``, 5 complete trials are what a calibrated decision needs
            (:data:`neuneu.Sweep`'s calibration starts at 5 finished arms), so the default
            never judges a trial on the model's uncalibrated forecast alone.
        budget: The most expected loss of the best trial a decision may risk: the trials
            stopped at one call, the least likely to end best first, have chances summing to at
            most this (the ``stop_within_budget`` policy, ``k = 1``). Smaller is more cautious.
        policy: Another policy of :class:`neuneu.Sweep` (as a dict); replaces ``budget``.
        metric_kind: ``"bounded"`` (values in [0, 1], an accuracy or an error rate),
            ``"loss"`` (non-negative, unbounded: a validation loss) or ``"neg_loss"``
            (non-positive: a loss reported negated, like scikit-learn's ``neg_log_loss``);
            ``None``: bounded while every value the study reported is in [0, 1], else loss
            while none is negative, else neg_loss while none is positive.
        calibrate: Correct the forecasts by how this study's complete trials went on from the
            same step (the model's errors on them, their gains or their growth, whichever
            forecast them best; from 5 of them; :class:`neuneu.Sweep`'s ``calibrate``).
        engine: The :class:`neuneu.Engine` to forecast with (default: the embedded model).
        seed: Seeds the Monte Carlo estimate of each decision (with the trial number).
    """

    def __init__(
        self,
        max_resource: Union[int, float, Literal["auto"]] = "auto",
        *,
        n_warmup_steps: int = 0,
        n_startup_trials: int = 5,
        budget: float = 0.1,
        policy: Optional[Mapping[str, Any]] = None,
        metric_kind: Optional[MetricKind] = None,
        calibrate: bool = True,
        engine: Optional[Engine] = None,
        seed: int = 0,
    ) -> None:
        if max_resource != "auto" and not (
            isinstance(max_resource, (int, float)) and max_resource > 0
        ):
            raise InvalidArgumentError(
                f"max_resource: {max_resource!r} is neither 'auto' nor a positive number"
            )
        if n_warmup_steps < 0 or n_startup_trials < 0:
            raise InvalidArgumentError("n_warmup_steps and n_startup_trials must be >= 0")
        self._max_resource = max_resource
        self._n_warmup_steps = n_warmup_steps
        self._n_startup_trials = n_startup_trials
        self._policy = (
            dict(policy)
            if policy is not None
            else {"kind": "stop_within_budget", "k": 1, "budget": float(budget)}
        )
        self._metric_kind = checked(metric_kind, "NeuNeuPruner")
        self._engine = engine if engine is not None else Engine.default()
        self._calibrate = calibrate
        self._seed = seed
        self._decoded: _Decoded = {}
        self._warned_past_end = False
        self._pruned: dict[int, str] = {}
        # Refuse a bad policy or seed now rather than at the first report.
        Sweep(self._engine, policy=self._policy, seed=seed)

    def prune(self, study: optuna.study.Study, trial: FrozenTrial) -> bool:
        step = trial.last_step
        if step is None or step < max(self._n_warmup_steps, 1):
            return False
        if len(study.directions) > 1:
            raise InvalidArgumentError("NeuNeuPruner does not support multi-objective studies")
        if self._max_resource != "auto" and step > self._max_resource:
            if not self._warned_past_end:
                self._warned_past_end = True
                warnings.warn(
                    f"NeuNeuPruner: trial {trial.number} reported step {step}, past "
                    f"max_resource={self._max_resource}; a trial past max_resource is never "
                    "pruned. Set max_resource to the step at which trials end, in the units of "
                    "trial.report",
                    stacklevel=2,
                )
            return False
        trials = study.get_trials(deepcopy=False, states=_READ)
        complete = [t for t in trials if t.state == TrialState.COMPLETE]
        if len(complete) < self._n_startup_trials:
            return False
        end = self._end_step(complete)
        if end is None:
            return False

        curves = {t.number: _curve(t) for t in trials}
        curves[trial.number] = _curve(trial)  # the caller's copy has its latest report
        # Every value the sweep will see, the complete trials' objectives included.
        values = [v for _, vs in curves.values() for v in vs] + [
            o for o in (_objective(t) for t in complete) if o is not None
        ]
        sweep = Sweep(
            self._engine,
            policy=self._policy,
            # Every value is read again at each decision, so the kind follows what the study
            # has reported (bounded while all of it lies in [0, 1]).
            metric=self._metric_kind or kind_of(values, "NeuNeuPruner"),
            direction=(
                "minimize" if study.direction == StudyDirection.MINIMIZE else "maximize"
            ),
            end_step=float(end),
            calibrate=self._calibrate,
            seed=self._seed ^ (trial.number * 0x9E3779B97F4A7C15 & 0xFFFFFFFFFFFFFFFF),
        )
        for t in trials:
            if t.number == trial.number:
                continue
            steps, vals = curves[t.number]
            if not steps:
                continue
            arm = str(t.number)
            _observe(sweep, arm, steps, vals, t, self._decoded)
            if steps[-1] > end:
                sweep.set_end(arm, steps[-1])
            if t.state == TrialState.COMPLETE:
                objective = _objective(t)
                if steps[-1] < end and objective is not None:
                    # Its objective is its value at its end when it reported none there.
                    sweep.observe(arm, end, objective)
                sweep.finish(arm)
            elif t.state == TrialState.PRUNED:
                sweep.stop(arm)
        steps, vals = curves[trial.number]
        if not steps:
            return False
        arm = str(trial.number)
        _observe(sweep, arm, steps, vals, trial, self._decoded)
        if steps[-1] >= end:
            return False  # at its end: nothing left to save
        verdict = sweep.decide([arm])[arm]
        if verdict.stop:
            reason = f"step {steps[-1]:g} of {end:g}: {verdict.reason}"
            self._pruned[trial.number] = reason
            _log.info("NeuNeuPruner prunes trial %d at %s", trial.number, reason)
        return verdict.stop

    @property
    def pruned(self) -> dict[int, str]:
        """The trials this pruner (in this process) told to prune, by trial number, each with the
        sweep's reason: the step, the trial's chance of ending best and its forecast. Each is
        also logged at INFO on the ``neuneu.optuna`` logger."""
        return dict(self._pruned)

    def _end_step(self, complete: list[FrozenTrial]) -> Optional[float]:
        if self._max_resource != "auto":
            return float(self._max_resource)
        lasts = [t.last_step for t in complete if t.last_step is not None and t.last_step > 0]
        return float(max(lasts)) if lasts else None


def adapt_to_study(
    study: optuna.study.Study,
    *,
    max_resource: Optional[float] = None,
    metric_kind: Optional[MetricKind] = None,
    base: Optional[Engine] = None,
    holdout: float = 0.2,
    seed: int = 17,
) -> Adapted:
    """Fits a model to a finished study's complete trials (:func:`neuneu.adapt`), to forecast
    the trials of a later study of the same kind (``adapted.engine``, which
    ``NeuNeuPruner(engine=...)`` also takes; with the pruner's calibration on, its decisions
    barely change: docs/results/adapt-to-study-2026-12-06.md).

    Each complete trial is a run: its reports at positive steps, and its objective at
    ``max_resource`` where it reported nothing there (as the pruner reads it); the token losses
    it kept (:func:`report_losses`) give the model loss trees (``neuneu.adapt``'s ``losses``,
    the mean of p = exp(-loss)). The metric's direction is the study's; ``metric_kind`` as
    :class:`NeuNeuPruner`'s. Needs at least 5 complete trials with 4 reports or more
    (``neuneu.adapt`` says so otherwise); ``holdout`` of them recalibrate the bands and score
    the fit (``adapted.scores``).
    """
    if len(study.directions) > 1:
        raise InvalidArgumentError("adapt_to_study does not support multi-objective studies")
    runs: dict[str, tuple[list[float], list[float]]] = {}
    losses: dict[str, dict[float, npt.NDArray[np.float32]]] = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        steps, values = _curve(t)
        kept = _losses(t, steps)
        if kept:
            losses[str(t.number)] = kept
        objective = _objective(t)
        if max_resource is not None and objective is not None and (
            not steps or steps[-1] < max_resource
        ):
            steps, values = steps + [float(max_resource)], values + [objective]
        if steps:
            runs[str(t.number)] = (steps, values)
    kind = checked(metric_kind, "adapt_to_study") or kind_of(
        [v for _, vs in runs.values() for v in vs], "adapt_to_study"
    )
    direction: Literal["minimize", "maximize"] = (
        "minimize" if study.direction == StudyDirection.MINIMIZE else "maximize"
    )
    return adapt(
        runs,
        base=base,
        losses=losses or None,
        metric=kind,
        direction=direction,
        holdout=holdout,
        seed=seed,
        suite=study.study_name,
        task="objective",
    )


def _curve(trial: FrozenTrial) -> tuple[list[float], list[float]]:
    """The trial's reports at positive steps with finite values, in step order."""
    points = sorted(
        (float(s), float(v))
        for s, v in trial.intermediate_values.items()
        if s > 0 and v is not None and math.isfinite(v)
    )
    return [s for s, _ in points], [v for _, v in points]


# Decoded losses by (trial number, step), with the attribute they came from: a complete trial's
# losses are read at every decision, and decoding them again would be most of its time.
_Decoded = dict[tuple[int, float], tuple[str, npt.NDArray[np.float32]]]


def _losses(
    trial: FrozenTrial, steps: Sequence[float], decoded: Optional[_Decoded] = None
) -> dict[float, npt.NDArray[np.float32]]:
    """The token losses the trial kept (:func:`report_losses`) at these steps."""
    kept = {}
    for key, value in trial.user_attrs.items():
        if not key.startswith(_LOSSES):
            continue
        try:
            step = float(key[len(_LOSSES) :])
            if step not in steps:
                continue
            known = decoded.get((trial.number, step)) if decoded is not None else None
            if known is not None and known[0] == value:
                kept[step] = known[1]
                continue
            raw = base64.b64decode(value, validate=True)
            kept[step] = np.frombuffer(raw, dtype="<f2").astype(np.float32)
        except (ValueError, TypeError) as e:
            raise InvalidArgumentError(
                f"trial {trial.number}: user attribute {key!r} is not what "
                f"neuneu.optuna.report_losses writes ({e})"
            ) from e
        if decoded is not None:
            decoded[(trial.number, step)] = (value, kept[step])
    return kept


def _observe(
    sweep: Sweep,
    arm: str,
    steps: list[float],
    values: list[float],
    trial: FrozenTrial,
    decoded: _Decoded,
) -> None:
    """The trial's curve into the sweep, with the token losses the sweep reads: a complete
    trial's at every reported step (calibration forecasts it from each), a running one's at
    its last (its forecast starts there), a pruned one's none (it is not forecast)."""
    sweep.observe_curve(arm, steps, values)
    if trial.state == TrialState.PRUNED or not steps:
        return
    read = steps if trial.state == TrialState.COMPLETE else steps[-1:]
    for step, losses in _losses(trial, read, decoded).items():
        sweep.observe_losses(arm, step, losses)


def _objective(trial: FrozenTrial) -> Optional[float]:
    """The trial's objective value, if it is a finite number."""
    value = trial.value
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None

