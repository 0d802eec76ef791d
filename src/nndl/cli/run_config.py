"""The settings of ``nndl train``: one table of options, the defaults, and their merging.

Every ``train`` setting is one :class:`Setting` in :data:`SETTINGS`: its
options, its place in the run configuration (``section.key``, see
:mod:`nndl.config`) and its help. The options are generated from the table,
and the values merge with :data:`DEFAULTS` and the ``--config`` file in one
place (:func:`resolve_run_config`). A new group of settings adds rows here,
its section to ``nndl.config.SECTIONS``, and, when it acts during training,
a factory to :data:`nndl.cli.train.CALLBACK_FACTORIES`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import click

from .._validation import check_range
from ..activations import ACTIVATIONS, HIDDEN_ACTIVATIONS
from ..callbacks import MONITOR_KEYS
from ..config import merge, read_config
from ..costs import COSTS
from ..initializers import INITIALIZERS
from ..optimizers import OPTIMIZERS
from .params import FloatList, IntList, MonitorKeys, NameList, choice

__all__ = [
    "DEFAULTS",
    "SETTINGS",
    "Setting",
    "layer_from_options",
    "resolve_run_config",
    "settings_options",
]


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
        "network.sizes", ("--sizes",), IntList(), "all layer sizes, input first, e.g. 784,100,10"
    ),
    Setting(
        "network.hidden",
        ("--hidden",),
        IntList(),
        "hidden layer sizes (input and output sizes come from the data), e.g. 100 or 100,30",
        "100",
    ),
    Setting(
        "network.hidden_activation",
        ("--activation",),
        NameList(HIDDEN_ACTIVATIONS),
        f"hidden neurons, one for all or one per hidden layer: {', '.join(HIDDEN_ACTIVATIONS)}",
        "sigmoid",
    ),
    Setting("network.cost", ("--cost",), choice(COSTS), "cost function", "cross_entropy"),
    Setting(
        "network.output_activation",
        ("--output-activation",),
        choice(ACTIVATIONS),
        "output neurons",
        "the cost's natural pair",
    ),
    Setting(
        "network.initializer",
        ("--init", "--initializer"),
        choice(INITIALIZERS),
        "weight initialization",
        "default, N(0, 1/n_in)",
    ),
    Setting(
        "network.dropout",
        ("--dropout",),
        FloatList(),
        "probability of dropping a hidden neuron, one for all or one per hidden layer",
        "0",
    ),
    Setting("network.dtype", ("--dtype",), choice(["float64", "float32"]), "floats", "float64"),
    # training
    Setting(
        "training.learning_rate", ("--eta", "--learning-rate"), float, "learning rate eta", "0.5"
    ),
    Setting("training.l2", ("--l2", "--lmbda"), float, "L2 regularization lambda", "5.0"),
    Setting("training.l1", ("--l1",), float, "L1 regularization lambda", "0"),
    Setting(
        "training.optimizer",
        ("--optimizer",),
        choice(OPTIMIZERS),
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
        MonitorKeys(),
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
        choice(MONITOR_KEYS),
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
        choice(MONITOR_KEYS),
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


def settings_options(settings):
    def decorate(fn):
        for s in reversed(settings):
            fn = s.option()(fn)
        return fn

    return decorate


def layer_from_options(values: dict) -> dict[str, dict]:
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
    training sections are checked by :func:`nndl.cli.train.check_before_loading`.
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
