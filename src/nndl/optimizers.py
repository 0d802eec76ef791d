"""Optimizers: a state plus an update rule, applied to the parameters in place.

One convention everywhere (mu the momentum coefficient, eta the learning rate,
g the gradient of the cost including any penalty)::

    SGD       w <- w - eta g
    momentum  v <- mu v - eta g(w);          w <- w + v
    Nesterov  v <- mu v - eta g(w + mu v);   w <- w + v

The trainer makes one call per mini-batch, the same for every optimizer:
:meth:`Optimizer.update` (network, mini-batch, dropout masks, rate,
penalties). The optimizer asks the network for the gradient in the form it
needs and changes the parameters, so the code in this file is the code that
runs:

* :class:`SGD` runs the chapter's update as written,
  w <- (1 - eta lambda/n) w - (eta/m) sum_x dC_x/dw, with eta and 1/m folded
  into backprop's output error and the weight decay applied in place.
* every other optimizer takes the mean gradient, adds the penalties'
  gradients and calls its :meth:`Optimizer.step` ``(params, grads, eta)``,
  which may also be called directly. For Nesterov, ``update`` first calls
  :meth:`Optimizer.before_gradient`, which moves the parameters to the
  look-ahead point w + mu v; ``step`` then moves them back and applies the
  update, so between steps the parameters are always the true w.

Each optimizer keeps its own state (the velocities), exposed through
``state_dict`` / ``load_state_dict`` for checkpoints.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from ._validation import check_range

__all__ = ["OPTIMIZERS", "SGD", "Momentum", "Nesterov", "Optimizer", "get_optimizer"]


class Optimizer(ABC):
    """Base class: ``update`` runs one mini-batch; ``step(params, grads, eta)`` is its rule."""

    name = "optimizer"

    def update(self, network, X, Y, masks, eta: float, regularizers=(), n: int = 0) -> None:
        """One step of gradient descent on the mini-batch (X, Y), in place.

        Parameters
        ----------
        network : Network
            Its parameters are updated in place.
        X, Y : the mini-batch, validated (Y a target matrix), m examples
        masks : dropout masks from ``network.sample_dropout_masks``, or None
        eta : float
            The learning rate.
        regularizers : the penalties (:mod:`nndl.regularizers`) on the weights
        n : int
            The size of the training set, the n of the penalties (needed
            when there are regularizers).
        """
        params = network.params()
        self.before_gradient(params)
        nabla_w, nabla_b = network.backprop(X, Y, masks)  # mean over the m examples
        for reg in regularizers:
            for gw, w in zip(nabla_w, network.weights, strict=True):
                reg.add_gradient(gw, w, n)
        grads = [g for pair in zip(nabla_w, nabla_b, strict=True) for g in pair]
        self.step(params, grads, eta)

    def before_gradient(self, params) -> None:
        """Hook run by ``update`` before each gradient; moves params where g is wanted."""

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
    """Plain stochastic gradient descent: w <- w - eta g.

    ``update`` runs the chapter's rule in one pass per array (see below). A
    subclass that changes ``step`` or ``before_gradient`` without writing its
    own ``update`` gets the general :meth:`Optimizer.update`, which calls
    them, so overriding ``step`` always changes what training does.
    """

    name = "sgd"

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # Decided once, when the subclass is defined: no test per mini-batch.
        changes_rule = "step" in cls.__dict__ or "before_gradient" in cls.__dict__
        if changes_rule and "update" not in cls.__dict__:
            cls.update = Optimizer.update

    def update(self, network, X, Y, masks, eta, regularizers=(), n=0):
        # The chapter's update, with lambda the strength of each penalty:
        #
        #     w -> (1 - eta lambda/n) w - (eta/m) sum_x dC_x/dw    (L2)
        #     w -> w - (eta lambda/n) sgn(w) - (eta/m) sum_x dC_x/dw    (L1)
        #     b -> b - (eta/m) sum_x dC_x/db
        #
        # Backprop is linear in the output error, so scaling it once by eta/m
        # gives (eta/m) sum_x dC_x/dw directly, without a pass over each
        # gradient matrix; the penalty's part is applied to w in place first.
        nabla_w, nabla_b = network.backprop(X, Y, masks, scale=eta)
        weights, biases = network.weights, network.biases
        for reg in regularizers:
            for w in weights:
                reg.sgd_decay(w, eta, n)
        for p, g in zip(weights + biases, nabla_w + nabla_b, strict=True):
            p -= g

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
