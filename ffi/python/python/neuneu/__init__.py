"""neuneu: where each training run of a sweep is heading, and which to stop.

NeuNeu ("Neural Neural Scaling Laws") forecasts a run's metric at any future step from its
partial curve, with quantiles; on those forecasts neuneu ranks runs and plans which to stop.

* :class:`Engine`: a loaded model (the embedded default, or a ``.nnb`` bundle): ``forecast``,
  ``rank``, ``plan``.
* :class:`Sweep`: the online sweep handle a scheduler feeds result by result (``observe``,
  ``finish``, ``stop``, ``decide``); picklable.
* :func:`adapt`: a model fitted to your finished runs (curve files or runs in memory), as
  ``neuneu adapt`` does; :class:`Adapted` holds it and what the fit measured.
* :func:`token_losses`: a checkpoint's token losses checked as the engine reads them.
* :mod:`neuneu.optuna`: :class:`~neuneu.optuna.NeuNeuPruner`, an Optuna pruner.
* :mod:`neuneu.ray`: :class:`~neuneu.ray.NeuNeuScheduler`, a Ray Tune trial scheduler.
"""

from neuneu._native import (
    SWEEP_SAVE_FORMAT,
    SWEEP_SAVE_VERSION,
    Adapted,
    ArmDecision,
    Decision,
    Engine,
    Plan,
    Ranking,
    Sweep,
    Verdict,
    __version__,
    adapt,
    token_losses,
)
from neuneu.errors import (
    BundleError,
    CudaError,
    InferenceError,
    InvalidArgumentError,
    InvalidInputError,
    NeuNeuError,
    NeuNeuIOError,
)

__all__ = [
    "Engine",
    "adapt",
    "Adapted",
    "token_losses",
    "Sweep",
    "Decision",
    "Verdict",
    "Ranking",
    "Plan",
    "ArmDecision",
    "NeuNeuError",
    "InvalidInputError",
    "InvalidArgumentError",
    "BundleError",
    "InferenceError",
    "NeuNeuIOError",
    "CudaError",
    "SWEEP_SAVE_FORMAT",
    "SWEEP_SAVE_VERSION",
    "__version__",
]
