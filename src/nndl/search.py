"""Automated hyper-parameter search on Optuna, from one laptop to many machines.

Grid search, random search (Bergstra and Bengio 2012) and Bayesian
optimization (Optuna's TPE; a Gaussian-process sampler where Optuna and
PyTorch provide it) over any training option, with poor trials pruned from
their per-epoch validation accuracy. Selection uses the validation data only:
the objective of a trial is the validation accuracy of the network its
configuration produces (the last epoch's, or the restored best one under
early stopping); the test set is evaluated once, for the best trial, by
:func:`report_search`, and reported apart.

The search space
----------------
A JSON or TOML document (or a dict) with a ``params`` table. Each entry is an
option of ``nndl train`` and either a fixed value or a distribution::

    [params]
    learning_rate = {type = "float", low = 0.01, high = 10.0, log = true}
    l2 = {type = "float", low = 0.1, high = 100.0, log = true}
    mini_batch_size = [10, 20, 50]          # a list: categorical choices
    hidden_sizes = [[30], [100], [30, 30]]  # choices of hidden layers
    hidden_activation = ["sigmoid", "relu"]
    epochs = 5                               # a plain value: fixed

    [pruning]                                # optional: MedianPruner settings
    n_startup_trials = 5
    n_warmup_steps = 1

Distributions: ``{"type": "float", "low", "high", "log"?, "step"?}``,
``{"type": "int", "low", "high", "log"?, "step"?}``,
``{"type": "categorical", "choices": [...]}``; any of them may give
``"grid": [...]``, the values the grid sampler visits (int and categorical
ranges are enumerated by themselves; a continuous float needs ``grid`` or
``step``). The options: see :data:`OPTIONS`.

Storage
-------
``storage=None`` keeps the study in memory (one process). A file path (or
``journal:PATH``) is an Optuna journal file, safe for several processes on
one machine. A database URL (``postgresql://user@host/db``,
``mysql://...``) lets workers on several machines share the study; each runs
the same command (``nndl search --study NAME --storage URL``). Database
workers send a heartbeat: the trial of a worker that was killed is marked
failed after ``grace_period`` seconds and retried up to ``max_retry`` times.
SQLite URLs work for one process only (a warning is given otherwise).

Watch a study live with optuna-dashboard (``pip install optuna-dashboard``)::

    optuna-dashboard postgresql://user@host/db     # or: optuna-dashboard study.journal

Several local worker processes need the usual ``if __name__ == "__main__":``
guard in a script, since they are started with the "spawn" method.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import io
import json
import math
import multiprocessing
import os
import random
import time
import tomllib
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._io import atomic_write_bytes, atomic_write_json, atomic_write_text
from .callbacks import Callback
from .network import Network, NetworkConfig
from .training import TrainConfig, Trainer

__all__ = [
    "OPTIONS",
    "SAMPLERS",
    "Objective",
    "ParamSpec",
    "PruningCallback",
    "SearchResult",
    "SearchSpace",
    "best_config",
    "create_study",
    "dashboard_command",
    "make_sampler",
    "make_storage",
    "report_search",
    "run_search",
    "run_worker",
    "train_with_options",
    "write_trials_csv",
]

#: Options a search space may set, and what they mean.
OPTIONS = {
    # the network
    "hidden_sizes": "hidden layer sizes, e.g. [30] or [100, 30] (choices: a list of lists)",
    "hidden_units": "neurons in each hidden layer (with hidden_layers, instead of hidden_sizes)",
    "hidden_layers": "number of hidden layers of hidden_units neurons (default 1)",
    "hidden_activation": "sigmoid, tanh, relu or linear",
    "cost": "cross_entropy, log_likelihood or quadratic",
    "output_activation": "the output layer's activation (default: the cost's natural pair)",
    "initializer": "default, large, glorot or he",
    "dropout": "probability of dropping a hidden neuron in training, in [0, 1)",
    "dtype": "float64 or float32",
    # the training
    "learning_rate": "eta > 0",
    "l2": "L2 regularization parameter lambda >= 0",
    "l1": "L1 regularization parameter >= 0",
    "momentum": "momentum coefficient mu in [0, 1) (selects the momentum optimizer)",
    "optimizer": "sgd, momentum or nesterov",
    "mini_batch_size": "mini-batch size >= 1",
    "epochs": "epochs per trial >= 1",
    "early_stopping": "patience in epochs of no improvement in validation accuracy (0: off)",
    "seed": "seed of the initial weights and the shuffling (the same for every trial)",
}

_ALIASES = {
    "eta": "learning_rate",
    "lmbda": "l2",
    "lambda": "l2",
    "hidden": "hidden_sizes",
    "activation": "hidden_activation",
    "init": "initializer",
    "batch_size": "mini_batch_size",
    "patience": "early_stopping",
}

_NETWORK_KEYS = {
    "hidden_activation",
    "cost",
    "output_activation",
    "initializer",
    "dropout",
    "dtype",
}
_TRAIN_KEYS = {"learning_rate", "l2", "l1", "momentum", "optimizer", "mini_batch_size", "epochs"}
_PRUNING_KEYS = {"n_startup_trials", "n_warmup_steps", "interval_steps"}

#: Sampler names accepted by :func:`make_sampler`.
SAMPLERS = ("grid", "random", "tpe", "gp")

#: The objective is this validation metric, maximized.
METRIC = "val_accuracy"

_MAX_GRID = 100_000


def _canonical(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"search space option names must be strings, got {name!r}")
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in OPTIONS:
        raise ValueError(f"unknown search space option {name!r}; expected one of {list(OPTIONS)}")
    return key


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


# ------------------------------------------------------------------- space
@dataclass
class ParamSpec:
    """One searched option: a float or int range, or categorical choices.

    ``grid`` lists the values the grid sampler visits; it defaults to the
    choices, or to the enumerated range when the range is discrete.
    Categorical choices that are lists (hidden sizes) are stored in Optuna as
    their JSON text, e.g. ``"[100, 30]"``, since Optuna's storages keep only
    scalars.
    """

    name: str
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: list | None = None
    grid: list | None = None

    @classmethod
    def from_value(cls, name: str, value) -> ParamSpec:
        """Parse a space entry; a list is categorical, a dict has a ``type``."""
        if isinstance(value, list):
            return cls(name, "categorical", choices=value).validate()
        if not isinstance(value, Mapping):
            raise TypeError(f"search space entry {name!r} must be a list or a table, got {value!r}")
        allowed = {"type", "low", "high", "log", "step", "choices", "grid"}
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise ValueError(
                f"search space entry {name!r} has unknown key(s) {unknown}; "
                f"expected some of {sorted(allowed)}"
            )
        kind = value.get("type")
        if kind not in ("float", "int", "categorical"):
            raise ValueError(
                f"search space entry {name!r} needs type float, int or categorical, got {kind!r}"
            )
        spec = cls(name, kind, **{k: v for k, v in value.items() if k != "type"})
        return spec.validate()

    def validate(self) -> ParamSpec:
        n = self.name
        if self.type == "categorical":
            if self.low is not None or self.high is not None or self.step is not None or self.log:
                raise ValueError(f"{n}: a categorical entry takes choices, not low/high/step/log")
            if not isinstance(self.choices, list) or not self.choices:
                raise ValueError(f"{n}: choices must be a non-empty list")
            texts = [json.dumps(c, sort_keys=True) for c in self.choices]
            if len(set(texts)) != len(texts):
                raise ValueError(f"{n}: choices has repeated values: {self.choices}")
            if self.grid is not None:
                bad = [g for g in self.grid if json.dumps(g, sort_keys=True) not in texts]
                if bad:
                    raise ValueError(f"{n}: grid values {bad} are not among the choices")
            return self
        if self.choices is not None:
            raise ValueError(f"{n}: a {self.type} entry takes low/high, not choices")
        if self.grid is not None:
            if (
                not isinstance(self.grid, list)
                or not self.grid
                or not all(_is_number(g) for g in self.grid)
            ):
                raise ValueError(f"{n}: grid must be a non-empty list of numbers")
            if self.low is None:
                self.low = min(self.grid)
            if self.high is None:
                self.high = max(self.grid)
        if not (_is_number(self.low) and _is_number(self.high)):
            raise ValueError(f"{n}: a {self.type} entry needs numbers low and high")
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low > self.high:
            raise ValueError(f"{n}: needs finite low <= high, got low={self.low}, high={self.high}")
        if not isinstance(self.log, bool):
            raise TypeError(f"{n}: log must be true or false, got {self.log!r}")
        if self.log and self.low <= 0:
            raise ValueError(f"{n}: a log scale needs low > 0, got {self.low}")
        if self.log and self.step is not None:
            raise ValueError(f"{n}: step and log cannot be combined")
        if self.type == "int":
            for key in ("low", "high"):
                v = getattr(self, key)
                if float(v) != int(v):
                    raise ValueError(f"{n}: an int entry needs integer {key}, got {v}")
                setattr(self, key, int(v))
            if self.grid is not None and any(float(g) != int(g) for g in self.grid):
                raise ValueError(f"{n}: an int entry needs integer grid values")
        if self.step is not None and (not _is_number(self.step) or self.step <= 0):
            raise ValueError(f"{n}: step must be a number > 0, got {self.step!r}")
        if self.grid is not None:
            out = [g for g in self.grid if not self.low <= g <= self.high]
            if out:
                raise ValueError(f"{n}: grid values {out} lie outside [{self.low}, {self.high}]")
        return self

    # -- Optuna's view: list choices become their JSON text
    @property
    def _encoded(self) -> bool:
        return self.type == "categorical" and any(
            not (c is None or isinstance(c, (str, int, float, bool))) for c in self.choices
        )

    def encode(self, value):
        return json.dumps(value) if self._encoded else value

    def decode(self, value):
        return json.loads(value) if self._encoded else value

    def suggest(self, trial):
        """Ask an Optuna trial for a value (decoded)."""
        if self.type == "float":
            return trial.suggest_float(self.name, self.low, self.high, log=self.log, step=self.step)
        if self.type == "int":
            return trial.suggest_int(
                self.name, self.low, self.high, log=self.log, step=int(self.step or 1)
            )
        return self.decode(
            trial.suggest_categorical(self.name, [self.encode(c) for c in self.choices])
        )

    def grid_values(self) -> list:
        """The values the grid sampler visits, in Optuna's (encoded) form."""
        if self.grid is not None:
            return [self.encode(g) for g in self.grid]
        if self.type == "categorical":
            return [self.encode(c) for c in self.choices]
        if self.type == "int" and not self.log:
            step = int(self.step or 1)
            return list(range(self.low, self.high + 1, step))
        if self.type == "float" and self.step is not None:
            count = math.floor((self.high - self.low) / self.step + 1e-9) + 1
            return [float(self.low + k * self.step) for k in range(count)]
        raise ValueError(
            f"{self.name} is a continuous range: give it a 'grid' list (or a 'step') to use the "
            "grid sampler"
        )

    def contains(self, value) -> bool:
        """Whether a decoded value lies in this entry's range or choices."""
        if self.type == "categorical":
            return any(
                json.dumps(value, sort_keys=True) == json.dumps(c, sort_keys=True)
                for c in self.choices
            )
        if not _is_number(value) or not self.low <= value <= self.high:
            return False
        return self.type != "int" or float(value) == int(value)

    def to_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if v is not None and k != "name"}
        if not d.get("log"):
            d.pop("log", None)
        return d


