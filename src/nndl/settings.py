"""The one schema of a run's settings.

Every setting of a training run is one :class:`Setting` row in
:data:`SETTINGS`: its name, its section of a run configuration (``network``,
``training``, ``data``, ``control``), the kind of value it takes (with its
parser and its allowed range), its default, its other names (``eta`` for
``learning_rate``, ``lmbda`` and ``lambda`` for ``l2``, ...), its command-line
flags and its help. Everything else is built from this table, never typed
again:

- the options of ``nndl train`` and the shared options of ``nndl tune`` and
  ``nndl search`` (:mod:`nndl.cli`);
- the sections and keys that run configuration files accept, and the
  checking of their values (:mod:`nndl.config`);
- the defaults of :class:`~nndl.network.NetworkConfig`,
  :class:`~nndl.training.TrainConfig` and the ``[control]`` callbacks;
- the options a search space may set (:mod:`nndl.search`);
- the parameters :class:`nndl.sklearn.NetworkClassifier` shares with a run;
- the option table of the README (a test compares the two).

A value is parsed (from command-line text) and checked (its type and range)
once, at the edge, by :meth:`Setting.parse` or :meth:`Setting.check`; from
then on it is a typed value. Messages name the setting as ``section.name``.

Adding a setting is one row here plus the code that uses it; see the
README's development section for a worked example.

One set of defaults serves the library and every command. Where a command
needs another default, the row says so in ``commands`` with the reason, and
that command's ``--help`` shows it: ``nndl train`` trains the chapter's best
network ([784, 100, 10], lambda 5.0), while the library, ``nndl tune`` and
``nndl search`` default to the chapter's quicker [784, 30, 10].
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .activations import ACTIVATIONS, HIDDEN_ACTIVATIONS
from .costs import COSTS
from .initializers import INITIALIZERS
from .optimizers import OPTIMIZERS
from .setting_kinds import (
    MONITOR_KEYS,
    Choice,
    Flag,
    IntList,
    Kind,
    MonitorList,
    NameOrList,
    Number,
    NumberOrList,
    Text,
    normalized_name,
)

__all__ = [
    "EXCLUSIVE",
    "MONITOR_KEYS",
    "SECTIONS",
    "SETTINGS",
    "CommandDefault",
    "Setting",
    "by_section",
    "check_section",
    "default",
    "defaults",
    "get",
    "markdown_table",
]

#: The sections of a run configuration, in the order files list them.
SECTIONS = ("network", "training", "data", "control")

#: Pairs of settings that replace each other: a later layer that sets one
#: drops the other, and one layer may not give both.
EXCLUSIVE: list[tuple[str, str, str]] = [("network", "sizes", "hidden")]


# ------------------------------------------------------------- the settings
@dataclass(frozen=True)
class CommandDefault:
    """A command's own default for a setting, and why it differs."""

    value: Any
    why: str


