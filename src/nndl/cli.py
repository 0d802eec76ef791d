"""The ``nndl`` command: train, evaluate, predict, and manage the data.

::

    nndl train                        # the chapter's [784, 100, 10] network on MNIST
    nndl train --dataset digits --hidden 30 --epochs 10
    nndl train --config runs/X/config.json      # repeat a run
    nndl evaluate runs/X/model.json --split test
    nndl predict runs/X/model.json digit.png --invert
    nndl data fetch | info | path

How it is put together, for whoever adds to it:

- ``cli`` is the one command group; new commands are ``@cli.command()`` or
  ``@cli.group()`` functions below it, or live in their own module with a
  ``register(group)`` function listed in :data:`EXTENSIONS`.
- Every ``train`` setting is one :class:`Setting` in :data:`SETTINGS`: its
  options, its place in the run configuration (``section.key``, see
  :mod:`nndl.config`) and its help. The options are generated from the
  table, and the values merge with the defaults and the ``--config`` file in
  one place (:func:`resolve_run_config`). A new group of settings adds rows
  here, its section to ``nndl.config.SECTIONS``, and, when it acts during
  training, a factory to :data:`CALLBACK_FACTORIES`.
- Expected errors (bad options or files, divergence, failed downloads) are
  printed by :func:`main` as one line on stderr with a non-zero exit status;
  ``NNDL_DEBUG=1`` shows the traceback.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import numpy as np

from ._io import atomic_write_bytes, atomic_write_json, atomic_write_text
from ._version import __version__
from .activations import ACTIVATIONS, HIDDEN_ACTIVATIONS
from .callbacks import MONITOR_KEYS, BatchMonitor, Callback, Checkpoint, control_callbacks
from .config import merge, read_config, to_toml, write_config
from .costs import COSTS
from .initializers import INITIALIZERS
from .network import Network
from .optimizers import OPTIMIZERS
from .training import DivergenceError, TrainConfig, Trainer

__all__ = [
    "CALLBACK_FACTORIES",
    "DEFAULTS",
    "EXIT_INTERRUPTED",
    "EXTENSIONS",
    "SETTINGS",
    "RunContext",
    "Setting",
    "cli",
    "main",
    "resolve_run_config",
]

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it


# ----------------------------------------------------------------- option types
class _IntList(click.ParamType):
    """Comma-separated positive integers: ``784,100,10`` (``none`` or empty: no items)."""

    name = "N,N,..."

    def convert(self, value, param, ctx):
        if isinstance(value, (list, tuple)):
            return list(value)
        text = str(value).strip()
        if text.lower() in ("", "none"):
            return []
        try:
            items = [int(s) for s in text.split(",")]
        except ValueError:
            self.fail(f"expected comma-separated positive integers like 784,100,10, got {value!r}")
        if any(i < 1 for i in items):
            self.fail(f"layer sizes must be positive integers, got {value!r}")
        return items


class _NameList(click.ParamType):
    """One registry name, or one per hidden layer, comma-separated."""

    name = "NAME[,NAME...]"

    def __init__(self, choices):
        self.choices = sorted(choices)

    def convert(self, value, param, ctx):
        if isinstance(value, (list, tuple)):
            return list(value)
        names = [s.strip().lower().replace("-", "_") for s in str(value).split(",")]
        bad = [n for n in names if n not in self.choices]
        if bad:
            self.fail(f"unknown {', '.join(map(repr, bad))}; expected one of {self.choices}")
        return names[0] if len(names) == 1 else names


class _FloatList(click.ParamType):
    """A number, or one per hidden layer, comma-separated."""

    name = "P[,P...]"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float, list, tuple)):
            return value
        try:
            items = [float(s) for s in str(value).split(",")]
        except ValueError:
            self.fail(f"expected a number or comma-separated numbers, got {value!r}")
        return items[0] if len(items) == 1 else items


#: Friendly names for the four book monitors.
_MONITOR_ALIASES = {
    "training_cost": "loss",
    "training_accuracy": "accuracy",
    "evaluation_cost": "val_loss",
    "evaluation_accuracy": "val_accuracy",
    "validation_cost": "val_loss",
    "validation_accuracy": "val_accuracy",
    "cost": "loss",
}


class _Monitor(click.ParamType):
    """What to record each epoch: any of loss, accuracy, val_loss, val_accuracy (or all, none)."""

    name = "KEY[,KEY...]"

    def convert(self, value, param, ctx):
        if isinstance(value, (list, tuple)):
            return list(value)
        keys = []
        for raw in str(value).split(","):
            k = raw.strip().lower().replace("-", "_")
            if k in ("", "none"):
                continue
            if k == "all":
                keys.extend(MONITOR_KEYS)
                continue
            k = _MONITOR_ALIASES.get(k, k)
            if k not in MONITOR_KEYS:
                self.fail(
                    f"unknown monitor {raw!r}; expected any of {list(MONITOR_KEYS)}, "
                    "'all' or 'none'"
                )
            keys.append(k)
        return list(dict.fromkeys(keys))


def _choice(names) -> click.Choice:
    return click.Choice(sorted(names), case_sensitive=False)


# ------------------------------------------------------------- the settings
@dataclass(frozen=True)
class Setting:
    """One ``train`` setting: its options and its place in the run configuration.

    ``key`` is ``"section.name"`` in the configuration (see :mod:`nndl.config`);
    ``show`` is the default as shown in ``--help`` (the value itself is in
    :data:`DEFAULTS` or the dataclass that consumes the section).
    """

    key: str
    flags: tuple[str, ...]
    type: Any
    help: str
    show: str | None = None

    @property
    def dest(self) -> str:
        return self.key.replace(".", "__")

    def option(self):
        text = f"{self.help} [{self.key}]"
        if self.show is not None:
            text += f" (default: {self.show})"
        return click.option(*self.flags, self.dest, type=self.type, default=None, help=text)


#: Every ``train`` setting, in the order ``--help`` shows them.
SETTINGS: list[Setting] = [
    # network
    Setting(
        "network.sizes", ("--sizes",), _IntList(), "all layer sizes, input first, e.g. 784,100,10"
    ),
    Setting(
        "network.hidden",
        ("--hidden",),
        _IntList(),
        "hidden layer sizes (input and output sizes come from the data), e.g. 100 or 100,30",
        "100",
    ),
    Setting(
        "network.hidden_activation",
        ("--activation",),
        _NameList(HIDDEN_ACTIVATIONS),
        f"hidden neurons, one for all or one per hidden layer: {', '.join(HIDDEN_ACTIVATIONS)}",
        "sigmoid",
    ),
    Setting("network.cost", ("--cost",), _choice(COSTS), "cost function", "cross_entropy"),
    Setting(
        "network.output_activation",
        ("--output-activation",),
        _choice(ACTIVATIONS),
        "output neurons",
        "the cost's natural pair",
    ),
    Setting(
        "network.initializer",
        ("--init", "--initializer"),
        _choice(INITIALIZERS),
        "weight initialization",
        "default, N(0, 1/n_in)",
    ),
    Setting(
        "network.dropout",
        ("--dropout",),
        _FloatList(),
        "probability of dropping a hidden neuron, one for all or one per hidden layer",
        "0",
    ),
    Setting("network.dtype", ("--dtype",), _choice(["float64", "float32"]), "floats", "float64"),
    # training
    Setting(
        "training.learning_rate", ("--eta", "--learning-rate"), float, "learning rate eta", "0.5"
    ),
    Setting("training.l2", ("--l2", "--lmbda"), float, "L2 regularization lambda", "5.0"),
    Setting("training.l1", ("--l1",), float, "L1 regularization lambda", "0"),
    Setting(
        "training.optimizer",
        ("--optimizer",),
        _choice(OPTIMIZERS),
        "update rule",
        "sgd, or momentum when --momentum > 0",
    ),
    Setting("training.momentum", ("--momentum", "--mu"), float, "momentum coefficient mu", "0"),
    Setting(
        "training.mini_batch_size",
        ("--mini-batch-size", "--batch-size"),
        int,
        "mini-batch size",
        "10",
    ),
    Setting("training.epochs", ("--epochs",), int, "epochs", "30"),
    Setting(
        "training.seed",
        ("--seed",),
        int,
        "random seed (initial weights, shuffling, dropout)",
        "random, saved",
    ),
    Setting(
        "training.monitor",
        ("--monitor",),
        _Monitor(),
        "recorded each epoch: loss, accuracy (training data), val_loss, val_accuracy, all, none",
        "val_accuracy",
    ),
    # data
    Setting(
        "data.dataset",
        ("--dataset",),
        str,
        "mnist, mnist-idx, fashion-mnist, digits, idx:FOLDER or mnist:PATH",
        "mnist",
    ),
    Setting(
        "data.data_dir",
        ("--data-dir",),
        click.Path(file_okay=False),
        "data cache folder",
        "$NNDL_DATA_DIR or ~/.cache/nndl",
    ),
    Setting(
        "data.train_size",
        ("--train-size",),
        click.IntRange(min=1),
        "train on the first N training examples only",
        "all",
    ),
    Setting(
        "data.validation_size",
        ("--validation-size",),
        click.IntRange(min=1),
        "monitor on the first N validation examples only",
        "all",
    ),
    Setting(
        "data.expand",
        ("--expand",),
        str,
        "train on an expanded training set, built once and cached: 'shifts' (the book's four "
        "one-pixel shifts, 50,000 -> 250,000 images) or a recipe such as rotate:10,elastic",
        "off",
    ),
    Setting(
        "data.expand_copies",
        ("--expand-copies",),
        click.IntRange(min=1),
        "distorted copies per image for an --expand recipe",
        "4",
    ),
    Setting(
        "data.augment",
        ("--augment",),
        str,
        "distort the training images afresh every epoch with this recipe, e.g. shift,rotate:10",
        "off",
    ),
    Setting(
        "data.augment_fraction",
        ("--augment-fraction",),
        click.FloatRange(min=0.0, max=1.0, min_open=True),
        "share of the training images distorted each epoch by --augment",
        "1",
    ),
    # training control (nndl.callbacks.control_callbacks)
    Setting(
        "control.schedule",
        ("--schedule",),
        str,
        "learning-rate schedule: constant, plateau (divide eta when validation accuracy "
        "stalls), step:EVERY[:FACTOR] (eta times FACTOR every EVERY epochs) or exp:GAMMA",
        "constant",
    ),
    Setting(
        "control.plateau_patience",
        ("--plateau-patience",),
        click.IntRange(min=1),
        "plateau schedule: epochs without improvement before eta is divided",
        "10",
    ),
    Setting(
        "control.plateau_factor",
        ("--plateau-factor",),
        click.FloatRange(min=1.0, min_open=True),
        "plateau schedule: divide eta by this",
        "2",
    ),
    Setting(
        "control.plateau_floor",
        ("--plateau-floor",),
        click.FloatRange(min=1.0),
        "plateau schedule: stop when eta falls below its first value / this",
        "1024",
    ),
    Setting(
        "control.plateau_monitor",
        ("--plateau-monitor",),
        _choice(MONITOR_KEYS),
        "plateau schedule: the metric watched",
        "val_accuracy",
    ),
    Setting(
        "control.early_stopping",
        ("--early-stopping",),
        click.IntRange(min=0),
        "stop after N epochs without improvement and restore the best parameters (0: off)",
        "0",
    ),
    Setting(
        "control.early_stopping_rule",
        ("--early-stopping-rule",),
        str,
        "no-improvement, gl:ALPHA (Prechelt's generalization loss) or pq:ALPHA[:STRIP] "
        "(progress quotient); --early-stopping N > 0 switches it on",
        "no-improvement",
    ),
    Setting(
        "control.early_stopping_monitor",
        ("--early-stopping-monitor",),
        _choice(MONITOR_KEYS),
        "early stopping: the metric watched",
        "val_accuracy; val_loss for gl and pq",
    ),
    Setting(
        "control.restore_best",
        ("--restore-best/--no-restore-best",),
        bool,
        "after early stopping, go back to the best epoch's parameters",
        "on",
    ),
    Setting(
        "control.monitor_every",
        ("--monitor-every",),
        click.IntRange(min=0),
        "also record cost and accuracy every K mini-batches on small subsets (batches.csv)",
        "0, off",
    ),
    Setting(
        "control.monitor_subset",
        ("--monitor-subset",),
        click.IntRange(min=1),
        "examples in each subset used by --monitor-every",
        "1000",
    ),
    Setting(
        "control.diagnostics",
        ("--diagnostics/--no-diagnostics",),
        bool,
        "record per-layer saturation, mean |f'(z)|, weight and gradient norms each epoch and "
        "plot them to diagnostics.png",
        "off",
    ),
    Setting(
        "control.diagnostics_threshold",
        ("--diagnostics-threshold",),
        click.FloatRange(min=0.0, min_open=True),
        "a sigmoid neuron counts as saturated when |z| exceeds this (tanh: half of it)",
        "4",
    ),
    Setting(
        "control.diagnostics_sample",
        ("--diagnostics-sample",),
        click.IntRange(min=1),
        "training examples the diagnostics are measured on",
        "1000",
    ),
    Setting(
        "control.checkpoint_every",
        ("--checkpoint-every",),
        click.IntRange(min=0),
        "write OUT/checkpoint.npz every N epochs (Ctrl-C always writes one)",
        "0",
    ),
]

#: The chapter's best simple network: [784, 100, 10], sigmoid, cross-entropy,
#: eta 0.5, lambda 5.0, mini-batch 10, 30 epochs, validation accuracy monitored.
#: Anything not listed takes the default of NetworkConfig / TrainConfig.
DEFAULTS: dict[str, dict] = {
    "network": {"hidden": [100], "cost": "cross_entropy"},
    "training": {
        "learning_rate": 0.5,
        "l2": 5.0,
        "mini_batch_size": 10,
        "epochs": 30,
        "monitor": ["val_accuracy"],
    },
    "data": {"dataset": "mnist"},
}


def _settings_options(settings):
    def decorate(fn):
        for s in reversed(settings):
            fn = s.option()(fn)
        return fn

    return decorate


def _layer_from_options(values: dict) -> dict[str, dict]:
    """The command-line layer of the configuration: only the options given."""
    layer: dict[str, dict] = {}
    for s in SETTINGS:
        v = values.get(s.dest)
        if v is not None:
            section, key = s.key.split(".", 1)
            layer.setdefault(section, {})[key] = v
    return layer


def resolve_run_config(options: dict[str, dict], config_file=None) -> dict[str, dict]:
    """Defaults, then the config file, then the command-line options (later wins).

    Fills in what follows from the others (the momentum optimizer when only
    ``momentum`` is given) and checks the data section; the network and
    training sections are checked by :func:`_plan`.
    """
    layers = [DEFAULTS]
    if config_file is not None:
        layers.append(read_config(config_file))
    layers.append(options)
    cfg = merge(*layers)
    training = cfg.setdefault("training", {})
    if training.get("momentum") and "optimizer" not in training:
        training["optimizer"] = "momentum"
    data = cfg.setdefault("data", {})
    from ._validation import check_range

    if not isinstance(data.get("dataset", "mnist"), str):
        raise TypeError(f"data.dataset must be a name, got {data['dataset']!r}")
    if "data_dir" in data and not isinstance(data["data_dir"], str):
        raise TypeError(f"data.data_dir must be a folder name, got {data['data_dir']!r}")
    for key in ("train_size", "validation_size", "expand_copies"):
        if key in data:
            data[key] = check_range(f"data.{key}", data[key], low=1, integer=True)
    if "expand_seed" in data:
        data["expand_seed"] = check_range(
            "data.expand_seed", data["expand_seed"], low=0, integer=True
        )
    if "augment_fraction" in data:
        data["augment_fraction"] = check_range(
            "data.augment_fraction",
            data["augment_fraction"],
            low=0.0,
            high=1.0,
            low_inclusive=False,
        )
    for key in ("expand", "augment"):
        if key in data and not isinstance(data[key], str):
            raise TypeError(f"data.{key} must be a recipe string, got {data[key]!r}")
    if "expand_copies" in data and "expand" not in data:
        raise ValueError("data.expand_copies needs data.expand (--expand RECIPE)")
    if "augment_fraction" in data and "augment" not in data:
        raise ValueError("data.augment_fraction needs data.augment (--augment RECIPE)")
    return cfg


# --------------------------------------------------------------- the run
@dataclass
class RunContext:
    """What a training run is made of; callback factories receive it.

    ``config`` is the resolved run configuration (what config.json will
    hold); ``out`` is the output folder, which may not exist yet (files are
    written there with ``nndl._io``, which creates it).
    """

    config: dict[str, dict]
    network: Network
    train_config: TrainConfig
    splits: Any
    out: Path
    quiet: bool = False
    extra: dict = field(default_factory=dict)


#: Functions (RunContext) -> list of Callback, called once per ``nndl train``
#: to add behaviour configured by their own settings (schedules, early
#: stopping, checkpoints, augmentation, ...).
CALLBACK_FACTORIES: list[Callable[[RunContext], list[Callback]]] = []


def _control_factory(ctx: RunContext) -> list[Callback]:
    """Schedules, early stopping, batch monitoring, diagnostics, checkpoints ([control])."""
    return control_callbacks(ctx.config.get("control", {}), out=ctx.out)


def _augment_factory(ctx: RunContext) -> list[Callback]:
    """On-the-fly distortion of the training images (data.augment)."""
    recipe = ctx.config.get("data", {}).get("augment")
    if not recipe:
        return []
    from .data.expand import AugmentCallback

    return [AugmentCallback(recipe, ctx.config["data"].get("augment_fraction", 1.0))]


CALLBACK_FACTORIES.extend([_augment_factory, _control_factory])


def _check_hidden(hidden) -> list[int]:
    if not isinstance(hidden, (list, tuple)) or not all(type(h) is int and h >= 1 for h in hidden):
        raise ValueError(f"network.hidden must be a list of positive integers, got {hidden!r}")
    return list(hidden)


def _network_kwargs(net_cfg: dict) -> dict:
    kw = {k: v for k, v in net_cfg.items() if k not in ("sizes", "hidden")}
    unknown = set(kw) - {
        "hidden_activation",
        "cost",
        "output_activation",
        "initializer",
        "dropout",
        "dtype",
    }
    if unknown:  # pragma: no cover - normalize() refuses these first
        raise ValueError(f"unknown network settings {sorted(unknown)}")
    return kw


def _plan(cfg: dict[str, dict]) -> tuple[TrainConfig, int]:
    """Check the network and training sections before any data is loaded.

    Returns the validated TrainConfig with its seed fixed (drawn at random
    when not given, so the saved configuration repeats the run exactly).
    """
    net_cfg = cfg.get("network", {})
    if "sizes" in net_cfg:
        probe = list(net_cfg["sizes"]) if isinstance(net_cfg["sizes"], (list, tuple)) else None
        if probe is None:
            raise TypeError(
                f"network.sizes must be a list of layer sizes, got {net_cfg['sizes']!r}"
            )
    else:
        probe = [1, *_check_hidden(net_cfg.get("hidden", [100])), 1]
    # Builds a throwaway network of the same shape so that a bad name or
    # value is refused now, not after a download.
    Network(probe, seed=0, **_network_kwargs(net_cfg))
    training = dict(cfg.get("training", {}))
    if training.get("seed") is None:
        training["seed"] = int(np.random.SeedSequence().entropy % (2**31))
    tc = TrainConfig.from_dict(training)
    # Bad schedules, stopping rules and recipes are refused before a download too.
    control_callbacks(cfg.get("control", {}))
    data = cfg.get("data", {})
    if data.get("augment") or data.get("expand"):
        from .data.expand import SHIFTS_RECIPE, Augmenter

        if data.get("augment"):
            Augmenter.parse(data["augment"])
        if data.get("expand") and data["expand"].strip().lower() != SHIFTS_RECIPE:
            Augmenter.parse(data["expand"])
    return tc, tc.seed


def _load_data(data_cfg: dict, quiet: bool):
    from .data import load_dataset

    splits = load_dataset(
        data_cfg.get("dataset", "mnist"),
        cache_dir=data_cfg.get("data_dir"),
        progress=False if quiet else None,
    )
    train = splits.train.head(data_cfg.get("train_size"))
    validation = splits.validation.head(data_cfg.get("validation_size"))
    if data_cfg.get("expand"):
        from .data import Dataset, data_dir
        from .data.expand import build_expanded

        if not quiet:
            click.echo(f"Expanding the training data with {data_cfg['expand']!r} ...", err=True)
        X, y = build_expanded(
            train.X,
            train.y,
            data_cfg["expand"],
            seed=data_cfg.get("expand_seed", 0),
            copies=data_cfg.get("expand_copies"),
            cache_dir=data_dir(data_cfg.get("data_dir")) / "expanded",
        )
        train = Dataset(X, y)
    return type(splits)(train, validation, splits.test)


def _build_network(net_cfg: dict, splits, seed: int) -> Network:
    n_in, n_out = splits.n_features, splits.n_classes
    if "sizes" in net_cfg:
        sizes = list(net_cfg["sizes"])
        if sizes[0] != n_in:
            raise ValueError(
                f"sizes {sizes}: the input layer must have {n_in} neurons, one per feature of "
                "the data (or give --hidden and let the data set the input and output sizes)"
            )
        if sizes[-1] < n_out:
            raise ValueError(
                f"sizes {sizes}: the output layer needs at least {n_out} neurons for labels "
                f"0..{n_out - 1}"
            )
    else:
        sizes = [n_in, *_check_hidden(net_cfg.get("hidden", [100])), n_out]
    return Network(sizes, seed=seed, **_network_kwargs(net_cfg))


# ------------------------------------------------------ training callbacks
class StopRequested(KeyboardInterrupt):
    """Raised after the mini-batch during which Ctrl-C was pressed.

    A KeyboardInterrupt, so the trainer (and any callback) treats it as an
    interruption: the update of that mini-batch is complete.
    """

    def __init__(self, epoch: int, batch: int):
        super().__init__(f"interrupted in epoch {epoch} after mini-batch {batch}")
        self.epoch = epoch
        self.batch = batch


class StopOnInterrupt(Callback):
    """Turns the first Ctrl-C into a clean stop after the current mini-batch.

    While training runs, SIGINT only sets a flag; ``on_batch_end`` sees it
    and raises :class:`StopRequested`, so the weights are those of a
    complete update. A second Ctrl-C interrupts at once.
    """

    def __init__(self, say: Callable[[str], None] | None = None):
        self.requested = False
        self._say = say
        self._previous = None

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        if self._say:
            self._say("stopping after this mini-batch (Ctrl-C again to stop at once)")

    def on_train_begin(self, trainer):
        try:
            self._previous = signal.signal(signal.SIGINT, self._handler)
        except ValueError:  # not the main thread: leave Ctrl-C alone
            self._previous = None

    def on_batch_end(self, trainer, batch):
        if self.requested:
            raise StopRequested(trainer.epoch, batch)

    def on_train_end(self, trainer):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


def _pct(x: float) -> str:
    return f"{100.0 * x:.2f}%"


class ProgressReport(Callback):
    """A progress bar per epoch with running figures, and a summary line per epoch.

    The bar (tqdm, on a terminal only) is refreshed at most a few times a
    second: ``on_batch_end`` counts and looks at the clock every 32 batches,
    so it costs nothing measurable. The running training cost is estimated
    on a fixed sample of 500 training examples (its own generator, so the
    run's random stream is untouched).
    """

    def __init__(self, *, bar: bool = True, lines: bool = True, echo=None):
        self.bar_enabled = bar
        self.lines = lines
        self.echo = echo or (lambda s: click.echo(s))
        self._bar = None
        self._since = 0
        self._last = 0.0
        self._sample = None
        self._running = None
        self._last_val = None

    def on_train_begin(self, trainer):
        X, Y = trainer.train_data
        idx = np.random.default_rng(0).choice(X.shape[0], min(500, X.shape[0]), replace=False)
        self._sample = (X[np.sort(idx)], Y[np.sort(idx)])
        self._epochs = trainer.config.epochs
        self._n_batches = math.ceil(X.shape[0] / trainer.config.mini_batch_size)

    def on_epoch_begin(self, trainer, epoch):
        if not self.bar_enabled:
            return
        try:
            from tqdm import tqdm
        except ImportError:
            self.bar_enabled = False
            return
        n = self._n_batches
        if trainer.epoch_train_data is not None:
            n = math.ceil(trainer.epoch_train_data[0].shape[0] / trainer.config.mini_batch_size)
        self._bar = tqdm(
            total=n,
            desc=f"Epoch {epoch + 1}/{self._epochs}",
            unit="batch",
            leave=False,
            file=sys.stderr,
            disable=None,  # off when stderr is not a terminal
            dynamic_ncols=True,
        )
        if self._bar.disable:
            self._bar = None
            self.bar_enabled = False
        self._since = 0
        self._last = time.monotonic()

    def on_batch_end(self, trainer, batch):
        if self._bar is None:
            return
        self._since += 1
        if self._since < 32:
            return
        self._since = 0
        now = time.monotonic()
        if now - self._last < 0.25:
            return
        self._last = now
        self._bar.update(batch + 1 - self._bar.n)
        cfg = trainer.config
        Xs, Ys = self._sample
        cost = trainer.network.cost_value(Xs, Ys, l2=cfg.l2, l1=cfg.l1, n=trainer.n)
        self._running = cost if self._running is None else 0.7 * self._running + 0.3 * cost
        post = f"cost~{self._running:.4f}"
        if self._last_val is not None:
            post += f" val_acc {self._last_val}"
        self._bar.set_postfix_str(post, refresh=False)

    def _close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def on_epoch_end(self, trainer, epoch, logs):
        self._close()
        if "val_accuracy" in logs:
            self._last_val = _pct(logs["val_accuracy"])
        if self.lines:
            self.echo(epoch_summary(logs, trainer, self._epochs))

    def on_train_end(self, trainer):
        self._close()


def epoch_summary(logs: dict, trainer, epochs: int) -> str:
    """One line per epoch, e.g. ``Epoch 3/30: validation accuracy 96.12% (9612/10000), 4.1 s``."""
    parts = []
    n_val = trainer.validation_data[0].shape[0] if trainer.validation_data is not None else 0
    names = {
        "loss": "training cost",
        "accuracy": "training accuracy",
        "val_loss": "validation cost",
        "val_accuracy": "validation accuracy",
    }
    for key in MONITOR_KEYS:
        if key not in logs:
            continue
        v = logs[key]
        if key.endswith("accuracy"):
            n = n_val if key.startswith("val_") else trainer.n
            parts.append(f"{names[key]} {_pct(v)} ({round(v * n)}/{n})")
        else:
            parts.append(f"{names[key]} {v:.4f}")
    parts.append(f"{logs.get('time', 0.0):.1f} s")
    return f"Epoch {logs['epoch'] + 1}/{epochs}: " + ", ".join(parts)


# -------------------------------------------------------------- run outputs
def _jsonable(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (np.floating, np.integer)):
        return _jsonable(v.item())
    return v


def write_history(out: Path, history) -> list[Path]:
    """history.json (columns) and history.csv (one row per epoch), atomically."""
    cols = history.to_dict()
    doc = {k: [_jsonable(v) for v in vals] for k, vals in cols.items()}
    atomic_write_json(out / "history.json", doc)
    buf = io.StringIO()
    keys = list(cols)
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(keys)
    for r in history.records:
        writer.writerow(["" if _jsonable(r.get(k)) is None else r.get(k) for k in keys])
    atomic_write_text(out / "history.csv", buf.getvalue())
    return [out / "history.json", out / "history.csv"]


def plot_curves(out: Path, history, title: str = "") -> Path | None:
    """Plot accuracy and cost per epoch to curves.png.

    Returns None (and writes nothing) when matplotlib is missing or nothing
    was monitored.
    """
    keys = [k for k in MONITOR_KEYS if k in history]
    if not keys or len(history) == 0:
        return None
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    panels = [p for p in ("accuracy", "loss") if p in keys or f"val_{p}" in keys]
    fig = Figure(figsize=(5.5 * len(panels), 4.0))
    FigureCanvasAgg(fig)
    epochs = np.asarray(history["epoch"]) + 1
    labels = {"loss": "training", "val_loss": "validation", "accuracy": "training"}
    labels["val_accuracy"] = "validation"
    for i, panel in enumerate(panels, 1):
        ax = fig.add_subplot(1, len(panels), i)
        for k in (panel, f"val_{panel}"):
            if k in history:
                vals = np.asarray(history[k], dtype=float)
                if panel == "accuracy":
                    vals = 100 * vals
                ax.plot(epochs, vals, marker="o", markersize=3, label=labels[k])
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy (%)" if panel == "accuracy" else "cost")
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    path = out / "curves.png"
    atomic_write_bytes(path, buf.getvalue())
    return path


def _control_outputs(out: Path, cfg, trainer, callbacks, plot: bool, title: str) -> list[Path]:
    """batches.csv for --monitor-every, diagnostics.png for --diagnostics."""
    files = []
    for cb in callbacks:
        if isinstance(cb, BatchMonitor) and cb.records:
            cols = cb.to_dict()
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\n")
            writer.writerow(list(cols))
            for row in zip(*cols.values(), strict=True):
                writer.writerow(["" if _jsonable(v) is None else v for v in row])
            path = out / "batches.csv"
            atomic_write_text(path, buf.getvalue())
            files.append(path)
    if plot and cfg.get("control", {}).get("diagnostics") and len(trainer.history):
        from .diagnostics import plot_diagnostics

        try:
            files.append(plot_diagnostics(trainer.history, out / "diagnostics.png", title=title))
        except ImportError:
            pass
    return files


#: The chapter's published results that a run can be compared with. Each
#: applies when the run's settings match ``when`` (MNIST, all the data).
BOOK_RESULTS = [
    {
        "when": {"sizes": [784, 100, 10], "learning_rate": 0.5, "l2": 5.0, "epochs": 30},
        "split": "validation",
        "accuracy": 0.9792,
        "note": "the book's run used the large N(0, 1) initializer",
    },
    {
        "when": {"sizes": [784, 100, 10], "learning_rate": 0.1, "l2": 5.0, "epochs": 60},
        "split": "validation",
        "accuracy": 0.9804,
        "note": "the book's run used the large N(0, 1) initializer",
    },
    {
        "when": {"sizes": [784, 30, 10], "learning_rate": 0.5, "l2": 5.0, "epochs": 30},
        "split": "test",
        "accuracy": 0.9649,
        "note": "the book's run used the large N(0, 1) initializer",
    },
]


def book_result(config: dict[str, dict]) -> dict | None:
    """The book's figure for this set-up, or None when the chapter gives none."""
    net, tr, data = config["network"], config["training"], config["data"]
    common = (
        data.get("dataset") == "mnist"
        and "train_size" not in data
        and "validation_size" not in data
        and net.get("cost") == "cross_entropy"
        and net.get("hidden_activation") == "sigmoid"
        and not net.get("dropout")
        and tr.get("mini_batch_size") == 10
        and tr.get("optimizer") == "sgd"
        and not tr.get("l1")
    )
    if not common:
        return None
    here = {**net, **tr}
    for entry in BOOK_RESULTS:
        if all(here.get(k) == v for k, v in entry["when"].items()):
            return entry
    return None


# ------------------------------------------------------------------- main
@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="nndl")
def cli():
    """Networks from chapter 3 of Nielsen's "Neural Networks and Deep Learning".

    Start with `nndl train`: it trains the chapter's best simple network on
    MNIST (fetched and verified on first use) and reports its accuracy.
    """