@dataclass
class SearchSpace:
    """The searched options (:class:`ParamSpec`) and the fixed ones.

    Build it with :meth:`from_dict` or :meth:`from_file`. ``pruning`` holds
    MedianPruner settings (``n_startup_trials``, ``n_warmup_steps``,
    ``interval_steps``).
    """

    params: dict[str, ParamSpec] = field(default_factory=dict)
    fixed: dict[str, Any] = field(default_factory=dict)
    pruning: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, doc: Mapping) -> SearchSpace:
        if isinstance(doc, SearchSpace):
            return doc
        if not isinstance(doc, Mapping):
            raise TypeError(f"a search space must be a table, got {type(doc).__name__}")
        unknown = sorted(set(doc) - {"params", "pruning"})
        if unknown:
            raise ValueError(
                f"unknown search space section(s) {unknown}; expected 'params' "
                "and optionally 'pruning'"
            )
        raw = doc.get("params")
        if not isinstance(raw, Mapping) or not raw:
            raise ValueError("a search space needs a non-empty 'params' table")
        space = cls()
        for name, value in raw.items():
            key = _canonical(name)
            if key in space.params or key in space.fixed:
                raise ValueError(f"search space option {key!r} is given twice")
            if (
                key == "hidden_sizes"
                and isinstance(value, list)
                and all(_is_number(v) for v in value)
            ):
                space.fixed[key] = list(value)  # one architecture, not choices
            elif isinstance(value, (list, Mapping)):
                space.params[key] = ParamSpec.from_value(key, value)
            else:
                space.fixed[key] = value
        pruning = doc.get("pruning", {})
        if not isinstance(pruning, Mapping):
            raise TypeError("the 'pruning' section must be a table")
        bad = sorted(set(pruning) - _PRUNING_KEYS)
        if bad:
            raise ValueError(
                f"unknown pruning setting(s) {bad}; expected some of {sorted(_PRUNING_KEYS)}"
            )
        for k, v in pruning.items():
            if (
                isinstance(v, bool)
                or not isinstance(v, int)
                or v < (1 if k == "interval_steps" else 0)
            ):
                raise ValueError(f"pruning setting {k} must be an integer >= 0, got {v!r}")
        space.pruning = dict(pruning)
        has_sizes = "hidden_sizes" in space.params or "hidden_sizes" in space.fixed
        has_units = any(
            k in space.params or k in space.fixed for k in ("hidden_units", "hidden_layers")
        )
        if has_sizes and has_units:
            raise ValueError("give either hidden_sizes or hidden_units/hidden_layers, not both")
        space.validate()
        return space

    @classmethod
    def from_file(cls, path) -> SearchSpace:
        """Read a space from a ``.json`` or ``.toml`` file."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise FileNotFoundError(f"search space file not found: {path}") from None
        try:
            if path.suffix.lower() == ".toml":
                doc = tomllib.loads(text)
            else:
                doc = json.loads(text)
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"cannot parse search space file {path}: {exc}") from exc
        return cls.from_dict(doc)

    def to_dict(self) -> dict:
        """The canonical document (JSON-able), as stored with the study."""
        params = {k: v for k, v in self.fixed.items()}
        params.update({k: s.to_dict() for k, s in self.params.items()})
        doc: dict = {"params": dict(sorted(params.items()))}
        if self.pruning:
            doc["pruning"] = dict(sorted(self.pruning.items()))
        return json.loads(json.dumps(doc))

    # -------------------------------------------------------------- values
    def options(self, params: Mapping) -> dict:
        """Full options from a trial's parameters (Optuna's encoded form) and the fixed ones."""
        opts = dict(self.fixed)
        for name, spec in self.params.items():
            if name not in params:
                raise ValueError(f"trial parameters lack {name!r}")
            opts[name] = spec.decode(params[name])
        return opts

    def suggest(self, trial) -> dict:
        """Sample every searched option from an Optuna trial; return the full options."""
        opts = dict(self.fixed)
        for name, spec in self.params.items():
            opts[name] = spec.suggest(trial)
        return opts

    def grid(self) -> dict[str, list]:
        """The grid for Optuna's GridSampler (every searched option must be discrete)."""
        grid = {name: spec.grid_values() for name, spec in self.params.items()}
        size = math.prod(len(v) for v in grid.values())
        if size > _MAX_GRID:
            raise ValueError(
                f"the grid has {size} points, over the limit of {_MAX_GRID}; "
                "use the random or tpe sampler"
            )
        return grid

    def contains(self, params: Mapping) -> bool:
        """Whether a trial's (encoded) parameters all lie inside the space."""
        if set(params) != set(self.params):
            return False
        return all(spec.contains(spec.decode(params[n])) for n, spec in self.params.items())

    def _corner_options(self):
        """Option sets covering each searched option's extremes (for validation)."""
        first = {}
        values: dict[str, list] = {}
        for name, spec in self.params.items():
            vals = spec.choices if spec.type == "categorical" else [spec.low, spec.high]
            values[name] = vals
            first[name] = vals[0]
        yield {**self.fixed, **first}
        for name, vals in values.items():
            for v in vals[1:]:
                yield {**self.fixed, **first, name: v}

    def validate(self, n_inputs: int = 2, n_outputs: int = 2) -> SearchSpace:
        """Build the configurations at every extreme of the space; raise on a bad one.

        So a typo (an unknown activation, a negative learning rate) fails before
        any worker starts, with the message naming the option.
        """
        for opts in self._corner_options():
            net_cfg, train_cfg, _ = build_configs(opts, n_inputs, n_outputs)
            Network.from_config(_tiny(net_cfg), seed=0)
            TrainConfig.from_dict(train_cfg)
        return self