@dataclass(frozen=True)
class Setting:
    """One setting of a run.

    Attributes
    ----------
    name : str
        Its key in its section (``learning_rate``), the keyword of the
        library's functions.
    section : str
        One of :data:`SECTIONS`.
    kind : Kind
        Parser and checker of its values.
    default : object
        The value when nothing sets it (None: not set; ``show`` says what
        that means).
    help : str
        One line for ``--help``, the README table and the search's options.
    flags : tuple of str
        Command-line flags, the first the main one (empty: files only).
    aliases : tuple of str
        Other names accepted in files, search spaces and Python.
    show : str, optional
        How ``--help`` describes the default when the value alone says
        little (``"random, saved"`` for a seed of None).
    search_name : str, optional
        Its name in a search space when that differs (kept for the trials
        recorded by earlier versions); None: not searchable.
    in_config : bool
        Whether run configuration files take it.
    commands : mapping of str to CommandDefault
        Commands (``train``, ``tune``, ``search``, ``tune eta``, ...) whose
        default differs, with the reason.
    """

    name: str
    section: str
    kind: Kind
    default: Any
    help: str
    flags: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    show: str | None = None
    search_name: str | None = None
    in_config: bool = True
    commands: Mapping[str, CommandDefault] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """``section.name``, as messages and ``--help`` name it."""
        return f"{self.section}.{self.name}"

    def check(self, value):
        """The value in its canonical type, or ValueError/TypeError naming the setting.

        None (not set) passes when the default is None.
        """
        if value is None:
            if self.default is None:
                return None
            raise ValueError(f"{self.key} must be set (it has no 'not set' value)")
        return self.kind.check(self.key, value)

    def parse(self, text: str):
        """Command-line text to a checked value."""
        return self.check(self.kind.parse(self.key, text))

    def default_for(self, command: str | None = None):
        """The default of ``command`` (``"tune eta"`` falls back to ``"tune"``)."""
        if command:
            parts = command.split()
            for i in range(len(parts), 0, -1):
                c = self.commands.get(" ".join(parts[:i]))
                if c is not None:
                    return c.value
        return self.default

    def why_for(self, command: str | None) -> str | None:
        """Why ``command``'s default differs from the library's, or None."""
        if command:
            parts = command.split()
            for i in range(len(parts), 0, -1):
                c = self.commands.get(" ".join(parts[:i]))
                if c is not None:
                    return c.why
        return None

    def shown_default(self, command: str | None = None) -> str:
        """The default as ``--help`` and the README show it."""
        value = self.default_for(command)
        if self.show is not None and value == self.default:
            return self.show
        return format_value(value)


