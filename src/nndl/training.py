"""The trainer: epochs of mini-batch gradient descent, with callbacks.

>>> from nndl import Network, fit
>>> net = Network([64, 30, 10], seed=0)
>>> history = fit(net, X, y, epochs=10, mini_batch_size=10, learning_rate=0.5,
...               l2=1.0, validation_data=(Xv, yv), seed=1)   # doctest: +SKIP

Each epoch visits the training data in a fresh random order (a permutation
from the trainer's own generator; the caller's arrays are never changed)
and hands each mini-batch to the optimizer's ``update``, which asks the
network for the gradient by matrix backprop, adds the penalties and updates
the parameters (see :mod:`nndl.optimizers`). The run is reproducible: the
same seed and data give bitwise-identical weights.

A run can be stopped and continued exactly: :meth:`Trainer.state_dict` holds
everything (parameters, optimizer velocities, epoch and position in it, rate,
generator state, history, callbacks' state), a
:class:`~nndl.callbacks.Checkpoint` callback writes it to a file, and
``fit(..., resume_from=path)`` or :func:`resume` continue from it after
checking that the configuration and data are those of the saved run.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import time
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from .callbacks import Callback, History, overrides
from .checkpoint import (
    CheckpointError,
    check_training_state,
    config_hash,
    data_fingerprint,
    read_checkpoint,
)
from .kernels import ENGINES, choose_engine, compiled_loop
from .limits import short_repr
from .network import EVALUATION_CHUNK, Network
from .optimizers import Optimizer, get_optimizer
from .regularizers import regularizers_for
from .settings import default
from .settings import get as get_setting

__all__ = [
    "CheckpointError",
    "DivergenceError",
    "TrainConfig",
    "Trainer",
    "TrainingInterrupted",
    "fit",
    "resume",
]


#: Examples per call of the compiled loop when no callback runs per mini-batch.
_COMPILED_CHUNK_EXAMPLES = 10_000


class DivergenceError(RuntimeError):
    """Training produced non-finite numbers; the message names the epoch and a likely cause."""


def weight_decay_growth(
    optimizer: str, momentum: float, learning_rate: float, l2: float, n: int
) -> str | None:
    """Why the L2 weight decay alone makes the weights grow, or None when it shrinks them.

    Plain SGD multiplies the weights by the chapter's factor 1 - eta lambda / n
    at every step, which leaves (-1, 1) once eta lambda / n reaches 2; with
    momentum mu the bound is 2 (1 + mu), with Nesterov 2 (1 + mu) / (1 + 2 mu)
    (where the penalty's own step stops being a contraction).
    """
    if l2 <= 0 or n <= 0:
        return None
    rate = learning_rate * l2 / n
    shown = f"eta*lambda/n = {learning_rate:g}*{l2:g}/{n} = {rate:.3g}"
    if optimizer == "sgd":
        if rate < 2:
            return None
        return (
            f"the weight-decay factor 1 - eta*lambda/n = 1 - {learning_rate:g}*{l2:g}/{n} = "
            f"{1 - rate:.3g} lies outside (-1, 1), so the weights grow at every step "
            f"(eta below {2 * n / l2:.4g} keeps it inside)"
        )
    mu = momentum
    name, bound, formula = "momentum", 2 * (1 + mu), "2(1 + mu)"
    if optimizer == "nesterov":
        name, bound, formula = "Nesterov momentum", bound / (1 + 2 * mu), f"{formula}/(1 + 2 mu)"
    if rate < bound:
        return None
    return (
        f"with {name} mu = {mu:g} the weight decay makes the weights grow at every step once "
        f"eta*lambda/n reaches {formula} = {bound:.3g}, and here {shown} "
        f"(eta below {bound * n / l2:.4g} keeps it below)"
    )


@dataclass
class TrainConfig:
    """The settings of one training run (round-trips to JSON).

    The fields are the ``[training]`` rows of the settings schema
    (:mod:`nndl.settings`), which gives their defaults, ranges and meaning.
    ``optimizer`` None means ``sgd``, or ``momentum`` when ``momentum`` > 0.
    ``monitor`` lists what to record after each epoch, any of ``loss`` and
    ``accuracy`` (on the training data) and ``val_loss`` and ``val_accuracy``
    (on the evaluation data). ``None`` (the default) means ``val_accuracy``
    when evaluation data is given and nothing otherwise.
    """

    epochs: int = default("epochs")
    mini_batch_size: int = default("mini_batch_size")
    learning_rate: float = default("learning_rate")
    l2: float = default("l2")
    l1: float = default("l1")
    optimizer: str | None = default("optimizer")
    momentum: float = default("momentum")
    seed: int | None = default("seed")
    monitor: list[str] | None = field(default_factory=lambda: default("monitor"))
    shuffle: bool = default("shuffle")

    def validate(self) -> TrainConfig:
        """Check every field against the schema (names the field and its range); return self."""
        for f in fields(self):
            setattr(self, f.name, get_setting(f.name, "training").check(getattr(self, f.name)))
        if self.optimizer is None:
            self.optimizer = "momentum" if self.momentum else "sgd"
        get_optimizer(self.optimizer, self.momentum)  # name and momentum agree
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


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on request after a whole mini-batch, its state consistent.

    Raised by the trainer after :meth:`Trainer.request_interrupt` (or a first
    Ctrl-C under :meth:`Trainer.interrupt_on_sigint`), at the end of the
    current mini-batch. A :class:`~nndl.callbacks.Checkpoint` callback then
    writes a checkpoint from which ``fit(..., resume_from=path)`` continues
    exactly, mid-epoch included. It is a KeyboardInterrupt, so when uncaught
    it ends a program as Ctrl-C does.
    """

    def __init__(self, epoch: int, next_batch: int):
        self.epoch, self.next_batch = epoch, next_batch
        # ``epoch`` and ``next_batch`` count from 0 like ``Trainer.epoch``; the
        # message counts from 1, as the console does.
        super().__init__(
            f"training interrupted in epoch {epoch + 1} before mini-batch {next_batch + 1}"
        )


class Trainer:
    """Runs mini-batch gradient descent on a :class:`Network`.

    Parameters
    ----------
    network : Network
    config : TrainConfig, optional
        Defaults to ``TrainConfig()``; keyword arguments override its fields.
    callbacks : list of Callback
        Run in increasing ``priority`` (stable), after the trainer's History.
    optimizer : str or Optimizer, optional
        A registry name (same as the config field) or an optimizer instance
        to use instead of the one named by the config.

    Attributes a callback may use: ``network``, ``config``, ``optimizer``,
    ``history``, ``epoch`` (the current or last epoch), ``last_epoch`` (the
    last epoch this ``fit`` plans), ``learning_rate`` (change it to
    schedule), ``stop_training`` (set True to stop after this epoch), ``rng``
    (the generator for shuffling and dropout), ``n`` (the training-set size),
    ``train_data`` and ``validation_data`` (the validated (X, Y) pairs, Y as a
    target matrix), ``epoch_train_data`` (set it in ``on_epoch_begin`` to
    train one epoch on other arrays), ``resuming_epoch`` (in
    ``on_epoch_begin``: whether the epoch continues an interrupted one),
    ``evaluate(X, Y)``, ``interrupted`` (in ``on_train_end``: whether an
    exception ended training).

    Checkpoints: :meth:`state_dict` is the whole state of the run,
    ``fit(..., resume_from=path)`` continues from a checkpoint file after
    checking it belongs to this configuration and data, and :meth:`resume`
    rebuilds everything from the file alone.
    """

    def __init__(
        self,
        network: Network,
        config: TrainConfig | None = None,
        *,
        callbacks=(),
        optimizer: Optimizer | None = None,
        engine: str | None = None,
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
        if engine is not None and engine not in ENGINES:
            raise ValueError(f"engine must be one of {list(ENGINES)}, got {engine!r}")
        #: The engine asked for ("auto", "numpy", "numba"); None reads $NNDL_KERNEL.
        self.requested_engine = engine
        self.history = History()
        callbacks = list(callbacks)
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be Callback instances, got {type(cb).__name__}")
        # A stable sort: a Checkpoint (priority 100) runs after the callbacks whose state it saves.
        self.callbacks: list[Callback] = [
            self.history,
            *sorted(callbacks, key=lambda cb: cb.priority),
        ]
        self.rng = np.random.default_rng(self.config.seed)
        self.learning_rate = self.config.learning_rate
        self.regularizers = regularizers_for(l2=self.config.l2, l1=self.config.l1)
        self.epoch = -1
        self.last_epoch = -1
        self.stop_training = False
        self.interrupted = False
        self.n = 0
        self._train = None
        self._validation = None
        self._data_identity: dict | None = None
        self._log_cbs: list[Callback] = []
        #: Set by a callback in ``on_epoch_begin`` to train this epoch on other
        #: (already validated) arrays (X, Y), e.g. augmented copies.
        self.epoch_train_data = None
        #: True while ``on_epoch_begin`` runs for an epoch resumed in its middle
        #: (its first mini-batches trained before the interruption).
        self.resuming_epoch = False
        # Where the run stands, for checkpoints: "between" epochs, inside an
        # epoch's "batches", at its "epoch_end" (batches done), or "paused"
        # mid-epoch by TrainingInterrupted with _position = (next batch, order).
        self._phase = "between"
        self._position: tuple[int, np.ndarray] | None = None
        self._interrupt_requested = False

    # ---------------------------------------------------------------- helpers
    @property
    def engine(self) -> str:
        """What trains the mini-batches: ``"numba"`` or ``"numpy"`` (see :mod:`nndl.kernels`).

        ``"numba"``, the compiled loop, when Numba is installed and covers the
        run; ``"numpy"``, one ``optimizer.update`` call per mini-batch,
        otherwise or when asked for (``engine="numpy"``, ``NNDL_KERNEL=numpy``).
        :attr:`engine_reason` says why.
        """
        return self._engine_choice()[0]

    @property
    def engine_reason(self) -> str:
        """Why :attr:`engine` is the one it is, in a few words."""
        return self._engine_choice()[1]

    def _engine_choice(self):
        return choose_engine(self.network, self.optimizer, self.regularizers, self.requested_engine)

    def evaluate(self, X, Y, *, cost: bool = True, accuracy: bool = True) -> dict:
        """Cost (with the penalty, using the training-set size) and accuracy, no dropout."""
        X = self.network.check_X(X)
        Y = self.network.check_y(Y, X.shape[0])
        return self._evaluate_own(X, Y, cost=cost, accuracy=accuracy)

    def _evaluate_own(self, X, Y, *, cost: bool, accuracy: bool) -> dict:
        """:meth:`evaluate` on data already checked (the trainer's own, checked by ``fit``)."""
        cfg = self.config
        return self.network._evaluate_checked(
            X,
            Y,
            cost=cost,
            accuracy=accuracy,
            l2=cfg.l2,
            l1=cfg.l1,
            n=self.n or X.shape[0],
            batch_size=EVALUATION_CHUNK,
        )

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
        """The metrics recorded after each epoch: ``config.monitor`` resolved, plus
        those the callbacks require (an early-stopping rule on ``val_loss``, say)."""
        if self.config.monitor is not None:
            mon = list(self.config.monitor)
        else:
            mon = ["val_accuracy"] if self._validation is not None else []
        for cb in self.callbacks:
            mon += [k for k in cb.requires if k not in mon]
        return mon

    def _epoch_logs(self, epoch: int, seconds: float) -> dict:
        mon = self.monitor
        # logs["epoch"] counts from 1, as the console does (``epoch`` from 0).
        logs: dict = {"epoch": epoch + 1, "learning_rate": self.learning_rate, "time": seconds}
        X, Y = self._train
        # Huge weights may overflow on the way to a cost: the costs are checked
        # below, and numpy's warnings would only say the same thing less clearly.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            try:
                if "loss" in mon or "accuracy" in mon:
                    r = self._evaluate_own(X, Y, cost="loss" in mon, accuracy="accuracy" in mon)
                    logs.update(r)
                if self._validation is not None and ("val_loss" in mon or "val_accuracy" in mon):
                    Xv, Yv = self._validation
                    r = self._evaluate_own(
                        Xv, Yv, cost="val_loss" in mon, accuracy="val_accuracy" in mon
                    )
                    logs.update({f"val_{k}": v for k, v in r.items()})
            except ValueError as exc:  # non-finite outputs from finite weights
                if "non-finite" not in str(exc):
                    raise
                raise DivergenceError(self._divergence_message(epoch, str(exc))) from exc
        for key, what in (("loss", "training cost"), ("val_loss", "validation cost")):
            if key in logs and not np.isfinite(logs[key]):
                detail = f"the {what} is {logs[key]}"
                raise DivergenceError(self._divergence_message(epoch, detail))
        for cb in self._log_cbs:
            logs.update(cb.extra_logs(self, epoch))
        return logs

    def _check_finite(self, epoch: int) -> None:
        """Raise DivergenceError when a parameter, or the cost's penalty, is not finite."""
        net = self.network
        for i, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
            if not (np.isfinite(w).all() and np.isfinite(b).all()):
                detail = f"layer {i + 1} parameters became nan or inf"
                raise DivergenceError(self._divergence_message(epoch, detail))
        # Finite weights so large that the cost's penalty overflows: the cost is
        # infinite from this epoch on, whether or not it is monitored.
        with np.errstate(over="ignore", invalid="ignore"):
            penalty = sum(reg.penalty(net.weights, self.n) for reg in self.regularizers)
        if not np.isfinite(penalty):
            detail = "the weights grew so large that the cost's weight penalty is infinite"
            raise DivergenceError(self._divergence_message(epoch, detail))

    def _divergence_message(self, epoch: int, detail: str) -> str:
        # Epochs count from 1 in messages, as the command line prints them
        # ("Epoch 3/8"); callbacks and the history count from 0.
        cfg = self.config
        growth = weight_decay_growth(
            cfg.optimizer, cfg.momentum, self.learning_rate, cfg.l2, self.n
        )
        if growth:
            return (
                f"training diverged in epoch {epoch + 1} ({detail}): {growth}; use a smaller "
                "learning rate or L2 strength lambda"
            )
        return (
            f"training diverged in epoch {epoch + 1} ({detail}); the learning rate "
            f"{self.learning_rate:g} is probably too large for this network and data, or the "
            f"inputs are too large: try a learning rate 10 times smaller or rescale the inputs"
        )

    def _set_data(self, X, y, validation_data):
        """Validate and keep the training and evaluation data; return the training pair."""
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
            wanted = [k for k in self.monitor if k.startswith("val_")]
            if wanted:
                who = [type(cb).__name__ for cb in self.callbacks if set(cb.requires) & set(wanted)]
                by = f" (required by {', '.join(who)})" if who else ""
                raise ValueError(f"monitoring {wanted}{by} needs validation_data")
        self._data_identity = None  # fingerprinted lazily, for checkpoints only
        return X, Y

    # ------------------------------------------------------------------ train
    def fit(
        self, X, y, validation_data=None, *, epochs: int | None = None, resume_from=None
    ) -> History:
        """Train on (X, y); return the :class:`History` (also ``self.history``).

        ``y`` may be labels (m,) or targets (m, n_outputs). ``validation_data``
        is an optional (X, y) pair evaluated after each epoch, never trained on.
        ``epochs`` overrides the config (used to continue a run).

        ``resume_from`` is a checkpoint file (see :class:`nndl.callbacks.Checkpoint`):
        the trainer first takes its state, after checking that it was written
        by a run with this network, configuration (the number of epochs aside),
        callbacks and data, then trains what remains of ``config.epochs``, the
        unfinished part of an interrupted epoch first.
        """
        X, Y = self._set_data(X, y, validation_data)
        if resume_from is not None:
            self.load_checkpoint(resume_from)
        if epochs is None:
            epochs = self._remaining_epochs() if resume_from is not None else self.config.epochs
        first = self.epoch if self._position is not None else self.epoch + 1
        self.last_epoch = first + epochs - 1
        batch_cbs = [cb for cb in self.callbacks if overrides(cb, "on_batch_end")]
        self._log_cbs = [cb for cb in self.callbacks if overrides(cb, "extra_logs")]
        self.stop_training = False
        self.interrupted = False
        for cb in self.callbacks:
            cb.on_train_begin(self)
        try:
            for epoch in range(first, self.last_epoch + 1):
                self._train_epoch(epoch, X, Y, batch_cbs)
                if self.stop_training:
                    break
                if self._interrupt_requested and epoch < self.last_epoch:
                    raise TrainingInterrupted(epoch + 1, 0)
        except BaseException:
            self.interrupted = True
            raise
        finally:
            self._interrupt_requested = False
            for cb in self.callbacks:
                cb.on_train_end(self)
        return self.history

    def _train_epoch(self, epoch: int, X, Y, batch_cbs) -> None:
        self._phase = "batches"
        self.epoch = epoch
        self.epoch_train_data = None
        # A callback that draws from self.rng here must not draw again for an
        # epoch resumed in its middle: the generator is where the interruption
        # left it (see AugmentCallback, which replays its epoch-start state).
        self.resuming_epoch = self._position is not None
        for cb in self.callbacks:
            cb.on_epoch_begin(self, epoch)
        self.resuming_epoch = False
        # A callback (data augmentation, say) may hand this epoch its own
        # training set; monitoring still uses the original data.
        Xe, Ye = self.epoch_train_data or (X, Y)
        t0 = time.perf_counter()
        self._run_epoch(Xe, Ye, epoch, batch_cbs)
        seconds = time.perf_counter() - t0
        self._phase = "epoch_end"
        self._check_finite(epoch)
        logs = self._epoch_logs(epoch, seconds)
        for cb in self.callbacks:
            cb.on_epoch_end(self, epoch, logs)
        self._phase = "between"

    def _epoch_order(self, n: int):
        """(first mini-batch, order of the examples) for this epoch."""
        if self._position is None:
            order = self.rng.permutation(n) if self.config.shuffle else np.arange(n)
            return 0, order
        # Finish the epoch an interruption (or a checkpoint of one) left unfinished.
        first, order = self._position
        self._position = None
        if order.shape != (n,):
            raise ValueError(
                f"the unfinished epoch visits {order.shape[0]} examples but this epoch's "
                f"training data has {n}"
            )
        return first, order

    def _pause(self, epoch: int, next_batch: int, order) -> None:
        self._interrupt_requested = False
        self._position = (next_batch, order)
        self._phase = "paused"
        raise TrainingInterrupted(epoch, next_batch)

    def _run_epoch(self, X, Y, epoch: int, batch_cbs) -> None:
        if self.engine == "numba":
            self._run_epoch_compiled(X, Y, epoch, batch_cbs)
            return
        net, rng = self.network, self.rng
        n, m = X.shape[0], self.config.mini_batch_size
        first, order = self._epoch_order(n)
        # The optimizer owns the update: one call per mini-batch, whatever the optimizer.
        update = self.optimizer.update
        regs = self.regularizers
        dropout = any(net.dropout)
        # Overflow or invalid arithmetic means the run has diverged: stop at
        # once instead of carrying nan weights through the rest of the epoch.
        with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
            try:
                for batch, start in enumerate(range(first * m, n, m), start=first):
                    idx = order[start : start + m]
                    xb, yb = X[idx], Y[idx]
                    masks = net.sample_dropout_masks(len(idx), rng) if dropout else None
                    # The rate is read at each step: a batch callback may schedule it.
                    update(net, xb, yb, masks, self.learning_rate, regs, n)
                    self._end_of_batch(epoch, batch, order, batch_cbs)
            except (FloatingPointError, ValueError) as exc:
                if isinstance(exc, ValueError) and "non-finite" not in str(exc):
                    raise
                raise DivergenceError(self._divergence_message(epoch, str(exc))) from exc

    def _run_epoch_compiled(self, X, Y, epoch: int, batch_cbs) -> None:
        """The epoch's mini-batches in the compiled loop, in chunks between callbacks.

        With per-batch callbacks a chunk is one mini-batch (they may read the
        network or change the rate after each); without, about
        ``_COMPILED_CHUNK_EXAMPLES`` examples, so that a stop request waits a
        fraction of a second. The same mini-batches, in the same order, with
        the same dropout masks as on the NumPy path.
        """
        n, m = X.shape[0], self.config.mini_batch_size
        first, order = self._epoch_order(n)
        loop = compiled_loop(self.network, self.optimizer, self.regularizers, m)
        n_batches = -(-n // m)
        chunk = 1 if batch_cbs else max(1, _COMPILED_CHUNK_EXAMPLES // m)
        with loop.one_blas_thread():
            for start in range(first, n_batches, chunk):
                stop = min(start + chunk, n_batches)
                diverged = loop.run(X, Y, order, start, stop, self.learning_rate, n, self.rng)
                if diverged >= 0:
                    detail = f"pre-activations became nan or inf in mini-batch {diverged}"
                    raise DivergenceError(self._divergence_message(epoch, detail))
                self._end_of_batch(epoch, stop - 1, order, batch_cbs)

    def _end_of_batch(self, epoch: int, batch: int, order, batch_cbs) -> None:
        """The per-batch callbacks after mini-batch ``batch``, then a requested stop."""
        try:
            for cb in batch_cbs:
                cb.on_batch_end(self, batch)
        except KeyboardInterrupt:
            # The update is complete: a stop raised by a batch callback (or a
            # Ctrl-C landing in one) leaves a state that a checkpoint resumes.
            self._position, self._phase = (batch + 1, order), "paused"
            raise
        if self._interrupt_requested:
            self._pause(epoch, batch + 1, order)

    # ------------------------------------------------------------ interrupts
    def request_interrupt(self) -> None:
        """Ask training to stop after the current mini-batch with TrainingInterrupted.

        Safe to call from a signal handler or a callback; the state stays
        consistent, so a checkpoint taken then resumes exactly.
        """
        self._interrupt_requested = True

    @contextlib.contextmanager
    def interrupt_on_sigint(self, notify=None):
        """While active, Ctrl-C stops training cleanly after the current mini-batch.

        :meth:`interrupt_on_signals` for SIGINT alone: the first SIGINT
        calls :meth:`request_interrupt`, so the mini-batch under way is
        finished, a Checkpoint callback saves the run and ``fit`` raises
        :class:`TrainingInterrupted`; ``fit(..., resume_from=path)``
        continues exactly from there. A second SIGINT interrupts at once (a
        plain KeyboardInterrupt). ``notify``, a function of one string, is
        told of the first SIGINT in one line. Outside the main thread, where
        signal handlers cannot be installed, it changes nothing.
        """
        import signal

        with self.interrupt_on_signals(notify, signals=(signal.SIGINT,)):
            yield self

    @contextlib.contextmanager
    def interrupt_on_signals(self, notify=None, signals=None):
        """While active, a stop signal stops training cleanly after the current mini-batch.

        The one stop behaviour of nndl (``nndl train`` runs under it).
        ``signals`` defaults to SIGINT (Ctrl-C), SIGTERM and SIGHUP, those
        the platform has. The first of them calls :meth:`request_interrupt`,
        as Ctrl-C does under :meth:`interrupt_on_sigint`; a second one (any
        of them, or one after :meth:`request_interrupt`) interrupts at once
        with a plain KeyboardInterrupt, which may land in the middle of a
        mini-batch (then :attr:`can_checkpoint` is False). ``notify``, a
        function of one string, is told of the first signal in one line.
        Yields the list of the signal numbers received, first first (the
        command line exits with 128 plus the first). Outside the main thread
        nothing changes.
        """
        from ._signals import STOP_SIGNALS, signal_name, stop_signal_handler

        received: list[int] = []

        def handler(signum, frame):
            received.append(signum)
            if len(received) > 1 or self._interrupt_requested:
                raise KeyboardInterrupt
            self.request_interrupt()
            if notify is None:
                return
            name = signal_name(signum)
            if name == "SIGINT":
                notify("stopping after this mini-batch (Ctrl-C again to stop at once)")
            else:
                notify(f"{name}: stopping after this mini-batch (a second signal stops at once)")

        with stop_signal_handler(handler, STOP_SIGNALS if signals is None else signals):
            yield received

    # ------------------------------------------------------------ checkpoints
    @property
    def completed_epochs(self) -> int:
        """Epochs fully trained so far (an epoch counts once its callbacks may see it)."""
        return self.epoch if self._phase in ("batches", "paused") else self.epoch + 1

    @property
    def can_checkpoint(self) -> bool:
        """Whether :meth:`state_dict` would describe a consistent state now."""
        return self._phase in ("between", "paused")

    def _remaining_epochs(self) -> int:
        if self.stop_training:  # the checkpointed run had already stopped
            return 0
        return max(0, self.config.epochs - self.completed_epochs)

    def identity(self) -> dict:
        """What a run must share with a checkpoint to resume from it.

        The network's configuration, the training configuration (the number
        of epochs aside, which a resumed run may change), the optimizer,
        fingerprints of the training and evaluation data, and the settings
        of the callbacks that shape the run (schedules, stopping rules).
        """
        if self._train is None:
            raise RuntimeError("the run's identity needs its data: call fit first")
        if self._data_identity is None:
            val = self._validation
            self._data_identity = {
                "train": data_fingerprint(*self._train),
                "validation": None if val is None else data_fingerprint(*val),
            }
        train = self.config.to_dict()
        train.pop("epochs")
        return {
            "network": self.network.config.to_dict(),
            "train": train,
            "optimizer": repr(self.optimizer),
            "data": self._data_identity,
            "callbacks": [
                {"class": type(cb).__name__, "config": cb.get_config()}
                for cb in self.callbacks
                if cb.get_config() is not None
            ],
        }

    def state_dict(self) -> dict:
        """The whole state of the run, for :func:`nndl.checkpoint.write_checkpoint`.

        Valid between epochs, at the end of an epoch (from ``on_epoch_end``)
        and after :class:`TrainingInterrupted`; not in the middle of the
        mini-batch loop, where the optimizer and the generator are mid-way.
        """
        if self._phase == "batches":
            raise RuntimeError(
                "a checkpoint can be taken between epochs, in on_epoch_end or after "
                "TrainingInterrupted, not in the middle of an epoch's mini-batches"
            )
        from ._version import __version__

        identity = self.identity()
        net, opt = self.network, self.optimizer
        position = None
        if self._position is not None:
            next_batch, order = self._position
            position = {"next_batch": next_batch, "order": order}
        return {
            "nndl_version": __version__,
            "config_hash": config_hash(identity),
            "identity": identity,
            "network": {"config": net.config.to_dict(), "params": net.get_params()},
            "train_config": self.config.to_dict(),
            "optimizer": {"class": type(opt).__name__, "state": opt.state_dict()},
            "epoch": self.epoch,
            "completed_epochs": self.completed_epochs,
            "position": position,
            "learning_rate": self.learning_rate,
            "stop_training": self.stop_training,
            "rng": self.rng.bit_generator.state,
            "history": self.history.records,
            "callbacks": [
                {"class": type(cb).__name__, "config": cb.get_config(), "state": cb.state_dict()}
                for cb in self.callbacks[1:]
                if cb.get_config() is not None or cb.state_dict() is not None
            ],
        }

    def load_checkpoint(self, path) -> None:
        """Take the state of the checkpoint at ``path`` (the data must be set: see ``fit``).

        Raises CheckpointError when the file is corrupted or partial, or was
        written by a run with another configuration or other data; the
        message names what differs.
        """
        state = read_checkpoint(path)
        try:
            self._check_identity(state, path)
            self.load_state_dict(state, source=path)
        except (KeyError, TypeError, IndexError, AttributeError) as exc:
            raise CheckpointError(
                f"{path} is not a usable nndl checkpoint: its state is incomplete ({exc!r})"
            ) from exc

    def _check_identity(self, state: dict, path) -> None:
        saved, now = state["identity"], self.identity()
        if state["config_hash"] != config_hash(saved):
            raise CheckpointError(f"{path} is corrupted: its configuration hash does not match")
        if config_hash(now) == state["config_hash"]:
            return
        diffs = [
            d
            for part in saved.keys() | now.keys()
            for d in _diff(saved.get(part), now.get(part), part)
        ]
        raise CheckpointError(
            f"refusing to resume from {path}: it was written by a run with a different "
            f"configuration (checkpoint -> now): {'; '.join(sorted(diffs))}"
        )

    def load_state_dict(self, state: dict, *, source="the state") -> None:
        """Restore what :meth:`state_dict` returned (no identity check: see load_checkpoint).

        The meaning of every field is checked first
        (:func:`nndl.checkpoint.check_training_state`: learning rate, epoch,
        position, example order, shapes and finiteness of the parameters and
        velocities, history, generator), so a refused state changes nothing;
        :class:`CheckpointError` names the field and ``source``.
        """
        net = self.network
        check_training_state(
            state,
            param_shapes=[p.shape for p in net.params()],
            dtype=net.dtype,
            mini_batch_size=self.config.mini_batch_size,
            shuffle=self.config.shuffle,
            source=source,
        )
        opt = state["optimizer"]
        if opt["class"] != type(self.optimizer).__name__:
            raise CheckpointError(
                f"the checkpoint's optimizer is {short_repr(opt['class'])}, this trainer's is "
                f"{type(self.optimizer).__name__}"
            )
        try:
            rng = _generator_from_state(state["rng"])
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise CheckpointError(
                f"{source} is not a usable nndl checkpoint: its rng is not the state of a "
                f"generator ({type(exc).__name__}: {short_repr(str(exc), 200)})"
            ) from exc
        net.set_params(state["network"]["params"])
        self.optimizer.load_state_dict(opt["state"])
        self.epoch = int(state["epoch"])
        pos = state["position"]
        if pos is None:
            self._position, self._phase = None, "between"
        else:
            self._position = (int(pos["next_batch"]), np.asarray(pos["order"]))
            self._phase = "paused"
        self.learning_rate = float(state["learning_rate"])
        self.stop_training = bool(state["stop_training"])
        self.rng = rng
        records = [dict(r) for r in state["history"]]
        if records and records[0].get("epoch") == 0:  # written before epochs counted from 1
            for r in records:
                r["epoch"] += 1
        self.history.records = records
        unused = list(self.callbacks[1:])
        for entry in state["callbacks"]:
            cb = next((c for c in unused if type(c).__name__ == entry["class"]), None)
            if cb is None:
                continue  # an observer (BatchMonitor, say) not used this time
            unused.remove(cb)
            if entry["state"] is not None:
                try:
                    cb.load_state_dict(entry["state"])
                except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
                    raise CheckpointError(
                        f"{source} is not a usable nndl checkpoint: its state of "
                        f"{entry['class']} is invalid ({type(exc).__name__}: "
                        f"{short_repr(str(exc), 200)})"
                    ) from exc

    @classmethod
    def resume(
        cls, path, X, y, validation_data=None, *, callbacks=(), epochs=None, optimizer=None
    ) -> Trainer:
        """Rebuild the network and trainer of a checkpoint and train to the end.

        The configuration comes from the file; pass the same data and the
        same kinds of callbacks as the interrupted run (their state comes from
        the file too). ``epochs`` changes the total number of epochs. Returns
        the trainer: ``trainer.network`` is the trained network,
        ``trainer.history`` the whole history.
        """
        state = read_checkpoint(path)
        try:
            net_config, params = state["network"]["config"], state["network"]["params"]
            # The parameters in the file must be those of the network it describes,
            # before a network of that size is allocated.
            sizes = net_config["sizes"]
            shapes = [s for a, b in itertools.pairwise(sizes) for s in ((b, a), (b,))]
            if [getattr(p, "shape", None) for p in params] != shapes:
                raise CheckpointError(
                    f"{path} is not a usable nndl checkpoint: its network parameters do not "
                    f"have the shapes of its layer sizes {short_repr(sizes)}"
                )
            net = Network.from_config(net_config, seed=0)
            cfg = asdict(TrainConfig.from_dict(dict(state["train_config"])))
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, CheckpointError):
                raise
            raise CheckpointError(
                f"{path} is not a usable nndl checkpoint: {short_repr(exc, 300)}"
            ) from exc
        if epochs is not None:
            cfg["epochs"] = epochs
        trainer = cls(net, TrainConfig.from_dict(cfg), callbacks=callbacks, optimizer=optimizer)
        trainer.fit(X, y, validation_data, resume_from=path)
        return trainer


def _diff(a, b, path: str) -> list[str]:
    """Readable differences between two JSON-like values, as "path: old -> new" lines."""
    if a == b:
        return []
    if isinstance(a, dict) and isinstance(b, dict):
        return [
            d for k in sorted(a.keys() | b.keys()) for d in _diff(a.get(k), b.get(k), f"{path}.{k}")
        ]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in _diff(x, y, f"{path}[{i}]")
        ]
    if isinstance(a, list) and isinstance(b, list):  # callbacks added or removed: name them

        def names(xs):
            return [x.get("class", x) if isinstance(x, dict) else x for x in xs]

        return [f"{path}: {names(a)!r} -> {names(b)!r}"]
    if isinstance(a, str) and isinstance(b, str) and max(len(a), len(b)) > 40:
        return [f"{path} differs"]  # digests: the values say nothing to a reader
    return [f"{path}: {a!r} -> {b!r}"]


_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


def _generator_from_state(state: dict) -> np.random.Generator:
    """A Generator whose bit generator has exactly ``state`` (names from a fixed list)."""
    name = state["bit_generator"]
    if name not in _BIT_GENERATORS:
        raise CheckpointError(f"unknown bit generator {name!r} in checkpoint")
    bitgen = getattr(np.random, name)()
    bitgen.state = state
    return np.random.Generator(bitgen)


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


def resume(path, X, y, validation_data=None, **kwargs) -> Trainer:
    """Continue the run saved in a checkpoint: :meth:`Trainer.resume`."""
    return Trainer.resume(path, X, y, validation_data, **kwargs)