def _default_out() -> Path:
    base = Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    out, i = base, 1
    while out.exists():
        i += 1
        out = base.with_name(f"{base.name}-{i}")
    return out


@cli.command()
@_settings_options(SETTINGS)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="read settings from a TOML or JSON file (e.g. a run's config.json); "
    "options given here win",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    help="folder for model.json, history.json/.csv, config.json, curves.png "
    "(default: runs/DATE-TIME)",
)
@click.option(
    "--test/--no-test", default=True, help="report test accuracy at the end (default: on)"
)
@click.option(
    "--plot/--no-plot",
    default=True,
    help="plot curves.png when matplotlib is installed (default: on)",
)
@click.option(
    "--resume",
    "resume_from",
    type=click.Path(dir_okay=False, exists=True),
    help="continue the run saved in this checkpoint (its folder's config.json gives the "
    "settings unless --config is given; --epochs may extend the run)",
)
@click.option("--print-config", is_flag=True, help="print the resolved settings as TOML and exit")
@click.option("--quiet", "-q", is_flag=True, help="no progress or per-epoch lines, just the result")
def train(config_file, out, test, plot, resume_from, print_config, quiet, **values):
    """Train a network and save it with its history and configuration.

    With no options: [784, 100, 10] sigmoid neurons, cross-entropy, eta 0.5,
    lambda 5.0, mini-batches of 10, 30 epochs on MNIST, monitoring the
    validation accuracy (the chapter's best simple network; the book reports
    97.92% on the validation data). Ctrl-C stops after the current
    mini-batch and saves what there is, with a checkpoint that
    `nndl train --resume OUT/checkpoint.npz` continues exactly.
    """
    if resume_from is not None:
        resume_from = Path(resume_from)
        if config_file is None and (resume_from.parent / "config.json").is_file():
            config_file = resume_from.parent / "config.json"
        if out is None:
            out = resume_from.parent
    cfg = resolve_run_config(_layer_from_options(values), config_file)
    train_config, seed = _plan(cfg)
    cfg["training"] = train_config.to_dict()
    if print_config:
        click.echo(to_toml(cfg), nl=False)
        return
    say = (lambda s: None) if quiet else (lambda s: click.echo(s, err=True))
    splits = _load_data(cfg["data"], quiet)
    net = _build_network(cfg["network"], splits, seed)
    cfg["network"] = net.config.to_dict()
    # The folder is created by the first file written to it, so a run that
    # fails before then leaves nothing behind.
    out = Path(out) if out else _default_out()

    train, val = splits.train, splits.validation
    have_val = val.X.shape[0] > 0
    if not quiet:
        tc = train_config
        click.echo(
            f"Training {net.sizes} ({net.config.hidden_activation} hidden, {net.cost.name} cost) "
            f"on {cfg['data']['dataset']}: {train.X.shape[0]} training and {val.X.shape[0]} "
            f"validation examples; eta {tc.learning_rate:g}, lambda {tc.l2:g}, mini-batch "
            f"{tc.mini_batch_size}, {tc.epochs} epochs, seed {seed}"
        )
    stopper = StopOnInterrupt(say)
    ctx = RunContext(cfg, net, train_config, splits, out, quiet)
    callbacks: list[Callback] = [ProgressReport(bar=not quiet, lines=not quiet), stopper]
    for factory in CALLBACK_FACTORIES:
        callbacks.extend(factory(ctx))
    trainer = Trainer(net, train_config, callbacks=callbacks)
    if cfg.get("control", {}).get("checkpoint_every"):
        # A run killed outright keeps its checkpoints: their settings go first.
        write_config(out / "config.json", cfg)
    interrupted = None
    try:
        trainer.fit(
            train.X,
            train.y,
            validation_data=(val.X, val.y) if have_val else None,
            resume_from=resume_from,
        )
    except StopRequested as exc:
        interrupted = exc
    checkpoint = next((cb for cb in callbacks if isinstance(cb, Checkpoint)), None)
    if interrupted and trainer.can_checkpoint and checkpoint is None:
        # With --checkpoint-every the callback has written one already.
        checkpoint = Checkpoint(out / "checkpoint.npz")
        checkpoint.save(trainer)

    results = {
        "status": "interrupted" if interrupted else "complete",
        "epochs_completed": len(trainer.history),
        "n_train": int(train.X.shape[0]),
    }
    if interrupted:
        results["stopped"] = {"epoch": interrupted.epoch, "after_batch": interrupted.batch}
    if trainer.history and "val_accuracy" in trainer.history:
        results["validation_accuracy"] = trainer.history["val_accuracy"][-1]
        best_epoch, best = trainer.history.best("val_accuracy")
        results["best_validation_accuracy"] = {"epoch": best_epoch, "value": best}
    if test and not interrupted:
        results["test_accuracy"] = net.accuracy(splits.test.X, splits.test.y)
    book = book_result(cfg)
    if book and not interrupted:
        results["book"] = {k: book[k] for k in ("split", "accuracy", "note")}

    from .serialization import save

    meta = {"nndl_version": __version__, "config": cfg, "results": results}
    files = [save(net, out / "model.json", metadata=meta)]
    files += write_history(out, trainer.history)
    files.append(write_config(out / "config.json", cfg))
    atomic_write_json(out / "results.json", results)
    files.append(out / "results.json")
    title = (
        f"{net.sizes} on {cfg['data']['dataset']}, eta {train_config.learning_rate:g}, "
        f"lambda {train_config.l2:g}"
    )
    png = plot_curves(out, trainer.history, title) if plot else None
    if png:
        files.append(png)
    files += _control_outputs(out, cfg, trainer, callbacks, plot, title)

    if interrupted:
        resume = ""
        if checkpoint is not None and checkpoint.saved:
            resume = f"; continue with: nndl train --resume {checkpoint.saved[-1]}"
        click.echo(
            f"nndl: interrupted in epoch {interrupted.epoch + 1} after mini-batch "
            f"{interrupted.batch + 1}; saved the model and the history of "
            f"{len(trainer.history)} complete epoch(s) to {out}{resume}",
            err=True,
        )
        raise click.exceptions.Exit(EXIT_INTERRUPTED)

    lines = []
    if "validation_accuracy" in results:
        b = results["best_validation_accuracy"]
        lines.append(
            f"Validation accuracy: {_pct(results['validation_accuracy'])} "
            f"(best {_pct(b['value'])} in epoch {b['epoch'] + 1})"
        )
    if "test_accuracy" in results:
        n = splits.test.X.shape[0]
        acc = results["test_accuracy"]
        lines.append(f"Test accuracy: {_pct(acc)} ({round(acc * n)}/{n})")
    if book:
        ours = results.get(f"{book['split']}_accuracy")
        mine = f"; this run: {_pct(ours)}" if ours is not None else ""
        lines.append(
            f"The book reports {_pct(book['accuracy'])} on the {book['split']} data for this "
            f"set-up ({book['note']}){mine}"
        )
    lines.append(f"Saved {', '.join(p.name for p in files)} in {out}")
    for line in lines:
        click.echo(line)