def format_value(value) -> str:
    """A value as a user writes it on the command line."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, (list, tuple)):
        return ",".join(format_value(v) for v in value) if value else "none"
    if isinstance(value, float):
        return f"{value:g}"
    return "none" if value is None else str(value)


def _schedule_syntax(text: str) -> None:
    from .schedules import parse_schedule

    if normalized_name(text) != "plateau":
        parse_schedule(text)


def _folder_syntax(text: str) -> None:
    """A folder to write into: refused when it names a file that exists."""
    import os

    if not text.strip():
        raise ValueError("the folder name is empty")
    if os.path.exists(text) and not os.path.isdir(text):
        raise ValueError(f"{text!r} is a file, not a folder")


def _stopping_rule_syntax(text: str) -> None:
    head, *args = normalized_name(text).replace("_", "-").split(":")
    forms = "'no-improvement', 'gl:ALPHA' or 'pq:ALPHA[:STRIP]'"
    try:
        [float(a) for a in args]
    except ValueError:
        raise ValueError(f"bad early-stopping rule {text!r}; expected {forms}") from None
    n = {"no-improvement": (0,), "gl": (1,), "pq": (1, 2)}.get(head)
    if n is None or len(args) not in n:
        raise ValueError(f"bad early-stopping rule {text!r}; expected {forms}")


_POSITIVE_INT = Number(integer=True, low=1)
_MONITOR_CHOICE = Choice(MONITOR_KEYS)
_CHAPTER = "the chapter's best simple network, [784, 100, 10] with lambda 5.0 (SPEC 4.1)"

#: Every setting, in the order ``--help`` and the README show them.
SETTINGS: tuple[Setting, ...] = (
    # ------------------------------------------------------------ network
    Setting(
        "sizes",
        "network",
        IntList(min_items=2),
        None,
        "all layer sizes, input first, e.g. 784,100,10 (instead of hidden)",
        flags=("--sizes",),
        show="from the data and hidden",
    ),
    Setting(
        "hidden",
        "network",
        IntList(),
        [30],
        "hidden layer sizes (input and output sizes come from the data), e.g. 100 or 100,30",
        flags=("--hidden",),
        aliases=("hidden_sizes", "hidden_layer_sizes"),
        search_name="hidden_sizes",
        commands={"train": CommandDefault([100], _CHAPTER)},
    ),
    Setting(
        "hidden_units",
        "network",
        _POSITIVE_INT,
        30,
        "neurons in each hidden layer (with hidden_layers, instead of hidden_sizes)",
        search_name="hidden_units",
        in_config=False,
    ),
    Setting(
        "hidden_layers",
        "network",
        Number(integer=True, low=0),
        1,
        "number of hidden layers of hidden_units neurons",
        search_name="hidden_layers",
        in_config=False,
    ),
    Setting(
        "hidden_activation",
        "network",
        NameOrList(HIDDEN_ACTIVATIONS),
        "sigmoid",
        "hidden neurons, one for all or one per hidden layer: " + ", ".join(HIDDEN_ACTIVATIONS),
        flags=("--activation",),
        aliases=("activation",),
        search_name="hidden_activation",
    ),
    Setting(
        "cost",
        "network",
        Choice(tuple(sorted(COSTS))),
        "cross_entropy",
        "cost function",
        flags=("--cost",),
        search_name="cost",
    ),
    Setting(
        "output_activation",
        "network",
        Choice(tuple(sorted(ACTIVATIONS))),
        None,
        "output neurons",
        flags=("--output-activation",),
        show="the cost's natural pair",
        search_name="output_activation",
    ),
    Setting(
        "initializer",
        "network",
        Choice(tuple(sorted(INITIALIZERS))),
        "default",
        "weight initialization",
        flags=("--init", "--initializer"),
        aliases=("init",),
        show="default, N(0, 1/n_in)",
        search_name="initializer",
    ),
    Setting(
        "dropout",
        "network",
        NumberOrList(low=0.0, high=1.0, high_inclusive=False),
        0.0,
        "probability of dropping a hidden neuron, one for all or one per hidden layer",
        flags=("--dropout",),
        search_name="dropout",
    ),
    Setting(
        "dtype",
        "network",
        Choice(("float32", "float64")),
        "float64",
        "floats",
        flags=("--dtype",),
        search_name="dtype",
    ),
    # ----------------------------------------------------------- training
    Setting(
        "learning_rate",
        "training",
        Number(low=0.0, low_inclusive=False),
        0.5,
        "learning rate eta",
        flags=("--eta", "--learning-rate"),
        aliases=("eta",),
        search_name="learning_rate",
    ),
    Setting(
        "l2",
        "training",
        Number(low=0.0),
        0.0,
        "L2 regularization lambda",
        flags=("--l2", "--lmbda"),
        aliases=("lmbda", "lambda"),
        search_name="l2",
        commands={"train": CommandDefault(5.0, _CHAPTER), "tune": CommandDefault(5.0, _CHAPTER)},
    ),
    Setting(
        "l1",
        "training",
        Number(low=0.0),
        0.0,
        "L1 regularization lambda",
        flags=("--l1",),
        search_name="l1",
    ),
    Setting(
        "optimizer",
        "training",
        Choice(tuple(OPTIMIZERS)),
        None,
        "update rule",
        flags=("--optimizer",),
        show="sgd, or momentum when momentum > 0",
        search_name="optimizer",
    ),
    Setting(
        "momentum",
        "training",
        Number(low=0.0, high=1.0, high_inclusive=False),
        0.0,
        "momentum coefficient mu (selects the momentum optimizer)",
        flags=("--momentum", "--mu"),
        aliases=("mu",),
        search_name="momentum",
    ),
    Setting(
        "mini_batch_size",
        "training",
        _POSITIVE_INT,
        10,
        "mini-batch size",
        flags=("--mini-batch-size", "--batch-size"),
        aliases=("batch_size",),
        search_name="mini_batch_size",
    ),
    Setting(
        "epochs",
        "training",
        Number(integer=True, low=0),
        30,
        "epochs",
        flags=("--epochs",),
        search_name="epochs",
        commands={
            "tune eta": CommandDefault(5, "the chapter's 'first few epochs' of each trial"),
            "tune lambda": CommandDefault(10, "long enough for lambda to show its effect"),
            "tune batch-size": CommandDefault(5, "each size is compared on a short run"),
        },
    ),
    Setting(
        "seed",
        "training",
        Number(integer=True, low=0),
        None,
        "random seed (initial weights, shuffling, dropout)",
        flags=("--seed",),
        show="random, drawn at the start and saved",
        search_name="seed",
        commands={
            "tune": CommandDefault(0, "every trial starts from the same weights"),
            "search": CommandDefault(0, "every trial starts from the same weights"),
        },
    ),
    Setting(
        "monitor",
        "training",
        MonitorList(),
        None,
        "recorded each epoch: loss, accuracy (training data), val_loss, val_accuracy, all, none",
        flags=("--monitor",),
        show="val_accuracy when there is evaluation data",
        commands={
            "train": CommandDefault(
                ["val_accuracy"], "the chapter follows the validation accuracy of every run"
            )
        },
    ),
    Setting(
        "shuffle",
        "training",
        Flag(),
        True,
        "visit the training data in a fresh random order each epoch",
    ),
    # --------------------------------------------------------------- data
    Setting(
        "dataset",
        "data",
        Text(metavar="NAME", what="a data set name"),
        "mnist",
        "mnist, mnist-idx, fashion-mnist, digits, idx:FOLDER or mnist:PATH",
        flags=("--dataset",),
    ),
    Setting(
        "data_dir",
        "data",
        Text(metavar="FOLDER", what="a folder name"),
        None,
        "data cache folder",
        flags=("--data-dir",),
        show="$NNDL_DATA_DIR or ~/.cache/nndl",
    ),
    Setting(
        "train_size",
        "data",
        _POSITIVE_INT,
        None,
        "train on the first N training examples only",
        flags=("--train-size",),
        show="all",
    ),
    Setting(
        "validation_size",
        "data",
        _POSITIVE_INT,
        None,
        "monitor on the first N validation examples only",
        flags=("--validation-size",),
        show="all",
    ),
    Setting(
        "expand",
        "data",
        Text(metavar="RECIPE", what="a recipe string"),
        None,
        "train on an expanded training set, built once and cached: 'shifts' (the book's four "
        "one-pixel shifts, 50,000 -> 250,000 images) or a recipe such as rotate:10,elastic",
        flags=("--expand",),
        show="off",
    ),
    Setting(
        "expand_copies",
        "data",
        _POSITIVE_INT,
        None,
        "distorted copies per image for an --expand recipe",
        flags=("--expand-copies",),
        show="4",
    ),
    Setting(
        "expand_seed",
        "data",
        Number(integer=True, low=0),
        0,
        "seed of the distortions of --expand",
    ),
    Setting(
        "augment",
        "data",
        Text(metavar="RECIPE", what="a recipe string"),
        None,
        "distort the training images afresh every epoch with this recipe, e.g. shift,rotate:10",
        flags=("--augment",),
        show="off",
    ),
    Setting(
        "augment_fraction",
        "data",
        Number(low=0.0, high=1.0, low_inclusive=False),
        1.0,
        "share of the training images distorted each epoch by --augment",
        flags=("--augment-fraction",),
    ),
    # ------------------------------------------------------------ control
    Setting(
        "schedule",
        "control",
        Text(metavar="SPEC", what="a schedule", syntax=_schedule_syntax),
        "constant",
        "learning-rate schedule: constant, plateau (divide eta when validation accuracy "
        "stalls), step:EVERY[:FACTOR] (eta times FACTOR every EVERY epochs) or exp:GAMMA",
        flags=("--schedule",),
    ),
    Setting(
        "plateau_patience",
        "control",
        _POSITIVE_INT,
        10,
        "plateau schedule: epochs without improvement before eta is divided",
        flags=("--plateau-patience",),
    ),
    Setting(
        "plateau_factor",
        "control",
        Number(low=1.0, low_inclusive=False),
        2.0,
        "plateau schedule: divide eta by this",
        flags=("--plateau-factor",),
    ),
    Setting(
        "plateau_floor",
        "control",
        Number(low=1.0),
        1024.0,
        "plateau schedule: stop when eta falls below its first value / this",
        flags=("--plateau-floor",),
    ),
    Setting(
        "plateau_monitor",
        "control",
        _MONITOR_CHOICE,
        "val_accuracy",
        "plateau schedule: the metric watched",
        flags=("--plateau-monitor",),
    ),
    Setting(
        "early_stopping",
        "control",
        Number(integer=True, low=0),
        0,
        "stop after N epochs without improvement and restore the best parameters (0: off)",
        flags=("--early-stopping",),
        aliases=("patience",),
        search_name="early_stopping",
    ),
    Setting(
        "early_stopping_rule",
        "control",
        Text(metavar="RULE", what="a stopping rule", syntax=_stopping_rule_syntax),
        "no-improvement",
        "no-improvement, gl:ALPHA (Prechelt's generalization loss) or pq:ALPHA[:STRIP] "
        "(progress quotient); --early-stopping N > 0 switches it on",
        flags=("--early-stopping-rule",),
    ),
    Setting(
        "early_stopping_monitor",
        "control",
        _MONITOR_CHOICE,
        None,
        "early stopping: the metric watched",
        flags=("--early-stopping-monitor",),
        show="val_accuracy; val_loss for gl and pq",
    ),
    Setting(
        "restore_best",
        "control",
        Flag(),
        True,
        "after early stopping, go back to the best epoch's parameters",
        flags=("--restore-best/--no-restore-best",),
    ),
    Setting(
        "monitor_every",
        "control",
        Number(integer=True, low=0),
        0,
        "also record cost and accuracy every K mini-batches on small subsets (batches.csv)",
        flags=("--monitor-every",),
        show="0, off",
    ),
    Setting(
        "monitor_subset",
        "control",
        _POSITIVE_INT,
        1000,
        "examples in each subset used by --monitor-every",
        flags=("--monitor-subset",),
    ),
    Setting(
        "diagnostics",
        "control",
        Flag(),
        False,
        "record per-layer saturation, mean |f'(z)|, weight and gradient norms each epoch and "
        "plot them to diagnostics.png",
        flags=("--diagnostics/--no-diagnostics",),
    ),
    Setting(
        "diagnostics_threshold",
        "control",
        Number(low=0.0, low_inclusive=False),
        4.0,
        "a sigmoid neuron counts as saturated when |z| exceeds this (tanh: half of it)",
        flags=("--diagnostics-threshold",),
    ),
    Setting(
        "diagnostics_sample",
        "control",
        _POSITIVE_INT,
        1000,
        "training examples the diagnostics are measured on",
        flags=("--diagnostics-sample",),
    ),
    Setting(
        "checkpoint_every",
        "control",
        Number(integer=True, low=0),
        0,
        "write OUT/checkpoint.npz every N epochs (Ctrl-C always writes one)",
        flags=("--checkpoint-every",),
    ),
    Setting(
        "checkpoint_path",
        "control",
        Text(metavar="FILE", what="a file name"),
        "checkpoint.npz",
        "where --checkpoint-every writes, relative to the output folder",
    ),
    Setting(
        "tensorboard",
        "control",
        Text(metavar="DIR", what="a folder name", syntax=_folder_syntax),
        None,
        "write TensorBoard event files (curves, histograms, settings) to DIR/NAME, NAME the "
        "output folder's name; tensorboard --logdir DIR compares runs (needs nndl[tensorboard])",
        flags=("--tensorboard",),
        show="off",
    ),
)

_BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS}
_BY_NAME: dict[str, list[Setting]] = {}
for _s in SETTINGS:
    for _n in {_s.name, *_s.aliases, *([_s.search_name] if _s.search_name else [])}:
        _BY_NAME.setdefault(_n, []).append(_s)
del _s, _n


def _check_schema() -> None:
    """The table's own invariants (names unique, defaults valid): checked at import."""
    if len(_BY_KEY) != len(SETTINGS):
        raise RuntimeError("a setting appears twice in nndl.settings.SETTINGS")
    for name, rows in _BY_NAME.items():
        if len(rows) > 1:
            raise RuntimeError(f"the name {name!r} means more than one setting")
    for s in SETTINGS:
        if s.section not in SECTIONS:
            raise RuntimeError(f"{s.key}: unknown section")
        s.check(s.default)
        for c in s.commands.values():
            s.check(c.value)