def _tiny(cfg: NetworkConfig) -> NetworkConfig:
    """The same configuration with one neuron per hidden layer: cheap to build."""
    d = cfg.to_dict()
    d["sizes"] = [d["sizes"][0], *[1] * (len(d["sizes"]) - 2), d["sizes"][-1]]
    return NetworkConfig.from_dict(d)


def build_configs(options: Mapping, n_inputs: int, n_outputs: int):
    """Turn search options into (NetworkConfig, TrainConfig fields, early-stopping patience).

    Options left out take the defaults of :class:`~nndl.network.NetworkConfig`
    and :class:`~nndl.training.TrainConfig`, except the hidden layers (one of
    30 neurons, the chapter's network) and the optimizer (``momentum`` when a
    momentum is given without an optimizer).
    """
    opts = {_canonical(k): v for k, v in options.items()}
    if "hidden_sizes" in opts:
        hidden = opts["hidden_sizes"]
        if isinstance(hidden, int) and not isinstance(hidden, bool):
            hidden = [hidden]
        if not isinstance(hidden, list):
            raise TypeError(f"hidden_sizes must be a list of layer sizes, got {hidden!r}")
    elif "hidden_units" in opts or "hidden_layers" in opts:
        units = opts.get("hidden_units", 30)
        layers = opts.get("hidden_layers", 1)
        if isinstance(layers, bool) or not isinstance(layers, int) or layers < 0:
            raise ValueError(f"hidden_layers must be an integer >= 0, got {layers!r}")
        hidden = [units] * layers
    else:
        hidden = [30]
    net = {k: opts[k] for k in _NETWORK_KEYS if k in opts}
    net_cfg = NetworkConfig.from_dict({"sizes": [n_inputs, *hidden, n_outputs], **net})
    train = {k: opts[k] for k in _TRAIN_KEYS if k in opts}
    if "momentum" in train and "optimizer" not in train:
        train["optimizer"] = "momentum"
    train["seed"] = opts.get("seed", 0)
    patience = opts.get("early_stopping", 0)
    if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
        raise ValueError(f"early_stopping must be an integer >= 0 (0: off), got {patience!r}")
    return net_cfg, train, patience