def _model_dataset(net: Network, dataset: str | None) -> str:
    if dataset:
        return dataset
    cfg = net.metadata.get("config") if isinstance(net.metadata, dict) else None
    if isinstance(cfg, dict) and isinstance(cfg.get("data"), dict):
        name = cfg["data"].get("dataset")
        if isinstance(name, str):
            return name
    return "mnist"


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """Counts[i, j]: examples of class i predicted as j."""
    m = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(m, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return m


def _format_confusion(m: np.ndarray) -> str:
    w = max(5, len(str(int(m.max()))) + 1)
    head = "true\\pred" + "".join(f"{j:>{w}}" for j in range(m.shape[1]))
    rows = [head]
    for i, row in enumerate(m):
        rows.append(f"{i:>9}" + "".join(f"{int(v):>{w}}" for v in row))
    return "\n".join(rows)


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.option(
    "--split",
    type=click.Choice(["validation", "test", "train"]),
    default="validation",
    show_default=True,
    help="which data to evaluate on (keep the test set for the end)",
)
@click.option("--dataset", help="data set (default: the one the model was trained on)")
@click.option("--data-dir", type=click.Path(file_okay=False), help="data cache folder")
@click.option("--json", "as_json", is_flag=True, help="print the results as JSON")
def evaluate(model, split, dataset, data_dir, as_json):
    """Accuracy, cost and confusion matrix of a saved MODEL on validation or test data."""
    from .data import load_dataset
    from .serialization import load

    net = load(model)
    name = _model_dataset(net, dataset)
    splits = load_dataset(name, cache_dir=data_dir, progress=False if as_json else None)
    data = getattr(splits, split)
    X = net.check_X(data.X, name=f"{split} data")
    pred = net.predict(X)
    labels = data.y
    if labels.max() >= net.n_outputs:
        raise ValueError(
            f"{name} has labels up to {labels.max()} but the model has {net.n_outputs} outputs"
        )
    acc = float(np.mean(pred == labels))
    cost = net.cost_value(X, labels)
    result = {
        "model": str(model),
        "dataset": name,
        "split": split,
        "examples": int(X.shape[0]),
        "accuracy": acc,
        "correct": int(np.sum(pred == labels)),
        "cost": cost,
    }
    meta_cfg = net.metadata.get("config", {}) if isinstance(net.metadata, dict) else {}
    tr = meta_cfg.get("training", {}) if isinstance(meta_cfg, dict) else {}
    n_train = (net.metadata.get("results") or {}).get("n_train")
    l2, l1 = tr.get("l2") or 0.0, tr.get("l1") or 0.0
    if (l2 or l1) and isinstance(n_train, int) and n_train > 0:
        result["cost_with_penalty"] = cost + net.penalty(l2=l2, l1=l1, n=n_train)
    cm = confusion_matrix(labels, pred, net.n_outputs)
    result["confusion_matrix"] = cm.tolist()
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    click.echo(f"{model} on the {split} data of {name} ({X.shape[0]} examples)")
    click.echo(f"Accuracy: {_pct(acc)} ({result['correct']}/{X.shape[0]})")
    line = f"Cost: {cost:.4f} ({net.cost.name}, mean per example)"
    if "cost_with_penalty" in result:
        line += (
            f"; with the regularization term (l2 {l2:g}, l1 {l1:g}, n {n_train}): "
            f"{result['cost_with_penalty']:.4f}"
        )
    click.echo(line)
    click.echo("Confusion matrix (rows: true class, columns: predicted class):")
    click.echo(_format_confusion(cm))


@cli.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--invert",
    is_flag=True,
    help="for dark ink on a light background (MNIST digits are white on black)",
)
@click.option("--json", "as_json", is_flag=True, help="print the results as JSON")
def predict(model, images, invert, as_json):
    """Class and output values of MODEL for each image file (PNG, any size, grey or colour).

    Images are turned grey, padded to a square and resized to the model's
    input (28x28 for MNIST, 8x8 for the digits). The book's convention is
    white ink on a black background; pass --invert for black ink on white.
    """
    from .data.images import load_images
    from .serialization import load

    net = load(model)
    side = math.isqrt(net.n_inputs)
    if side * side != net.n_inputs:
        raise ValueError(
            f"{model} takes {net.n_inputs} inputs, not a square image; predict needs a model "
            "trained on square images (784 = 28x28 for MNIST)"
        )
    X = load_images(images, side=side, invert=invert)
    out = net.predict_proba(X)
    softmax = net.output_activation.name == "softmax"
    results = []
    for path, x, row in zip(images, X, out, strict=True):
        k = int(np.argmax(row))
        results.append({"image": path, "class": k, "outputs": [float(v) for v in row]})
        if not invert and float(np.mean(x)) > 0.5:
            click.echo(
                f"nndl: {path} looks like dark ink on a light background; MNIST digits are "
                "light on dark: try --invert",
                err=True,
            )
    if as_json:
        click.echo(json.dumps({"model": str(model), "softmax": softmax, "predictions": results}))
        return
    kind = "probabilities" if softmax else "outputs (sigmoid activations, not normalized)"
    for r in results:
        values = "  ".join(f"{i}:{v:.3f}" for i, v in enumerate(r["outputs"]))
        click.echo(f"{r['image']}: {r['class']}  ({r['outputs'][r['class']]:.3f})")
        click.echo(f"  {kind}: {values}")