_check_schema()


def get(name: str, section: str | None = None) -> Setting:
    """The setting called ``name`` (or an alias; ``-`` and ``_`` alike, any case).

    ``section`` restricts the search; ``name`` may also be ``section.name``.
    """
    if not isinstance(name, str):
        raise TypeError(f"setting names must be strings, got {name!r}")
    key = name.strip().lower().replace("-", "_")
    if "." in key:
        section, key = key.split(".", 1)
    rows = [s for s in _BY_NAME.get(key, []) if section is None or s.section == section]
    if not rows:
        where = f" in [{section}]" if section else ""
        known = sorted(s.name for s in SETTINGS if section is None or s.section == section)
        raise ValueError(f"unknown setting {name!r}{where}; expected one of {known}")
    return rows[0]


def default(name: str, command: str | None = None):
    """The default of one setting (for ``command`` when given)."""
    return get(name).default_for(command)


def by_section(section: str, *, config_only: bool = True) -> list[Setting]:
    """The settings of one section, in table order."""
    if section not in SECTIONS:
        raise ValueError(f"unknown section [{section}]; expected any of {list(SECTIONS)}")
    return [s for s in SETTINGS if s.section == section and (s.in_config or not config_only)]


def defaults(section: str, command: str | None = None) -> dict:
    """{name: default} of one section, for ``command`` when given."""
    return {s.name: s.default_for(command) for s in by_section(section)}


