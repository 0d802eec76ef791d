"""Cost functions and the output error they give to backpropagation.

A cost is tied to the output layer's activation. For the pairs below the
output error delta^L = dC/dz^L takes a simple form; this module states each:

=============== ==================== ======================================
cost            output activation    delta^L
=============== ==================== ======================================
quadratic       sigmoid (or any)     (a - y) * f'(z)   (slows when saturated)
quadratic       linear               a - y
cross_entropy   sigmoid              a - y             (sigma' cancels)
log_likelihood  softmax              a - y
=============== ==================== ======================================

Per-example costs are kept apart from their reduction: ``per_example`` returns
one number per row and the caller averages. Where it matters for stability
they are computed from the pre-activations z, never from a = f(z):

* binary cross-entropy = max(z, 0) - z y + log1p(exp(-|z|))
* log-likelihood       = logsumexp(z) - z_y   (max subtracted first)

so a saturated output (a == y exactly, a == 0 or 1 in floating point) gives a
finite, correct cost. Non-finite z is refused with a ValueError: it means the
weights themselves have diverged.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from .activations import Activation, _exp_floor

__all__ = [
    "COSTS",
    "Cost",
    "CrossEntropy",
    "LogLikelihood",
    "Quadratic",
    "get_cost",
]


def _check_finite(z) -> None:
    if not np.all(np.isfinite(z)):
        raise ValueError(
            "non-finite pre-activations z in the output layer (the weights have "
            "diverged: try a smaller learning rate)"
        )


def _softplus(x):
    """log(1 + e^x) without overflow or underflow."""
    return np.maximum(x, 0.0) + np.log1p(np.exp(np.maximum(-np.abs(x), _exp_floor(x.dtype))))


class Cost(ABC):
    """Base class for costs.

    Attributes
    ----------
    name : str
        Registry name.
    output_activations : tuple of str
        Output activations this cost may be paired with; the first is the default.
    """

    name = "cost"
    output_activations: tuple[str, ...] = ()

    @abstractmethod
    def per_example(self, z, y, output: Activation):
        """Cost of each example (row): array of shape (m,)."""

    @abstractmethod
    def delta(self, z, a, y, output: Activation):
        """Output error dC/dz for each example: array of shape (m, k)."""

    def check_output(self, output_name: str) -> None:
        """Refuse an invalid (output activation, cost) pair."""
        if output_name not in self.output_activations:
            raise ValueError(
                f"cost {self.name!r} cannot be paired with a {output_name!r} output layer; "
                f"allowed output activations: {list(self.output_activations)}"
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Quadratic(Cost):
    """C = 1/2 ||a - y||^2; delta = (a - y) f'(z) (just a - y for linear outputs).

    With a sigmoid output, f'(z) is tiny when the neuron saturates, which is
    why learning slows down when the output is badly wrong.
    """

    name = "quadratic"
    output_activations = ("sigmoid", "linear", "tanh")

    def per_example(self, z, y, output):
        a = output.fn(z)
        d = a - y
        return 0.5 * np.sum(d * d, axis=-1)

    def delta(self, z, a, y, output):
        if output.name == "linear":
            return a - y
        return (a - y) * output.prime(z)


class CrossEntropy(Cost):
    """C = -sum_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)] with sigmoid outputs; delta = a - y."""

    name = "cross_entropy"
    output_activations = ("sigmoid",)

    def per_example(self, z, y, output=None):
        _check_finite(z)
        # -y ln s(z) - (1-y) ln(1 - s(z)) = softplus(z) - y z
        return np.sum(_softplus(z) - z * y, axis=-1)

    def delta(self, z, a, y, output=None):
        return a - y


class LogLikelihood(Cost):
    """C = -ln a_y with softmax outputs (y one-hot); delta = a - y."""

    name = "log_likelihood"
    output_activations = ("softmax",)

    def per_example(self, z, y, output=None):
        _check_finite(z)
        zmax = np.max(z, axis=-1, keepdims=True)
        shifted = np.maximum(z - zmax, _exp_floor(z.dtype))
        lse = np.log(np.sum(np.exp(shifted), axis=-1)) + zmax[..., 0]
        # For one-hot y this is lse - z_y; for any target distribution it is
        # the cross-entropy between y and softmax(z).
        return np.sum(y, axis=-1) * lse - np.sum(y * z, axis=-1)

    def delta(self, z, a, y, output=None):
        return a - y


#: Every cost by name.
COSTS: dict[str, type[Cost]] = {
    "quadratic": Quadratic,
    "cross_entropy": CrossEntropy,
    "log_likelihood": LogLikelihood,
}

_ALIASES = {
    "crossentropy": "cross_entropy",
    "crossentropycost": "cross_entropy",
    "quadraticcost": "quadratic",
    "mse": "quadratic",
    "loglikelihood": "log_likelihood",
    "nll": "log_likelihood",
}


def get_cost(name_or_obj) -> Cost:
    """Look a cost up by registry name (or pass an instance through)."""
    if isinstance(name_or_obj, Cost):
        return name_or_obj
    if isinstance(name_or_obj, type) and issubclass(name_or_obj, Cost):
        return name_or_obj()
    if not isinstance(name_or_obj, str):
        raise TypeError(f"cost must be a name, got {type(name_or_obj).__name__}")
    key = name_or_obj.strip().lower().replace("-", "_")
    key = _ALIASES.get(key.replace("_", ""), key)
    if key not in COSTS:
        raise ValueError(f"unknown cost {name_or_obj!r}; expected one of {sorted(COSTS)}")
    return COSTS[key]()