# --------------------------------------------------------------------- data
_DATA_NAMES = ["mnist", "mnist-idx", "fashion-mnist", "digits"]


@cli.group()
def data():
    """Get, check and locate the data sets.

    The cache folder is --data-dir, else $NNDL_DATA_DIR, else ~/.cache/nndl.
    """


def _data_dir_option(fn):
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False),
        help="cache folder (default: $NNDL_DATA_DIR or ~/.cache/nndl)",
    )(fn)


def _names_argument(fn):
    return click.argument("names", nargs=-1, type=click.Choice(_DATA_NAMES, case_sensitive=False))(
        fn
    )


def _describe(splits) -> str:
    t, v, s = splits
    return (
        f"{t.X.shape[0]} training, {v.X.shape[0]} validation, {s.X.shape[0]} test examples of "
        f"{splits.n_features} features, {splits.n_classes} classes"
    )


@data.command("fetch")
@_names_argument
@_data_dir_option
def data_fetch(names, data_dir):
    """Fetch and verify data sets (default: mnist). A valid cache makes no network call."""
    from . import data as d

    for name in names or ("mnist",):
        name = name.lower()
        if name == "mnist":
            path = d.mnist_pickle_path(cache_dir=data_dir)
            splits = d.load_mnist(cache_dir=data_dir)  # also builds the fast .npz cache
            click.echo(f"mnist: {path} (sha256 verified); {_describe(splits)}")
        elif name == "mnist-idx":
            folder = d.mnist_idx_folder(cache_dir=data_dir)
            click.echo(
                f"mnist-idx: {folder} (md5 verified); {_describe(d.load_idx_dataset(folder))}"
            )
        elif name == "fashion-mnist":
            folder = d.fashion_mnist_dir(data_dir)
            click.echo(f"fashion-mnist: {folder}; {_describe(d.load_idx_dataset(folder))}")
        else:
            click.echo(f"digits: bundled with scikit-learn; {_describe(d.load_digits())}")