def check_section(section: str, values: Mapping, source: str = "config") -> dict:
    """Check one section of settings: names (aliases allowed) and values.

    Returns {canonical name: checked value}, None values dropped. Raises
    ValueError naming ``source`` for an unknown name, two names of one
    setting, or both of an exclusive pair.
    """
    known = {s.name: s for s in by_section(section)}
    out: dict = {}
    spelled: dict[str, str] = {}
    for raw, value in values.items():
        try:
            s = get(str(raw), section)
        except ValueError:
            s = None
        if s is None or s.name not in known:
            raise ValueError(
                f"{source}: unknown setting {section}.{raw}; [{section}] takes {sorted(known)}"
            ) from None
        if s.name in spelled:
            raise ValueError(
                f"{source}: {section}.{s.name} is given twice, as {spelled[s.name]!r} "
                f"and as {raw!r}"
            )
        spelled[s.name] = str(raw)
        if value is None:
            continue
        try:
            out[s.name] = s.check(value)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"{source}: {exc}") from None
    for sec, a, b in EXCLUSIVE:
        if sec == section and a in out and b in out:
            raise ValueError(f"{source}: give {section}.{a} or {section}.{b}, not both")
    return out


def search_options() -> dict[str, Setting]:
    """The settings a search space may set, by their search name."""
    return {s.search_name: s for s in SETTINGS if s.search_name}


def markdown_table() -> str:
    """The README's table of settings: flags, config key, defaults, values, meaning.

    The default column gives the library's default, then each command's own
    where it differs (``nndl COMMAND --help`` says why).
    """
    rows = [
        "| option | config key | default | values | what |",
        "|---|---|---|---|---|",
    ]
    for s in SETTINGS:
        if not s.in_config:
            continue
        flag = ", ".join(f"`{f}`" for f in s.flags) if s.flags else "(config file)"
        shown = s.shown_default()
        for command, d in s.commands.items():
            shown += f"; `{command}`: {format_value(d.value)}"
        cells = [flag, f"`{s.key}`", shown, s.kind.describe(), s.help]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows)
