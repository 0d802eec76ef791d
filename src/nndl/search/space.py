"""The search space: the options a search may set, their distributions, and
the configurations one set of options builds.

The options a space may set are a view of the settings schema
(:mod:`nndl.settings`): a row there with a ``search_name`` is an option here,
with its aliases, its checks and its default.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import config as run_config
from .. import settings as run_settings
from ..network import Network, NetworkConfig
from ..training import TrainConfig

#: The settings a search space may set, by their name in a space (a view of
#: the settings schema, :mod:`nndl.settings`; aliases such as ``eta`` work too).
SEARCHABLE = run_settings.search_options()

#: Options a search space may set, and what they mean.
OPTIONS = {name: s.help for name, s in SEARCHABLE.items()}

#: The options that go to the network and to the training configuration
#: (the hidden layers and the seed are handled on their own).
_NETWORK_KEYS = {
    s.name
    for s in SEARCHABLE.values()
    if s.section == "network" and s.in_config and s.name != "hidden"
}
_TRAIN_KEYS = {s.name for s in SEARCHABLE.values() if s.section == "training"} - {"seed"}
_PRUNING_KEYS = {"n_startup_trials", "n_warmup_steps", "interval_steps"}

#: The largest grid the grid sampler is given.
_MAX_GRID = 100_000


def _canonical_option_name(name: str) -> str:
    """The option's name in :data:`OPTIONS` (any case, ``-`` or ``_``, aliases resolved)."""
    if not isinstance(name, str):
        raise TypeError(f"search space option names must be strings, got {name!r}")
    try:
        setting = run_settings.get(name)
    except ValueError:
        setting = None
    if setting is None or setting.search_name is None:
        raise ValueError(f"unknown search space option {name!r}; expected one of {list(OPTIONS)}")
    return setting.search_name


def _is_number(v) -> bool:
    """A real number, and not a bool (True is an int in Python)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


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
    def _choices_stored_as_json(self) -> bool:
        """Whether Optuna stores the choices as JSON text (some are lists or tables)."""
        return self.type == "categorical" and any(
            not (c is None or isinstance(c, (str, int, float, bool))) for c in self.choices
        )

    def encode(self, value):
        return json.dumps(value) if self._choices_stored_as_json else value

    def decode(self, value):
        return json.loads(value) if self._choices_stored_as_json else value

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
            key = _canonical_option_name(name)
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
            Network.from_config(_with_one_neuron_per_hidden_layer(net_cfg), seed=0)
            TrainConfig.from_dict(train_cfg)
        return self


def _with_one_neuron_per_hidden_layer(cfg: NetworkConfig) -> NetworkConfig:
    """The same configuration with one neuron per hidden layer: cheap to build."""
    d = cfg.to_dict()
    d["sizes"] = [d["sizes"][0], *[1] * (len(d["sizes"]) - 2), d["sizes"][-1]]
    return NetworkConfig.from_dict(d)


def build_configs(options: Mapping, n_inputs: int, n_outputs: int):
    """Turn search options into (NetworkConfig, TrainConfig fields, early-stopping patience).

    Options left out take their defaults from the settings schema (for the
    ``search`` command: the same seed for every trial).
    """
    opts = {}
    for key, value in options.items():
        name = _canonical_option_name(key)
        opts[name] = SEARCHABLE[name].check(value)
    if "hidden_sizes" in opts:
        hidden = opts["hidden_sizes"]
    elif "hidden_units" in opts or "hidden_layers" in opts:
        units = opts.get("hidden_units", SEARCHABLE["hidden_units"].default)
        hidden = [units] * opts.get("hidden_layers", SEARCHABLE["hidden_layers"].default)
    else:
        hidden = SEARCHABLE["hidden_sizes"].default_for("search")
    net = {k: opts[k] for k in _NETWORK_KEYS if k in opts}
    net_cfg = NetworkConfig.from_dict({"sizes": [n_inputs, *hidden, n_outputs], **net})
    train = {k: opts[k] for k in _TRAIN_KEYS if k in opts}
    train["seed"] = opts.get("seed", SEARCHABLE["seed"].default_for("search"))
    patience = opts.get("early_stopping", SEARCHABLE["early_stopping"].default)
    return net_cfg, train, patience


def best_config(options: Mapping, n_inputs: int, n_outputs: int, *, data=None) -> dict:
    """The run configuration of a set of options, as ``nndl train --config`` reads it.

    A :mod:`nndl.config` document: ``{"format", "version", "network": {...},
    "training": {...}}`` plus a ``data`` section when ``data`` (a dict of
    ``dataset``, ``train_size``, ...) is given, and a ``control`` section
    with the early-stopping patience when the trial used one.
    """
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