def _early_stopping(patience: int):
    from . import callbacks

    cls = getattr(callbacks, "EarlyStopping", None)
    if cls is None:
        raise ValueError(
            "early_stopping needs nndl.callbacks.EarlyStopping, which this version of nndl lacks"
        )
    return cls(patience=patience, monitor=METRIC, restore_best=True)


def best_config(options: Mapping, n_inputs: int, n_outputs: int, *, data=None) -> dict:
    """The run configuration of a set of options, as ``nndl train --config`` reads it.

    A :mod:`nndl.config` document: ``{"format", "version", "network": {...},
    "training": {...}}`` plus a ``data`` section when ``data`` (a dict of
    ``dataset``, ``train_size``, ...) is given, and a ``control`` section
    with the early-stopping patience when the trial used one.
    """
    from . import config as run_config

    net_cfg, train, patience = build_configs(options, n_inputs, n_outputs)
    net = {k: v for k, v in net_cfg.to_dict().items() if v is not None}
    training = {k: v for k, v in TrainConfig.from_dict(train).to_dict().items() if v is not None}
    doc: dict = {"network": net, "training": training}
    if data:
        doc["data"] = {k: v for k, v in data.items() if v is not None}
    if patience:
        doc["control"] = {"early_stopping": patience}
    run_config.normalize(json.loads(json.dumps(doc)), source="best configuration")
    return {"format": run_config.FORMAT_NAME, "version": run_config.FORMAT_VERSION, **doc}


# --------------------------------------------------------------- objective
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
        self.trial.report(float(value), epoch)
        if self.prune and self.trial.should_prune():
            self.trial.set_user_attr("pruned_at_epoch", int(epoch))
            raise optuna.TrialPruned(f"{self.monitor} {value:.4f} at epoch {epoch} is poor")

    def __repr__(self) -> str:
        return f"PruningCallback(monitor={self.monitor!r}, prune={self.prune})"


def _pair(data, name: str):
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise TypeError(f"{name} must be a pair (X, y)")
    X, y = np.asarray(data[0]), np.asarray(data[1])
    if X.ndim != 2 or X.shape[0] != y.shape[0] or X.shape[0] == 0:
        raise ValueError(
            f"{name} must be a non-empty pair (X of shape (m, n), y with m labels), "
            f"got shapes {X.shape} and {y.shape}"
        )
    return X, y


def _n_outputs(*ys) -> int:
    labels = np.concatenate([np.asarray(y).ravel() for y in ys])
    if labels.size == 0 or not np.all(labels == np.round(labels)) or labels.min() < 0:
        raise ValueError("labels must be integers 0..k-1")
    return int(labels.max()) + 1