@data.command("info")
@_names_argument
@_data_dir_option
def data_info(names, data_dir):
    """Describe the data sets and the state of the cache (downloads nothing)."""
    from . import data as d
    from .data.fetch import MNIST_IDX_FILES, MNIST_PICKLE

    cache = d.data_dir(data_dir)
    how = (
        "--data-dir"
        if data_dir
        else (f"${d.ENV_VAR}" if os.environ.get(d.ENV_VAR) else "the per-user default")
    )
    click.echo(f"cache folder: {cache} ({how})")
    for name in names or _DATA_NAMES:
        name = name.lower()
        click.echo(f"{name}: {d.DATASETS[name]}")
        if name == "mnist":
            p = cache / MNIST_PICKLE.name
            status = "missing (nndl data fetch mnist gets it)"
            if p.exists():
                problem = d.verify(p, MNIST_PICKLE)
                status = f"damaged: {problem}" if problem else "present, sha256 verified"
            click.echo(f"  {p}: {status}")
            click.echo(f"  {MNIST_PICKLE.checksum}, {MNIST_PICKLE.size} bytes; sources:")
            for s in MNIST_PICKLE.sources:
                click.echo(f"    {s.label}")
        elif name == "mnist-idx":
            for f in MNIST_IDX_FILES:
                p = cache / f.name
                status = "missing"
                if p.exists():
                    problem = d.verify(p, f)
                    status = f"damaged: {problem}" if problem else "present, md5 verified"
                click.echo(f"  {p}: {status}")
        elif name == "fashion-mnist":
            try:
                click.echo(f"  {d.fashion_mnist_dir(data_dir)}: present")
            except FileNotFoundError as exc:
                click.echo(f"  {exc}")
        else:
            click.echo("  bundled with scikit-learn (no download)")


