"""Type hints of the native module (PyO3). Documented in neuneu/__init__.py and the README."""

from collections.abc import Mapping, Sequence
from os import PathLike
from typing import Any, Literal, Optional, Union, final

import numpy as np
import numpy.typing as npt

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
    "SWEEP_SAVE_FORMAT",
    "SWEEP_SAVE_VERSION",
    "__version__",
]

__version__: str
SWEEP_SAVE_FORMAT: str
SWEEP_SAVE_VERSION: int

_Floats = Union[npt.ArrayLike, Sequence[float]]
_MetricKind = Literal["bounded", "accuracy", "loss", "neg_loss"]
_Direction = Literal["maximize", "minimize", "max", "min"]
_Backend = Literal["auto", "cpu", "cuda"]

@final
class Engine:
    """A loaded model; safe to share between threads, forecasts release the GIL."""

    def __new__(
        cls, path: Union[str, PathLike[str], bytes, None] = None, *, backend: _Backend = "auto"
    ) -> Engine: ...
    @staticmethod
    def default() -> Engine: ...
    @staticmethod
    def from_file(path: Union[str, PathLike[str]], *, backend: _Backend = "auto") -> Engine: ...
    @staticmethod
    def from_bytes(data: bytes, *, backend: _Backend = "auto") -> Engine: ...
    @property
    def levels(self) -> list[float]: ...
    @property
    def min_context(self) -> int: ...
    @property
    def max_context(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def reads_losses(self) -> bool: ...
    @property
    def backend(self) -> Literal["cpu", "cuda"]: ...
    def manifest(self) -> dict[str, Any]: ...
    def forecast(
        self,
        steps: _Floats,
        values: _Floats,
        targets: _Floats,
        *,
        token_losses: Optional[_Floats] = None,
        metric: _MetricKind = "bounded",
        direction: Optional[_Direction] = None,
    ) -> npt.NDArray[np.float64]: ...
    def rank(
        self,
        runs: Sequence[tuple[_Floats, _Floats]],
        target: float,
        *,
        metric: _MetricKind = "bounded",
        direction: Optional[_Direction] = None,
    ) -> Ranking: ...
    def plan(
        self,
        arms: Union[
            Mapping[str, tuple[_Floats, _Floats]], Sequence[tuple[str, tuple[_Floats, _Floats]]]
        ],
        end_step: float,
        *,
        policy: Optional[Mapping[str, Any]] = None,
        metric: _MetricKind = "bounded",
        direction: Optional[_Direction] = None,
        end_steps: Optional[Mapping[str, float]] = None,
        min_observations: int = 0,
        samples: int = ...,
        seed: int = 0,
    ) -> Plan: ...

@final
class Ranking:
    @property
    def order(self) -> list[int]: ...
    @property
    def prob_above(self) -> npt.NDArray[np.float64]: ...
    @property
    def expected_wins(self) -> npt.NDArray[np.float64]: ...
    @property
    def medians(self) -> npt.NDArray[np.float64]: ...

@final
class ArmDecision:
    id: str
    keep: bool
    p_top_k: float
    median: float
    q10: float
    q90: float
    reason: str

@final
class Plan:
    k: int
    k_requested: int
    decisions: list[ArmDecision]

@final
class Verdict:
    id: str
    action: Literal["continue", "stop", "finished", "stopped"]
    p_top_k: Optional[float]
    median: Optional[float]
    q10: Optional[float]
    q90: Optional[float]
    end_step: Optional[float]
    reason: str
    @property
    def stop(self) -> bool: ...

@final
class Decision:
    index: int
    seed: int
    k: int
    k_requested: int
    verdicts: list[Verdict]
    @property
    def to_stop(self) -> list[str]: ...
    def __getitem__(self, arm: str, /) -> Verdict: ...
    def __len__(self) -> int: ...

@final
class Sweep:
    """The online sweep handle; picklable (its saved form and its engine's source)."""

    def __new__(
        cls,
        engine: Optional[Engine] = None,
        *,
        policy: Optional[Mapping[str, Any]] = None,
        metric: _MetricKind = "bounded",
        direction: Optional[_Direction] = None,
        end_step: Optional[float] = None,
        min_observations: int = 0,
        samples: int = ...,
        seed: int = 0,
        calibrate: bool = False,
    ) -> Sweep: ...
    @staticmethod
    def load(data: bytes, engine: Optional[Engine] = None) -> Sweep: ...
    def save(self) -> bytes: ...
    @property
    def engine(self) -> Engine: ...
    @property
    def options(self) -> dict[str, Any]: ...
    @property
    def arms(self) -> list[str]: ...
    @property
    def decisions_made(self) -> int: ...
    def status(self, arm: str) -> Optional[Literal["live", "finished", "stopped"]]: ...
    def observe(self, arm: str, step: float, value: float) -> None: ...
    def observe_losses(self, arm: str, step: float, losses: _Floats) -> None: ...
    def observe_curve(self, arm: str, steps: _Floats, values: _Floats) -> None: ...
    def set_end(self, arm: str, end_step: float) -> None: ...
    def finish(self, arm: str) -> None: ...
    def stop(self, arm: str) -> None: ...
    def decide(self, arms: Optional[Sequence[str]] = None) -> Decision: ...
    def forecast(self, arm: str, steps: _Floats) -> npt.NDArray[np.float64]: ...
    def set_engine(self, engine: Engine) -> None: ...
    def adapt(
        self,
        *,
        base: Optional[Engine] = None,
        holdout: float = 0.2,
        seed: int = 17,
        loss_summary: Literal["mean-p", "p-histogram"] = "mean-p",
    ) -> Adapted: ...
    def __len__(self) -> int: ...
    def __contains__(self, arm: str, /) -> bool: ...

def adapt(
    runs: Union[
        str,
        PathLike[str],
        Sequence[Union[str, PathLike[str]]],
        Mapping[Any, tuple[_Floats, _Floats]],
    ],
    *,
    base: Optional[Engine] = None,
    losses: Optional[Union[str, PathLike[str], Mapping[Any, Mapping[float, _Floats]]]] = None,
    loss_summary: Literal["mean-p", "p-histogram"] = "mean-p",
    metric: _MetricKind = "bounded",
    direction: Optional[_Direction] = None,
    holdout: float = 0.2,
    seed: int = 17,
    context: float = 0.2,
    suite: str = "runs",
    task: str = "metric",
) -> Adapted: ...
def token_losses(losses: _Floats, *, run: Optional[str] = None) -> npt.NDArray[np.float32]: ...
@final
class Adapted:
    @property
    def engine(self) -> Engine: ...
    def to_bytes(self) -> bytes: ...
    def save(self, path: Union[str, PathLike[str]]) -> None: ...
    @property
    def runs_fitted(self) -> int: ...
    @property
    def runs_held_out(self) -> int: ...
    @property
    def rows(self) -> int: ...
    @property
    def loss_rows(self) -> int: ...
    @property
    def left_out(self) -> list[str]: ...
    @property
    def band_factors(self) -> Optional[list[float]]: ...
    @property
    def held_out_mae(self) -> Optional[dict[str, float]]: ...
    @property
    def scores(self) -> dict[str, dict[str, dict[str, float]]]: ...