def train_with_options(options: Mapping, train, validation, *, callbacks=()):
    """Train the network of one set of options; return (network, history, score).

    ``score`` is the validation accuracy of the network as training leaves it
    (under early stopping: with the best epoch's parameters restored). The
    same options and data give bitwise the same network (the seed is part of
    the options), which is what lets :func:`report_search` re-train the best
    trial instead of keeping every trial's weights.
    """
    X, y = train
    n_out = _n_outputs(y, validation[1])
    net_cfg, cfg, patience = build_configs(options, X.shape[1], n_out)
    net = Network.from_config(net_cfg, seed=cfg["seed"])
    cbs = list(callbacks)
    if patience:
        cbs.insert(0, _early_stopping(patience))
    trainer = Trainer(net, callbacks=cbs, monitor=[METRIC], **cfg)
    history = trainer.fit(X, y, validation_data=validation)
    return net, history, net.accuracy(*validation)


class Objective:
    """The function Optuna maximizes: validation accuracy after training.

    A trial samples the options, trains a fresh network on the training data
    with the validation accuracy reported (and pruned on) after each epoch,
    and returns the final validation accuracy. A trial that diverges, raises
    or produces nan records the reason in its ``error`` user attribute and
    fails alone: the worker goes on with the next trial.
    """

    def __init__(self, space, train, validation, *, pruning: bool = True, callbacks=()):
        self.space = SearchSpace.from_dict(space)
        self.train = _pair(train, "train")
        self.validation = _pair(validation, "validation")
        self.pruning = pruning
        self.callbacks = list(callbacks)

    def __call__(self, trial) -> float:
        options = self.space.suggest(trial)
        trial.set_user_attr("options", json.loads(json.dumps(options)))
        try:
            _, history, value = train_with_options(
                options,
                self.train,
                self.validation,
                callbacks=[PruningCallback(trial, prune=self.pruning), *self.callbacks],
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


# ---------------------------------------------------------- storage, study
def _is_url(storage: str) -> bool:
    return "://" in storage


def make_storage(
    storage=None,
    *,
    heartbeat_interval: int = 60,
    grace_period: int | None = None,
    max_retry: int = 3,
):
    """An Optuna storage from a location.

    Parameters
    ----------
    storage : None, str, os.PathLike or an Optuna storage
        ``None``: in memory (returned as None: Optuna's default). A database
        URL (``postgresql://...``, ``mysql://...``, ``sqlite:///...``): an
        RDBStorage with a heartbeat every ``heartbeat_interval`` seconds; a
        trial whose worker stops beating for ``grace_period`` seconds (default
        2 * heartbeat_interval) is marked failed and retried up to
        ``max_retry`` times. Anything else is a journal file path (optionally
        prefixed ``journal:``), created if missing.
    """
    import optuna

    if storage is None or isinstance(storage, optuna.storages.BaseStorage):
        return storage
    if not isinstance(storage, (str, os.PathLike)):
        raise TypeError(f"storage must be a URL or a file path, got {type(storage).__name__}")
    text = os.fspath(storage)
    if not text.strip():
        raise ValueError("storage is empty: give a journal file path or a database URL")
    if not _is_url(text):
        path = text[len("journal:") :] if text.startswith("journal:") else text
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            from optuna.storages.journal import JournalFileBackend as _Backend
        except ImportError:  # Optuna < 4.0
            from optuna.storages import JournalFileStorage as _Backend
        return optuna.storages.JournalStorage(_Backend(path))
    import inspect

    from optuna.exceptions import ExperimentalWarning

    heartbeat_interval = int(heartbeat_interval)
    grace = int(grace_period) if grace_period is not None else 2 * heartbeat_interval
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        retry_cls = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
        params = inspect.signature(optuna.storages.RDBStorage).parameters
        if retry_cls is not None and "heartbeat_stale_trial_callback" in params:
            retry = {"heartbeat_stale_trial_callback": retry_cls(max_retry=max_retry)}
        else:  # Optuna < 4.9
            retry = {
                "failed_trial_callback": optuna.storages.RetryFailedTrialCallback(
                    max_retry=max_retry
                )
            }
        engine_kwargs = {} if text.startswith("sqlite") else {"pool_pre_ping": True}
        return optuna.storages.RDBStorage(
            text,
            engine_kwargs=engine_kwargs,
            heartbeat_interval=heartbeat_interval,
            grace_period=grace,
            **retry,
        )


def make_sampler(name: str, space: SearchSpace, seed: int | None = None):
    """An Optuna sampler by name: ``grid``, ``random``, ``tpe`` or ``gp``.

    TPE runs with ``constant_liar`` so that parallel workers do not all pick
    the same promising point. ``gp`` (Gaussian-process Bayesian optimization)
    needs PyTorch.
    """
    import optuna
    from optuna.exceptions import ExperimentalWarning

    key = str(name).strip().lower()
    if key == "grid":
        return optuna.samplers.GridSampler(space.grid(), seed=seed)
    if key == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if key == "tpe":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    if key == "gp":
        if not hasattr(optuna.samplers, "GPSampler"):
            raise ValueError("the gp sampler needs Optuna >= 3.6; use tpe")
        if importlib.util.find_spec("torch") is None:
            raise ValueError("the gp sampler needs PyTorch (pip install torch); use tpe instead")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            return optuna.samplers.GPSampler(seed=seed)
    raise ValueError(f"unknown sampler {name!r}; expected one of {list(SAMPLERS)}")


def _make_pruner(space: SearchSpace, pruning: bool):
    import optuna

    if not pruning:
        return optuna.pruners.NopPruner()
    settings = {"n_startup_trials": 5, "n_warmup_steps": 1, **space.pruning}
    return optuna.pruners.MedianPruner(**settings)


def create_study(study_name: str, storage, space, *, sampler=None, pruner=None):
    """Create the study, or load it when it exists, and check it matches ``space``.

    The search space is stored with the study (user attribute
    ``nndl_space``), so a worker started with another space is refused
    instead of silently mixing two searches. Concurrent calls are safe:
    Optuna's ``load_if_exists`` resolves the race.
    """
    import optuna

    if not isinstance(study_name, str) or not study_name.strip():
        raise ValueError(f"study_name must be a non-empty string, got {study_name!r}")
    space = SearchSpace.from_dict(space)
    for attempt in range(5):
        try:
            study = optuna.create_study(
                study_name=study_name,
                storage=make_storage(storage),
                direction="maximize",
                sampler=sampler,
                pruner=pruner,
                load_if_exists=True,
            )
            break
        except Exception as exc:
            # Workers started together on a fresh database race to create its
            # tables and the study; the loser sees an integrity error and
            # simply loads what the winner made on the next attempt.
            if attempt == 4 or not type(exc).__module__.startswith("sqlalchemy"):
                raise
            time.sleep(0.2 * (attempt + 1) * (1 + random.random()))
    if study.direction != optuna.study.StudyDirection.MAXIMIZE:
        raise ValueError(
            f"study {study_name!r} exists and minimizes; nndl studies maximize "
            f"{METRIC}: use another study name"
        )
    mine = json.dumps(space.to_dict(), sort_keys=True)
    stored = study.user_attrs.get("nndl_space")
    if stored is None:
        study.set_user_attr("nndl_space", space.to_dict())
    elif json.dumps(stored, sort_keys=True) != mine:
        raise ValueError(
            f"study {study_name!r} exists with a different search space; use "
            "another study name or the same space file"
        )
    return study


def dashboard_command(storage) -> str | None:
    """The shell command that opens optuna-dashboard on a storage (None in memory)."""
    if storage is None or not isinstance(storage, (str, os.PathLike)):
        return None
    text = os.fspath(storage)
    if not _is_url(text) and text.startswith("journal:"):
        text = text[len("journal:") :]
    return f"optuna-dashboard {text}"


@contextlib.contextmanager
def _optuna_verbosity(verbose: bool):
    """Optuna's log level for the duration of a search: INFO if verbose, else WARNING."""
    import optuna

    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.INFO if verbose else optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous)


