"""Optimizers: a state plus an update rule, applied to the parameters in place.

One convention everywhere (mu the momentum coefficient, eta the learning rate,
g the gradient of the cost including any penalty)::

    SGD       w <- w - eta g
    momentum  v <- mu v - eta g(w);          w <- w + v
    Nesterov  v <- mu v - eta g(w + mu v);   w <- w + v

For Nesterov the trainer calls :meth:`Optimizer.before_gradient` to move the
parameters to the look-ahead point w + mu v before computing g; ``step`` then
moves them back and applies the update, so between steps the parameters are
always the true w.

Each optimizer keeps its own state (the velocities), exposed through
``state_dict`` / ``load_state_dict`` for checkpoints.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ._validation import check_range

__all__ = ["OPTIMIZERS", "SGD", "Momentum", "Nesterov", "Optimizer", "get_optimizer"]


class Optimizer(ABC):
    """Base class: ``step(params, grads, eta)`` updates ``params`` in place."""

    name = "optimizer"

    def before_gradient(self, params) -> None:
        """Hook run before each gradient; moves params where g is wanted."""

    @abstractmethod
    def step(self, params, grads, eta: float) -> None:
        """Update ``params`` in place from ``grads`` (which it may overwrite)."""

    def reset(self) -> None:
        """Forget any state (velocities)."""

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class SGD(Optimizer):
    """Plain stochastic gradient descent: w <- w - eta g."""

    name = "sgd"

    def step(self, params, grads, eta):
        for p, g in zip(params, grads, strict=True):
            g *= eta
            p -= g


class Momentum(Optimizer):
    """Momentum: v <- mu v - eta g; w <- w + v. ``mu = 0`` is plain SGD."""

    name = "momentum"

    def __init__(self, momentum: float = 0.9):
        self.mu = check_range("momentum", momentum, low=0.0, high=1.0, high_inclusive=False)
        self.velocities: list[np.ndarray] | None = None

    def _ensure(self, params):
        if self.velocities is None or len(self.velocities) != len(params):
            self.velocities = [np.zeros_like(p) for p in params]

    def step(self, params, grads, eta):
        self._ensure(params)
        mu = self.mu
        for p, g, v in zip(params, grads, self.velocities, strict=True):
            v *= mu
            g *= eta
            v -= g
            p += v

    def reset(self):
        self.velocities = None

    def state_dict(self):
        return {
            "velocities": None if self.velocities is None else [v.copy() for v in self.velocities]
        }

    def load_state_dict(self, state):
        vel = state.get("velocities")
        self.velocities = None if vel is None else [np.array(v) for v in vel]

    def __repr__(self):
        return f"{type(self).__name__}(momentum={self.mu!r})"


class Nesterov(Momentum):
    """Nesterov accelerated gradient: v <- mu v - eta g(w + mu v); w <- w + v."""

    name = "nesterov"

    def before_gradient(self, params):
        self._ensure(params)
        if self.mu:
            for p, v in zip(params, self.velocities, strict=True):
                p += self.mu * v

    def step(self, params, grads, eta):
        self._ensure(params)
        mu = self.mu
        for p, g, v in zip(params, grads, self.velocities, strict=True):
            # p currently holds w + mu v_old; the new w is w + v_new.
            p -= mu * v
            v *= mu
            g *= eta
            v -= g
            p += v


#: Every optimizer by name; tests run over this list.
OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "momentum": Momentum, "nesterov": Nesterov}


def get_optimizer(name_or_obj="sgd", momentum: float = 0.0) -> Optimizer:
    """Build an optimizer by registry name (or pass an instance through).

    ``momentum`` is the coefficient mu for ``"momentum"`` and ``"nesterov"``;
    it must be 0 for ``"sgd"``.
    """
    if isinstance(name_or_obj, Optimizer):
        return name_or_obj
    if not isinstance(name_or_obj, str):
        raise TypeError(f"optimizer must be a name, got {type(name_or_obj).__name__}")
    key = name_or_obj.strip().lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name_or_obj!r}; expected one of {sorted(OPTIMIZERS)}")
    momentum = check_range("momentum", momentum, low=0.0, high=1.0, high_inclusive=False)
    if key == "sgd":
        if momentum:
            raise ValueError(
                "momentum must be 0 with optimizer 'sgd'; use 'momentum' or 'nesterov'"
            )
        return SGD()
    return OPTIMIZERS[key](momentum)
