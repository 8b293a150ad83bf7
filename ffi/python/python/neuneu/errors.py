"""The exceptions neuneu raises, each with the library's message.

Every error derives from :class:`NeuNeuError`; bad input also derives from :class:`ValueError`
and file errors from :class:`OSError`, so that code written for the built-ins catches them.
"""

__all__ = [
    "NeuNeuError",
    "InvalidInputError",
    "InvalidArgumentError",
    "BundleError",
    "InferenceError",
    "NeuNeuIOError",
    "CudaError",
]


class NeuNeuError(Exception):
    """Base class of every neuneu error."""


class InvalidInputError(NeuNeuError, ValueError):
    """A run's input is unusable (its message names the run and the field)."""


class InvalidArgumentError(NeuNeuError, ValueError):
    """A setting is out of range or unknown (a policy, a metric, a sample count)."""


class BundleError(NeuNeuError):
    """A model bundle could not be read or does not hold together."""


class InferenceError(NeuNeuError, RuntimeError):
    """The model failed to answer."""


class NeuNeuIOError(NeuNeuError, OSError):
    """Reading or writing a file failed."""


class CudaError(NeuNeuError, RuntimeError):
    """The CUDA backend was asked for but cannot run here."""