def run_worker(
    space,
    train,
    validation,
    *,
    study_name: str,
    storage=None,
    n_trials: int | None = 10,
    sampler: str = "tpe",
    seed: int | None = None,
    timeout: float | None = None,
    pruning: bool = True,
    callbacks=(),
    study_callbacks=(),
    heartbeat_interval: int = 60,
    grace_period: int | None = None,
    max_retry: int = 3,
    verbose: bool = True,
):
    """Run trials of one study in this process; return the study.

    Start the same call on as many processes or machines as wanted, with a
    shared ``storage``: each creates-or-loads the study and runs ``n_trials``
    trials (or until ``timeout`` seconds, or until the grid is exhausted).
    Give each worker its own ``seed`` (or None) so they sample different
    points. ``callbacks`` are extra training callbacks; ``study_callbacks``
    Optuna callbacks ``f(study, frozen_trial)`` run after each trial.

    Every exception inside a trial fails that trial only (``catch``); a
    killed worker's trial is failed and retried by the storage's heartbeat
    (database storages).
    """
    with _optuna_verbosity(verbose):
        space = SearchSpace.from_dict(space)
        objective = Objective(space, train, validation, pruning=pruning, callbacks=callbacks)
        store = make_storage(
            storage,
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
            max_retry=max_retry,
        )
        study = create_study(
            study_name,
            store,
            space,
            sampler=make_sampler(sampler, space, seed),
            pruner=_make_pruner(space, pruning),
        )
        if n_trials is None or n_trials > 0:
            study.optimize(
                objective,
                n_trials=n_trials,
                timeout=timeout,
                catch=(Exception,),
                callbacks=list(study_callbacks),
                gc_after_trial=False,
            )
        return study


def _worker_main(kwargs: dict) -> None:
    """Entry point of a spawned worker process."""
    run_worker(**kwargs)


@contextlib.contextmanager
def _thread_limits(n_threads: int):
    """Set BLAS/OpenMP thread counts for child processes (unless the user set them).

    Each worker is its own process; without a limit every one would start a
    BLAS thread per core and the workers would fight over the cores.
    """
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    saved = {k: os.environ.get(k) for k in names}
    try:
        for k in names:
            os.environ.setdefault(k, str(n_threads))
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# ----------------------------------------------------------------- results
@dataclass
class SearchResult:
    """The outcome of a search, as :func:`report_search` writes it to ``report.json``.

    ``best_value`` is the best trial's validation accuracy as found during the
    search and ``retrained_val_accuracy`` the same configuration re-trained
    (equal, by determinism). ``test_accuracy`` is the test set's only use.
    """

    study_name: str
    storage: str | None
    counts: dict[str, int]
    best_number: int | None = None
    best_value: float | None = None
    best_params: dict | None = None
    best_options: dict | None = None
    retrained_val_accuracy: float | None = None
    test_accuracy: float | None = None
    files: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    dashboard: str | None = None

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self), default=str))

    def summary(self) -> str:
        c = self.counts
        lines = [
            f"study {self.study_name}: {c.get('COMPLETE', 0)} complete, {c.get('PRUNED', 0)} "
            f"pruned, {c.get('FAIL', 0)} failed trials"
        ]
        if self.best_value is not None:
            lines.append(
                f"best trial {self.best_number}: validation accuracy "
                f"{self.best_value:.4f} with {self.best_params}"
            )
        if self.retrained_val_accuracy is not None:
            lines.append(f"re-trained: validation accuracy {self.retrained_val_accuracy:.4f}")
        if self.test_accuracy is not None:
            lines.append(
                f"test accuracy of the best configuration (evaluated once): "
                f"{self.test_accuracy:.4f}"
            )
        if self.dashboard:
            lines.append(f"dashboard: {self.dashboard}")
        return "\n".join(lines)


