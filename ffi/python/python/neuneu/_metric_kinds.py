"""The metric kinds a study or an experiment is read as (:class:`neuneu.Sweep`'s ``metric``),
and how the Optuna pruner and the Ray Tune scheduler choose one when the user names none."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, Optional, get_args

from neuneu.errors import InvalidArgumentError

MetricKind = Literal["bounded", "loss", "neg_loss"]
KINDS: tuple[str, ...] = get_args(MetricKind)


def checked(kind: Optional[str], owner: str) -> Optional[MetricKind]:
    """``kind`` if it is a metric kind or None (choose from the values), else a clear error."""
    if kind is not None and kind not in KINDS:
        raise InvalidArgumentError(
            f"{owner}: metric_kind {kind!r} is not 'bounded', 'loss' or 'neg_loss' (or None: "
            "chosen from the values)"
        )
    return kind  # type: ignore[return-value]


def kind_of(values: Iterable[float], owner: str, *, prefer_bounded: bool = True) -> MetricKind:
    """The kind every one of ``values`` fits: ``bounded`` when they all lie in [0, 1] (and
    ``prefer_bounded``), else ``loss`` when none is negative, else ``neg_loss`` when none is
    positive.

    A caller that fixes the kind from the first values it sees, for values not seen yet, passes
    ``prefer_bounded=False`` for a minimized metric: a loss that starts below 1 may later rise
    past it, which a bounded metric cannot do and a loss can."""
    values = list(values)
    lo, hi = (min(values), max(values)) if values else (0.0, 0.0)
    if prefer_bounded and 0 <= lo and hi <= 1:
        return "bounded"
    if lo >= 0:
        return "loss"
    if hi <= 0:
        return "neg_loss"
    raise InvalidArgumentError(
        f"{owner}: the metric took both negative and positive values; neuneu forecasts a "
        "bounded metric in [0, 1], a non-negative loss or a non-positive negated loss (report a "
        "loss, or its negative, instead)"
    )
