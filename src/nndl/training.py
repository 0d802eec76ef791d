"""The trainer: epochs of mini-batch gradient descent, with callbacks.

>>> from nndl import Network, fit
>>> net = Network([64, 30, 10], seed=0)
>>> history = fit(net, X, y, epochs=10, mini_batch_size=10, learning_rate=0.5,
...               l2=1.0, validation_data=(Xv, yv), seed=1)   # doctest: +SKIP

Each epoch visits the training data in a fresh random order (a permutation
from the trainer's own generator; the caller's arrays are never changed),
computes the gradient of each mini-batch by matrix backprop, adds the
penalties' gradients and lets the optimizer update the parameters. The run is
reproducible: the same seed and data give bitwise-identical weights.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

import numpy as np

from ._validation import check_range
from .callbacks import MONITOR_KEYS, Callback, History, overrides
from .network import Network
from .optimizers import SGD, Optimizer, get_optimizer
from .regularizers import regularizers_for

__all__ = ["DivergenceError", "TrainConfig", "Trainer", "fit"]


class DivergenceError(RuntimeError):
    """Training produced non-finite numbers; the message names the epoch and a likely cause."""


@dataclass
class TrainConfig:
    """The settings of one training run (round-trips to JSON).

    ``monitor`` lists what to record after each epoch, any of ``loss`` and
    ``accuracy`` (on the training data) and ``val_loss`` and ``val_accuracy``
    (on the evaluation data). ``None`` (the default) means ``val_accuracy``
    when evaluation data is given and nothing otherwise.
    """

    epochs: int = 30
    mini_batch_size: int = 10
    learning_rate: float = 0.5
    l2: float = 0.0
    l1: float = 0.0
    optimizer: str = "sgd"
    momentum: float = 0.0
    seed: int | None = None
    monitor: list[str] | None = None
    shuffle: bool = True

    def validate(self) -> TrainConfig:
        """Check every field against its allowed range; return self."""
        self.epochs = check_range("epochs", self.epochs, low=0, integer=True)
        self.mini_batch_size = check_range(
            "mini_batch_size", self.mini_batch_size, low=1, integer=True
        )
        self.learning_rate = check_range(
            "learning_rate", self.learning_rate, low=0.0, low_inclusive=False
        )
        self.l2 = check_range("l2", self.l2, low=0.0)
        self.l1 = check_range("l1", self.l1, low=0.0)
        self.momentum = check_range(
            "momentum", self.momentum, low=0.0, high=1.0, high_inclusive=False
        )
        get_optimizer(self.optimizer, self.momentum)  # name and momentum agree
        if self.seed is not None:
            self.seed = check_range("seed", self.seed, low=0, integer=True)
        if self.monitor is None:
            return self
        if isinstance(self.monitor, str):
            self.monitor = [self.monitor]
        unknown = [k for k in self.monitor if k not in MONITOR_KEYS]
        if unknown:
            raise ValueError(
                f"unknown monitor key(s) {unknown}; expected any of {list(MONITOR_KEYS)}"
            )
        self.monitor = list(self.monitor)
        return self

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown training option(s): {sorted(unknown)}")
        return cls(**d).validate()


class Trainer:
    """Runs mini-batch gradient descent on a :class:`Network`.

    Parameters
    ----------
    network : Network
    config : TrainConfig, optional
        Defaults to ``TrainConfig()``; keyword arguments override its fields.
    callbacks : list of Callback
    optimizer : str or Optimizer, optional
        A registry name (same as the config field) or an optimizer instance
        to use instead of the one named by the config.

    Attributes a callback may use: ``network``, ``config``, ``optimizer``,
    ``history``, ``epoch`` (the current or last epoch), ``learning_rate``
    (change it to schedule), ``stop_training`` (set True to stop after this
    epoch), ``rng`` (the generator for shuffling and dropout), ``n`` (the
    training-set size), ``train_data`` and ``validation_data`` (the validated
    (X, Y) pairs, Y as a target matrix), ``epoch_train_data`` (set it in
    ``on_epoch_begin`` to train one epoch on other arrays), ``evaluate(X, Y)``.
    """

    def __init__(
        self,
        network: Network,
        config: TrainConfig | None = None,
        *,
        callbacks=(),
        optimizer: Optimizer | None = None,
        **overrides_,
    ):
        if not isinstance(network, Network):
            raise TypeError(f"network must be a Network, got {type(network).__name__}")
        if isinstance(optimizer, str):  # a registry name is a config field
            overrides_["optimizer"], optimizer = optimizer, None
        cfg = asdict(config) if config is not None else {}
        cfg.update(overrides_)
        self.config = TrainConfig.from_dict(cfg)
        self.network = network
        self.optimizer = optimizer or get_optimizer(self.config.optimizer, self.config.momentum)
        self.history = History()
        self.callbacks: list[Callback] = [self.history, *callbacks]
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be Callback instances, got {type(cb).__name__}")
        self.rng = np.random.default_rng(self.config.seed)
        self.learning_rate = self.config.learning_rate
        self.regularizers = regularizers_for(l2=self.config.l2, l1=self.config.l1)
        self.epoch = -1
        self.stop_training = False
        self.n = 0
        self._train = None
        self._validation = None
        #: Set by a callback in ``on_epoch_begin`` to train this epoch on other
        #: (already validated) arrays (X, Y), e.g. augmented copies.
        self.epoch_train_data = None

    # ---------------------------------------------------------------- helpers
    def evaluate(self, X, Y, *, cost: bool = True, accuracy: bool = True) -> dict:
        """Cost (with the penalty, using the training-set size) and accuracy, no dropout."""
        net = self.network
        out = {}
        if cost:
            out["loss"] = net.cost_value(
                X, Y, l2=self.config.l2, l1=self.config.l1, n=self.n or X.shape[0]
            )
        if accuracy:
            out["accuracy"] = net.accuracy(X, Y)
        return out

    @property
    def train_data(self):
        """The validated training pair (X, Y) of the current ``fit``."""
        return self._train

    @property
    def validation_data(self):
        """The validated evaluation pair (X, Y), or None."""
        return self._validation

    @property
    def monitor(self) -> list[str]:
        """The metrics recorded after each epoch (``config.monitor`` resolved)."""
        if self.config.monitor is not None:
            return self.config.monitor
        return ["val_accuracy"] if self._validation is not None else []

    def _epoch_logs(self, epoch: int, seconds: float) -> dict:
        mon = self.monitor
        logs: dict = {"epoch": epoch, "learning_rate": self.learning_rate, "time": seconds}
        X, Y = self._train
        if "loss" in mon or "accuracy" in mon:
            r = self.evaluate(X, Y, cost="loss" in mon, accuracy="accuracy" in mon)
            logs.update(r)
        if self._validation is not None and ("val_loss" in mon or "val_accuracy" in mon):
            Xv, Yv = self._validation
            r = self.evaluate(Xv, Yv, cost="val_loss" in mon, accuracy="val_accuracy" in mon)
            logs.update({f"val_{k}": v for k, v in r.items()})
        return logs

    def _check_finite(self, epoch: int, detail: str = "") -> None:
        for i, (w, b) in enumerate(zip(self.network.weights, self.network.biases, strict=True)):
            if not (np.isfinite(w).all() and np.isfinite(b).all()):
                detail = detail or f"layer {i + 1} parameters became nan or inf"
                raise DivergenceError(self._divergence_message(epoch, detail))

    def _divergence_message(self, epoch: int, detail: str) -> str:
        return (
            f"training diverged in epoch {epoch} ({detail}); the learning rate "
            f"{self.learning_rate:g} is probably too large for this network and data, or the "
            f"inputs are too large: try a learning rate 10 times smaller or rescale the inputs"
        )

    # ------------------------------------------------------------------ train
    def fit(self, X, y, validation_data=None, *, epochs: int | None = None) -> History:
        """Train on (X, y); return the :class:`History` (also ``self.history``).

        ``y`` may be labels (m,) or targets (m, n_outputs). ``validation_data``
        is an optional (X, y) pair evaluated after each epoch, never trained on.
        ``epochs`` overrides the config (used to continue a run).
        """
        net = self.network
        X = net.check_X(X)
        Y = net.check_y(y, X.shape[0])
        self._train = (X, Y)
        self.n = X.shape[0]
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise TypeError("validation_data must be a pair (X, y)")
            Xv = net.check_X(validation_data[0], name="validation X")
            Yv = net.check_y(validation_data[1], Xv.shape[0], name="validation y")
            self._validation = (Xv, Yv)
        else:
            self._validation = None
            wanted = [k for k in (self.config.monitor or []) if k.startswith("val_")]
            if wanted:
                raise ValueError(f"monitoring {wanted} needs validation_data")

        n_epochs = self.config.epochs if epochs is None else epochs
        batch_cbs = [cb for cb in self.callbacks if overrides(cb, "on_batch_end")]
        self.stop_training = False
        for cb in self.callbacks:
            cb.on_train_begin(self)
        try:
            start_epoch = self.epoch + 1
            for epoch in range(start_epoch, start_epoch + n_epochs):
                self.epoch = epoch
                self.epoch_train_data = None
                for cb in self.callbacks:
                    cb.on_epoch_begin(self, epoch)
                # A callback (data augmentation, say) may hand this epoch its own
                # training set; monitoring still uses the original data.
                Xe, Ye = self.epoch_train_data or (X, Y)
                t0 = time.perf_counter()
                self._run_epoch(Xe, Ye, epoch, batch_cbs)
                seconds = time.perf_counter() - t0
                self._check_finite(epoch)
                logs = self._epoch_logs(epoch, seconds)
                for cb in self.callbacks:
                    cb.on_epoch_end(self, epoch, logs)
                if self.stop_training:
                    break
        finally:
            for cb in self.callbacks:
                cb.on_train_end(self)
        return self.history

    def _run_epoch(self, X, Y, epoch: int, batch_cbs) -> None:
        net, opt, rng = self.network, self.optimizer, self.rng
        n, m = X.shape[0], self.config.mini_batch_size
        order = rng.permutation(n) if self.config.shuffle else np.arange(n)
        params = net.params()
        weights, biases = net.weights, net.biases
        regs = self.regularizers
        eta = self.learning_rate
        plain_sgd = type(opt) is SGD
        dropout = any(net.dropout)
        # Overflow or invalid arithmetic means the run has diverged: stop at
        # once instead of carrying nan weights through the rest of the epoch.
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            try:
                for batch, start in enumerate(range(0, n, m)):
                    idx = order[start : start + m]
                    xb, yb = X[idx], Y[idx]
                    masks = net.sample_dropout_masks(len(idx), rng) if dropout else None
                    if plain_sgd:
                        # The chapter's update, w <- (1 - eta lambda/n) w - eta g,
                        # with eta folded into backprop: one pass per array.
                        nabla_w, nabla_b = net.backprop(xb, yb, masks, scale=eta)
                        for reg in regs:
                            for w in weights:
                                reg.sgd_decay(w, eta, n)
                        for p, g in zip(weights + biases, nabla_w + nabla_b, strict=True):
                            p -= g
                    else:
                        opt.before_gradient(params)
                        nabla_w, nabla_b = net.backprop(xb, yb, masks)
                        for reg in regs:
                            for gw, w in zip(nabla_w, weights, strict=True):
                                reg.add_gradient(gw, w, n)
                        grads = [g for pair in zip(nabla_w, nabla_b, strict=True) for g in pair]
                        opt.step(params, grads, self.learning_rate)
                    for cb in batch_cbs:
                        cb.on_batch_end(self, batch)
            except (FloatingPointError, ValueError) as exc:
                if isinstance(exc, ValueError) and "non-finite" not in str(exc):
                    raise
                raise DivergenceError(self._divergence_message(epoch, str(exc))) from exc


def fit(
    network: Network, X, y, *, validation_data=None, callbacks=(), optimizer=None, **config
) -> History:
    """Train ``network`` in place and return its :class:`History`.

    Keyword arguments are the fields of :class:`TrainConfig` (epochs,
    mini_batch_size, learning_rate, l2, l1, optimizer, momentum, seed, monitor,
    shuffle).
    """
    trainer = Trainer(network, callbacks=callbacks, optimizer=optimizer, **config)
    return trainer.fit(X, y, validation_data)
