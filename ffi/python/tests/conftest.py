"""Fixtures shared by the pruner and scheduler tests."""

import numpy as np
import pytest

import neuneu


def crossing(x, step):
    """An accuracy that starts lower the better the run ends (0.6 - 0.3x at step 1, 0.3 + 0.5x
    at step 10, most of the change late): a run's early value misranks it, as the default
    model, trained on curves that keep their order, reads it."""
    early, final = 0.6 - 0.3 * x, 0.3 + 0.5 * x
    return early + (final - early) * ((step - 1) / 9) ** 3


@pytest.fixture(scope="session")
def crossing_engine():
    """A model adapted to 12 crossing runs: it forecasts a run that starts low to end high."""
    rng = np.random.default_rng(0)
    steps = list(range(1, 11))
    runs = {
        f"r{i}": (steps, [crossing(x, s) for s in steps])
        for i, x in enumerate(rng.uniform(0.0, 1.0, 12))
    }
    return neuneu.adapt(runs, metric="bounded", direction="maximize").engine


def jumping(jump, step):
    """A curve that jumps by `jump` at its 6th point: nothing before announces it but the
    checkpoints' token losses (`jump_losses`)."""
    return 0.2 + 0.02 * step + (jump if step >= 6 else 0.0)


def jump_losses(jump, rng):
    """64 token losses whose mean p = exp(-loss) is about 0.2 + jump: what loss trees read."""
    return (-np.log(0.2 + jump + 0.05 * rng.random(64))).astype(np.float32)
