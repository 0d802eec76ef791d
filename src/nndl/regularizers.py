"""Weight penalties: L2 and L1, exactly as the chapter defines them.

With n the size of the training set:

* L2: C = C0 + lambda/(2n) sum_w w^2; its gradient adds (lambda/n) w, so plain
  SGD gives the book's update w <- (1 - eta lambda/n) w - (eta/m) sum_x dC_x/dw.
* L1: C = C0 + lambda/n sum_w |w|; its gradient adds (lambda/n) sgn(w) with
  sgn(0) = 0, giving w <- w - (eta lambda/n) sgn(w) - (eta/m) sum_x dC_x/dw.

Biases are never regularized. Both penalties may be used together.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

__all__ = ["L1", "L2", "REGULARIZERS", "Regularizer", "get_regularizer", "regularizers_for"]


class Regularizer(ABC):
    """A penalty on the weights with strength ``lmbda`` (the book's lambda)."""

    name = "regularizer"

    def __init__(self, lmbda: float = 0.0):
        lmbda = float(lmbda)
        if not np.isfinite(lmbda) or lmbda < 0:
            raise ValueError(f"{self.name} strength must be a finite number >= 0, got {lmbda}")
        self.lmbda = lmbda

    @abstractmethod
    def penalty(self, weights, n: int) -> float:
        """The term added to the mean cost, given the training-set size n."""

    @abstractmethod
    def add_gradient(self, grad, w, n: int) -> None:
        """Add d(penalty)/dw to ``grad`` in place."""

    @abstractmethod
    def sgd_decay(self, w, eta: float, n: int) -> None:
        """Apply the penalty's part of a plain SGD step to ``w`` in place.

        w - eta (g + dP/dw) = (w - eta dP/dw) - eta g, so plain SGD may take
        the penalty step first, exactly as the chapter writes the update.
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lmbda={self.lmbda!r})"


class L2(Regularizer):
    """lambda/(2n) sum w^2; gradient (lambda/n) w."""

    name = "l2"

    def penalty(self, weights, n):
        return 0.5 * self.lmbda / n * sum(float(np.vdot(w, w)) for w in weights)

    def add_gradient(self, grad, w, n):
        grad += (self.lmbda / n) * w

    def sgd_decay(self, w, eta, n):
        w *= 1.0 - eta * self.lmbda / n  # the chapter's weight decay factor


class L1(Regularizer):
    """lambda/n sum |w|; gradient (lambda/n) sgn(w), with sgn(0) = 0."""

    name = "l1"

    def penalty(self, weights, n):
        return self.lmbda / n * sum(float(np.abs(w).sum()) for w in weights)

    def add_gradient(self, grad, w, n):
        grad += (self.lmbda / n) * np.sign(w)

    def sgd_decay(self, w, eta, n):
        w -= (eta * self.lmbda / n) * np.sign(w)  # shrink towards 0 by a constant


#: Every regularizer by name.
REGULARIZERS: dict[str, type[Regularizer]] = {"l2": L2, "l1": L1}


def get_regularizer(name: str, lmbda: float) -> Regularizer:
    """Build a regularizer by registry name."""
    key = str(name).strip().lower()
    if key not in REGULARIZERS:
        raise ValueError(f"unknown regularizer {name!r}; expected one of {sorted(REGULARIZERS)}")
    return REGULARIZERS[key](lmbda)


def regularizers_for(*, l2: float = 0.0, l1: float = 0.0) -> list[Regularizer]:
    """The regularizers with a non-zero strength, L2 first."""
    out: list[Regularizer] = []
    if l2:
        out.append(L2(l2))
    if l1:
        out.append(L1(l1))
    return out