@data.command("expand")
@click.option(
    "--dataset",
    default="mnist",
    show_default=True,
    help="data set whose training images are expanded (any name `nndl train --dataset` takes)",
)
@click.option(
    "--recipe",
    default="shifts",
    show_default=True,
    help="'shifts' (the book's four one-pixel shifts) or steps such as "
    "shift,rotate:10,affine:0.1:0.2,elastic:34:4",
)
@click.option(
    "--copies", type=click.IntRange(min=1), help="distorted copies per image (recipes; default 4)"
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--no-original", is_flag=True, help="leave the untouched images out")
@click.option(
    "--out",
    type=click.Path(dir_okay=False),
    help="write the set to this .npz file (default: the cache, where `nndl train --expand` "
    "finds it)",
)
@click.option(
    "--preview",
    is_flag=False,
    flag_value="expand-preview.png",
    default=None,
    type=click.Path(dir_okay=False),
    help="also write a contact sheet of digits and their transformations (PNG; default name "
    "expand-preview.png)",
)
@click.option(
    "--preview-n", type=click.IntRange(1, 100), default=8, show_default=True, help="rows of it"
)
@_data_dir_option
def data_expand(dataset, recipe, copies, seed, no_original, out, preview, preview_n, data_dir):
    """Build an expanded training set once and cache it (recipe and seed recorded).

    `nndl data expand` makes the book's 250,000 shifted MNIST images;
    `nndl train --expand shifts` then trains on them from the cache.
    """
    from .data import data_dir as resolve_data_dir
    from .data import load_dataset
    from .data.expand import build_expanded, contact_sheet, expanded_path

    splits = load_dataset(dataset, cache_dir=data_dir)
    X, y = splits.train.X, splits.train.y
    kwargs = {"seed": seed, "copies": copies, "include_original": not no_original}
    cache = resolve_data_dir(data_dir) / "expanded"
    path = Path(out) if out else expanded_path(X, y, recipe, cache_dir=cache, **kwargs)
    t0 = time.perf_counter()
    Xe, _ = build_expanded(X, y, recipe, path=path, **kwargs)
    click.echo(
        f"{dataset}: {X.shape[0]} training images -> {Xe.shape[0]} with {recipe!r} "
        f"(seed {seed}), {time.perf_counter() - t0:.1f} s; saved in {path}"
    )
    if preview:
        sheet = contact_sheet(
            X, preview, recipe, n=preview_n, seed=seed, labels=y[:preview_n], title=recipe
        )
        click.echo(f"Contact sheet: {sheet}")


@data.command("path")
@click.argument("name", required=False, type=click.Choice(_DATA_NAMES, case_sensitive=False))
@_data_dir_option
def data_path(name, data_dir):
    """Print where a data set is (or will be) kept; with no NAME, the cache folder."""
    from . import data as d
    from .data.fetch import MNIST_PICKLE

    cache = d.data_dir(data_dir)
    name = (name or "").lower()
    if not name:
        click.echo(str(cache))
    elif name == "mnist":
        click.echo(str(cache / MNIST_PICKLE.name))
    elif name == "mnist-idx":
        click.echo(str(cache / "mnist-idx"))
    elif name == "fashion-mnist":
        click.echo(str(d.fashion_mnist_dir(data_dir)))
    else:
        import sklearn.datasets

        click.echo(str(Path(sklearn.datasets.__file__).parent / "data"))


# --------------------------------------------------------------- extensions
#: Modules that add their own commands to ``cli`` with ``register(cli)``
#: (they import their heavy dependencies inside the commands).
EXTENSIONS = ("nndl.cli_experiments", "nndl.cli_search")


def _register_extensions() -> None:
    import importlib

    for name in EXTENSIONS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # not part of this installation
                continue
            raise
        module.register(cli)


_register_extensions()


# ---------------------------------------------------------------- entry point
def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def main(argv: list[str] | None = None) -> None:
    """Run the command line; expected errors become one line on stderr and an exit status."""
    from .data import FetchError

    debug = os.environ.get("NNDL_DEBUG", "") not in ("", "0")
    try:
        rc = cli.main(args=argv, prog_name="nndl", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("nndl: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt:
        click.echo("nndl: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        no_args = getattr(click.exceptions, "NoArgsIsHelpError", ())
        if isinstance(exc, no_args):  # `nndl` or `nndl data` alone: show the help
            click.echo(exc.format_message())
            sys.exit(0)
        msg = f"nndl: error: {_one_line(exc.format_message())}"
        if isinstance(exc, click.UsageError) and exc.ctx is not None:
            msg += f" (see '{exc.ctx.command_path} --help')"
        click.echo(msg, err=True)
        sys.exit(exc.exit_code)
    except (ValueError, TypeError, OSError, ImportError, DivergenceError, FetchError) as exc:
        if debug:
            raise
        click.echo(f"nndl: error: {_one_line(str(exc))}", err=True)
        sys.exit(EXIT_ERROR)
    sys.exit(rc if isinstance(rc, int) else 0)


if __name__ == "__main__":
    main()