def _state_counts(study) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    return counts


def write_trials_csv(study, path) -> Path:
    """One row per trial: number, state, value, times, parameters, notes (atomic write)."""
    trials = study.get_trials(deepcopy=False)
    names = sorted({p for t in trials for p in t.params})
    header = [
        "number",
        "state",
        "value",
        "datetime_start",
        "datetime_complete",
        "duration_s",
        *[f"param_{n}" for n in names],
        "epochs_run",
        "pruned_at_epoch",
        "retry_of",
        "error",
    ]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for t in trials:
        dur = t.duration.total_seconds() if t.duration is not None else ""
        w.writerow(
            [
                t.number,
                t.state.name,
                "" if t.value is None else repr(float(t.value)),
                t.datetime_start.isoformat() if t.datetime_start else "",
                t.datetime_complete.isoformat() if t.datetime_complete else "",
                dur,
                *[t.params.get(n, "") for n in names],
                t.user_attrs.get("epochs_run", ""),
                t.user_attrs.get("pruned_at_epoch", ""),
                t.system_attrs.get("failed_trial", ""),
                t.user_attrs.get("error", ""),
            ]
        )
    path = Path(path)
    atomic_write_text(path, buf.getvalue())
    return path


def _save_figure(ax, path: Path) -> None:
    import matplotlib.pyplot as plt

    fig = ax.figure if hasattr(ax, "figure") else np.ravel(ax)[0].figure
    fig.set_size_inches(8, 5)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _write_plots(study, out: Path, result: SearchResult) -> None:
    """Optuna's optimization history and parameter importances, PNG (and HTML with plotly)."""
    from optuna.exceptions import ExperimentalWarning

    try:
        import matplotlib

        if not os.environ.get("DISPLAY") and not os.environ.get("MPLBACKEND"):
            matplotlib.use("Agg")
        from optuna.visualization import matplotlib as ovm
    except ImportError as exc:
        result.skipped["plots"] = f"matplotlib is not installed ({exc})"
        return
    plots = {
        "optimization_history": ovm.plot_optimization_history,
        "param_importances": ovm.plot_param_importances,
    }
    html = importlib.util.find_spec("plotly") is not None
    for name, fn in plots.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExperimentalWarning)
                ax = fn(study)
            png = out / f"{name}.png"
            _save_figure(ax, png)
            result.files[name] = str(png)
            if html:
                import optuna.visualization as ov

                fig = getattr(ov, f"plot_{name}")(study)
                page = out / f"{name}.html"
                atomic_write_text(page, fig.to_html(include_plotlyjs="cdn"))
                result.files[f"{name}_html"] = str(page)
        except Exception as exc:  # too few trials for importances, etc.
            result.skipped[name] = f"{type(exc).__name__}: {exc}"
    if not html:
        result.skipped["html"] = "plotly is not installed: PNG only"


def report_search(
    study,
    space,
    train,
    validation,
    *,
    test=None,
    out=None,
    storage=None,
    plots: bool = True,
    data: dict | None = None,
) -> SearchResult:
    """Summarize a finished study; re-train its best trial; touch the test set once.

    The best trial is chosen on validation accuracy alone. Its configuration
    is re-trained with the same seed (bitwise the same network), the
    validation accuracy checked against the trial's, and the test accuracy
    evaluated once, reported apart. With ``out``, writes atomically:
    ``best_config.json`` (the configuration ``nndl train --config`` accepts),
    ``best_model.json``, ``trials.csv``, ``report.json`` and the plots.
    ``data`` is the data section of the configuration (``dataset``,
    ``train_size``, ...), recorded in ``best_config.json``.
    """
    space = SearchSpace.from_dict(space)
    Xtr, ytr = _pair(train, "train")
    Xv, yv = _pair(validation, "validation")
    result = SearchResult(
        study_name=study.study_name,
        storage=None if storage is None else os.fspath(storage),
        counts=_state_counts(study),
        dashboard=dashboard_command(storage),
    )
    out = Path(out) if out is not None else None
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    net = None
    if complete:
        best = study.best_trial
        options = space.options(best.params)
        result.best_number = best.number
        result.best_value = float(best.value)
        result.best_params = dict(best.params)
        result.best_options = json.loads(json.dumps(options))
        net, _, score = train_with_options(options, (Xtr, ytr), (Xv, yv))
        result.retrained_val_accuracy = score
        if test is not None:
            Xt, yt = _pair(test, "test")
            result.test_accuracy = net.accuracy(Xt, yt)
    else:
        result.skipped["best"] = "no trial completed"
    if out is None:
        return result
    out.mkdir(parents=True, exist_ok=True)
    if net is not None:
        from .serialization import save

        n_out = _n_outputs(ytr, yv)
        doc = best_config(result.best_options, Xtr.shape[1], n_out, data=data)
        atomic_write_json(out / "best_config.json", doc)
        result.files["best_config"] = str(out / "best_config.json")
        provenance = {
            "study": result.study_name,
            "trial": result.best_number,
            "val_accuracy": result.best_value,
            "config": doc,
        }
        save(net, out / "best_model.json", metadata={"search": provenance})
        result.files["best_model"] = str(out / "best_model.json")
    result.files["trials"] = str(write_trials_csv(study, out / "trials.csv"))
    if plots and complete:
        _write_plots(study, out, result)
    result.files["report"] = str(out / "report.json")
    atomic_write_json(out / "report.json", result.to_dict())
    return result


