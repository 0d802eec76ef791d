"""The objective of a search: train one set of options, report each epoch to
Optuna (which may prune the trial), return the validation accuracy."""

from __future__ import annotations

import json
import math
import os
import socket
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..callbacks import Callback, EarlyStopping, TensorBoard
from ..network import Network
from ..training import Trainer
from .space import SearchSpace, build_configs

#: The objective is this validation metric, maximized.
METRIC = "val_accuracy"


class PruningCallback(Callback):
    """Reports each epoch's validation accuracy to an Optuna trial and prunes.

    After every epoch the monitored value is reported as the trial's
    intermediate value for step ``epoch``; when the study's pruner (a
    MedianPruner by default: stop a trial whose accuracy is below the median
    of earlier trials at the same epoch) says so, training stops by raising
    ``optuna.TrialPruned``.
    """

    def __init__(self, trial, monitor: str = METRIC, prune: bool = True):
        self.trial = trial
        self.monitor = monitor
        self.prune = prune

    def on_epoch_end(self, trainer, epoch, logs):
        import optuna

        value = logs.get(self.monitor)
        if value is None or not math.isfinite(value):
            return
        # Optuna's step counts from 0 (as studies already stored do); what
        # users read counts epochs from 1, as the console does.
        self.trial.report(float(value), epoch)
        if self.prune and self.trial.should_prune():
            self.trial.set_user_attr("pruned_at_epoch", int(epoch) + 1)
            raise optuna.TrialPruned(f"{self.monitor} {value:.4f} at epoch {epoch + 1} is poor")

    def __repr__(self) -> str:
        return f"PruningCallback(monitor={self.monitor!r}, prune={self.prune})"


def worker_name() -> str:
    """This process as each trial records it (user attribute ``worker``): ``host:pid``.

    A search that sees one of its worker processes die fails the trials
    still RUNNING under that worker's name (:mod:`nndl.search.workers`).
    """
    return f"{socket.gethostname()}:{os.getpid()}"


def _checked_xy(data, name: str):
    """``data`` as a pair of arrays (X of shape (m, n), y with m labels), or an error naming it."""
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"{name} must be a pair (X, y)")
    X, y = np.asarray(data[0]), np.asarray(data[1])
    if X.ndim != 2 or X.shape[0] != y.shape[0] or X.shape[0] == 0:
        raise ValueError(
            f"{name} must be a non-empty pair (X of shape (m, n), y with m labels), "
            f"got shapes {X.shape} and {y.shape}"
        )
    return X, y


def _n_classes(*ys) -> int:
    """The number of classes k of integer labels 0..k-1 (the network's outputs)."""
    labels = np.concatenate([np.asarray(y).ravel() for y in ys])
    if labels.size == 0 or not np.all(labels == np.round(labels)) or labels.min() < 0:
        raise ValueError("labels must be integers 0..k-1")
    return int(labels.max()) + 1


def train_with_options(options: Mapping, train, validation, *, callbacks=()):
    """Train the network of one set of options; return (network, history, score).

    ``score`` is the validation accuracy of the network as training leaves it
    (under early stopping: with the best epoch's parameters restored). The
    same options and data give bitwise the same network (the seed is part of
    the options), which is what lets :func:`~nndl.search.report_search` re-train the best
    trial instead of keeping every trial's weights.
    """
    X, y = train
    n_out = _n_classes(y, validation[1])
    net_cfg, train_fields, patience = build_configs(options, X.shape[1], n_out)
    net = Network.from_config(net_cfg, seed=train_fields["seed"])
    cbs = list(callbacks)
    if patience:
        cbs.insert(0, EarlyStopping(patience=patience, monitor=METRIC, restore_best=True))
    trainer = Trainer(net, callbacks=cbs, monitor=[METRIC], **train_fields)
    history = trainer.fit(X, y, validation_data=validation)
    return net, history, net.accuracy(*validation)


class Objective:
    """The function Optuna maximizes: validation accuracy after training.

    A trial samples the options, trains a fresh network on the training data
    with the validation accuracy reported (and pruned on) after each epoch,
    and returns the final validation accuracy. A trial that diverges, raises
    or produces nan records the reason in its ``error`` user attribute and
    fails alone: the worker goes on with the next trial. Each trial records
    the process that runs it (user attribute ``worker``, ``host:pid``).
    With ``tensorboard`` (a folder), each trial writes TensorBoard event files
    to ``tensorboard/trial-NNNN`` (:class:`~nndl.callbacks.TensorBoard`).
    """

    def __init__(
        self, space, train, validation, *, pruning: bool = True, callbacks=(), tensorboard=None
    ):
        self.space = SearchSpace.from_dict(space)
        self.train = _checked_xy(train, "train")
        self.validation = _checked_xy(validation, "validation")
        self.pruning = pruning
        self.callbacks = list(callbacks)
        self.tensorboard = tensorboard

    def _tensorboard_callbacks(self, trial) -> list[TensorBoard]:
        if self.tensorboard is None:
            return []
        logdir = Path(self.tensorboard) / f"trial-{trial.number:04d}"
        return [TensorBoard(logdir, hparams={"search.trial": trial.number})]

    def __call__(self, trial) -> float:
        trial.set_user_attr("worker", worker_name())
        options = self.space.suggest(trial)
        trial.set_user_attr("options", json.loads(json.dumps(options)))
        try:
            _, history, value = train_with_options(
                options,
                self.train,
                self.validation,
                callbacks=[
                    PruningCallback(trial, prune=self.pruning),
                    *self.callbacks,
                    *self._tensorboard_callbacks(trial),
                ],
            )
            if not math.isfinite(value):
                raise ValueError(f"{METRIC} is {value}")
        except Exception as exc:
            import optuna

            if not isinstance(exc, optuna.TrialPruned):
                trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
            raise
        trial.set_user_attr("epochs_run", len(history))
        return value
