"""Weight initializers: ``init(shape, rng, dtype) -> array``.

A weight matrix has shape (n_out, n_in): row j holds the weights into neuron j
of the layer, as in the book's W^l. Each initializer returns the weights and
the biases of one layer.

Why the default matters: with 1000 inputs, half of them 1, z = sum_j w_j x_j + b
has standard deviation sqrt(501) ~ 22.4 under N(0, 1) weights (the neuron
saturates and learns slowly) but sqrt(3/2) ~ 1.22 under N(0, 1/n_in).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

__all__ = ["INITIALIZERS", "Initializer", "get_initializer"]


class Initializer(ABC):
    """Base class. Subclasses define ``weight_std(n_in, n_out)`` and ``bias_std``."""

    name = "initializer"
    bias_std = 1.0

    @abstractmethod
    def weight_std(self, n_in: int, n_out: int) -> float:
        """Standard deviation of the weights of a layer with this fan-in and fan-out."""

    def __call__(self, shape, rng: np.random.Generator, dtype=np.float64):
        """Return (weights, biases) for a layer whose weights have ``shape`` (n_out, n_in)."""
        n_out, n_in = shape
        w = rng.standard_normal((n_out, n_in)) * self.weight_std(n_in, n_out)
        if self.bias_std:
            b = rng.standard_normal(n_out) * self.bias_std
        else:
            b = np.zeros(n_out)
        return w.astype(dtype, copy=False), b.astype(dtype, copy=False)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Default(Initializer):
    """Weights ~ N(0, 1/n_in), biases ~ N(0, 1): the chapter's improved scheme."""

    name = "default"

    def weight_std(self, n_in, n_out):
        return 1.0 / np.sqrt(n_in)


class Large(Initializer):
    """Weights and biases ~ N(0, 1): the chapter 1 scheme, kept for comparison."""

    name = "large"

    def weight_std(self, n_in, n_out):
        return 1.0


class Glorot(Initializer):
    """Glorot/Xavier normal: weights ~ N(0, 2/(n_in + n_out)), zero biases."""

    name = "glorot"
    bias_std = 0.0

    def weight_std(self, n_in, n_out):
        return np.sqrt(2.0 / (n_in + n_out))


class He(Initializer):
    """He normal (for ReLU): weights ~ N(0, 2/n_in), zero biases."""

    name = "he"
    bias_std = 0.0

    def weight_std(self, n_in, n_out):
        return np.sqrt(2.0 / n_in)


#: Every initializer by name.
INITIALIZERS: dict[str, type[Initializer]] = {
    "default": Default,
    "large": Large,
    "glorot": Glorot,
    "he": He,
}


def get_initializer(name_or_obj) -> Initializer:
    """Look an initializer up by registry name (or pass an instance through)."""
    if isinstance(name_or_obj, Initializer):
        return name_or_obj
    if not isinstance(name_or_obj, str):
        raise TypeError(f"initializer must be a name, got {type(name_or_obj).__name__}")
    key = name_or_obj.strip().lower().replace("-", "_")
    key = {"xavier": "glorot"}.get(key, key)
    if key not in INITIALIZERS:
        raise ValueError(
            f"unknown initializer {name_or_obj!r}; expected one of {sorted(INITIALIZERS)}"
        )
    return INITIALIZERS[key]()