def _split(n_trials: int | None, workers: int) -> list[int | None]:
    if n_trials is None:
        return [None] * workers
    base, rem = divmod(n_trials, workers)
    return [base + (i < rem) for i in range(workers)]


def run_search(
    space,
    train,
    validation,
    *,
    test=None,
    study_name: str = "nndl-search",
    storage=None,
    n_trials: int | None = 20,
    sampler: str = "tpe",
    workers: int = 1,
    seed: int | None = None,
    timeout: float | None = None,
    pruning: bool = True,
    out=None,
    report: bool = True,
    plots: bool = True,
    heartbeat_interval: int = 60,
    grace_period: int | None = None,
    max_retry: int = 3,
    verbose: bool = True,
    study_callbacks=(),
    data: dict | None = None,
) -> SearchResult:
    """Search the space with ``workers`` local processes, then report.

    The study is created once here, before any worker starts. ``n_trials`` is
    the number of trials of this call, spread over its workers (None: until
    ``timeout``, or the grid's end). Several workers need a shared storage: a
    journal file or database URL in ``storage``, or, when ``storage`` is None,
    ``out/study.journal`` is used. Worker ``i`` samples with seed
    ``seed + i``. With ``report`` (the default) the best trial is re-trained
    and the test set evaluated once (:func:`report_search`); ``data`` is the
    data section of the written configuration.

    Returns
    -------
    SearchResult
    """
    import optuna

    with _optuna_verbosity(verbose):
        space = SearchSpace.from_dict(space)
        train = _pair(train, "train")
        validation = _pair(validation, "validation")
        space.validate(train[0].shape[1], _n_outputs(train[1], validation[1]))
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
        if n_trials is not None and (
            isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 0
        ):
            raise ValueError(f"n_trials must be an integer >= 0, got {n_trials!r}")
        if n_trials is None and timeout is None and sampler != "grid":
            raise ValueError("give n_trials or a timeout (only the grid sampler ends by itself)")
        make_sampler(sampler, space, seed)  # refuse a bad sampler before starting anything
        if workers > 1 and storage is None:
            if out is None:
                raise ValueError(
                    "several workers need a shared storage: give storage (a journal "
                    "file or a database URL) or out (for out/study.journal)"
                )
            storage = Path(out) / "study.journal"
        if workers > 1 and not isinstance(storage, (str, os.PathLike)):
            raise ValueError(
                "several workers open the storage themselves: give it as a journal file path or "
                "a database URL, not as a storage object"
            )
        if workers > 1 and isinstance(storage, str) and storage.startswith("sqlite"):
            warnings.warn(
                "SQLite does not handle several writers well: with several workers use a journal "
                "file (one machine) or PostgreSQL/MySQL (several machines)",
                UserWarning,
                stacklevel=3,
            )
        store = make_storage(
            storage,
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
            max_retry=max_retry,
        )
        if store is None:
            # In memory, the parent and its (single, in-process) worker share this object.
            store = optuna.storages.InMemoryStorage()
        pruner = _make_pruner(space, pruning)
        study = create_study(study_name, store, space, pruner=pruner)
        common = dict(
            space=space.to_dict(),
            train=train,
            validation=validation,
            study_name=study_name,
            sampler=sampler,
            timeout=timeout,
            pruning=pruning,
            heartbeat_interval=heartbeat_interval,
            grace_period=grace_period,
            max_retry=max_retry,
            verbose=verbose,
        )
        counts = _split(n_trials, workers)
        if workers == 1:
            # In memory the study object itself must be shared: pass the storage object.
            run_worker(
                **common,
                storage=store,
                n_trials=counts[0],
                seed=seed,
                study_callbacks=study_callbacks,
            )
        else:
            ctx = multiprocessing.get_context("spawn")
            procs = []
            storage_arg = os.fspath(storage)
            with _thread_limits(max(1, (os.cpu_count() or 1) // workers)):
                for i in range(workers):
                    kwargs = dict(
                        common,
                        storage=storage_arg,
                        n_trials=counts[i],
                        seed=None if seed is None else seed + i,
                        study_callbacks=study_callbacks,
                    )
                    p = ctx.Process(target=_worker_main, args=(kwargs,), name=f"nndl-search-{i}")
                    p.start()
                    procs.append(p)
            for p in procs:
                p.join()
            bad = [f"{p.name} exited with code {p.exitcode}" for p in procs if p.exitcode != 0]
            if bad:
                raise RuntimeError("search workers failed: " + "; ".join(bad))
            study = optuna.load_study(study_name=study_name, storage=make_storage(storage))
        if not report:
            return SearchResult(
                study_name=study_name,
                storage=None if storage is None else os.fspath(storage),
                counts=_state_counts(study),
                dashboard=dashboard_command(storage),
            )
        return report_search(
            study,
            space,
            train,
            validation,
            test=test,
            out=out,
            storage=storage,
            plots=plots,
            data=data,
        )
